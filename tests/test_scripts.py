"""End-to-end tests: the scripts run as a user runs them, on small data."""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import cifar10_input
from conftest import ROOT, TEST_FILE, run_script

TRAIN_LINE = re.compile(r'^\d{4}-\d\d-\d\d [\d:.]+: step (\d+), loss = [\d.]+ '
                        r'\([\d.]+ examples/sec; [\d.]+ sec/batch\)$', re.M)
LOSS = re.compile(r': step \d+, loss = ([\d.]+) ')
PRECISION_LINE = re.compile(r'^\d{4}-\d\d-\d\d [\d:.]+: precision @ 1 = '
                            r'(\d\.\d{4}) \((\d+)/(\d+)\)', re.M)


def _train(data_dir, train_dir, *flags):
  return run_script('cifar10_train.py', '--data_dir=' + data_dir,
                    '--train_dir=' + train_dir, '--nodownload',
                    '--batch_size=16', *flags)


def _eval(data_dir, train_dir, *flags):
  return run_script('cifar10_eval.py', '--data_dir=' + data_dir,
                    '--checkpoint_dir=' + train_dir, '--nodownload',
                    '--eval_dir=' + train_dir + '_eval', '--run_once',
                    '--batch_size=16', '--num_examples=50', *flags)


def _checkpoint_step(train_dir):
  return int(tf.train.latest_checkpoint(train_dir).rsplit('-', 1)[1])


def _assert_ok(result):
  assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_train_eval_and_resume(data_dir, tmp_path):
  train_dir = str(tmp_path / 'train')
  result = _train(data_dir, train_dir, '--max_steps=30', '--log_frequency=10')
  _assert_ok(result)
  assert [int(s) for s in TRAIN_LINE.findall(result.stdout)] == [10, 20, 30]
  assert _checkpoint_step(train_dir) == 30
  assert any(f.startswith('events.out.tfevents')
             for f in os.listdir(train_dir))

  result = _eval(data_dir, train_dir)
  _assert_ok(result)
  precision, correct, total = PRECISION_LINE.search(result.stdout).groups()
  assert int(total) == 50
  assert float(precision) == pytest.approx(int(correct) / 50.0, abs=1e-4)

  result = _train(data_dir, train_dir, '--max_steps=45', '--log_frequency=5')
  _assert_ok(result)
  assert 'Resuming from %s/model.ckpt-30 at step 30.' % train_dir in (
      result.stdout)
  assert [int(s) for s in TRAIN_LINE.findall(result.stdout)] == [35, 40, 45]
  assert _checkpoint_step(train_dir) == 45
  # The first run's checkpoint is still there: nothing was deleted.
  assert os.path.exists(os.path.join(train_dir, 'model.ckpt-30.index'))


@pytest.mark.slow
def test_checkpoints_by_step_count(data_dir, tmp_path):
  train_dir = str(tmp_path / 'train')
  _assert_ok(_train(data_dir, train_dir, '--max_steps=25',
                    '--save_checkpoint_steps=10', '--keep_checkpoint_max=10'))
  steps = sorted(int(f.split('-')[1].split('.')[0])
                 for f in os.listdir(train_dir) if f.endswith('.index'))
  assert steps == [10, 20, 25]


@pytest.mark.slow
def test_training_learns_a_learnable_set(data_dir, tmp_path):
  train_dir = str(tmp_path / 'train')
  # Batches of 16 at the tutorial's learning rate of 0.1 diverge now and
  # then (seen: 1 run in 6). With batches of 64 some runs only start to
  # learn after 150 steps (one stood at 0.50 then); after 250 steps 6 runs
  # of 6 were at 1.0. A fixed seed makes the run the same every time.
  _assert_ok(_train(data_dir, train_dir, '--max_steps=250', '--seed=1',
                    '--batch_size=64', '--log_frequency=50'))
  result = _eval(data_dir, train_dir)
  _assert_ok(result)
  precision = float(PRECISION_LINE.search(result.stdout).group(1))
  assert precision >= 0.6, result.stdout  # chance is 0.1


@pytest.mark.slow
def test_same_seed_same_loss_curve(data_dir, tmp_path):
  def losses(name, *flags):
    result = _train(data_dir, str(tmp_path / name), '--max_steps=40',
                    '--log_frequency=5', *flags)
    _assert_ok(result)
    return LOSS.findall(result.stdout), result.stdout
  first, _ = losses('a', '--seed=3')
  assert len(first) == 8
  assert losses('b', '--seed=3')[0] == first
  unseeded, out = losses('c')
  seed = re.search(r'^Random seed: (\d+) \(pass --seed=\1 to repeat this '
                   r'run\)', out, re.M).group(1)
  assert unseeded != first
  assert losses('d', '--seed=' + seed)[0] == unseeded


@pytest.mark.slow
@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_a_checkpoint_and_exits(data_dir, tmp_path, signum):
  train_dir = str(tmp_path / 'train')
  process = subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'cifar10_train.py'),
       '--data_dir=' + data_dir, '--train_dir=' + train_dir, '--nodownload',
       '--batch_size=16', '--log_frequency=5'],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    for line in process.stdout:
      if TRAIN_LINE.match(line.strip()):
        break
    sent = time.time()
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
  finally:
    process.kill()
  assert time.time() - sent < 10
  assert process.returncode == 128 + signum, err
  match = re.search(r'Stopped by signal %d at step (\d+); newest checkpoint: '
                    r'\S+model.ckpt-(\d+)\.' % signum, out)
  assert match, out + err
  assert match.group(1) == match.group(2)
  assert _checkpoint_step(train_dir) == int(match.group(1)) >= 5


