"""airbench94_muon (--model=airbench94_muon): Muon's orthogonalized
update on the kernels, Nesterov SGD on the rest, as airbench94_muon.py
computes them (written here in numpy from its source)."""

import numpy as np
import tensorflow as tf

from cifar10_models import layers
from cifar10_models import recipe as recipes


def _newton_schulz(g, steps=3, eps=1e-7):
  """airbench94_muon.py's zeropower_via_newtonschulz5, in float64."""
  a, b, c = 3.4445, -4.7750, 2.0315
  x = g / (np.linalg.norm(g) + eps)
  if g.shape[0] > g.shape[1]:
    x = x.T
  for _ in range(steps):
    gram = x @ x.T
    x = a * x + (b * gram + c * gram @ gram) @ x
  return x.T if g.shape[0] > g.shape[1] else x


def test_orthogonalized_is_the_quintic_iteration():
  rng = np.random.RandomState(0)
  for shape in [(8, 27), (27, 8), (16, 16)]:
    g = rng.normal(size=shape)
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
      got = sess.run(recipes.orthogonalized(tf.constant(g, tf.float32)))
    np.testing.assert_allclose(got, _newton_schulz(g), atol=2e-5)
  # It pushes the singular values toward 1: the largest ends near it.
  top = np.linalg.svd(_newton_schulz(rng.normal(size=(8, 27))),
                      compute_uv=False)[0]
  assert 0.5 < top < 1.5


def test_one_step_is_airbench94_muons():
  """Two steps from zero momentum of a 3x3 kernel (Muon), a batch norm
  offset, a whitening bias trained for one epoch and a head (SGD), each
  against the PyTorch code's arithmetic."""
  rng = np.random.RandomState(1)
  kernel0 = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)
  head0 = rng.normal(size=(4, 3)).astype(np.float32)
  recipe = recipes.AIRBENCH94_MUON._replace(batch_size=10,
                                            train_examples=100)
  values = {}
  with tf.Graph().as_default():
    global_step = tf.compat.v1.train.get_or_create_global_step()
    kernel = tf.compat.v1.get_variable('kernel', initializer=kernel0)
    offset = tf.compat.v1.get_variable('beta', initializer=[3.0])
    bias = tf.compat.v1.get_variable('bias', initializer=[-1.0])
    head = tf.compat.v1.get_variable('head', initializer=head0)
    tf.compat.v1.add_to_collection(layers.OFFSETS, offset)
    tf.compat.v1.add_to_collection(layers.EPOCH_LIMIT % 1, bias)
    loss = (tf.reduce_sum(tf.sin(kernel)) + 7.0 * tf.reduce_sum(offset) +
            5.0 * tf.reduce_sum(bias) + tf.reduce_sum(tf.cos(head)))
    rate = recipes.learning_rate(recipe, global_step, 10)
    optimizer = recipes.Muon(rate, recipe, global_step, 10)
    step = optimizer.apply_gradients(optimizer.compute_gradients(loss),
                                     global_step)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      for _ in range(2):
        sess.run(step)
      values = dict(zip(['kernel', 'offset', 'bias', 'head'],
                        sess.run([kernel, offset, bias, head])))
  total = recipe.steps(10)  # 8 epochs of 10 steps
  wd = 2e-6 * 10
  expected = {'kernel': kernel0.astype(np.float64), 'offset': 3.0,
              'bias': -1.0, 'head': head0.astype(np.float64)}
  buffers = {name: 0.0 for name in expected}
  for s in range(2):
    factor = 1 - s / total
    # Muon: the kernel as [out, in x h x w] rows, PyTorch's layout.
    p = expected['kernel']
    g = np.cos(p)
    buffers['kernel'] = 0.6 * buffers['kernel'] + g
    g = g + 0.6 * buffers['kernel']
    p = p * (4 ** 0.5 / np.linalg.norm(p))
    rows = g.transpose(3, 2, 0, 1).reshape(4, -1)
    update = _newton_schulz(rows).reshape(4, 2, 3, 3).transpose(2, 3, 1, 0)
    expected['kernel'] = p - 0.24 * factor * update
    # SGD: PyTorch's Nesterov with weight decay wd / lr in the gradient.
    for name, lr0, grad in (
        ('offset', 0.053, lambda p: 7.0), ('head', 0.67, np.sin),
        ('bias', 0.053, lambda p: 5.0)):
      p = expected[name]
      lr = lr0 * (1 - s / 10.0 if name == 'bias' else factor)
      d = (-grad(p) if name == 'head' else grad(p)) + wd / lr0 * p
      buffers[name] = 0.85 * buffers[name] + d
      if name != 'bias' or s < 10:
        expected[name] = p - lr * (d + 0.85 * buffers[name])
  for name in expected:
    np.testing.assert_allclose(values[name], expected[name], rtol=2e-4,
                               atol=2e-5, err_msg=name)
