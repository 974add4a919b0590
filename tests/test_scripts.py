"""End-to-end tests: the scripts run as a user runs them, on small data."""

import glob
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import cifar10
import cifar10_input
from cifar10_lib import records
from cifar10_datasets.synthetic import make_data_dir
from cifar10_datasets.cifar10 import CIFAR10
from conftest import ROOT, TEST_FILE, run_script, to_python_version
from conftest import train_here

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


def _scalars_at(log_dir, step):
  """{tag: value} of the scalar summaries written at `step` in `log_dir`."""
  values = {}
  for path in glob.glob(os.path.join(log_dir, 'events.out.tfevents.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      if event.step == step:
        values.update((v.tag, v.simple_value) for v in event.summary.value
                      if v.WhichOneof('value') == 'simple_value')
  return values


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
  # TensorBoard's averaged curves start at the first loss, not at 0.0.
  first = _scalars_at(train_dir, 1)
  for name in ('total_loss', 'cross_entropy'):
    assert first[name] == pytest.approx(first[name + ' (raw)'], rel=1e-5)
  assert first['total_loss'] > 1.0

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
  assert "15 of the run's 45 steps remain." in result.stdout
  assert _checkpoint_step(train_dir) == 45
  # The last line says where the run ended and how to evaluate it, with a
  # command that runs as printed, in the Python that trained.
  done, _, command = result.stdout.splitlines()[-1].partition(
      '. Evaluate it with: ')
  assert done == ('Done: reached step 45, the last of this run; newest '
                  'checkpoint: %s/model.ckpt-45' % train_dir)
  assert command.endswith('cifar10_eval.py --data_dir=%s --checkpoint_dir=%s '
                          '--run_once' % (data_dir, train_dir))
  # (This data set's 50 test images, and an eval folder of the test's.)
  evaluated = subprocess.run(
      shlex.split(command) + ['--num_examples=50',
                              '--eval_dir=' + train_dir + '_eval'],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  _assert_ok(evaluated)
  assert PRECISION_LINE.search(evaluated.stdout)
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
@pytest.mark.xdist_group(name='stripes_model')  # trained once (pytest.ini)
def test_training_learns_and_eval_counts_each_class(stripes_model, tmp_path):
  """The stripes model (conftest) learned its set; its evaluation's counts,
  printed and in --results_file, are those of its predictions."""
  data_dir, train_dir = stripes_model
  results_file = str(tmp_path / 'results' / 'eval.json')
  result = _eval(data_dir, train_dir, '--results_file=' + results_file)
  _assert_ok(result)
  precision = float(PRECISION_LINE.search(result.stdout).group(1))
  assert precision >= 0.6, result.stdout  # chance is 0.25 (4 patterns)

  # The per-class lines, the matrix and the JSON file: the same counts as
  # a recount of the checkpoint's predictions made here, independently.
  with open(results_file) as f:
    saved = json.load(f)
  expected = _recount(data_dir, train_dir, 50)
  assert saved['confusion_matrix'] == expected.tolist()
  assert sum(map(sum, saved['confusion_matrix'])) == saved['total'] == 50
  assert saved['correct'] == np.trace(expected)
  assert saved['precision'] == pytest.approx(precision, abs=1e-4)
  assert saved['global_step'] == 250
  assert saved['checkpoint'].endswith('model.ckpt-250')
  assert [c['class'] for c in saved['per_class']] == list(
      cifar10_input.CLASS_NAMES)
  printed = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in
             re.finditer(r'^  (\w+) +(?:[\d.]+|-) +\((\d+)/(\d+)\)$',
                         result.stdout, re.M)}
  assert printed == {c['class']: (c['correct'], c['total'])
                     for c in saved['per_class']}
  rows = re.findall(r'^  (\w+)((?: +\d+){10})$', result.stdout, re.M)
  assert [[int(n) for n in counts.split()] for _, counts in rows] == (
      saved['confusion_matrix'])
  assert len({len(line) for line in result.stdout.splitlines()
              if re.match(r'^  \w+ +\d+ +\d+', line)}) == 1  # aligned

  # The same data in the official Python version: the same results.
  python_dir = to_python_version(data_dir, tmp_path / 'python')
  python_results = str(tmp_path / 'python.json')
  result = _eval(python_dir, train_dir, '--noper_class',
                 '--results_file=' + python_results)
  _assert_ok(result)
  # --noper_class: the tutorial's single line.
  assert PRECISION_LINE.match(result.stdout) and len(
      result.stdout.splitlines()) == 1, result.stdout
  with open(python_results) as f:
    assert json.load(f)['confusion_matrix'] == saved['confusion_matrix']


def _recount(data_dir, train_dir, num_examples):
  """The confusion matrix of the newest checkpoint on the first examples
  of the test file, computed here from the records, without cifar10_eval."""
  rows = np.fromfile(os.path.join(records.batches_dir(CIFAR10, data_dir),
                                  TEST_FILE),
                     np.uint8).reshape(-1, CIFAR10.record_bytes)[:num_examples]
  labels = rows[:, 0]
  images = rows[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
  with tf.Graph().as_default():
    logits = cifar10.inference(cifar10_input.eval_image(tf.constant(images)))
    saver = tf.compat.v1.train.Saver(cifar10.variables_to_restore())
    with tf.compat.v1.Session() as sess:
      saver.restore(sess, tf.train.latest_checkpoint(train_dir))
      predictions = sess.run(tf.argmax(logits, axis=1))
  counts = np.zeros((10, 10), np.int64)
  for true, guess in zip(labels, predictions):
    counts[true, guess] += 1
  return counts


@pytest.mark.slow
def test_use_fp16_trains_and_evaluates_in_float16(data_dir, tmp_path):
  train_dir = str(tmp_path / 'train')
  result = _train(data_dir, train_dir, '--max_steps=20', '--use_fp16',
                  '--log_frequency=10', '--seed=1')
  _assert_ok(result)
  losses = [float(l) for l in LOSS.findall(result.stdout)]
  assert len(losses) == 2 and losses[1] < losses[0]
  stored = dict(tf.train.load_checkpoint(
      tf.train.latest_checkpoint(train_dir)).get_variable_to_dtype_map())
  assert stored['conv1/weights'] == tf.float16
  assert stored['local3/weights/ExponentialMovingAverage'] == tf.float16
  _assert_ok(_eval(data_dir, train_dir, '--use_fp16'))
  _one_line_error(_eval(data_dir, train_dir),
                  r'holds float16 variables \(\S+\), this model float32 '
                  r'ones: pass --use_fp16 exactly when')


_RAISE = r'''
import sys
sys.path.insert(0, %r)
from cifar10_lib import cli
import tensorflow as tf
def main(argv):
  raise %s
cli.run(main)
'''


@pytest.mark.slow
@pytest.mark.parametrize('raised,status,expected', [
    ('tf.errors.ResourceExhaustedError(None, None, "OOM when allocating '
     'tensor with shape[128,24,24,64]\\n detail")', 2,
     r'^ERROR: TensorFlow stopped with ResourceExhaustedError \(OOM when '
     r'allocating tensor with shape\[128,24,24,64\] detail\): out of memory: '
     r'lower --batch_size, .*; the checkpoints are as they were$'),
    ('tf.errors.InternalError(None, None, "a kernel failed")', 2,
     r'^ERROR: TensorFlow stopped with InternalError \(a kernel failed\): '
     r'run again; if it happens again, report it'),
    ('KeyboardInterrupt', 130, r'^Stopped by Ctrl-C\.$'),
])
def test_errors_from_inside_a_run_are_one_line(raised, status, expected):
  result = subprocess.run([sys.executable, '-c', _RAISE % (ROOT, raised)],
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == status
  assert 'Traceback' not in result.stderr
  lines = [l for l in result.stderr.splitlines()
           if l.startswith(('ERROR:', 'Stopped'))]
  assert len(lines) == 1 and re.search(expected, lines[0]), result.stderr


@pytest.mark.slow
def test_same_seed_same_loss_curve(data_dir, tmp_path):
  def losses(name, *flags):
    result = _train(data_dir, str(tmp_path / name), '--max_steps=40',
                    '--log_frequency=5', *flags)
    _assert_ok(result)
    return LOSS.findall(result.stdout), result.stdout
  # A run without --seed prints the seed it drew; passed back, it gives the
  # same losses, and another seed other losses.
  unseeded, out = losses('a')
  assert len(unseeded) == 8
  seed = re.search(r'^Random seed: (\d+) \(pass --seed=\1 to repeat this '
                   r'run\)', out, re.M).group(1)
  assert losses('b', '--seed=' + seed)[0] == unseeded
  assert losses('c', '--seed=%d' % ((int(seed) + 1) % 2 ** 31))[0] != unseeded


def _stop(data_dir, train_dir, signum, model='tutorial'):
  """Starts training in `train_dir`, sends `signum` after its first progress
  line and returns (seconds from its new checkpoint landing to its exit,
  exit status, stdout, stderr)."""
  before = set(glob.glob(os.path.join(train_dir, '*.index')))
  process = subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'cifar10_train.py'),
       '--data_dir=' + data_dir, '--train_dir=' + train_dir, '--nodownload',
       '--batch_size=16', '--log_frequency=5', '--model=' + model],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    for line in process.stdout:
      if TRAIN_LINE.match(line.strip()):
        break
    process.send_signal(signum)
    saved = None
    while process.poll() is None:
      if saved is None and set(glob.glob(os.path.join(train_dir,
                                                      '*.index'))) - before:
        saved = time.time()
      time.sleep(0.01)
    exited = time.time()
    out, err = process.communicate(timeout=60)
  finally:
    process.kill()
  assert saved is not None, out + err
  return exited - saved, process.returncode, out, err


def _assert_stopped(train_dir, signum, status, out, err):
  """Asserts the closing line of a stopped run and returns its step."""
  assert status == 128 + signum, err
  match = re.search(r'Stopped by signal %d at step (\d+); newest checkpoint: '
                    r'\S+model.ckpt-(\d+)\.' % signum, out)
  assert match, out + err
  assert match.group(1) == match.group(2)
  step = int(match.group(1))
  assert _checkpoint_step(train_dir) == step
  return step


@pytest.mark.slow
@pytest.mark.parametrize('model', ['tutorial', 'baseline'])
def test_sigterm_saves_a_checkpoint_and_exits(data_dir, tmp_path, model):
  train_dir = str(tmp_path / 'train')
  seconds, status, out, err = _stop(data_dir, train_dir, signal.SIGTERM,
                                    model)
  assert seconds < 1.0
  assert _assert_stopped(train_dir, signal.SIGTERM, status, out, err) >= 5


@pytest.mark.slow
def test_ten_ctrl_c_stops_each_exit_within_a_second(data_dir, tmp_path):
  # Each stop resumes the run before: ten stops, each saving a later step
  # than the one before, and ending within 1 s of its checkpoint landing
  # (TensorFlow's teardown once took 3-5 s in 4 stops of 10).
  train_dir = str(tmp_path / 'train')
  steps, delays = [0], []
  for _ in range(10):
    seconds, status, out, err = _stop(data_dir, train_dir, signal.SIGINT)
    delays.append(seconds)
    steps.append(_assert_stopped(train_dir, signal.SIGINT, status, out, err))
    assert steps[-1] > steps[-2]
  assert max(delays) < 1.0, delays


def _one_line_error(result, pattern):
  """Asserts a failed run that said `pattern` on one line, no traceback."""
  assert result.returncode != 0
  assert 'Traceback' not in result.stderr, result.stderr
  errors = [l for l in result.stderr.splitlines()
            if l.startswith(('ERROR:', 'FATAL Flags parsing error'))]
  assert len(errors) == 1, result.stderr
  assert re.search(pattern, errors[0]), errors[0]


def _corrupt_label(data_dir):
  path = os.path.join(records.batches_dir(CIFAR10, data_dir),
                      'data_batch_2.bin')
  data = bytearray(open(path, 'rb').read())
  data[3 * CIFAR10.record_bytes] = 200
  open(path, 'wb').write(bytes(data))


def _truncate_test_file(data_dir):
  path = os.path.join(records.batches_dir(CIFAR10, data_dir), TEST_FILE)
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
  if data_flag != 'data':  # (a bad label is found only when read)
    # Checked before anything is written or said.
    assert not os.path.exists(train_dir) and result.stdout == ''


@pytest.mark.slow
def test_mistyped_data_dir_with_download_leaves_nothing_behind(tmp_path):
  data_dir, train_dir = str(tmp_path / 'typo'), str(tmp_path / 'train')
  result = run_script('cifar10_train.py', '--data_dir=' + data_dir,
                      '--train_dir=' + train_dir,
                      '--data_url=http://127.0.0.1:1/x')
  assert result.stdout.startswith('data_dir %s does not exist' % data_dir)
  _one_line_error(result, r'data_dir \S+typo did not exist \(check it for a '
                  r'typo\) and the download into it failed')
  assert os.listdir(str(tmp_path)) == []


@pytest.fixture(scope='module')
def one_step_train_dir(tmp_path_factory):
  """A --train_dir with a checkpoint after one step, for tests that only
  read it: one training run for all of them."""
  root = tmp_path_factory.mktemp('one_step')
  train_dir = str(root / 'train')
  train_here(make_data_dir(root / 'data'), train_dir, 'tutorial', 1, seed=5)
  return train_dir


@pytest.mark.slow
def test_bad_data_for_eval(data_dir, one_step_train_dir):
  _truncate_test_file(data_dir)
  _one_line_error(_eval(data_dir, one_step_train_dir),
                  r'test_batch.bin has \d+ bytes, not a whole number of '
                  r'3073-byte records')


@pytest.mark.slow
def test_onednn_changes_results_by_float_rounding_only(one_step_train_dir):
  """The fixture trained with oneDNN on (the default); the same seed with
  oneDNN off gives the same first step: the same initial weights and
  batch, only the kernels' order of summation differs. Its bound: conv2
  sums 1,600 products per output, so the loss may move by up to about
  1,600 float32 roundings (1e-4 of it) in the worst case; typically by
  ~40 (2e-6). Later steps are not compared: training amplifies any
  difference (see test_input)."""
  data_dir = os.path.join(os.path.dirname(one_step_train_dir), 'data')
  off_dir = one_step_train_dir + '_onednn_off'
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'cifar10_train.py'),
       '--data_dir=' + data_dir, '--train_dir=' + off_dir, '--nodownload',
       '--batch_size=16', '--max_steps=1', '--seed=5'], cwd=ROOT,
      capture_output=True, text=True, timeout=300,
      env=dict(os.environ, TF_ENABLE_ONEDNN_OPTS='0'))
  _assert_ok(result)
  on, off = (_scalars_at(d, 1)['total_loss (raw)']
             for d in (one_step_train_dir, off_dir))
  assert off == pytest.approx(on, rel=1e-4)


