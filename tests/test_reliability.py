"""Faults: kill -9, signals, eval beside training, disk full, damaged files.

Each test makes the fault happen for real to a real training process on a
small synthetic data set, then checks that no finished work was lost.
docs/RELIABILITY.md lists the faults and the tests here.
"""

import contextlib
import errno
import fcntl
import glob
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from cifar10_lib import checkpoints
from cifar10_lib import folder_lock
import cifar10_models
from conftest import ROOT, env_without_tensorflow, train_here
from test_scripts import (PRECISION_LINE, TRAIN_LINE, _assert_ok, _eval,
                          _one_line_error, _train)
from test_zoo import _images, _training_graph

pytestmark = pytest.mark.slow

RESUME_LINE = re.compile(r'Resuming from \S+ at step (\d+)\.')
STEP_SECONDS = re.compile(r': step \d+, loss = .*; ([\d.]+) sec/batch\)$')
MIN_KILL_WINDOW = 0.5
# The step whose time sets the kill window: the first two warm up.
TIMING_STEP = 3


def _start_training(data_dir, train_dir, *flags, **popen_args):
  return subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'cifar10_train.py'),
       '--data_dir=' + data_dir, '--train_dir=' + train_dir, '--nodownload',
       '--batch_size=16'] + list(flags),
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      **popen_args)


def _restore_each(prefixes, model=cifar10_models.TUTORIAL):
  """Restores every checkpoint into `model`'s training graph; returns their
  steps."""
  steps = []
  model = cifar10_models.get(model)
  with tf.Graph().as_default():
    _training_graph(model, _images(model, 1), np.zeros([1], np.int32))
    global_step = tf.compat.v1.train.get_global_step()
    var_map = {v.op.name: v for v in tf.compat.v1.global_variables()}
    saver = tf.compat.v1.train.Saver(var_map)
    with tf.compat.v1.Session() as sess:
      for checkpoint in prefixes:
        checkpoints.restore(sess, saver, var_map, checkpoint)
        steps.append(int(sess.run(global_step)))
  return steps


# Five kills of the tutorial reach about step 30, two of airbench94 (whose
# start-ups take most of this test's time) about step 10: the run that
# follows them still trains, saves and rotates before its last step.
@pytest.mark.parametrize('model,kills,last_step', [
    (cifar10_models.TUTORIAL, 5, 80), ('airbench94', 2, 24)])
def test_kill_9_at_random_moments_loses_at_most_one_save_interval(
    data_dir, tmp_path, model, kills, last_step):
  train_dir = str(tmp_path / 'train')
  every = 3
  flags = ('--max_steps=%d' % last_step, '--log_frequency=1',
           '--save_checkpoint_secs=0',
           '--save_checkpoint_steps=%d' % every, '--keep_checkpoint_max=3',
           '--model=' + model)
  rng = random.Random(1234)
  last_seen = 0
  for _ in range(kills):
    process = _start_training(data_dir, train_dir, *flags)
    try:
      resumed, seconds, read = None, [], []
      for line in process.stdout:
        read.append(line)
        match = RESUME_LINE.search(line) or STEP_SECONDS.search(line)
        if match and match.re is RESUME_LINE:
          resumed = int(match.group(1))
        elif match:
          seconds.append(float(match.group(1)))
          if len(seconds) == TIMING_STEP:
            break
      assert len(seconds) == TIMING_STEP, ''.join(read)
      # A moment in the next two save intervals, or half a second for steps
      # of a few ms; saves take about as long as steps, so kills often fall
      # inside one.
      window = max(MIN_KILL_WINDOW, 2 * every * seconds[-1])
      time.sleep(rng.uniform(0.0, window))
      process.kill()
      out, err = process.communicate()
    finally:
      process.kill()
      process.wait()
    # At most one save interval is lost. A run killed before its first
    # save (steps can be slow here: two test processes share the cores)
    # leaves nothing, and the next one rightly starts from step 0.
    assert last_seen - every <= (resumed or 0) <= last_seen, err[-2000:]
    steps = [int(s) for s in TRAIN_LINE.findall(''.join(read) + out)]
    last_seen = max(steps + [resumed or 0])
    # Every checkpoint left on disk is whole and restores.
    found = checkpoints.candidates(train_dir)
    assert _restore_each(found, model) == [int(p.rsplit('-', 1)[1])
                                           for p in found]
  # Not every kill came before the first save.
  assert last_seen >= every

  result = _train(data_dir, train_dir, *flags)
  _assert_ok(result)
  assert tf.train.latest_checkpoint(train_dir).endswith(
      'model.ckpt-%d' % last_step)
  assert not glob.glob(os.path.join(train_dir, '.partial-*'))
  found = checkpoints.candidates(train_dir)
  assert _restore_each(found, model)[0] == last_step
  result = _eval(data_dir, train_dir)
  _assert_ok(result)
  assert PRECISION_LINE.search(result.stdout)


