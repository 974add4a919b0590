"""The tuned ops compute what the TensorFlow ops they replace compute.

In float64, so that the comparison says whether the formulas agree, not
how one CPU's float32 kernels round: 1e-10 of the values' scale is far
above float64 rounding of the convolutions' sums (about 1e-16 x a few
thousand terms) and far below any wrong term. The GELUs differ more:
TensorFlow evaluates erf and erfc in float64 by different approximations,
which differ by up to 5e-9 on [-12, 12]; GELU_TOLERANCE leaves 20 times
that, and is still 1/4,000 of what a wrong formula errs by (tanh's
approximation of GELU: up to 4.7e-4).
"""

import numpy as np
import pytest
import tensorflow as tf

from cifar10_models import tuned_ops

TOLERANCE = 1e-10
GELU_TOLERANCE = 1e-7


def _values_and_gradients(function, inputs, upstream):
  """function(*inputs) and the gradients of sum(output * upstream)."""
  with tf.Graph().as_default():
    tensors = [tf.constant(value) for value in inputs]
    output = function(*tensors)
    gradients = tf.gradients(output, tensors, tf.constant(upstream))
    with tf.compat.v1.Session() as sess:
      return sess.run([output] + gradients)


def test_gelu_and_its_gradient_are_the_exact_gelu():
  x = np.linspace(-12.0, 12.0, 2001)
  upstream = np.random.RandomState(0).normal(size=x.shape)
  ours = _values_and_gradients(tuned_ops.gelu, [x], upstream)
  exact = _values_and_gradients(
      lambda v: tf.nn.gelu(v, approximate=False), [x], upstream)
  for a, b in zip(ours, exact):
    np.testing.assert_allclose(a, b, rtol=0, atol=GELU_TOLERANCE)
  # And the function itself: x * Phi(x) (0 far left, x far right).
  assert abs(ours[0][0]) < 1e-30 and ours[0][-1] == 12.0


@pytest.mark.parametrize('depth,uses_matmuls', [
    (tuned_ops.MATMUL_FILTER_GRADIENT_MIN_DEPTH, True),
    (tuned_ops.MATMUL_FILTER_GRADIENT_MIN_DEPTH - 1, False)])
def test_conv2d_and_its_gradients_are_tf_nn_conv2d(depth, uses_matmuls):
  rng = np.random.RandomState(1)
  x = rng.normal(size=(3, 5, 4, depth))
  kernel = rng.normal(size=(3, 3, depth, 7))
  upstream = rng.normal(size=(3, 5, 4, 7))
  ours = _values_and_gradients(tuned_ops.conv2d, [x, kernel], upstream)
  plain = _values_and_gradients(
      lambda a, b: tf.nn.conv2d(a, b, 1, 'SAME'), [x, kernel], upstream)
  for a, b in zip(ours, plain):
    scale = np.abs(b).max()
    np.testing.assert_allclose(a, b, rtol=0, atol=TOLERANCE * scale)
  with tf.Graph().as_default() as graph:
    tuned_ops.conv2d(tf.constant(x), tf.constant(kernel))
    has_matmuls = any(op.type == 'IdentityN' for op in graph.get_operations())
  assert has_matmuls == uses_matmuls


def test_filter_gradient_by_offsets_at_the_borders():
  """One image, one channel: each offset's gradient is the sum of the
  input shifted by it, zero outside, times the upstream gradient."""
  x = np.arange(1.0, 13.0).reshape(1, 3, 4, 1)
  upstream = np.ones((1, 3, 4, 1))
  with tf.Graph().as_default():
    grad = tuned_ops.filter_gradient_by_offsets(tf.constant(x),
                                                tf.constant(upstream))
    with tf.compat.v1.Session() as sess:
      grad = sess.run(grad)[:, :, 0, 0]
  padded = np.pad(x[0, :, :, 0], 1)
  expected = [[padded[i:i + 3, j:j + 4].sum() for j in range(3)]
              for i in range(3)]
  np.testing.assert_array_equal(grad, expected)
