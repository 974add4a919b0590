"""airbench94 (--model=airbench94): its layers, its recipe's elements, resume."""

import numpy as np
import pytest
import tensorflow as tf

import cifar10_input
import cifar10_models
from cifar10_models import counting
from cifar10_models import model_file
import cifar10_predict
from cifar10_datasets.synthetic import make_data_dir
from cifar10_models import layers
from cifar10_models import recipe as recipes
from conftest import train_here


def test_whitening_maps_its_patches_to_identity_covariance():
  """The first 12 output channels of the whitening conv, applied to the
  patches it was computed from, have covariance E^T C E / (L + eps) =
  diag(L / (L + eps)): identity but for eps / (L + eps) on the diagonal,
  largest for the smallest eigenvalue. The test allows that plus float32
  rounding of the 12-term products (1e-4 of the unit scale)."""
  rng = np.random.RandomState(0)
  # Correlated pixels: smooth images plus noise, as photographs are.
  base = rng.uniform(0, 255, size=(60, 8, 8, 3))
  images = np.repeat(np.repeat(base, 4, axis=1), 4, axis=2)
  images = np.clip(images + rng.normal(0, 20, images.shape), 0, 255)
  with tf.Graph().as_default():
    normalized = cifar10_input.normalize(tf.constant(images, tf.float32))
    kernel = layers.whitening_weights(normalized, 2, 5e-4)
    outputs = tf.nn.conv2d(normalized, kernel, 1, 'VALID')
    patches = tf.image.extract_patches(normalized, [1, 2, 2, 1], [1] * 4,
                                       [1] * 4, 'VALID')
    with tf.compat.v1.Session() as sess:
      kernel, outputs, patches = sess.run([kernel, outputs, patches])
  assert kernel.shape == (2, 2, 3, 24)
  np.testing.assert_array_equal(kernel[..., 12:], -kernel[..., :12])
  flat = outputs[..., :12].reshape(-1, 12).astype(np.float64)
  covariance = flat.T @ flat / len(flat)
  patches = patches.reshape(-1, 12).astype(np.float64)
  eigenvalues = np.sort(np.linalg.eigvalsh(patches.T @ patches /
                                           len(patches)))[::-1]
  expected = np.diag(eigenvalues / (eigenvalues + 5e-4))
  np.testing.assert_allclose(covariance, expected, atol=1e-4)
  # And so near the identity: within eps / (smallest eigenvalue + eps).
  bound = 5e-4 / (eigenvalues[-1] + 5e-4) + 1e-4
  assert np.abs(covariance - np.eye(12)).max() <= bound


def test_the_dirac_initializer_copies_the_first_channels():
  with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
    kernel = sess.run(layers.dirac([3, 3, 4, 6]))
  x = np.random.RandomState(1).normal(size=(1, 5, 5, 4)).astype(np.float32)
  with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
    y = sess.run(tf.nn.conv2d(x, kernel, 1, 'SAME'))
  np.testing.assert_allclose(y[..., :4], x, atol=1e-6)
  assert np.abs(kernel[..., 4:]).max() <= 1 / 6.0  # 1/sqrt(3*3*4)
  assert np.abs(kernel[..., 4:]).max() > 0


def test_the_parameter_count_is_airbench94s():
  """1,973,944: the 288 frozen whitening weights and batch norm's moving
  statistics included; without them, 1,971,352 trained values."""
  model = cifar10_models.get('airbench94')
  with tf.Graph().as_default():
    model.logits(tf.zeros([2, 32, 32, 3]), True, model.recipe)
    every = counting.parameter_count(tf.compat.v1.global_variables())
    trained = counting.parameter_count(
        tf.compat.v1.trainable_variables())
  assert (every, trained) == (1973944, 1971352)


