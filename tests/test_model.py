"""Tests of cifar10: the network's shape, its loss, its schedule, its averages."""

import numpy as np
import pytest
import tensorflow as tf

import cifar10
import cifar10_input
from cifar10_lib import summaries
from cifar10_lib import checkpoints
from cifar10_lib import devices

EXPECTED_VARIABLES = {
    'conv1/weights': [5, 5, 3, 64],
    'conv1/biases': [64],
    'conv2/weights': [5, 5, 64, 64],
    'conv2/biases': [64],
    'local3/weights': [2304, 384],
    'local3/biases': [384],
    'local4/weights': [384, 192],
    'local4/biases': [192],
    'softmax_linear/weights': [192, 10],
    'softmax_linear/biases': [10],
}


def _global_variable(name):
  return [v for v in tf.compat.v1.global_variables() if v.op.name == name][0]


def _images(batch, seed=0):
  return np.random.RandomState(seed).normal(
      size=(batch, 24, 24, 3)).astype(np.float32)


def test_variables_and_parameter_count():
  with tf.Graph().as_default():
    cifar10.inference(tf.constant(_images(2)))
    variables = tf.compat.v1.trainable_variables()
    shapes = {v.op.name: v.shape.as_list() for v in variables}
    assert shapes == EXPECTED_VARIABLES
    assert sum(np.prod(s) for s in shapes.values()) == 1068298


def test_initial_values_follow_the_tutorial():
  with tf.Graph().as_default():
    cifar10.inference(tf.constant(_images(2)))
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      values = {v.op.name: sess.run(v)
                for v in tf.compat.v1.trainable_variables()}
  biases = {'conv1': 0.0, 'conv2': 0.1, 'local3': 0.1, 'local4': 0.1,
            'softmax_linear': 0.0}
  stddevs = {'conv1': 5e-2, 'conv2': 5e-2, 'local3': 0.04, 'local4': 0.04,
             'softmax_linear': 1 / 192.0}
  for layer, bias in biases.items():
    assert np.all(values[layer + '/biases'] == np.float32(bias))
    weights = values[layer + '/weights']
    # Truncated at 2 stddevs, which shrinks the spread to about 0.88 of it.
    assert np.abs(weights).max() <= 2 * stddevs[layer] + 1e-7
    assert weights.std() == pytest.approx(0.88 * stddevs[layer], rel=0.1)


def test_any_batch_size_works():
  with tf.Graph().as_default():
    images = tf.compat.v1.placeholder(tf.float32, [None, 24, 24, 3])
    logits = cifar10.inference(images)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      for batch in (1, 7, 128):
        out = sess.run(logits, {images: _images(batch)})
        assert out.shape == (batch, 10)


def test_total_loss_is_cross_entropy_plus_weight_decay():
  labels = np.array([0, 3, 9, 3, 1], dtype=np.int32)
  with tf.Graph().as_default():
    logits = cifar10.inference(tf.constant(_images(5)))
    total = cifar10.loss(logits, tf.constant(labels))
    variables = {v.op.name: v for v in tf.compat.v1.trainable_variables()}
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      total_value, logit_values, w3, w4 = sess.run(
          [total, logits, variables['local3/weights'],
           variables['local4/weights']])
  z = logit_values.astype(np.float64)
  log_softmax = z - z.max(1, keepdims=True)
  log_softmax -= np.log(np.exp(log_softmax).sum(1, keepdims=True))
  cross_entropy = -log_softmax[np.arange(5), labels].mean()
  decay = 0.004 * ((w3.astype(np.float64) ** 2).sum() / 2 +
                   (w4.astype(np.float64) ** 2).sum() / 2)
  assert total_value == pytest.approx(cross_entropy + decay, rel=1e-5)


def test_the_tutorials_functions_work_as_it_shows_them(data_dir):
  """maybe_download_and_extract, distorted_inputs, inference, loss, train
  and inputs, called from Python as the tutorial's scripts call them."""
  cifar10.maybe_download_and_extract(data_dir)  # The data is there: a no-op.
  with tf.Graph().as_default():
    global_step = tf.compat.v1.train.get_or_create_global_step()
    images, labels = cifar10_input.distorted_inputs(data_dir, 16, seed=1)
    total = cifar10.loss(cifar10.inference(images), labels)
    train_op = cifar10.train(total, global_step, 16)
    eval_images, eval_labels = cifar10_input.inputs('test', data_dir, 16)
    with tf.compat.v1.variable_scope('', reuse=True):
      top_1 = tf.compat.v1.nn.in_top_k(cifar10.inference(eval_images),
                                       eval_labels, 1)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      losses = [sess.run([train_op, total])[1] for _ in range(3)]
      assert sess.run(global_step) == 3
      assert sess.run(top_1).shape == (16,)
  assert images.shape.as_list() == [16, 24, 24, 3]
  assert all(np.isfinite(losses))