class _Killed(BaseException):
  """Stands for a kill -9: nothing after it runs."""


def test_a_kill_while_rotating_never_leaves_an_index_without_data(
    tmp_path, monkeypatch):
  """The rotation's first deletion is the last thing the process does."""
  directory = str(tmp_path)
  with tf.Graph().as_default():
    tf.compat.v1.Variable(1.0, name='weight')
    saver = tf.compat.v1.train.Saver(max_to_keep=0)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      checkpoints.save(sess, saver, directory, 1, keep=1)
      remove = os.remove

      def remove_then_die(path):
        remove(path)
        raise _Killed()

      monkeypatch.setattr(checkpoints.os, 'remove', remove_then_die)
      # Whatever order the file system lists them in: sorted, the data file
      # comes before the index.
      listing = glob.glob
      monkeypatch.setattr(checkpoints.glob, 'glob',
                          lambda pattern: sorted(listing(pattern)))
      with pytest.raises(_Killed):
        checkpoints.save(sess, saver, directory, 2, keep=1)
  left = sorted(os.listdir(directory))
  # Step 1's index went first; its data file is left, found by no search.
  assert 'model.ckpt-1.index' not in left
  assert 'model.ckpt-1.data-00000-of-00001' in left
  assert checkpoints.candidates(directory) == [
      os.path.join(directory, 'model.ckpt-2')]


@pytest.mark.parametrize('absolute_state', [False, True])
def test_a_copied_folder_uses_and_rotates_only_its_own_checkpoints(
    tmp_path, absolute_state):
  """`cp -r run copy`, then training on in either: each folder finds only
  its own checkpoints, and the copy's rotation deletes nothing of the
  original's; also where the state file names absolute paths, as
  TensorFlow's own Saver writes them."""
  original, copy = str(tmp_path / 'run'), str(tmp_path / 'copy')
  os.mkdir(original)
  with tf.Graph().as_default():
    tf.compat.v1.Variable(1.0, name='weight')
    saver = tf.compat.v1.train.Saver(max_to_keep=0)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      for step in (1, 2):
        checkpoints.save(sess, saver, original, step, keep=2)
      if absolute_state:
        paths = [os.path.join(original, 'model.ckpt-%d' % step)
                 for step in (1, 2)]
        tf.compat.v1.train.update_checkpoint_state(
            original, paths[-1], all_model_checkpoint_paths=paths)
      shutil.copytree(original, copy)
      checkpoints.save(sess, saver, original, 5, keep=2)
      assert checkpoints.latest(copy) == os.path.join(copy, 'model.ckpt-2')
      checkpoints.save(sess, saver, copy, 3, keep=1)
  assert checkpoints.candidates(copy) == [os.path.join(copy, 'model.ckpt-3')]
  assert checkpoints.candidates(original) == [
      os.path.join(original, 'model.ckpt-%d' % step) for step in (5, 2)]