def test_airbench96s_blocks_add_a_residual_over_their_last_two_convs():
  """9,921,848 by the source's shapes (its three blocks of three
  convolutions and batch norms, the whitening layer and the head); each
  block's output is GELU(norm3 + the first GELU's output)."""
  model = cifar10_models.get('airbench96')
  with tf.Graph().as_default() as graph:
    model.logits(tf.zeros([2, 32, 32, 3]), True, model.recipe)
    every = counting.parameter_count(tf.compat.v1.global_variables())
    residuals = [op for op in graph.get_operations() if op.type == 'AddV2'
                 and any('/norm3/' in x.op.name for x in op.inputs)]
  blocks = [(24, 128), (128, 384), (384, 512)]
  # Whitening weights and biases, the head, and per block three kernels
  # and three batch norms' offsets and moving statistics.
  expected = 2 * 2 * 3 * 24 + 24 + 512 * 10 + sum(
      9 * c * w + 2 * 9 * w * w + 3 * 3 * w for c, w in blocks)
  assert every == expected == 9921848
  assert len(residuals) == 3


def _batch(ids, epoch, seed=7, num_examples=20):
  return cifar10_input.Batch(seed, tf.constant(0, tf.int64),
                             tf.constant(epoch, tf.int64),
                             tf.zeros([len(ids), 32, 32, 3], tf.uint8),
                             tf.constant(ids, tf.int64), len(ids),
                             num_examples, cifar10_input.DATASET)


def test_alternating_flips_mirror_each_image_once_in_two_epochs():
  ids = np.arange(20)
  with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
    flips = sess.run([cifar10_input.alternating_flips(_batch(ids, e))
                      for e in (0, 1, 2, 3)])
    # A batch of other images of the same run gets the same images' flips.
    shuffled = sess.run(cifar10_input.alternating_flips(_batch(ids[::-1], 0)))
  np.testing.assert_array_equal(flips[0] ^ flips[1], True)
  np.testing.assert_array_equal(flips[0], flips[2])
  np.testing.assert_array_equal(flips[1], flips[3])
  np.testing.assert_array_equal(shuffled, flips[0][::-1])
  assert 0 < flips[0].sum() < 20  # Each image its own random flip.


def test_cutout_zeroes_one_square_inside_each_image():
  with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
    images = tf.random.stateless_uniform([40, 32, 32, 3], [1, 2], 0.5, 1.0)
    cut = sess.run(cifar10_input.cut_out(images, 12, [3, 4]))
    small = sess.run(cifar10_input.cut_out(images[:, :8, :8], 12, [3, 4]))
    # airbench96's preprocessing, end to end: 144 zeros an image in each
    # channel (normalized pixels are never exactly 0 otherwise).
    trained = sess.run(cifar10_input.PREPROCESSING[
        cifar10_input.TRANSLATE_CUTOUT_PREPROCESSING].train(
            _batch(np.arange(20), 1)))
  corners = set()
  for image in cut:
    zero = np.all(image == 0, axis=-1)
    rows, columns = np.nonzero(zero.any(axis=1))[0], np.nonzero(
        zero.any(axis=0))[0]
    assert zero.sum() == 144 and len(rows) == len(columns) == 12
    corners.add((rows[0], columns[0]))
  assert len(corners) > 20  # Each image its own square.
  assert np.all(small == 0)  # A square larger than the image covers it.
  assert np.all(np.sum(trained == 0, axis=(1, 2)) == 144)


def test_each_epoch_shows_every_image_once_in_whole_batches():
  batches = list(cifar10_input._epoch_batches(  # pylint: disable=protected-access
      25, 4, 3, 0).take(12).as_numpy_iterator())
  epochs = [np.concatenate(batches[i:i + 6]) for i in (0, 6)]
  for epoch in epochs:  # 6 whole batches of 4; one image left out.
    assert len(set(epoch)) == 24 and set(epoch) <= set(range(25))
  assert list(epochs[0]) != list(epochs[1])


