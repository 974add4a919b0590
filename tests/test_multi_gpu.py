"""Tests of cifar10_multi_gpu_train: averaging, placement, end to end."""

import collections
import re

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import kernels

import cifar10
import cifar10_models
from cifar10_lib import summaries
from cifar10_lib import checkpoints
from cifar10_training import towers
from cifar10_training import training
from conftest import run_script
from test_scripts import PRECISION_LINE, TRAIN_LINE, _assert_ok, _eval

BATCH = 4
DEVICES = ['/cpu:0', '/cpu:1']
# The tutorial's model and recipe, BATCH examples a tower.
_TUTORIAL = cifar10_models.get(cifar10_models.TUTORIAL)
_TUTORIAL_PLAN = training.Plan(
    _TUTORIAL, _TUTORIAL.recipe._replace(batch_size=BATCH), max_steps=1)


def _config():
  return tf.compat.v1.ConfigProto(device_count={'CPU': 2})


def _batches():
  rng = np.random.RandomState(3)
  images = rng.normal(size=(2 * BATCH, 24, 24, 3)).astype(np.float32)
  labels = np.array([1, 5, 2, 9, 0, 5, 7, 3], dtype=np.int32)
  return images, labels


def _variables():
  return {v.op.name: v for v in tf.compat.v1.global_variables()}


def _single_step(checkpoint):
  """One single-device step on A+B; saves the initial weights first."""
  images, labels = _batches()
  with tf.Graph().as_default():
    global_step = tf.compat.v1.train.get_or_create_global_step()
    logits = cifar10.inference(tf.constant(images))
    total = cifar10.loss(logits, tf.constant(labels))
    train_op = cifar10.train(total, global_step, 2 * BATCH)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      tf.compat.v1.train.Saver(_variables()).save(sess, checkpoint)
      sess.run(train_op)
      return sess.run(_variables())


def _tower_graph():
  """Builds two towers fed A and B; returns (train_op, var_map)."""
  images, labels = _batches()
  batches = iter([(images[:BATCH], labels[:BATCH]),
                  (images[BATCH:], labels[BATCH:])])

  def next_batch():
    a, b = next(batches)
    return tf.constant(a), tf.constant(b)

  global_step = tf.compat.v1.train.get_or_create_global_step()
  train_op, _ = towers.model_step(_TUTORIAL_PLAN, towers.on_devices(DEVICES),
                                  next_batch, global_step)
  return train_op, _variables()


def test_two_towers_step_equals_one_step_on_both_batches(tmp_path):
  checkpoint = str(tmp_path / 'initial')
  expected = _single_step(checkpoint)
  with tf.Graph().as_default():
    train_op, var_map = _tower_graph()
    # The same names: the tower graph restores the single-device checkpoint.
    assert sorted(var_map) == sorted(expected)
    saver = tf.compat.v1.train.Saver(var_map)
    with tf.compat.v1.Session(config=_config()) as sess:
      checkpoints.restore(sess, saver, var_map, checkpoint)
      sess.run(train_op)
      got = sess.run(var_map)
  assert got['global_step'] == 1
  for name, value in expected.items():
    np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-6,
                               err_msg=name)


def test_towers_run_on_distinct_devices():
  with tf.Graph().as_default():
    train_op, _ = _tower_graph()
    variables = tf.compat.v1.trainable_variables()
    with tf.compat.v1.Session(config=_config()) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      metadata = tf.compat.v1.RunMetadata()
      sess.run(train_op, options=tf.compat.v1.RunOptions(
          trace_level=tf.compat.v1.RunOptions.FULL_TRACE),
               run_metadata=metadata)
  placed = {}
  for device_stats in metadata.step_stats.dev_stats:
    for node in device_stats.node_stats:
      placed[node.node_name] = device_stats.device
  # Grappler fuses conv + bias + ReLU into one op named after the ReLU.
  for tower in (0, 1):
    for op in ('conv1/Conv2D', 'pool1', 'conv2/conv2',
               'gradients/tower_%d/conv1/Conv2D_grad/Conv2DBackpropFilter' %
               tower):
      name = 'tower_%d/%s' % (tower, op)
      assert placed[name].endswith('CPU:%d' % tower), (name, placed[name])
  assert len(variables) == 10
  for var in variables:
    assert placed[var.op.name].endswith('CPU:0'), var.op.name


