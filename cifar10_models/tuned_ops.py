"""Tuned forms of two ops the zoo's networks spend most of a step in.

Each computes the same function as the TensorFlow op it replaces (equal
up to float rounding: tests/test_tuned_ops.py) and is faster on the CPU,
where a step is a chain of whole-tensor passes over memory;
bench/tuned_forms.py times each against the op it replaces.

- `gelu`: the exact GELU in PyTorch's form, x * (1 + erf(x / sqrt 2)) / 2.
  tf.nn.gelu's exact form goes through erfc, which Eigen evaluates one
  value at a time; here erf is vectorized, and XLA compiles the
  forward's ops into one pass over memory and the gradient's (its closed
  form, which computes erf again rather than keep the forward's) into
  another (TensorFlow's own ops take one pass per op).
- `conv2d`: a convolution whose 3x3 stride-1 'SAME' form on wide inputs
  (MATMUL_FILTER_GRADIENT_MIN_DEPTH channels or more) takes its filter
  gradient as nine matrix products, one per kernel offset, of the shifted
  input and the output's gradient. oneDNN's Conv2DBackpropFilter runs at
  a third of its forward convolution's rate there in bfloat16 on AMX;
  the products run at the matrix units' rate. It can also skip its input
  gradient on the steps where nothing below it trains.
"""

import math

import tensorflow as tf

# Input channels from which a 3x3 convolution's filter gradient is nine
# matrix products: measured faster at 256 channels (7x7 and 3x3 maps),
# slower at 24 and 64 (docs/MEASUREMENTS.md, airbench94 on the Xeon with
# AMX).
MATMUL_FILTER_GRADIENT_MIN_DEPTH = 256

_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def gelu(x):
  """The exact GELU, x * Phi(x), Phi the standard normal's distribution,
  compiled by XLA (its gradient too)."""
  with tf.xla.experimental.jit_scope(compile_ops=True,
                                     separate_compiled_gradients=True):
    return _gelu(x)


@tf.custom_gradient
def _gelu(x):
  """x * Phi(x), its gradient Phi(x) + x * phi(x), phi the normal's
  density.

  The gradient computes Phi(x) again instead of keeping the forward's:
  under XLA the erf costs less than writing a tensor the size of x and
  reading it back (airbench94's float32 step 3-4% faster, its bfloat16
  step no slower; docs/MEASUREMENTS.md).
  """
  def grad(upstream):
    pdf = tf.exp(-0.5 * tf.square(x)) * _INV_SQRT_2PI
    return upstream * (_normal_cdf(x) + x * pdf)
  return x * _normal_cdf(x), grad


def _normal_cdf(x):
  """Phi(x), the standard normal's cumulative distribution."""
  return 0.5 * (1.0 + tf.math.erf(x * _SQRT_HALF))


def conv2d(x, kernel, stride=1, padding='SAME', input_gradient_while=None):
  """tf.nn.conv2d(x, kernel, stride, padding) for NHWC `x`; see the module
  docstring for the form its filter gradient takes.

  `input_gradient_while`: None, or a function called when the gradient is
  built, which returns None or a boolean tensor: the input's gradient is
  computed on the steps where it is true and is zeros on the others (a
  layer whose input leads only to variables that no longer train, as
  PyTorch skips a gradient nothing requires).
  """
  kernel = tf.convert_to_tensor(kernel)
  height, width, depth, _ = [int(d) for d in kernel.shape]
  by_offsets = (stride == 1 and padding == 'SAME' and height == width == 3
                and depth >= MATMUL_FILTER_GRADIENT_MIN_DEPTH)
  if not by_offsets and input_gradient_while is None:
    return tf.nn.conv2d(x, kernel, stride, padding)
  return _conv2d_with_own_gradient(x, kernel, stride, padding, by_offsets,
                                   input_gradient_while)


def _conv2d_with_own_gradient(x, kernel, stride, padding, by_offsets,
                              input_gradient_while):
  """conv2d's convolution with its gradient built here (see conv2d)."""
  strides = [1, stride, stride, 1]

  @tf.custom_gradient
  def convolution(x, kernel):
    def grad(upstream):
      def input_gradient():
        return tf.compat.v1.nn.conv2d_backprop_input(
            tf.shape(x), kernel, upstream, strides, padding)
      needed = input_gradient_while() if input_gradient_while else None
      if needed is None:
        grad_x = input_gradient()
      else:
        grad_x = tf.cond(needed, input_gradient, lambda: tf.zeros_like(x))
      if by_offsets:
        return grad_x, filter_gradient_by_offsets(x, upstream)
      return grad_x, tf.compat.v1.nn.conv2d_backprop_filter(
          x, tf.shape(kernel), upstream, strides, padding)
    return tf.nn.conv2d(x, kernel, stride, padding), grad
  return convolution(x, kernel)


def filter_gradient_by_offsets(x, upstream):
  """The filter gradient [3, 3, in, out] of a 3x3 stride-1 'SAME'
  convolution of NHWC `x` whose output has gradient `upstream`.

  The gradient at kernel offset (i, j) is the input shifted by (i - 1,
  j - 1), zero-padded, times the output's gradient, summed over every
  position of every image: one [in, N*H*W] x [N*H*W, out] product.
  """
  depth, out_depth = int(x.shape[-1]), int(upstream.shape[-1])
  size = tf.shape(x)[1:3]
  padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
  rows = tf.reshape(upstream, [-1, out_depth])
  offsets = []
  for i in range(3):
    for j in range(3):
      shifted = tf.slice(padded, [0, i, j, 0],
                         tf.concat([[-1], size, [-1]], axis=0))
      offsets.append(tf.matmul(tf.reshape(shifted, [-1, depth]), rows,
                               transpose_a=True))
  return tf.reshape(tf.stack(offsets), [3, 3, depth, out_depth])
