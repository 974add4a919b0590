"""Profiles training steps: where the time of a step goes, part by part.

Usage:
  python bench/profile_step.py [--data_dir=/tmp/cifar10_data] [--steps=20]
      [--model=tutorial] [--batch_size=N] [--bf16] [--start_step=0]

Builds the single-device training graph of cifar10_train.py for --model
(its recipe and preprocessing; real input pipeline; without --data_dir on
synthetic
records it writes), runs a few warm-up steps, then traces --steps plain
steps and 3 steps that write summaries, and prints the mean time of each
part of the graph: the layers (forward and gradient ops together), the
loss, the optimizer, the moving averages, the summaries, and the wait for
the input batch, from global step --start_step (a step in a recipe's later
epochs: airbench94 skips a gradient after its third); then the same time
by kind of op (convolutions, their gradients, batch norm, activations,
...), which says what limits a step.
Ops run one at a time (inter-op parallelism 1, each op still using every
core), so the parts add up to the step. It also times the input pipeline
alone, which otherwise runs in tf.data's threads beside the step, in CPU
milliseconds per batch, and untraced steps as training runs them: the
FLOP/s they reach (the convolutions' and dense layers' multiply-adds x 2
x 3, forward and backward) against the best GEMM rate here in the same
precision (bench/speed.py's measurement).
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
from cifar10_lib import devices
devices.set_tensorflow_options()  # Before TensorFlow loads.
from cifar10_datasets.synthetic import make_data_dir
import tensorflow as tf

import speed

from cifar10_lib import records
from cifar10_lib import summaries
from cifar10_training import towers
from cifar10_training import training
import cifar10_input
import cifar10_models
from cifar10_models import counting
from cifar10_models import layers
from cifar10_datasets.cifar10 import CIFAR10
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


def part_of(node_name, op_type, parts=None):
  """The part of the graph an op belongs to: by `parts` (PARTS, the
  tutorial's parts by name; default none), else by its layer's scope
  ('block1/conv1')."""
  name = TOWER.sub('', node_name.split(':')[0])
  if name.startswith('gradients/'):
    name = TOWER.sub('', name[len('gradients/'):])
  components = re.split(r'[/_]grad\b|/', name)
  if 'Summary' in op_type or any(_is(c, summaries.SUMMARY_SCOPE)
                                 for c in components):
    return 'summaries'
  for component in components:
    for prefix, part in (parts or {}).items():
      if _is(component, prefix):
        return part
  scopes = name.split('/')[:-1]
  if scopes:
    return '/'.join(scopes[:2])
  return 'other: ' + op_type


def _is(component, scope):
  """Whether a name component is `scope`, or `scope_N` made unique."""
  return component == scope or component.startswith(scope + '_')


def _op_type(node):
  label = node.timeline_label
  return label.split('=')[-1].split('(')[0].strip() if '=' in label else '?'


def trace(sess, fetches, steps, parts=None):
  """Runs `fetches` `steps` times traced, naming parts by `parts`.

  Returns:
    ({part: mean ms}, {op type: mean ms}, wall ms per step).
  """
  parts_ms, kinds = collections.Counter(), collections.Counter()
  start = time.time()
  for _ in range(steps):
    metadata = tf.compat.v1.RunMetadata()
    sess.run(fetches, options=tf.compat.v1.RunOptions(
        trace_level=tf.compat.v1.RunOptions.FULL_TRACE),
             run_metadata=metadata)
    for device in metadata.step_stats.dev_stats:
      for node in device.node_stats:
        micros = node.op_end_rel_micros - node.op_start_rel_micros
        op_type = _op_type(node)
        parts_ms[part_of(node.node_name, op_type, parts)] += micros / 1e3
        kinds[op_type] += micros / 1e3
  return ({k: v / steps for k, v in parts_ms.items()},
          {k: v / steps for k, v in kinds.items()},
          (time.time() - start) * 1e3 / steps)


def pipeline_cpu_ms(data_dir, batch_size, preprocessing, batches=200):
  """CPU milliseconds the training input pipeline spends per batch."""
  with tf.Graph().as_default():
    next_batch = tf.compat.v1.data.make_one_shot_iterator(
        cifar10_input.train_dataset(data_dir, batch_size, 0,
                                    preprocessing)).get_next()
    with tf.compat.v1.Session() as sess:
      for _ in range(20):
        sess.run(next_batch)
      cpu = time.process_time()
      for _ in range(batches):
        sess.run(next_batch)
      return (time.process_time() - cpu) * 1e3 / batches


def _print_table(title, times, wall_ms, what):
  print('%s, by %s: %.1f ms per step traced (ops one at a time; tracing '
        'adds a little)' % (title, what, wall_ms))
  total = sum(times.values())
  for name, ms in sorted(times.items(), key=lambda kv: -kv[1]):
    if ms >= 0.05 and ms >= total * 1e-3:
      print('  %-34s %8.2f ms  %5.1f%%' % (name, ms, 100 * ms / total))


def _print_trace(title, parts, kinds, wall_ms):
  _print_table(title, parts, wall_ms, 'part')
  _print_table(title, kinds, wall_ms, 'kind of op')


def _start_fresh(sess, data_dir, global_step, start_step):
  """Initializes the variables as a fresh run does, the ones set from the
  training data (airbench's whitening) included, then puts the global step
  at `start_step`."""
  sess.run(tf.compat.v1.global_variables_initializer())
  for count, images, assign in layers.data_initializers(sess.graph):
    sess.run(assign, {images: records.training_images(CIFAR10, data_dir,
                                                      count)})
  sess.run(global_step.assign(start_step))


def _untraced_step_secs(sess, fetches, steps):
  """The median seconds of `steps` steps run as training runs them."""
  times = []
  for _ in range(steps):
    start = time.time()
    sess.run(fetches)
    times.append(time.time() - start)
  return sorted(times)[len(times) // 2]


def _training_flops_per_example(plan):
  """The model's multiply-adds for one image x 2 FLOPs x 3 (forward and
  backward)."""
  with tf.Graph().as_default() as graph:
    plan.model.logits(tf.zeros([1, 32, 32, 3]), False, plan.recipe)
    return 6 * counting.multiply_adds(graph)


def _plan(model_name, batch_size, steps):
  """The Plan of --model with its recipe, at --batch_size if given."""
  model = cifar10_models.get(model_name)
  recipe = model.recipe
  if batch_size:
    recipe = recipe._replace(batch_size=batch_size)
  return training.Plan(model, recipe, steps)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data_dir', default=None)
  parser.add_argument('--steps', type=int, default=20)
  parser.add_argument('--model', default=cifar10_models.TUTORIAL,
                      choices=sorted(cifar10_models.MODELS))
  parser.add_argument('--batch_size', type=int, default=None,
                      help="the recipe's unless given")
  parser.add_argument('--bf16', action='store_true',
                      help='bfloat16 mixed precision, as --bf16 trains')
  parser.add_argument('--start_step', type=int, default=0,
                      help='the global step the profiled steps start from')
  args = parser.parse_args()
  print(devices.describe(), flush=True)
  plan = _plan(args.model, args.batch_size, args.steps)
  print('%s, batch %d%s, from step %d' % (
      args.model, plan.batch_size, ', --bf16' if args.bf16 else '',
      args.start_step), flush=True)
  with tempfile.TemporaryDirectory() as scratch:
    data_dir = args.data_dir or make_data_dir(scratch, train_per_file=2000)
    with tf.Graph().as_default():
      tf.compat.v1.set_random_seed(0)
      global_step, start_input, next_batch = training.input_and_global_step(
          data_dir, plan.batch_size, 0, plan.recipe.preprocessing)
      train_op, total_loss = towers.model_step(plan, towers.ONE_DEVICE,
                                               next_batch, global_step)
      summaries = tf.compat.v1.summary.merge_all()
      config = tf.compat.v1.ConfigProto(inter_op_parallelism_threads=1)
      if args.bf16:
        devices.use_bf16(config)
      with tf.compat.v1.Session(config=config) as sess:
        _start_fresh(sess, data_dir, global_step, args.start_step)
        start_input(sess, args.start_step)
        # Warm-up: a new set of fetches runs slower the first time.
        for _ in range(3):
          sess.run([train_op, total_loss])
        sess.run([train_op, total_loss, summaries])
        parts = PARTS if args.model == cifar10_models.TUTORIAL else None
        plain = trace(sess, [train_op, total_loss], args.steps, parts)
        with_summaries = trace(sess, [train_op, total_loss, summaries], 3,
                               parts)
      untraced_config = tf.compat.v1.ConfigProto()
      if args.bf16:
        devices.use_bf16(untraced_config)
      with tf.compat.v1.Session(config=untraced_config) as sess:
        _start_fresh(sess, data_dir, global_step, args.start_step)
        start_input(sess, args.start_step)
        sess.run([train_op, total_loss])
        step_secs = _untraced_step_secs(sess, [train_op, total_loss],
                                        args.steps)
    pipeline = pipeline_cpu_ms(data_dir, plan.batch_size,
                               plan.recipe.preprocessing)
    gemm_config = tf.compat.v1.ConfigProto()
    if args.bf16:
      devices.use_bf16(gemm_config)
    gemm = speed.gemm_flops_here(gemm_config)
  _print_trace('training step', *plain)
  _print_trace('training step that also writes summaries', *with_summaries)
  print('input pipeline alone: %.2f ms of CPU per batch of %d (in tf.data '
        'threads, beside the step)' % (pipeline, plan.batch_size))
  flops = _training_flops_per_example(plan) * plan.batch_size / step_secs
  print('untraced: %.3f s a step (median of %d); %.1f GFLOP/s of '
        'convolutions and matrix products, %.0f%% of the best %s GEMM here '
        '(%.1f GFLOP/s)' % (step_secs, args.steps, flops / 1e9,
                            100 * flops / gemm,
                            'bfloat16' if args.bf16 else 'float32',
                            gemm / 1e9))
  print('peak resident memory: %.2f GB' %
        (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2.0 ** 20))


if __name__ == '__main__':
  main()
