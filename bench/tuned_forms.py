"""Times the forms tuned for the CPU against the forms they replaced.

Usage:
  python bench/tuned_forms.py [--rounds=5] [--bf16]

- Training distortions: cifar10_input.distort_images (whole-batch ops)
  against tf.image's ops one image at a time (the tutorial's way), on the
  same batch of 128 with the same random draws: CPU milliseconds per batch.
- Histogram summaries: summaries.histogram_summary (30 buckets, vectorized)
  against TensorFlow's legacy HistogramSummary op, on a tensor of conv1's
  activations (128 x 24 x 24 x 64): milliseconds per summary.
- GELU, forward and gradient: cifar10_models/tuned_ops.gelu against
  tf.nn.gelu(approximate=False), on a batch of airbench94's block1
  activations (1024 x 15 x 15 x 64): milliseconds per batch.
- A 3x3 convolution, forward and both gradients: tuned_ops.conv2d (its
  filter gradient as nine matrix products) against tf.nn.conv2d, at
  airbench94's block2/conv2 (1024 x 7 x 7 x 256, 256 filters) and
  block3/conv2 (3 x 3 maps): milliseconds per batch.
--bf16 runs them all as --bf16 trains (oneDNN's bfloat16 rewrite). Each
pair is timed in turns, --rounds times; it prints the medians and the
ratio (the replaced form's time over the kept form's). Both take the
machine's cores as TensorFlow gives them (CPU time counts all threads).
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# pylint: disable=g-import-not-at-top,wrong-import-position
from cifar10_lib import devices
devices.set_tensorflow_options()  # Before TensorFlow loads.
import tensorflow as tf

from cifar10_lib import summaries
import cifar10_input
from cifar10_models import tuned_ops
# pylint: enable=g-import-not-at-top,wrong-import-position

BATCH = 128


def legacy_histogram(tag, values):
  return tf.compat.v1.summary.histogram(tag, values)


def _cpu_ms(sess, op, repeats):
  """CPU milliseconds (all threads) per run of `op`."""
  sess.run(op)
  start = time.process_time()
  for _ in range(repeats):
    sess.run(op)
  return 1000.0 * (time.process_time() - start) / repeats


def compare(name, unit, build_kept, build_replaced, repeats, rounds,
            config=None):
  """Times the two forms in turns; prints medians and the ratio."""
  with tf.Graph().as_default():
    kept, replaced = build_kept(), build_replaced()
    with tf.compat.v1.Session(config=config) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      times = {'kept': [], 'replaced': []}
      for _ in range(rounds):
        times['kept'].append(_cpu_ms(sess, kept, repeats))
        times['replaced'].append(_cpu_ms(sess, replaced, repeats))
  kept_ms = statistics.median(times['kept'])
  replaced_ms = statistics.median(times['replaced'])
  print('%-22s kept %7.2f %s, replaced %7.2f %s: the kept form is %.2fx as '
        'fast' % (name, kept_ms, unit, replaced_ms, unit,
                  replaced_ms / kept_ms))


def with_gradients(function, *shapes):
  """A builder of function(*inputs) and its gradients with respect to every
  input, the inputs random variables of `shapes`: one scalar that needs
  all (a sum of sums, as an op that only groups them could be pruned)."""
  def build():
    inputs = [tf.Variable(tf.random.normal(shape)) for shape in shapes]
    output = function(*inputs)
    return tf.add_n([tf.reduce_sum(t) for t in [output] + tf.gradients(
        tf.reduce_sum(output), inputs)])
  return build


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--bf16', action='store_true')
  args = parser.parse_args()
  print(devices.describe())
  config = tf.compat.v1.ConfigProto()
  if args.bf16:
    devices.use_bf16(config)
  rng = np.random.RandomState(0)
  images = rng.randint(0, 256, size=(BATCH, 32, 32, 3)).astype(np.uint8)
  activations = np.maximum(rng.normal(size=(BATCH, 24, 24, 64)),
                           0).astype(np.float32)

  # Inputs are variables: graph optimization would compute anything made
  # of constants once, before the first run, and time nothing.
  def distortions(distort):
    def build():
      params = cifar10_input.distortion_params(
          tf.Variable([1, 2], dtype=tf.int64), BATCH)
      return distort(tf.Variable(images), *params)
    return build

  def histogram(summarize):
    return lambda: summarize('conv1/activations', tf.Variable(activations))

  compare('training distortions', 'ms CPU/batch',
          distortions(cifar10_input.distort_images),
          distortions(cifar10_input.distort_images_one_at_a_time), 20,
          args.rounds, config)
  compare('histogram summary', 'ms CPU',
          histogram(summaries.histogram_summary),
          histogram(legacy_histogram), 10, args.rounds, config)
  compare('GELU and gradient', 'ms CPU/batch',
          with_gradients(tuned_ops.gelu, [1024, 15, 15, 64]),
          with_gradients(lambda x: tf.nn.gelu(x, approximate=False),
                         [1024, 15, 15, 64]), 5, args.rounds, config)
  for size in (7, 3):
    compare('conv 3x3 %dx%dx256 + grads' % (size, size), 'ms CPU/batch',
            with_gradients(tuned_ops.conv2d, [1024, size, size, 256],
                           [3, 3, 256, 256]),
            with_gradients(lambda x, k: tf.nn.conv2d(x, k, 1, 'SAME'),
                           [1024, size, size, 256], [3, 3, 256, 256]),
            3, args.rounds, config)


if __name__ == '__main__':
  main()
