"""Every path flag of every script against every way a path goes wrong.

Each case runs the script as a user would, in an environment whose
TensorFlow fails to import: a bad path must stop the script before that,
with one line naming the flag and the path (paths.PROBLEMS), exit status 2
and nothing changed on disk; a good one must get past the check (and then
meet the poisoned import). Read-only and full file systems are small tmpfs
mounts the test makes (it runs as root, as CI does); where mounting is not
allowed, those cases say so and skip.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from cifar10_lib import paths
from cifar10_datasets.synthetic import make_data_dir
from conftest import ROOT, env_without_tensorflow, run_script, tree_snapshot

# What each kind of path is given by the script that takes it, beside it:
# (script, other flags that make the flag's meaning plain).
SCRIPTS = {
    'data_dir': [('cifar10_train.py', ['--nodownload']),
                 ('cifar10_eval.py', ['--nodownload', '--run_once'])],
    'train_dir': [('cifar10_train.py', []),
                  ('cifar10_multi_gpu_train.py', [])],
    'checkpoint_dir': [('cifar10_eval.py', ['--run_once']),
                       ('cifar10_predict.py', ['image.png'])],
    'eval_dir': [('cifar10_eval.py', [])],
    'results_file': [('cifar10_eval.py', [])],
    'export_dir': [('cifar10_predict.py', [])],
}

# The ways a path goes wrong, as the test lays them out, and the problem
# each kind of path has with it (None: the script goes on; a missing
# output is made).
WAYS = ['missing', 'missing_parent', 'parent_is_file', 'a_file',
        'a_folder', 'read_only', 'full', 'spaces_and_non_ascii', 'a_url',
        'not_utf8']
EXPECTED = {
    paths.READ_FOLDER: dict(not_utf8='not_utf8', a_url='url',
                            missing='missing', missing_parent='missing',
                            parent_is_file='missing',
                            a_file='file_not_folder'),
    paths.DATA_FOLDER: dict(not_utf8='not_utf8', a_url='url',
                            missing='missing', missing_parent='missing',
                            parent_is_file='missing',
                            a_file='file_not_folder'),
    paths.WRITE_FOLDER: dict(not_utf8='not_utf8', a_url='url',
                             parent_is_file='parent_is_file',
                             a_file='file_not_folder', read_only='read_only',
                             full='full'),
    paths.WRITE_FILE: dict(not_utf8='not_utf8', a_url='url',
                           parent_is_file='parent_is_file',
                           a_folder='folder_not_file', read_only='read_only',
                           full='full'),
    paths.NEW_FOLDER: dict(not_utf8='not_utf8', a_url='url',
                           parent_is_file='parent_is_file', a_file='exists',
                           a_folder='exists', read_only='read_only',
                           full='full'),
}
CASES = [(flag, script, extra, way)
         for flag, uses in SCRIPTS.items() for script, extra in uses
         for way in WAYS]


def _mount_tmpfs(folder, *options):
  """Mounts a 1 MiB tmpfs on `folder`; skips the test where not allowed."""
  folder.mkdir()
  result = subprocess.run(['mount', '-t', 'tmpfs', '-o',
                           ','.join(('size=1m',) + options), 'tmpfs',
                           str(folder)], capture_output=True, text=True)
  if result.returncode:
    pytest.skip('cannot mount a tmpfs here (%s): read-only and full disks '
                'untested' % result.stderr.strip())


def _fill(folder):
  """Writes into `folder` until its file system is full."""
  with open(os.path.join(str(folder), 'filler'), 'wb') as f:
    try:
      while True:
        f.write(b'\0' * 65536)
        f.flush()
    except OSError:
      pass


@pytest.fixture
def mounts(tmp_path):
  """Unmounts, at the end, what the test mounted below tmp_path."""
  yield
  for line in reversed(open('/proc/mounts').read().splitlines()):
    where = line.split()[1]
    if where.startswith(str(tmp_path)):
      subprocess.run(['umount', where], check=True)


def _lay_out(tmp_path, way, kind):
  """Makes the case's surroundings; returns the path to pass."""
  if way == 'a_url':
    return 'gs://a-bucket/cifar10 run'
  if way == 'not_utf8':  # A name in Latin-1, as an older system wrote it.
    return tmp_path / os.fsdecode(b'r\xe9sultats')
  if way == 'missing':
    return tmp_path / 'missing'
  if way == 'missing_parent':
    return tmp_path / 'missing' / 'parent' / 'child'
  if way == 'parent_is_file':
    (tmp_path / 'file').write_text('a file')
    return tmp_path / 'file' / 'child'
  if way == 'a_file':
    (tmp_path / 'file').write_text('a file')
    return tmp_path / 'file'
  if way == 'a_folder':
    (tmp_path / 'folder').mkdir()
    return tmp_path / 'folder'
  if way == 'spaces_and_non_ascii':
    path = tmp_path / 'dossier été' / 'run 1'
    if kind in (paths.READ_FOLDER, paths.DATA_FOLDER):
      path.mkdir(parents=True)
    return path
  disk = tmp_path / 'disk'
  if way == 'read_only':
    _mount_tmpfs(disk, 'ro')
  else:
    _mount_tmpfs(disk)
    _fill(disk)
  # Where the script reads, the folder exists; where it writes, it would
  # make it.
  return disk if kind in (paths.READ_FOLDER, paths.DATA_FOLDER) else (
      disk / 'out')