def test_eval_watching_training_never_crashes_or_repeats(data_dir, tmp_path):
  train_dir = str(tmp_path / 'train')
  training = _start_training(
      data_dir, train_dir, '--max_steps=150', '--save_checkpoint_secs=0',
      '--save_checkpoint_steps=5', '--keep_checkpoint_max=2')
  evaluation = subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'cifar10_eval.py'),
       '--data_dir=' + data_dir, '--checkpoint_dir=' + train_dir,
       '--eval_dir=' + str(tmp_path / 'eval'), '--nodownload',
       '--batch_size=16', '--num_examples=50', '--eval_interval_secs=1'],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      # Python's tracebacks of every thread on SIGABRT, if it must be ended.
      env=dict(os.environ, PYTHONFAULTHANDLER='1'),
      # Ctrl-C as in a terminal: a pytest started in the background (`&`
      # in a script) ignores SIGINT, and its children would inherit that.
      preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
  try:
    assert training.wait(timeout=300) == 0, training.stderr.read()
    # Let the watcher evaluate the final checkpoint, then stop it.
    deadline = time.time() + 60
    while time.time() < deadline and not _events_mention(
        str(tmp_path / 'eval'), 150):
      assert evaluation.poll() is None, evaluation.stderr.read()
      time.sleep(1)
    evaluation.send_signal(signal.SIGINT)
    try:
      out, err = evaluation.communicate(timeout=60)
    except subprocess.TimeoutExpired:
      evaluation.send_signal(signal.SIGABRT)
      out, err = evaluation.communicate()
      raise AssertionError('eval ignored Ctrl-C for 60 s; it was at:\n' +
                           err[-6000:] + '\nstdout: ' + out[-1500:])
  finally:
    training.kill()
    evaluation.kill()
  assert 'Traceback' not in err, err
  evaluated = re.findall(r'\[(model\.ckpt-\d+), step \d+;', out)
  assert len(evaluated) >= 2, out
  assert len(set(evaluated)) == len(evaluated), evaluated
  assert evaluated[-1] == 'model.ckpt-150'
  # Training deleted old checkpoints meanwhile; only 2 are left.
  assert len(checkpoints.candidates(train_dir)) == 2


def _events_mention(eval_dir, step):
  """Whether eval_dir's event files hold a precision at `step`."""
  for path in glob.glob(os.path.join(eval_dir, 'events.out.tfevents.*')):
    try:
      for event in tf.compat.v1.train.summary_iterator(path):
        if event.step == step and event.summary.value:
          return True
    except tf.errors.DataLossError:  # A record being written.
      pass
  return False


def _mount_small_tmpfs(path, megabytes):
  """Mounts a size-limited tmpfs at `path`; False if this machine can't."""
  os.makedirs(path)
  result = subprocess.run(['mount', '-t', 'tmpfs', '-o',
                           'size=%dm' % megabytes, 'tmpfs', path],
                          capture_output=True, check=False)
  return result.returncode == 0


def _limit_file_size():
  """In the child: files may not grow past 2 MB; writes past it fail."""
  signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
  resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20))


@contextlib.contextmanager
def _small_disk(tmp_path, megabytes):
  """Yields (folder, whether it is a tmpfs of `megabytes`), unmounted after."""
  small = str(tmp_path / 'small')
  mounted = _mount_small_tmpfs(small, megabytes)
  try:
    yield small, mounted
  finally:
    if mounted:
      subprocess.run(['umount', small], check=False)


def _train_out_of_space(data_dir, train_dir, mounted, *flags):
  """Trains on the small disk; its writes capped where it is no tmpfs."""
  process = _start_training(data_dir, train_dir, *flags,
                            preexec_fn=None if mounted else _limit_file_size)
  out, err = process.communicate(timeout=120)
  return subprocess.CompletedProcess(process.args, process.returncode, out,
                                     err)


def test_disk_full_while_saving_keeps_the_previous_checkpoint(data_dir,
                                                              tmp_path):
  with _small_disk(tmp_path, 12) as (small, mounted):
    train_dir = os.path.join(small, 'train')
    flags = ('--save_checkpoint_secs=0', '--save_checkpoint_steps=5',
             '--summary_steps=0')
    # One checkpoint (8.6 MB) fits; a second one does not. Where no tmpfs
    # can be mounted, the second run's writes are capped instead.
    train_here(data_dir, train_dir, 'tutorial', 5, save_checkpoint_secs=0,
               save_checkpoint_steps=5, summary_steps=0)
    result = _train_out_of_space(data_dir, train_dir, mounted,
                                 '--max_steps=10', *flags)
    _one_line_error(result, r'could not write checkpoint \S+model.ckpt-10 '
                    r'\(.*\); the previous checkpoint \S+model.ckpt-5 is '
                    r'intact')
    assert checkpoints.candidates(train_dir) == [
        os.path.join(train_dir, 'model.ckpt-5')]
    assert _restore_each([tf.train.latest_checkpoint(train_dir)]) == [5]
    assert not glob.glob(os.path.join(train_dir, '.partial-*'))


