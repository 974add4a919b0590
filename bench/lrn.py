"""Compares LRN implementations inside a compute-only training step.

Usage:
  python bench/lrn.py [--steps=40] [--rounds=3]

Trains the model on one in-memory batch of 128 (no input pipeline, SGD plus
the moving averages) with each local-response-normalization kernel in turn,
several rounds, and prints the median examples/sec of each and the ratio to
tf.nn.lrn: 'matmul' is cifar10.local_response_normalization (the default),
'tf' is tf.nn.lrn, 'none' drops the two LRN layers (not the tutorial's
model: it shows what LRN costs).
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
from cifar10_lib import devices
devices.set_tensorflow_options()  # Before TensorFlow loads.
import tensorflow as tf

import cifar10
# pylint: enable=g-import-not-at-top,wrong-import-position

KERNELS = {
    'matmul': cifar10.local_response_normalization,
    'tf': lambda x, name: tf.nn.lrn(
        x, cifar10.LRN_DEPTH_RADIUS, bias=cifar10.LRN_BIAS,
        alpha=cifar10.LRN_ALPHA, beta=cifar10.LRN_BETA, name=name),
    'none': lambda x, name: tf.identity(x, name=name),
}


def examples_per_sec(kernel, steps, batch=128):
  """Compute-only training speed with `kernel` as the LRN layers."""
  original = cifar10.local_response_normalization
  cifar10.local_response_normalization = KERNELS[kernel]
  try:
    with tf.Graph().as_default():
      global_step = tf.compat.v1.train.get_or_create_global_step()
      rng = np.random.RandomState(0)
      images = tf.constant(rng.normal(size=(batch, 24, 24, 3)), tf.float32)
      labels = tf.constant(np.arange(batch) % 10)
      total = cifar10.loss(cifar10.inference(images), labels)
      train_op = cifar10.train(total, global_step, batch)
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for _ in range(5):
          sess.run(train_op)
        start = time.time()
        for _ in range(steps):
          sess.run(train_op)
        return batch * steps / (time.time() - start)
  finally:
    cifar10.local_response_normalization = original


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--steps', type=int, default=40)
  parser.add_argument('--rounds', type=int, default=3)
  args = parser.parse_args()
  print(devices.describe(), flush=True)
  rates = {name: [] for name in KERNELS}
  for _ in range(args.rounds):
    for name in KERNELS:
      rates[name].append(examples_per_sec(name, args.steps))
  base = statistics.median(rates['tf'])
  for name in KERNELS:
    median = statistics.median(rates[name])
    print('%-7s %8.1f examples/sec  %.2fx tf.nn.lrn' % (name, median,
                                                       median / base))


if __name__ == '__main__':
  main()