def test_the_optimizer_gives_offsets_64_times_the_rate_and_decays_all():
  """One step from zero momentum: each weight moves by lr x (1 + m) x
  (grad + c w), c = weight decay x batch / rate; each offset by 64 x that
  rate with 1/64 of that decay, as airbench's two parameter groups."""
  recipe = recipes.AIRBENCH94._replace(batch_size=4)
  with tf.Graph().as_default():
    global_step = tf.compat.v1.train.get_or_create_global_step()
    weight = tf.compat.v1.get_variable('w', initializer=tf.constant([2.0]))
    offset = tf.compat.v1.get_variable('beta', initializer=tf.constant([3.0]))
    tf.compat.v1.add_to_collection(layers.OFFSETS, offset)
    loss = tf.reduce_sum(5.0 * weight + 7.0 * offset)
    optimizer = recipes.AirbenchSGD(1.0, recipe, global_step, 4)
    step = optimizer.apply_gradients(optimizer.compute_gradients(loss),
                                     global_step)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      sess.run(step)
      moved = sess.run([weight, offset])
  lr = 1.0 / (1024 * (1 + 1 / (1 - recipes.AIRBENCH_MOMENTUM)))
  nesterov = 1 + recipes.AIRBENCH_MOMENTUM
  c = recipe.weight_decay * 4 / recipe.learning_rate
  np.testing.assert_allclose(moved[0], 2.0 - lr * nesterov * (5.0 + c * 2.0),
                             rtol=1e-6)
  np.testing.assert_allclose(
      moved[1], 3.0 - 64 * lr * nesterov * (7.0 + c / 64 * 3.0), rtol=1e-6)


def test_the_lookahead_pulls_every_fifth_step_and_copies_back_at_the_end():
  total = 12
  with tf.Graph().as_default():
    global_step = tf.compat.v1.train.get_or_create_global_step()
    weight = tf.compat.v1.get_variable('w', initializer=tf.constant([0.0]))
    # A "training step": the weight goes up by 1, the step by 1.
    update = tf.group(weight.assign_add([1.0]),
                      global_step.assign_add(1))
    step = tf.group(update, recipes.lookahead(global_step, total, update))
    average = [v for v in tf.compat.v1.global_variables()
               if v.op.name == 'w/Lookahead'][0]
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      seen = []
      for _ in range(total):
        sess.run(step)
        seen.append(sess.run([weight, average])[0][0])
  expected, ema, w = [], 0.0, 0.0
  for s in range(1, total + 1):
    w += 1.0
    if s % 5 == 0:
      decay = 0.95 ** 5 * (s / total) ** 3
      ema += (1 - decay) * (w - ema)
      w = ema
    if s == total:
      w = ema
    expected.append(w)
  np.testing.assert_allclose(seen, expected, rtol=1e-6)
  assert seen[-1] != total  # the final copy took the average


def _train(data_dir, train_dir, steps, model='airbench94'):
  train_here(data_dir, train_dir, model, steps, seed=2, summary_steps=0,
             save_checkpoint_secs=0, save_checkpoint_steps=3,
             keep_checkpoint_max=100)


def _weights(train_dir, step):
  reader = tf.train.load_checkpoint('%s/model.ckpt-%d' % (train_dir, step))
  return {name: reader.get_tensor(name)
          for name, _ in tf.train.list_variables(
              '%s/model.ckpt-%d' % (train_dir, step))}


@pytest.mark.slow
@pytest.mark.parametrize('model', ['airbench94', 'airbench94_muon',
                                   'airbench96_faster'])