@pytest.mark.slow
def test_eval_of_more_examples_than_there_are(data_dir, one_step_train_dir):
  _one_line_error(_eval(data_dir, one_step_train_dir,
                        '--num_examples=10000'),
                  r'--num_examples=10000 but test holds only 50 examples')


@pytest.mark.slow
def test_eval_without_checkpoint(data_dir, tmp_path):
  (tmp_path / 'empty').mkdir()
  _one_line_error(_eval(data_dir, str(tmp_path / 'empty')),
                  r'no checkpoint in \S+empty: train first')
  _one_line_error(_eval(data_dir, str(tmp_path / 'nothing')),
                  r'checkpoint_dir \S+nothing does not exist')
  assert not [name for name in os.listdir(str(tmp_path))
              if name.endswith('_eval')]


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
    ('cifar10_train.py', '--batch_size=0',
     r'--batch_size=0: 0 is not a positive integer'),
    ('cifar10_train.py', '--max_steps=-5',
     r'--max_steps=-5: -5 is not a positive integer'),
    ('cifar10_train.py', 'stray_argument', r'unexpected arguments'),
    ('cifar10_train.py', '--seed=-1',
     r'--seed=-1: -1 is not an integer in the range \[0, 2147483647\]'),
    ('cifar10_eval.py', '--gpu_memory_fraction=1.5',
     r'--gpu_memory_fraction must be above 0 and at most 1'),
    ('cifar10_train.py', '--epochs=0', r'--epochs must be above 0'),
    ('cifar10_predict.py', '--model=resnet99 --checkpoint_dir=.',
     r'--model=resnet99: value should be one of <tutorial\|baseline'),
    ('cifar10_train.py', '--num_gpus=2',
     r'--num_gpus is a flag of cifar10_multi_gpu_train.py, not of '
     r'cifar10_train.py: run python cifar10_multi_gpu_train.py --num_gpus=2'),
])
def test_bad_flags(script, flag, pattern):
  _one_line_error(run_script(script, *flag.split()), pattern)


