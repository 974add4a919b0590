"""A proxy network's choice of each batch's training examples
(Recipe.selection: airbench96_faster's hardest half)."""

import numpy as np
import pytest
import tensorflow as tf

import cifar10
import cifar10_input
import cifar10_models
from cifar10_lib import step
from cifar10_lib.cli import UserError
from cifar10_models import recipe as recipes
from cifar10_models import selection as selections
from cifar10_training import towers
from cifar10_training import training
from test_zoo import _images, _initialize_from_data, _training_graph

FASTER = cifar10_models.get('airbench96_faster')


def _first_pixel_proxy(images, unused_net):
  """A proxy whose class-0 logit is each image's first value (times a
  weight at 1), the other nine 0: for class-0 labels, the smaller the
  value, the larger the loss."""
  weight = tf.compat.v1.get_variable('w', [], initializer=tf.ones_initializer())
  first = weight * images[:, 0, 0, 0]
  return tf.concat([first[:, None], tf.zeros([tf.shape(first)[0], 9])], 1)


def test_the_kept_examples_are_those_of_largest_loss(monkeypatch):
  monkeypatch.setitem(selections.SELECTIONS, 'test', selections.Selection(
      _first_pixel_proxy, keep=0.5, period=4, description='a test proxy'))
  firsts = np.array([3.0, -1.0, 2.0, 0.0, 5.0, -4.0], np.float32)
  images = np.zeros([6, 2, 2, 3], np.float32)
  images[:, 0, 0, 0] = firsts
  labels = np.zeros([6], np.int32)
  with tf.Graph().as_default():
    kept_images, kept_labels = selections.select(
        'test', tf.constant(images), tf.constant(labels), 0.0,
        cifar10_input.DATASET)
    side = tf.compat.v1.get_collection(step.SIDE_LOSSES)
    each = cifar10.cross_entropy_per_example(
        tf.concat([firsts[:, None], np.zeros([6, 9], np.float32)], 1), labels)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      kept, kept_labels, side, each = sess.run(
          [kept_images, kept_labels, side, each])
  np.testing.assert_array_equal(kept[:, 0, 0, 0], [-4.0, -1.0, 0.0])
  np.testing.assert_array_equal(kept_labels, [0, 0, 0])
  # The proxy trains on the summed loss of the three it kept.
  np.testing.assert_allclose(side, [each[[5, 1, 3]].sum()], rtol=1e-6)


def _variable(name):
  return [v for v in tf.compat.v1.global_variables() if v.op.name == name][0]


def test_the_proxy_trains_every_fourth_step_and_the_network_every_step():
  """airbench96_faster on 4 images (the network trains on 2): its proxy's
  head moves at steps 0 and 4 only, the network's at each; the lookahead
  averages the network and not the proxy; the start line says so."""
  images, labels = _images(FASTER), np.array([1, 2, 3, 4], np.int32)
  moved = {'proxy/logits/weights': [], 'logits/weights': []}
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(0)
    train_op, total_loss = _training_graph(FASTER, images, labels)
    names = {v.op.name for v in tf.compat.v1.global_variables()}
    heads = {name: _variable(name) for name in moved}
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      _initialize_from_data(sess)
      for _ in range(6):
        before = sess.run(heads)
        sess.run(train_op)
        after = sess.run(heads)
        for name in moved:
          moved[name].append(not np.array_equal(before[name], after[name]))
      assert np.isfinite(sess.run(total_loss))
  assert moved['proxy/logits/weights'] == [True, False, False, False, True,
                                           False]
  assert all(moved['logits/weights'])
  assert 'logits/weights/Lookahead' in names
  assert not [n for n in names if n.startswith('proxy/') and
              n.endswith('/Lookahead')]
  assert ('trains on the 50% of each batch of largest loss by '
          'airbench96_faster\'s proxy (blocks of 32, 64, 64 channels), which '
          'trains every 4 steps on that part' in FASTER.describe(FASTER.recipe))


def test_an_optimizer_that_cannot_skip_the_proxys_updates_is_one_line():
  recipe = FASTER.recipe._replace(optimizer='nesterov')
  with tf.Graph().as_default():
    with pytest.raises(UserError, match=r"^the recipe's selection "
                       r"'hardest_half' trains its proxy every few steps, "
                       r"which the optimizer 'nesterov' cannot do: use "
                       r"airbench_sgd or muon in the recipe of model.json$"):
      recipes.selected(recipe, tf.zeros([4, 32, 32, 3]),
                       tf.zeros([4], tf.int32), cifar10_input.DATASET)


def test_two_towers_share_one_proxy_and_each_picks_from_its_own_batch():
  """Any model can take the selection: baseline with airbench's SGD, on
  two logical CPU towers of 4 images each. One proxy for both towers;
  each tower adds its proxy's loss on its own 2 kept images."""
  model = cifar10_models.get('baseline')
  recipe = model.recipe._replace(optimizer='airbench_sgd',
                                 selection='hardest_half', batch_size=4)
  images = _images(model, 8)
  batches = iter([(images[:4], np.arange(4, dtype=np.int32)),
                  (images[4:], np.arange(4, 8, dtype=np.int32))])
  with tf.Graph().as_default() as graph:
    global_step = tf.compat.v1.train.get_or_create_global_step()
    train_op, _ = towers.model_step(
        training.Plan(model, recipe, 1), towers.on_devices(
            ['/cpu:0', '/cpu:1']),
        lambda: [tf.constant(t) for t in next(batches)], global_step)
    selectors = graph.get_collection(selections.SELECTORS)
    side = graph.get_collection(step.SIDE_LOSSES)
    assert [t.op.name for t in side] == ['tower_0/proxy_loss',
                                        'tower_1/proxy_loss']
    assert selectors and len({v.ref() for v in selectors}) == len(selectors)
    assert all(v.op.name.startswith('proxy/') for v in selectors)
    head = _variable('proxy/logits/weights')
    with tf.compat.v1.Session(config=tf.compat.v1.ConfigProto(
        device_count={'CPU': 2})) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      _initialize_from_data(sess)
      before = sess.run(head)
      sess.run(train_op)
      assert not np.array_equal(before, sess.run(head))