def test_a_resumed_run_reaches_the_uninterrupted_runs_weights(tmp_path,
                                                              model):
  """Epochs of 6 batches of 16 (100 images): 12 steps straight, against 7
  (into the second epoch, past a lookahead step) then 5 more after a
  restart. The same schedule, lookahead or momentum state, order, flips
  and cutouts: the same weights, to float noise. Along the way: the
  whitening weights never change."""
  data_dir = make_data_dir(tmp_path / 'data', train_per_file=20)
  straight, resumed = str(tmp_path / 'straight'), str(tmp_path / 'resumed')
  _train(data_dir, straight, 12, model)
  _train(data_dir, resumed, 7, model)
  _train(data_dir, resumed, 12, model)
  a, b = _weights(straight, 12), _weights(resumed, 12)
  assert sorted(a) == sorted(b)
  for name in a:
    np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-5,
                               err_msg=name)
  first = _weights(straight, 3)
  np.testing.assert_array_equal(first['whiten/weights'], a['whiten/weights'])
  assert np.abs(a['whiten/weights']).max() > 0  # set from the data
  assert not np.array_equal(first['whiten/biases'], a['whiten/biases'])
  if model == 'airbench96_faster':
    # The proxy's whitening is set from the data too, its biases stay at 0
    # (that eval reads the network alone from a checkpoint with both:
    # test_distributed's airbench96_faster cluster).
    assert np.abs(a['proxy/whiten/weights']).max() > 0
    np.testing.assert_array_equal(a['proxy/whiten/biases'], 0.0)


def test_the_whitening_biases_train_for_their_three_epochs_only():
  """Steps of 1,024 examples: an epoch is 48 of them (49,152 examples, the
  last partial batch dropped); the biases update at steps 0..143."""
  recipe = recipes.AIRBENCH94
  moved = {}
  for step in (143, 144):
    with tf.Graph().as_default():
      global_step = tf.compat.v1.train.get_or_create_global_step()
      net = layers.Net(True)
      x = net.whitening_conv(tf.ones([1, 4, 4, 3]), 'whiten', bias_epochs=3)
      optimizer = recipes.AirbenchSGD(1.0, recipe, global_step, 1024)
      update = optimizer.apply_gradients(
          optimizer.compute_gradients(tf.reduce_sum(x)), global_step)
      biases = [v for v in tf.compat.v1.trainable_variables()
                if v.op.name == 'whiten/biases'][0]
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(global_step.assign(step))
        sess.run(update)
        moved[step] = sess.run(biases)
  assert np.all(moved[143] < 0)  # a step down the gradient of the sum
  np.testing.assert_array_equal(moved[144], 0.0)


def _whitening_and_first_conv_gradients(step, gated):
  """The gradients of a whitening layer under a convolution at `step`
  (airbench's SGD at 1,024 examples a step), the convolution's input
  gradient skipped after the biases' epochs if `gated`; and the names of
  the nodes that ran."""
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(0)
    global_step = tf.compat.v1.train.get_or_create_global_step()
    net = layers.Net(True)
    x = net.whitening_conv(tf.random.normal([2, 9, 9, 3]), 'whiten',
                           bias_epochs=3)
    y = net.conv(layers.ACTIVATIONS['gelu'](x), 4, 3, 'conv',
                 activation=None, bias=False,
                 input_gradient_epochs=3 if gated else None)
    optimizer = recipes.AirbenchSGD(1.0, recipes.AIRBENCH94, global_step,
                                    1024)
    grads = [g for g, _ in optimizer.compute_gradients(tf.reduce_sum(y * y))]
    kernel = [v for v in tf.compat.v1.global_variables()
              if v.op.name == 'whiten/weights'][0]
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      # As if set from the data (it starts at zeros).
      sess.run(kernel.assign(tf.random.normal(kernel.shape)))
      sess.run(global_step.assign(step))
      metadata = tf.compat.v1.RunMetadata()
      values = sess.run(grads, options=tf.compat.v1.RunOptions(
          trace_level=tf.compat.v1.RunOptions.FULL_TRACE),
                        run_metadata=metadata)
  ran = {node.node_name for device in metadata.step_stats.dev_stats
         for node in device.node_stats}
  return values, ran