def test_learning_rate_schedule():
  decay_steps = int(50000 / 128 * 350)
  assert decay_steps == 136718
  with tf.Graph().as_default():
    step = tf.compat.v1.placeholder(tf.int64, [])
    lr = cifar10.learning_rate(step, 128)
    with tf.compat.v1.Session() as sess:
      at = lambda s: sess.run(lr, {step: s})
      assert at(0) == pytest.approx(0.1)
      assert at(decay_steps - 1) == pytest.approx(0.1)
      assert at(decay_steps) == pytest.approx(0.01)
      assert at(2 * decay_steps) == pytest.approx(0.001)


def test_train_step_updates_weights_and_their_averages():
  with tf.Graph().as_default():
    global_step = tf.compat.v1.train.get_or_create_global_step()
    logits = cifar10.inference(tf.constant(_images(8)))
    total = cifar10.loss(logits, tf.constant(np.arange(8) % 10))
    train_op = cifar10.train(total, global_step, 8)
    weights = _global_variable('local4/weights')
    average = _global_variable('local4/weights/ExponentialMovingAverage')
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      before = sess.run(weights)
      sess.run(train_op)
      after, avg, step = sess.run([weights, average, global_step])
  assert step == 1
  assert not np.allclose(before, after)
  # num_updates = 1 makes the decay min(0.9999, 2/11).
  decay = 2.0 / 11.0
  np.testing.assert_allclose(avg, decay * before + (1 - decay) * after,
                             rtol=1e-5, atol=1e-7)


def test_eval_restores_the_averages_not_the_raw_weights(tmp_path):
  prefix = str(tmp_path / 'model.ckpt')
  with tf.Graph().as_default():
    global_step = tf.compat.v1.train.get_or_create_global_step()
    logits = cifar10.inference(tf.constant(_images(2)))
    total = cifar10.loss(logits, tf.constant([1, 2]))
    train_op = cifar10.train(total, global_step, 2)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      for _ in range(3):
        sess.run(train_op)
      raw = sess.run(_global_variable('softmax_linear/weights'))
      averaged = sess.run(
          _global_variable('softmax_linear/weights/ExponentialMovingAverage'))
      tf.compat.v1.train.Saver().save(sess, prefix, global_step=3)
  assert not np.allclose(raw, averaged)
  with tf.Graph().as_default():
    tf.compat.v1.train.get_or_create_global_step()
    cifar10.inference(tf.constant(_images(2)))
    var_map = cifar10.variables_to_restore()
    saver = tf.compat.v1.train.Saver(var_map)
    with tf.compat.v1.Session() as sess:
      checkpoints.restore(sess, saver, var_map, prefix + '-3')
      restored = sess.run(_global_variable('softmax_linear/weights'))
  np.testing.assert_array_equal(restored, averaged)


def test_local_response_normalization_matches_tf_nn_lrn():
  x = tf.constant(np.random.RandomState(1).normal(
      0, 3, size=(4, 12, 12, 64)).astype(np.float32))
  weights = tf.sin(x)  # Any upstream gradient.
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    ours = cifar10.local_response_normalization(x, 'ours')
    theirs = tf.nn.lrn(x, cifar10.LRN_DEPTH_RADIUS, bias=cifar10.LRN_BIAS,
                       alpha=cifar10.LRN_ALPHA, beta=cifar10.LRN_BETA)
    loss_ours = tf.reduce_sum(ours * weights)
    loss_theirs = tf.reduce_sum(theirs * weights)
  np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_allclose(tape.gradient(loss_ours, x).numpy(),
                             tape.gradient(loss_theirs, x).numpy(),
                             rtol=1e-5, atol=1e-6)
  # The comparison can tell windows apart: one channel narrower differs.
  narrower = tf.nn.lrn(x, cifar10.LRN_DEPTH_RADIUS - 1, bias=cifar10.LRN_BIAS,
                       alpha=cifar10.LRN_ALPHA, beta=cifar10.LRN_BETA)
  assert not np.allclose(ours.numpy(), narrower.numpy(), rtol=1e-5,
                         atol=1e-6)


