"""Times two forms tuned on AVX-512 against the forms they replaced.

Usage:
  python bench/tuned_forms.py [--rounds=5]

- Training distortions: cifar10_input.distort_images (whole-batch ops)
  against tf.image's ops one image at a time (the tutorial's way), on the
  same batch of 128 with the same random draws: CPU milliseconds per batch.
- Histogram summaries: summaries.histogram_summary (30 buckets, vectorized)
  against TensorFlow's legacy HistogramSummary op, on a tensor of conv1's
  activations (128 x 24 x 24 x 64): milliseconds per summary.
Each pair is timed in turns, --rounds times; it prints the medians and the
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
import cifar10_lib  # Before TensorFlow: it sets TensorFlow's CPU options.
from cifar10_lib import devices
import tensorflow as tf

from cifar10_lib import summaries
import cifar10_input
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


def compare(name, unit, build_kept, build_replaced, repeats, rounds):
  """Times the two forms in turns; prints medians and the ratio."""
  with tf.Graph().as_default():
    kept, replaced = build_kept(), build_replaced()
    with tf.compat.v1.Session() as sess:
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


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--rounds', type=int, default=5)
  args = parser.parse_args()
  print(devices.describe())
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
          distortions(cifar10_input.distort_images_one_at_a_time), 20, args.rounds)
  compare('histogram summary', 'ms CPU',
          histogram(summaries.histogram_summary),
          histogram(legacy_histogram), 10, args.rounds)


if __name__ == '__main__':
  main()
