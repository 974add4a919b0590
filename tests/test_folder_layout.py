"""Training folders in the layout of 2026-12-03 resume, evaluate and predict.

The folders are written here with plain TensorFlow from the variable names,
shapes and model.json of that day, not with the project's code, so that a
change of any name in the code (a variable, a scope, a recipe field) fails
these tests instead of quietly orphaning users' checkpoints.
"""

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from conftest import run_script
from test_scripts import PRECISION_LINE, _assert_ok

# The class every folder's weights predict: the logits are the last
# layer's biases alone (every weight is zero), CAT_LOGIT for class CAT.
CAT = 3
CAT_LOGIT = 10.0
STEP = 7

# Checkpoint variables by model: name -> shape.
_TUTORIAL_WEIGHTS = {
    'conv1/weights': [5, 5, 3, 64], 'conv1/biases': [64],
    'conv2/weights': [5, 5, 64, 64], 'conv2/biases': [64],
    'local3/weights': [2304, 384], 'local3/biases': [384],
    'local4/weights': [384, 192], 'local4/biases': [192],
    'softmax_linear/weights': [192, 10], 'softmax_linear/biases': [10],
}
_LOSS_AVERAGES = ('cross_entropy/avg', 'total_loss/avg')
_BASELINE_WEIGHTS = {
    'conv1/weights': [5, 5, 3, 6], 'conv1/biases': [6],
    'conv1/bn/beta': [6], 'conv1/bn/gamma': [6],
    'dense1/weights': [1536, 128], 'dense1/biases': [128],
    'logits/weights': [128, 10], 'logits/biases': [10],
}
LAYOUTS = {
    'tutorial': dict(
        [(n, s) for n, s in _TUTORIAL_WEIGHTS.items()] +
        [(n + '/ExponentialMovingAverage', s)
         for n, s in _TUTORIAL_WEIGHTS.items()] +
        [(n, []) for n in _LOSS_AVERAGES + (
            'local3/weight_loss/avg', 'local4/weight_loss/avg')]),
    'baseline': dict(
        [(n, s) for n, s in _BASELINE_WEIGHTS.items()] +
        [(n + '/Momentum', s) for n, s in _BASELINE_WEIGHTS.items()] +
        [('conv1/bn/moving_mean', [6]), ('conv1/bn/moving_variance', [6])] +
        [(n, []) for n in _LOSS_AVERAGES + ('weight_loss/avg',)]),
}
RECORDS = {
    'tutorial': {
        'view': 'tutorial', 'optimizer': 'sgd', 'schedule': 'tutorial',
        'learning_rate': 0.1, 'warmup_fraction': 0.0, 'epochs': None,
        'weight_decay': 0.004, 'batch_size': 4,
        'moving_average_decay': 0.9999, 'label_smoothing': 0.0},
    'baseline': {
        'view': 'padded_crop', 'optimizer': 'nesterov',
        'schedule': 'one_cycle', 'learning_rate': 0.05,
        'warmup_fraction': 0.15, 'epochs': 10, 'weight_decay': 0.0005,
        'batch_size': 4, 'moving_average_decay': None,
        'label_smoothing': 0.0},
}
# The last layer's biases, and (tutorial) their average, which eval reads.
_CAT_BIASES = ('softmax_linear/biases',
               'softmax_linear/biases/ExponentialMovingAverage',
               'logits/biases')


def _value(name, shape):
  """A variable's value in the written folder: every weight predicts CAT."""
  if name in _CAT_BIASES:
    return np.eye(10, dtype=np.float32)[CAT] * CAT_LOGIT
  if name.endswith(('gamma', 'moving_variance')):
    return np.ones(shape, np.float32)
  return np.zeros(shape, np.float32)


def write_folder(train_dir, model):
  """Writes a folder as training left it on 2026-12-03, at step STEP."""
  with tf.Graph().as_default():
    variables = [tf.compat.v1.Variable(_value(name, shape), name=name)
                 for name, shape in LAYOUTS[model].items()]
    variables.append(tf.compat.v1.Variable(
        np.int64(STEP), name='global_step'))
    saver = tf.compat.v1.train.Saver({v.op.name: v for v in variables})
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      saver.save(sess, str(train_dir / 'model.ckpt'), global_step=STEP)
  (train_dir / 'model.json').write_text(json.dumps(
      {'model': model, 'recipe': RECORDS[model]}, indent=1))


def _picture(path):
  """A PNG file the predict script reads."""
  path.write_bytes(tf.io.encode_png(
      np.full([32, 32, 3], 128, np.uint8)).numpy())
  return str(path)


@pytest.mark.slow
@pytest.mark.parametrize('model', sorted(LAYOUTS))
def test_a_folder_of_the_old_layout_evaluates_predicts_and_resumes(
    data_dir, tmp_path, model):
  train_dir = tmp_path / 'train'
  train_dir.mkdir()
  write_folder(train_dir, model)
  common = ['--data_dir=' + data_dir, '--nodownload']

  result = run_script('cifar10_eval.py', *common,
                      '--checkpoint_dir=%s' % train_dir,
                      '--eval_dir=%s' % (tmp_path / 'eval'),
                      '--num_examples=50', '--run_once', '--noper_class')
  _assert_ok(result)
  # Every test image is called a cat; 5 of the 50 are (labels cycle 0..9).
  line = PRECISION_LINE.search(result.stdout)
  assert line and line.group(2, 3) == ('5', '50'), result.stdout
  assert 'step %d' % STEP in result.stdout

  result = run_script('cifar10_predict.py', '--checkpoint_dir=%s' % train_dir,
                      _picture(tmp_path / 'grey.png'))
  _assert_ok(result)
  assert re.search(r'grey\.png: cat 1\.000', result.stdout), result.stdout

  result = run_script('cifar10_train.py', *common,
                      '--train_dir=%s' % train_dir,
                      '--max_steps=%d' % (STEP + 2), '--seed=1')
  _assert_ok(result)
  assert 'at step %d.' % STEP in result.stdout, result.stdout
  newest = tf.train.latest_checkpoint(str(train_dir))
  assert newest.endswith('model.ckpt-%d' % (STEP + 2))
  names = {name for name, _ in tf.train.list_variables(newest)}
  assert names == set(LAYOUTS[model]) | {'global_step'}
