"""Profiles training steps: where the time of a step goes, part by part.

Usage:
  python bench/profile_step.py [--data_dir=/tmp/cifar10_data] [--steps=20]

Builds the single-device training graph of cifar10_train.py (real input
pipeline; without --data_dir on synthetic records it writes), runs a few
warm-up steps, then traces --steps plain steps and 3 steps that write
summaries, and prints the mean time of each part of the graph: the layers
(forward and gradient ops together), the loss, the optimizer, the moving
averages, the summaries, and the wait for the input batch. Ops run one at a
time (inter-op parallelism 1, each op still using every core), so the parts
add up to the step. It also times the input pipeline alone, which otherwise
runs in tf.data's threads beside the step, in CPU milliseconds per batch.
"""

import argparse
import collections
import os
import re
import resource
import sys
import tempfile
import time


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# pylint: disable=g-import-not-at-top,wrong-import-position
import cifar10_lib  # Before TensorFlow: it sets TensorFlow's CPU options.
from cifar10_lib import devices
from cifar10_lib.synthetic import make_data_dir
import tensorflow as tf

from cifar10_lib import summaries
import cifar10_input
import cifar10_models
import cifar10_train
from cifar10_lib import training
# pylint: enable=g-import-not-at-top,wrong-import-position

# Which part an op belongs to, by the first component of its name that
# says (after 'gradients/' and a tower prefix): the layers by their scopes.
PARTS = collections.OrderedDict([
    ('conv1', 'conv1'), ('pool1', 'pool1'), ('norm1', 'norm1 (LRN)'),
    ('conv2', 'conv2'), ('norm2', 'norm2 (LRN)'), ('pool2', 'pool2'),
    ('local3', 'local3'), ('local4', 'local4'),
    ('softmax_linear', 'softmax_linear'), ('Reshape', 'pool2 -> local3'),
    ('cross_entropy', 'loss'), ('total_loss', 'loss'), ('AddN', 'loss'),
    ('GradientDescent', 'optimizer (SGD)'),
    ('ExponentialMovingAverage', 'moving averages of the weights'),
    ('avg', 'moving averages of the losses'),
    ('ExponentialDecay', 'learning rate'),
    ('IteratorGetNext', 'wait for the input batch'),
])
TOWER = re.compile(r'^tower_\d+/')


def part_of(node_name, op_type):
  """The part of the graph an op belongs to."""
  name = TOWER.sub('', node_name.split(':')[0])
  if name.startswith('gradients/'):
    name = TOWER.sub('', name[len('gradients/'):])
  components = re.split(r'[/_]grad\b|/', name)
  if 'Summary' in op_type or any(_is(c, summaries.SUMMARY_SCOPE)
                                 for c in components):
    return 'summaries'
  for component in components:
    for prefix, part in PARTS.items():
      if _is(component, prefix):
        return part
  return 'other: ' + op_type


def _is(component, scope):
  """Whether a name component is `scope`, or `scope_N` made unique."""
  return component == scope or component.startswith(scope + '_')


def _op_type(node):
  label = node.timeline_label
  return label.split('=')[-1].split('(')[0].strip() if '=' in label else '?'


def trace(sess, fetches, steps):
  """Runs `fetches` `steps` times traced; returns {part: mean ms}, wall ms."""
  parts = collections.Counter()
  start = time.time()
  for _ in range(steps):
    metadata = tf.compat.v1.RunMetadata()
    sess.run(fetches, options=tf.compat.v1.RunOptions(
        trace_level=tf.compat.v1.RunOptions.FULL_TRACE),
             run_metadata=metadata)
    for device in metadata.step_stats.dev_stats:
      for node in device.node_stats:
        micros = node.op_end_rel_micros - node.op_start_rel_micros
        parts[part_of(node.node_name, _op_type(node))] += micros / 1e3
  return ({k: v / steps for k, v in parts.items()},
          (time.time() - start) * 1e3 / steps)


def pipeline_cpu_ms(data_dir, batch_size, batches=200):
  """CPU milliseconds the training input pipeline spends per batch."""
  with tf.Graph().as_default():
    next_batch = tf.compat.v1.data.make_one_shot_iterator(
        cifar10_input.train_dataset(data_dir, batch_size, seed=0)).get_next()
    with tf.compat.v1.Session() as sess:
      for _ in range(20):
        sess.run(next_batch)
      cpu = time.process_time()
      for _ in range(batches):
        sess.run(next_batch)
      return (time.process_time() - cpu) * 1e3 / batches


def _print_parts(title, parts, wall_ms):
  print('%s: %.1f ms per step traced (ops one at a time; tracing adds a '
        'little)' % (title, wall_ms))
  total = sum(parts.values())
  for part, ms in sorted(parts.items(), key=lambda kv: -kv[1]):
    if ms >= 0.05:
      print('  %-34s %6.2f ms  %5.1f%%' % (part, ms, 100 * ms / total))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data_dir', default=None)
  parser.add_argument('--steps', type=int, default=20)
  parser.add_argument('--batch_size', type=int, default=128)
  args = parser.parse_args()
  print(devices.describe(), flush=True)
  with tempfile.TemporaryDirectory() as scratch:
    data_dir = args.data_dir or make_data_dir(scratch, train_per_file=2000)
    with tf.Graph().as_default():
      tf.compat.v1.set_random_seed(0)
      global_step = tf.compat.v1.train.get_or_create_global_step()
      iterator = tf.compat.v1.data.make_one_shot_iterator(
          cifar10_input.train_dataset(data_dir, args.batch_size, seed=0))
      tutorial = cifar10_models.get(cifar10_models.TUTORIAL)
      plan = training.Plan(
          tutorial, tutorial.recipe._replace(batch_size=args.batch_size),
          args.steps)
      train_op, total_loss = cifar10_train.single_device_model(
          iterator.get_next, global_step, plan)
      summaries = tf.compat.v1.summary.merge_all()
      config = tf.compat.v1.ConfigProto(inter_op_parallelism_threads=1)
      with tf.compat.v1.Session(config=config) as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        # Warm-up: a new set of fetches runs slower the first time.
        for _ in range(10):
          sess.run([train_op, total_loss])
        sess.run([train_op, total_loss, summaries])
        plain = trace(sess, [train_op, total_loss], args.steps)
        with_summaries = trace(sess, [train_op, total_loss, summaries], 3)
    pipeline = pipeline_cpu_ms(data_dir, args.batch_size)
  _print_parts('training step', *plain)
  _print_parts('training step that also writes summaries', *with_summaries)
  print('input pipeline alone: %.2f ms of CPU per batch of %d (in tf.data '
        'threads, beside the step)' % (pipeline, args.batch_size))
  print('peak resident memory: %.2f GB' %
        (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2.0 ** 20))


if __name__ == '__main__':
  main()