@pytest.mark.parametrize('flag,script,extra,way', CASES)
def test_a_path_flag_gone_wrong(tmp_path, mounts, flag, script, extra, way):
  del mounts  # (unmounts at the end)
  kind = paths.PATH_FLAGS[flag][0]
  path = str(_lay_out(tmp_path, way, kind))
  # The script's other path flags point at harmless places of their own.
  (tmp_path / 'other_checkpoint_dir').mkdir()
  others = ['--%s=%s' % (other, tmp_path / ('other_' + other))
            for other in ('train_dir', 'eval_dir', 'checkpoint_dir')
            if other != flag and script in [s for s, _ in SCRIPTS[other]]]
  before = tree_snapshot(tmp_path)
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, script), '--%s=%s' % (flag, path)] +
      others + extra, cwd=str(tmp_path), capture_output=True, text=True,
      env=env_without_tensorflow(tmp_path), timeout=60)
  expected = EXPECTED[kind].get(way)
  if expected is None:
    assert 'TensorFlow was imported' in result.stderr, result.stderr
    return
  assert result.returncode == 2, result.stderr
  assert result.stdout == ''
  lines = result.stderr.splitlines()
  assert len(lines) == 1, result.stderr
  markers = dict(where='@WHERE@', free='@FREE@')
  # (A name that is not UTF-8 is shown with its bytes escaped.)
  shown = path.encode('utf-8', 'backslashreplace').decode('utf-8')
  line = paths.PROBLEMS[expected] % dict(markers, flag=flag, path=shown)
  pattern = 'ERROR: ' + re.escape(line).replace(
      markers['where'], r'/\S.*').replace(markers['free'], r'\d+')
  assert re.fullmatch(pattern, lines[0]), lines[0]
  assert tree_snapshot(tmp_path) == before


def test_download_into_a_read_only_data_dir_is_refused_first(tmp_path,
                                                             mounts):
  """With the download on, a missing --data_dir is made by it: it must be
  writable; one that holds the data is only read."""
  del mounts
  _mount_tmpfs(tmp_path / 'disk', 'ro')
  data_dir = str(tmp_path / 'disk' / 'data')
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'cifar10_train.py'),
       '--data_dir=' + data_dir, '--train_dir=%s' % (tmp_path / 'train')],
      capture_output=True, text=True, env=env_without_tensorflow(tmp_path),
      timeout=60)
  assert result.returncode == 2
  assert result.stderr == 'ERROR: %s\n' % (paths.PROBLEMS['read_only'] % dict(
      flag='data_dir', path=data_dir, where=str(tmp_path / 'disk')))


def test_every_problem_is_in_the_readme():
  """README's table of path problems shows each line as the scripts print
  it, with FLAG, PATH, DIR and N standing for the particulars."""
  with open(os.path.join(ROOT, 'README.md')) as f:
    readme = f.read()
  for kind, template in paths.PROBLEMS.items():
    line = template % dict(flag='FLAG', path='PATH', where='DIR', free='N')
    assert '`%s`' % line in readme, kind


@pytest.mark.slow
def test_spaces_non_ascii_and_missing_parents_end_to_end(tmp_path):
  """A user's run in folders with spaces and accents that do not exist
  yet: train, evaluate into new folders, classify and export."""
  root = tmp_path / 'mes données' / 'cifar 10'
  data_dir = make_data_dir(root / 'data é')
  train_dir = str(root / 'runs' / 'run 1')
  eval_dir = str(root / 'évals' / 'run 1')
  results = str(root / 'résultats' / 'run 1' / 'results.json')
  export_dir = str(root / 'modèles' / 'run 1')
  picture = root / 'images à classer' / 'chat 1.png'
  picture.parent.mkdir(parents=True)
  picture.write_bytes(tf.io.encode_png(
      np.full((32, 32, 3), 128, np.uint8)).numpy())
  for script, flags in [
      ('cifar10_train.py', ['--data_dir=' + data_dir, '--train_dir=' +
                            train_dir, '--max_steps=1', '--batch_size=16']),
      ('cifar10_eval.py', ['--data_dir=' + data_dir, '--checkpoint_dir=' +
                           train_dir, '--eval_dir=' + eval_dir, '--run_once',
                           '--num_examples=16', '--batch_size=16',
                           '--results_file=' + results]),
      ('cifar10_predict.py', ['--checkpoint_dir=' + train_dir,
                              '--export_dir=' + export_dir, str(picture)])]:
    result = run_script(script, '--nodownload', *flags)
    assert result.returncode == 0, result.stdout + result.stderr
  with open(results) as f:
    assert json.load(f)['total'] == 16
  assert os.listdir(eval_dir) and os.path.isdir(export_dir)
  assert str(picture) + ': ' in result.stdout