def test_the_first_convolution_skips_its_input_gradient_after_3_epochs():
  """At step 143 (the last of the biases' epochs) the gated gradients are
  the plain ones; at 144 the kernel's still are, the biases' lose the
  loss's share (what is left is airbench's weight decay, 0 on zero
  biases), and the input gradient's convolution does not run."""
  for step in (143, 144):
    gated, ran = _whitening_and_first_conv_gradients(step, True)
    plain, ran_plain = _whitening_and_first_conv_gradients(step, False)
    input_gradient_ran = any('Conv2DBackpropInput' in n for n in ran)
    assert any('Conv2DBackpropInput' in n for n in ran_plain)
    # [whitening biases, conv kernel]: the frozen whitening kernel has none.
    np.testing.assert_allclose(gated[1], plain[1], rtol=1e-6)
    assert np.abs(plain[0]).max() > 0
    if step == 143:
      assert input_gradient_ran
      np.testing.assert_allclose(gated[0], plain[0], rtol=1e-6)
    else:
      assert not input_gradient_ran
      np.testing.assert_array_equal(gated[0], 0.0)


def test_the_six_test_time_views_are_exact_shifts_and_mirrors():
  images = np.random.RandomState(4).normal(size=(2, 32, 32, 3))
  with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
    views = cifar10_input.mirror_translate_views(
        tf.constant(images, tf.float32))
    weights = [w for w, _ in views]
    views = sess.run([v for _, v in views])
  padded = np.pad(images, [(0, 0), (1, 1), (1, 1), (0, 0)], 'reflect')
  up_left, down_right = padded[:, :32, :32], padded[:, 2:, 2:]
  expected = [images, images[:, :, ::-1], up_left, up_left[:, :, ::-1],
              down_right, down_right[:, :, ::-1]]
  for got, want in zip(views, expected):
    np.testing.assert_allclose(got, want, rtol=1e-6)
  # airbench's weights: half for the image and its mirror, half for the
  # four shifted ones.
  assert weights == [0.25, 0.25, 0.125, 0.125, 0.125, 0.125]
  np.testing.assert_array_equal(down_right[:, 0, 0], images[:, 1, 1])


@pytest.mark.slow
def test_eval_predict_and_the_saved_model_give_the_same_probabilities(
    tmp_path):
  data_dir = make_data_dir(tmp_path / 'data', train_per_file=8)
  train_dir = str(tmp_path / 'train')
  train_here(data_dir, train_dir, 'airbench94', 3, batch_size=8,
             summary_steps=0)
  picture = np.random.RandomState(2).randint(0, 256, (1, 32, 32, 3)).astype(
      np.uint8)
  encoded = tf.io.encode_png(picture[0]).numpy()
  model, recipe = model_file.resolve(train_dir)
  checkpoint = tf.train.latest_checkpoint(train_dir)
  with tf.Graph().as_default():
    images = cifar10_input.eval_preprocess(tf.constant(picture),
                                           recipe.preprocessing)
    plain = model.logits(images, False, recipe)
    logits = model.eval_logits(images, recipe)
    with tf.compat.v1.Session() as sess:
      tf.compat.v1.train.Saver().restore(sess, checkpoint)
      from_eval, from_plain = sess.run([tf.nn.softmax(logits),
                                        tf.nn.softmax(plain)])
  with tf.Graph().as_default():
    images, outputs = cifar10_predict.build_classifier(model, recipe)
    with tf.compat.v1.Session() as sess:
      cifar10_predict._restore_newest(sess, recipe, train_dir)  # pylint: disable=protected-access
      from_predict = sess.run(outputs['probabilities'], {images: [encoded]})
      cifar10_predict.export(sess, images, outputs, str(tmp_path / 'saved'))
  serve = tf.saved_model.load(str(tmp_path / 'saved')).signatures[
      'serving_default']
  from_saved = serve(images=tf.constant([encoded]))['probabilities'].numpy()
  np.testing.assert_allclose(from_predict, from_eval, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(from_saved, from_eval, rtol=1e-5, atol=1e-6)
  assert not np.allclose(from_plain, from_eval, rtol=1e-5, atol=1e-6)
