"""What --bf16 and --use_fp16 do on this machine, measured when a run starts.

Whether a reduced precision pays depends on the CPU as a whole, not on one
of its flags: --bf16 trained 1.8x faster than float32 on a Xeon with AMX,
1.2-1.5x on an AMD EPYC with AVX512_BF16, and 0.65x on a Xeon of the same
model number with AVX512_BF16 but no AMX; float16 has no arithmetic on any
of them (docs/MEASUREMENTS.md). So a run with either flag first times a
probe, a 3x3 convolution with both of its gradients (what a training step
is mostly made of), in float32 and in the reduced precision, through the
kernels the run will use (the oneDNN bfloat16 rewrite for --bf16, float16
ops for --use_fp16), and its start line says what it measured.
"""

import os
import time

import numpy as np
import tensorflow as tf

from cifar10_lib import devices

# The probe: a batch of PROBE_IMAGES 16x16 maps of PROBE_CHANNELS channels
# (the size of a zoo network's middle layers), a 3x3 kernel, 'SAME'.
PROBE_IMAGES = 32
PROBE_SIZE = 16
PROBE_CHANNELS = 64
# Timed runs after a warm-up; the median counts.
PROBE_RUNS = 3
# A reduced precision this many times slower than float32 in its warm-up
# is timed no further: the run's line says so, without waiting on it.
VERY_SLOW = 20.0
# Speed ratios within this of 1 are "about the same".
SAME_WITHIN = 0.1


def _probe_fetches(dtype):
  """The probe's ops in `dtype`: its inputs and what to run."""
  shape = [PROBE_IMAGES, PROBE_SIZE, PROBE_SIZE, PROBE_CHANNELS]
  kernel_shape = [3, 3, PROBE_CHANNELS, PROBE_CHANNELS]
  images = tf.compat.v1.placeholder(tf.float32, shape)
  kernel = tf.compat.v1.placeholder(tf.float32, kernel_shape)
  x, k = tf.cast(images, dtype), tf.cast(kernel, dtype)
  strides = [1, 1, 1, 1]
  y = tf.nn.conv2d(x, k, strides, 'SAME')
  filter_gradient = tf.raw_ops.Conv2DBackpropFilter(
      input=x, filter_sizes=kernel_shape, out_backprop=y, strides=strides,
      padding='SAME')
  input_gradient = tf.raw_ops.Conv2DBackpropInput(
      input_sizes=shape, filter=k, out_backprop=y, strides=strides,
      padding='SAME')
  rng = np.random.RandomState(0)
  feed = {images: rng.uniform(-1, 1, shape).astype(np.float32),
          kernel: rng.uniform(-0.1, 0.1, kernel_shape).astype(np.float32)}
  fetches = [tf.reduce_sum(tf.cast(t, tf.float32))
             for t in (y, filter_gradient, input_gradient)]
  return fetches, feed


def _seconds(dtype, bf16_rewrite, limit=None):
  """The probe's median time in `dtype`, with the bfloat16 rewrite if
  `bf16_rewrite`; only its warm-up if that took more than `limit`."""
  config = devices.session_config(use_gpu=False)
  if bf16_rewrite:
    devices.use_bf16(config)
  with tf.Graph().as_default(), tf.compat.v1.Session(config=config) as sess:
    fetches, feed = _probe_fetches(dtype)
    start = time.perf_counter()
    sess.run(fetches, feed)
    warm_up = time.perf_counter() - start
    if limit is not None and warm_up > limit:
      return warm_up
    times = []
    for _ in range(PROBE_RUNS):
      start = time.perf_counter()
      sess.run(fetches, feed)
      times.append(time.perf_counter() - start)
  return float(np.median(times))


def speed_ratio(precision):
  """How fast `precision` ('bfloat16' as --bf16 runs it, or 'float16') runs
  the probe on this CPU, as a multiple of float32's speed."""
  float32 = _seconds(tf.float32, False)
  if precision == 'bfloat16':
    reduced = _seconds(tf.float32, True, VERY_SLOW * float32)
  else:
    reduced = _seconds(tf.float16, False, VERY_SLOW * float32)
  return float32 / reduced


def _measured(ratio):
  """The ratio in words: 'N.Nx faster than', 'N.Nx slower than', 'about
  as fast as' float32."""
  if abs(ratio - 1) <= SAME_WITHIN:
    return 'about as fast as'
  if ratio > 1:
    return '%.1fx faster than' % ratio
  return '%.1fx slower than' % (1 / ratio)


def bf16_plan(ratio):
  """The line --bf16 prints at start, `ratio` being speed_ratio's for
  bfloat16 (None where oneDNN is off: the rewrite is a oneDNN pass)."""
  if ratio is None:
    return ('--bf16 has no effect: oneDNN is off (%s=%s), and the bfloat16 '
            'rewrite is a oneDNN pass; unset %s to turn it on' %
            (devices.ONEDNN_VARIABLE,
             os.environ.get(devices.ONEDNN_VARIABLE),
             devices.ONEDNN_VARIABLE))
  measured = ('a convolution and its gradients ran %s float32 in bfloat16 '
              'on this CPU (%s; %s), measured now' %
              (_measured(ratio), devices.cpu_model(),
               ', '.join(devices.instruction_sets()) or 'no AVX2'))
  if ratio > 1 + SAME_WITHIN:
    return '--bf16: convolutions and matrix products in bfloat16: ' + measured
  return ('WARNING: --bf16 does not pay here: %s; drop --bf16 on this '
          'machine (it pays where the CPU runs bfloat16 fast, such as on '
          'AMX: docs/MEASUREMENTS.md)' % measured)


def fp16_plan(ratio):
  """The line --use_fp16 prints at start on a CPU, `ratio` being
  speed_ratio's for float16.

  The probe's float32 ran as the run does, with oneDNN off (it is off
  for the whole process), so the line says float32's default is faster
  still: 2.7x measured here against 4.2x from separate processes
  (docs/MEASUREMENTS.md).
  """
  return ('WARNING: --use_fp16 on a CPU: a convolution and its gradients ran '
          '%s float32 in float16 on this CPU (%s), measured now with oneDNN '
          'off as --use_fp16 runs (float32 runs with oneDNN, faster still; '
          'CPUs have no float16 arithmetic: the tutorial meant it for '
          'GPUs); drop --use_fp16 here' %
          (_measured(ratio), devices.cpu_model()))