def _one_line_error(result, pattern):
  """Asserts a failed run that said `pattern` on one line, no traceback."""
  assert result.returncode != 0
  assert 'Traceback' not in result.stderr, result.stderr
  errors = [l for l in result.stderr.splitlines()
            if l.startswith(('ERROR:', 'FATAL Flags parsing error'))]
  assert len(errors) == 1, result.stderr
  assert re.search(pattern, errors[0]), errors[0]


def _corrupt_label(data_dir):
  path = os.path.join(cifar10_input.batches_dir(data_dir), 'data_batch_2.bin')
  data = bytearray(open(path, 'rb').read())
  data[3 * cifar10_input.RECORD_BYTES] = 200
  open(path, 'wb').write(bytes(data))


def _truncate_test_file(data_dir):
  path = os.path.join(cifar10_input.batches_dir(data_dir), TEST_FILE)
  os.truncate(path, os.path.getsize(path) - 10)


@pytest.mark.slow
@pytest.mark.parametrize('data_flag,damage,pattern', [
    ('missing', None, r'data_dir \S+missing does not exist'),
    ('file', None, r'is a file, not a folder'),
    ('empty', None, r'cifar-10-batches-bin is not a folder'),
    ('data', _corrupt_label, r'data_batch_2.bin has a record with label byte '
     r'200, not 0..9'),
])
def test_bad_data_for_training(data_dir, tmp_path, data_flag, damage, pattern):
  paths = {'missing': str(tmp_path / 'missing'), 'file': str(tmp_path / 'f'),
           'empty': str(tmp_path / 'empty'), 'data': data_dir}
  (tmp_path / 'f').write_text('not a folder')
  (tmp_path / 'empty').mkdir()
  if damage:
    damage(data_dir)
  train_dir = str(tmp_path / 'train')
  result = _train(paths[data_flag], train_dir, '--max_steps=50')
  _one_line_error(result, pattern)


@pytest.mark.slow
def test_bad_data_for_eval(data_dir, tmp_path):
  train_dir = str(tmp_path / 'train')
  _assert_ok(_train(data_dir, train_dir, '--max_steps=1'))
  _truncate_test_file(data_dir)
  _one_line_error(_eval(data_dir, train_dir),
                  r'test_batch.bin has \d+ bytes, not a whole number of '
                  r'3073-byte records')


@pytest.mark.slow
def test_eval_of_more_examples_than_there_are(data_dir, tmp_path):
  train_dir = str(tmp_path / 'train')
  _assert_ok(_train(data_dir, train_dir, '--max_steps=1'))
  _one_line_error(_eval(data_dir, train_dir, '--num_examples=10000'),
                  r'--num_examples=10000 but test holds only 50 examples')


@pytest.mark.slow
def test_eval_without_checkpoint(data_dir, tmp_path):
  _one_line_error(_eval(data_dir, str(tmp_path / 'nothing')),
                  r'no checkpoint in \S+nothing: train first')


@pytest.mark.slow
def test_checkpoint_of_another_model(data_dir, tmp_path):
  train_dir = tmp_path / 'train'
  train_dir.mkdir()
  with tf.Graph().as_default():
    tf.compat.v1.get_variable('conv1/weights', [3, 3, 3, 32])
    tf.compat.v1.train.get_or_create_global_step()
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      tf.compat.v1.train.Saver().save(sess, str(train_dir / 'model.ckpt'),
                                      global_step=7)
  before = sorted(os.listdir(train_dir))
  pattern = r'model.ckpt-7 does not match this model'
  _one_line_error(_train(data_dir, str(train_dir), '--max_steps=10'), pattern)
  _one_line_error(_eval(data_dir, str(train_dir)), pattern)
  assert sorted(os.listdir(train_dir)) == before


@pytest.mark.slow
@pytest.mark.parametrize('script,flag,pattern', [
    ('cifar10_eval.py', '--eval_data=validation',
     r'--eval_data=validation: value should be one of <test\|train_eval>'),
    ('cifar10_train.py', '--batch_size=0', r'--batch_size=0: 0 is not a positive integer'),
    ('cifar10_train.py', '--max_steps=-5', r'--max_steps=-5: -5 is not a positive integer'),
    ('cifar10_train.py', 'stray_argument', r'unexpected arguments'),
    ('cifar10_train.py', '--seed=-1',
     r'--seed=-1: -1 is not an integer in the range \[0, 2147483647\]'),
])
def test_bad_flags(script, flag, pattern):
  _one_line_error(run_script(script, flag), pattern)


@pytest.mark.slow
def test_nan_loss_stops_training(data_dir, tmp_path):
  train_dir = str(tmp_path / 'train')
  _assert_ok(_train(data_dir, train_dir, '--max_steps=2'))
  checkpoint = tf.train.latest_checkpoint(train_dir)
  # Poison the newest checkpoint's weights the way a diverged run would.
  with tf.Graph().as_default():
    reader = tf.train.load_checkpoint(checkpoint)
    variables = []
    for name, shape in tf.train.list_variables(checkpoint):
      value = reader.get_tensor(name)
      if name == 'softmax_linear/weights':
        value = np.full(shape, np.nan, dtype=value.dtype)
      variables.append(tf.compat.v1.get_variable(name, initializer=value))
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      tf.compat.v1.train.Saver().save(sess, checkpoint)
  result = _train(data_dir, train_dir, '--max_steps=10')
  _one_line_error(result, r'model diverged with loss = NaN at step 3')
  assert _checkpoint_step(train_dir) == 2