def test_tower_devices_fall_back_to_cpu(capsys):
  devices, cpu_devices = towers.tower_devices(3)
  assert devices == ['/cpu:0', '/cpu:1', '/cpu:2'] and cpu_devices == 3
  assert 'Asked for 3 GPUs, found 0' in capsys.readouterr().out


@pytest.mark.slow
def test_two_towers_end_to_end_then_eval_and_resume(data_dir, tmp_path):
  train_dir = str(tmp_path / 'train')
  result = run_script('cifar10_multi_gpu_train.py', '--num_gpus=2',
                      '--data_dir=' + data_dir, '--train_dir=' + train_dir,
                      '--nodownload', '--batch_size=16', '--max_steps=20',
                      '--log_frequency=10')
  _assert_ok(result)
  assert 'Asked for 2 GPUs, found 0: running the 2 towers on 2 logical CPU ' \
      'devices.' in result.stdout
  assert [int(s) for s in TRAIN_LINE.findall(result.stdout)] == [10, 20]
  assert tf.train.latest_checkpoint(train_dir).endswith('model.ckpt-20')

  result = _eval(data_dir, train_dir)
  _assert_ok(result)
  assert PRECISION_LINE.search(result.stdout).group(3) == '50'

  # The single-device trainer continues the multi-tower run.
  result = run_script('cifar10_train.py', '--data_dir=' + data_dir,
                      '--train_dir=' + train_dir, '--nodownload',
                      '--batch_size=16', '--max_steps=25', '--log_frequency=5')
  _assert_ok(result)
  assert 'at step 20.' in result.stdout
  assert tf.train.latest_checkpoint(train_dir).endswith('model.ckpt-25')


def _has_gpu_kernel(op_type):
  """Whether TensorFlow registers a kernel of `op_type` that runs on GPUs."""
  registered = kernels.get_registered_kernels_for_op(op_type).kernel
  return any(k.device_type in ('GPU', 'DEFAULT') for k in registered)


def _asks_for(op):
  """('GPU', i), ('CPU', i), or None: the device `op` requests.

  An op with no device of its own that takes a resource (a variable's
  read) goes where the resource is: the placer's rule.
  """
  if not op.device:
    for t in op.inputs:
      if t.dtype == tf.resource:
        return _asks_for(t.op)
    return None
  spec = tf.DeviceSpec.from_string(op.device)
  return spec.device_type, spec.device_index


def test_on_gpus_only_the_towers_compute_asks_for_them(data_dir):
  """The graph for two real GPUs, built (not run) on any machine: each op's
  requested device, as the placer would get it."""
  with tf.Graph().as_default() as graph:
    global_step, _, next_batch = training.input_and_global_step(
        data_dir, BATCH, seed=1)
    towers.model_step(_TUTORIAL_PLAN, towers.on_devices(['/gpu:0', '/gpu:1']),
                      next_batch, global_step)
    gpu_ops = collections.Counter()
    for op in graph.get_operations():
      tower = re.match(r'%s_(\d)/' % summaries.TOWER_NAME, op.name)
      summary = re.search(r'(^|/)%s(_\d+)?/' % summaries.SUMMARY_SCOPE,
                          op.name) or 'Summary' in op.type
      reads_variable = any(t.dtype == tf.resource for t in op.inputs)
      device = _asks_for(op)
      if device and device[0] == 'GPU':
        gpu_ops[device] += 1
        assert _has_gpu_kernel(op.type), op.name
        assert tower and device == ('GPU', int(tower.group(1))), op.name
        assert not summary and not reads_variable, op.name
      elif tower and not summary and not reads_variable:
        assert device == ('GPU', int(tower.group(1))), (op.name, op.device)
      if (summary or op.type in ('VarHandleOp', 'EncodePng')
          or op.type.startswith('Iterator') or (tower and reads_variable)):
        assert device == ('CPU', 0), (op.name, op.device)
      # Outside the towers, a read of a variable may ask for nothing: the
      # placer puts an op that takes a resource where the resource is.
    # Both towers' convolutions, forward and backward, among them.
    convs = [op for op in graph.get_operations()
             if op.type.startswith('Conv2D')]
    assert {_asks_for(op) for op in convs} == {('GPU', 0), ('GPU', 1)}
    # The same model on each GPU.
    assert gpu_ops[('GPU', 0)] == gpu_ops[('GPU', 1)] > 100