def test_disk_full_before_the_first_checkpoint_says_so_in_words(data_dir,
                                                                tmp_path):
  with _small_disk(tmp_path, 4) as (small, mounted):
    train_dir = os.path.join(small, 'train')
    # A checkpoint (8.6 MB) does not fit in 4 MB, nor in the 2 MB files of
    # the cap used where no tmpfs can be mounted.
    result = _train_out_of_space(data_dir, train_dir, mounted,
                                 '--max_steps=3', '--summary_steps=0')
    _one_line_error(result, r'could not write checkpoint \S+model.ckpt-3 '
                    r'\(.*\), the first of this folder: free disk space')
    assert 'None' not in result.stderr
    assert not checkpoints.candidates(train_dir)


def _truncate_data(checkpoint):
  data = glob.glob(checkpoint + '.data-*')[0]
  os.truncate(data, os.path.getsize(data) // 2)


@pytest.mark.parametrize('model', ['tutorial', 'baseline'])
def test_damaged_newest_checkpoint_is_named_skipped_and_kept(data_dir,
                                                             tmp_path, model):
  train_dir = str(tmp_path / 'train')
  flags = ('--save_checkpoint_secs=0', '--save_checkpoint_steps=5')
  train_here(data_dir, train_dir, model, 10, save_checkpoint_secs=0,
             save_checkpoint_steps=5)
  newest = os.path.join(train_dir, 'model.ckpt-10')
  _truncate_data(newest)
  damaged = sorted(glob.glob(newest + '.*'))

  _one_line_error(_eval(data_dir, train_dir),
                  r'checkpoint \S+model.ckpt-10 is unreadable')

  result = _train(data_dir, train_dir, '--max_steps=15', *flags)
  _assert_ok(result)
  assert re.search(r'WARNING: checkpoint \S+model.ckpt-10 is unreadable',
                   result.stdout)
  assert RESUME_LINE.search(result.stdout).group(1) == '5'
  # The damaged files were set aside, not deleted or overwritten.
  for path in damaged:
    assert os.path.exists(path + checkpoints.SET_ASIDE_SUFFIX), path
  assert tf.train.latest_checkpoint(train_dir).endswith('model.ckpt-15')
  assert _restore_each(checkpoints.candidates(train_dir), model) == [
      15, 10, 5]


def test_no_readable_checkpoint_is_said_and_nothing_is_deleted(data_dir,
                                                               tmp_path):
  train_dir = str(tmp_path / 'train')
  train_here(data_dir, train_dir, 'tutorial', 4, save_checkpoint_secs=0,
             save_checkpoint_steps=2)
  for checkpoint in checkpoints.candidates(train_dir):
    _truncate_data(checkpoint)
  before = sorted(os.listdir(train_dir))
  _one_line_error(_train(data_dir, train_dir, '--max_steps=8'),
                  r'no readable checkpoint in \S+ \(2 unreadable, kept\)')
  assert sorted(os.listdir(train_dir)) == before


def test_damaged_state_file_falls_back_to_the_files(data_dir, tmp_path):
  train_dir = str(tmp_path / 'train')
  train_here(data_dir, train_dir, 'tutorial', 4)
  with open(os.path.join(train_dir, 'checkpoint'), 'w') as f:
    f.write('this is { not a checkpoint state')
  result = _train(data_dir, train_dir, '--max_steps=6')
  _assert_ok(result)
  assert RESUME_LINE.search(result.stdout).group(1) == '4'


def test_second_trainer_on_a_folder_is_refused_until_the_first_dies(
    data_dir, tmp_path):
  train_dir = str(tmp_path / 'train')
  first = _start_training(data_dir, train_dir, '--log_frequency=1')
  try:
    for line in first.stdout:
      if TRAIN_LINE.match(line.strip()):
        break
    before = sorted(os.listdir(train_dir))
    second = _train(data_dir, train_dir, '--max_steps=5')
    _one_line_error(second, r'train_dir %s is in use by another trainer '
                    r'\(pid %d on \S+: \S+python\S* \S+cifar10_train.py ' %
                    (re.escape(train_dir), first.pid))
    assert second.stdout == ''
    # (The first trainer saves by time, every 600 s: not in this test.)
    assert sorted(os.listdir(train_dir)) == before
    # The first trainer was not disturbed: it goes on training.
    assert TRAIN_LINE.match(first.stdout.readline().strip())
    assert first.poll() is None
    first.kill()  # kill -9: the claim goes with the process.
    first.wait()
  finally:
    first.kill()
  _assert_ok(_train(data_dir, train_dir, '--max_steps=3'))


@pytest.mark.parametrize('script', ['cifar10_train.py',
                                    'cifar10_multi_gpu_train.py'])
@pytest.mark.parametrize('form', ['--train_dir=%s', '--train_dir %s',
                                  '-train_dir=%s'])
def test_a_busy_folder_is_refused_before_tensorflow_is_imported(
    tmp_path, script, form):
  train_dir = tmp_path / 'train dir é'  # a space and non-ASCII too
  train_dir.mkdir()
  env = env_without_tensorflow(tmp_path)
  command = [sys.executable, os.path.join(ROOT, script)] + [
      arg.replace('%s', str(train_dir)) for arg in form.split(' ', 1)] + [
          '--max_steps=5']
  # A free folder: the poisoned TensorFlow is imported and fails.
  free = subprocess.run(command, env=env, capture_output=True, text=True)
  assert 'TensorFlow was imported' in free.stderr
  fd = os.open(str(train_dir), os.O_RDONLY)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    busy = subprocess.run(command, env=env, capture_output=True, text=True)
  finally:
    os.close(fd)
  assert busy.returncode == 2
  _one_line_error(busy, r'train_dir %s is in use by another trainer \(pid '
                  r'%d on ' % (re.escape(str(train_dir)), os.getpid()))
  assert busy.stdout == '' and os.listdir(str(train_dir)) == []


_TASK_FLAGS = ['--ps_hosts=localhost:1', '--worker_hosts=localhost:2']
_TASK_CONFIG = ('{"cluster": {"worker": ["a:1"], "ps": ["b:1"]}, '
                '"task": {"type": "worker", "index": 0}}')


@pytest.mark.parametrize('script,flags,environ,says', [
    ('cifar10_multi_gpu_train.py', _TASK_FLAGS + ['--job_name=worker'], {},
     'TensorFlow was imported'),
    ('cifar10_multi_gpu_train.py', [], {'TF_CONFIG': _TASK_CONFIG},
     'TensorFlow was imported'),
    ('cifar10_train.py', ['--job_name=worker'], {},
     'cluster flags are for cifar10_multi_gpu_train.py'),
    ('cifar10_train.py', ['--helpfull'], {}, '--train_dir: Directory where'),
])
def test_a_cluster_task_or_help_leaves_the_folder_to_later(
    tmp_path, script, flags, environ, says):
  """A task of a cluster claims the folder once it knows it is the chief;
  cluster flags on cifar10_train.py and --help claim nothing."""
  train_dir = tmp_path / 'train'
  train_dir.mkdir()
  command = [sys.executable, os.path.join(ROOT, script),
             '--train_dir=%s' % train_dir] + flags
  fd = os.open(str(train_dir), os.O_RDONLY)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    result = subprocess.run(
        command, env=dict(env_without_tensorflow(tmp_path), **environ),
        capture_output=True, text=True)
  finally:
    os.close(fd)
  assert 'in use by another trainer' not in result.stderr
  assert says in result.stdout + result.stderr


def test_a_file_system_without_locks_is_one_line(tmp_path, monkeypatch):
  """Some network file systems (object-store mounts) answer flock with
  ENOLCK or EOPNOTSUPP: training says so before it writes anything."""
  def no_locks(unused_fd, unused_operation):
    raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))
  monkeypatch.setattr(fcntl, 'flock', no_locks)
  with pytest.raises(folder_lock.UserError, match=(
      r'^train_dir %s is on a file system that cannot lock it \(No locks '
      r'available\): training needs one with locks and atomic renames' %
      re.escape(str(tmp_path)))):
    folder_lock.lock(str(tmp_path))
  assert os.listdir(str(tmp_path)) == []


def test_a_claim_is_kept_once_per_process_and_writes_nothing(tmp_path):
  folder_lock.lock(str(tmp_path))
  folder_lock.lock(str(tmp_path / '.'))  # no conflict with itself
  assert os.listdir(str(tmp_path)) == []