def test_conv1_pool1_equal_the_tutorials_order():
  """Bias and ReLU after the pooling give the tutorial's pool1 and
  gradients: pool(relu(conv + b)) with its ops in the tutorial's order."""
  with tf.Graph().as_default():
    images = tf.constant(_images(4))
    pool1 = cifar10._conv_relu_pool(images, 3, 64, bias=0.0, scope='conv1',
                                    pool_name='pool1')
    kernel, biases = (_global_variable('conv1/weights'),
                      _global_variable('conv1/biases'))
    conv = tf.nn.conv2d(images, kernel, [1, 1, 1, 1], padding='SAME')
    tutorial = cifar10._max_pool(tf.nn.relu(tf.nn.bias_add(conv, biases)),
                                 'tutorial_pool1')
    weights = tf.sin(tf.range(tf.size(pool1), dtype=tf.float32))
    ours_loss = tf.reduce_sum(tf.reshape(pool1, [-1]) * weights)
    tutorial_loss = tf.reduce_sum(tf.reshape(tutorial, [-1]) * weights)
    gradients = tf.gradients(ours_loss, [kernel, biases])
    tutorial_gradients = tf.gradients(tutorial_loss, [kernel, biases])
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      # Biases of both signs, so that the ReLU cuts some windows, not all.
      sess.run(biases.assign(tf.linspace(-2.0, 0.5, 64)))
      ours, theirs, grads, tutorial_grads = sess.run(
          [pool1, tutorial, gradients, tutorial_gradients])
  assert ours.shape == (4, 12, 12, 64)
  assert 0.1 < np.mean(ours == 0) < 0.9
  np.testing.assert_array_equal(ours, theirs)
  for got, expected in zip(grads, tutorial_grads):
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('values,low,high', [
    ([0.0, 1.0, 1.0, 3.0, 2.5], 0.0, 3.0),
    ([0.0, 0.0, 0.0], -0.5, 0.5),  # all equal: one bucket around them
])
def test_histogram_summary_counts_every_value(values, low, high):
  with tf.Graph().as_default():
    summary = summaries.histogram_summary('h', tf.constant(values))
    with tf.compat.v1.Session() as sess:
      proto = tf.compat.v1.Summary.FromString(sess.run(summary))
  value = proto.value[0]
  assert value.tag == 'h'
  assert value.metadata.plugin_data.plugin_name == 'histograms'
  buckets = tf.make_ndarray(value.tensor)
  assert buckets.shape == (summaries.HISTOGRAM_BUCKETS, 3)
  assert buckets[0, 0] == low and buckets[-1, 1] == high
  np.testing.assert_allclose(buckets[1:, 0], buckets[:-1, 1])
  assert buckets[:, 2].sum() == len(values)
  # Each value is counted in the bucket it falls in.
  for v in values:
    inside = (buckets[:, 0] <= v) & ((v < buckets[:, 1]) |
                                     (buckets[:, 1] == high))
    assert buckets[inside, 2].sum() >= 1


@pytest.mark.skipif(not devices.onednn_enabled(),
                    reason='the bfloat16 rewrite is a oneDNN pass, and '
                    'TF_ENABLE_ONEDNN_OPTS=0 turned oneDNN off')
def test_bf16_rewrite_runs_convolutions_in_bfloat16():
  """Wherever oneDNN is on: natively on CPUs with AVX512_BF16 or AMX,
  emulated on others (README.md: slower there, but the same rewrite)."""
  config = tf.compat.v1.ConfigProto()
  devices.use_bf16(config)
  losses = []
  for session_config in (tf.compat.v1.ConfigProto(), config):
    with tf.Graph().as_default():
      tf.compat.v1.set_random_seed(1)
      global_step = tf.compat.v1.train.get_or_create_global_step()
      logits = cifar10.inference(tf.constant(_images(16)))
      total = cifar10.loss(logits, tf.constant(np.arange(16) % 10))
      train_op = cifar10.train(total, global_step, 16)
      with tf.compat.v1.Session(config=session_config) as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        metadata = tf.compat.v1.RunMetadata()
        losses.append(sess.run(
            [train_op, total], options=tf.compat.v1.RunOptions(
                output_partition_graphs=True), run_metadata=metadata)[1])
        kernel = sess.run(_global_variable('conv2/weights'))
    conv_types = {
        node.attr['T'].type for graph in metadata.partition_graphs
        for node in graph.node if 'Conv2D' in node.op}
    assert kernel.dtype == np.float32
    bf16 = session_config is config
    assert (tf.bfloat16.as_datatype_enum in conv_types) == bf16, conv_types
  # Same initial weights: the losses differ by bfloat16 rounding only.
  assert losses[1] == pytest.approx(losses[0], rel=0.02)