@pytest.mark.slow
def test_a_folder_as_results_file_is_one_line_before_evaluating(
    data_dir, tmp_path):
  train_dir = str(tmp_path / 'train')
  train_here(data_dir, train_dir, 'tutorial', 1)
  folder = tmp_path / 'results'
  folder.mkdir()
  result = _eval(data_dir, train_dir, '--results_file=%s' % folder)
  _one_line_error(result, r'results_file %s is a folder: pass the path of a '
                  r'file to write, such as %s/results.json' %
                  (folder, folder))
  assert result.returncode == 2 and 'precision @ 1' not in result.stdout
  assert not os.listdir(folder)


@pytest.mark.slow
def test_use_fp16_on_a_cpu_says_what_it_will_do(data_dir, tmp_path):
  result = _train(data_dir, str(tmp_path / 'train'), '--max_steps=1',
                  '--use_fp16')
  _assert_ok(result)
  assert re.search(r'^WARNING: --use_fp16 on a CPU: a convolution and its '
                   r'gradients ran [\d.]+x slower than float32 in float16 on '
                   r'this CPU \(.*\), measured now', result.stdout,
                   re.M), result.stdout


@pytest.mark.slow
@pytest.mark.parametrize('model,last_weights', [
    ('tutorial', 'softmax_linear/weights'), ('baseline', 'logits/weights')])
def test_nan_loss_stops_training(data_dir, tmp_path, model, last_weights):
  train_dir = str(tmp_path / 'train')
  train_here(data_dir, train_dir, model, 2)
  checkpoint = tf.train.latest_checkpoint(train_dir)
  # Poison the newest checkpoint's weights the way a diverged run would.
  with tf.Graph().as_default():
    reader = tf.train.load_checkpoint(checkpoint)
    variables = []
    for name, shape in tf.train.list_variables(checkpoint):
      value = reader.get_tensor(name)
      if name == last_weights:
        value = np.full(shape, np.nan, dtype=value.dtype)
      variables.append(tf.compat.v1.get_variable(name, initializer=value))
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      tf.compat.v1.train.Saver().save(sess, checkpoint)
  result = _train(data_dir, train_dir, '--max_steps=10')
  _one_line_error(result, r'model diverged with loss = NaN at step 3')
  assert _checkpoint_step(train_dir) == 2
