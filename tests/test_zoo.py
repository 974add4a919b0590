"""The model zoo (--model): every network, batch norm, recorded models."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import cifar10
import cifar10_input
import cifar10_models
from cifar10_models import counting
from cifar10_models import model_file
import cifar10_predict
from cifar10_training import towers
from cifar10_training import training
from cifar10_models import layers
from cifar10_models import recipe as recipes
from conftest import TRAINING_EXAMPLES, run_script, train_here
from test_scripts import PRECISION_LINE, _assert_ok, _eval, _one_line_error
from test_scripts import _train

# Keras' model.summary() totals of the reference networks (batch norm's
# moving statistics included); ours for the networks without a reference.
EXPECTED_PARAMETERS = {
    'tutorial': 1068298, 'baseline': 198506, 'lenet5': 62006,
    'alexnet': 9639178, 'vgg16': 15262026, 'resnet18': 11183562,
    'inception': 120826, 'resnet20': 271098, 'resnet32': 466426,
    'resnet56': 857082, 'airbench94': 1973944,
    'airbench95': 4608312, 'airbench94_muon': 1973944,
    'airbench96': 9921848, 'airbench96_faster': 9921848,
}
BATCH = 4


def _images(model, n=BATCH, seed=0):
  size = cifar10_input.preprocessed_size(model.recipe.preprocessing)
  return np.random.RandomState(seed).normal(
      size=(n, size, size, 3)).astype(np.float32)


def _training_graph(model, images, labels):
  """Builds one training step of `model` on constant images, as the
  trainers build it (towers.model_step on one device).

  Returns:
    (train_op, total_loss).
  """
  plan = training.Plan(model, model.recipe._replace(batch_size=len(images)),
                       max_steps=1)
  global_step = tf.compat.v1.train.get_or_create_global_step()
  return towers.model_step(
      plan, towers.ONE_DEVICE,
      lambda: (tf.constant(images), tf.constant(labels)), global_step)


def test_the_registry_holds_the_documented_models():
  assert list(cifar10_models.MODELS)[0] == cifar10_models.TUTORIAL
  assert set(cifar10_models.MODELS) == set(EXPECTED_PARAMETERS)


def _initialize_from_data(sess):
  """Sets the variables a run sets from its first training images (the
  whitening convolutions') from random ones, as a fresh run would: left
  at zero, every image looks the same to the network, and batch norm's
  small epsilon turns that into enormous gradients."""
  rng = np.random.RandomState(1)
  for _, images, assign in layers.data_initializers(sess.graph):
    sess.run(assign, {images: rng.randint(
        0, 256, [BATCH] + images.shape[1:].as_list()).astype(np.uint8)})


@pytest.mark.parametrize('name', sorted(EXPECTED_PARAMETERS))
def test_each_model_has_its_parameter_count_trains_and_evaluates(name):
  model = cifar10_models.get(name)
  images, labels = _images(model), np.array([1, 2, 3, 4], np.int32)
  assert counting.network_size(name)[0] == EXPECTED_PARAMETERS[name]
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(0)
    train_op, total_loss = _training_graph(model, images, labels)
    with tf.compat.v1.variable_scope('', reuse=True):
      eval_logits = model.logits(tf.constant(images), False, model.recipe)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      _initialize_from_data(sess)
      first = sess.run(total_loss)
      sess.run(train_op)
      assert sess.run(tf.compat.v1.train.get_global_step()) == 1
      assert np.isfinite(first) and np.isfinite(sess.run(total_loss))
      logits = sess.run(eval_logits)
  assert logits.shape == (BATCH, 10) and np.all(np.isfinite(logits))


# Image sizes beside 32: the smallest --image_size allows, and a larger one.
SMALL_SIZE, LARGE_SIZE = 8, 48
# The networks whose parameters do not change with the image size: their
# last pool is global (the ResNets' and Inception's always, the others' on
# images other than 32x32). The rest flatten a map that grows with it.
SIZE_FREE = ('vgg16', 'airbench94', 'airbench95', 'airbench94_muon',
             'airbench96', 'airbench96_faster',
             'resnet18', 'inception', 'resnet20', 'resnet32', 'resnet56')
# The smallest size each network that cannot take SMALL_SIZE builds on.
SMALLEST_SIZE = {'lenet5': 16, 'alexnet': 13, 'vgg16': 16, 'airbench94': 9,
                 'airbench95': 9, 'airbench94_muon': 9, 'airbench96': 9,
                 'airbench96_faster': 9}


def _eval_network(model, size):
  """Builds `model`'s eval network on two images of `size` in a graph of
  its own; returns (its parameter count, its logits' shape)."""
  dataset = cifar10_input.DATASET._replace(image_size=size)
  side = cifar10_input.PREPROCESSING[model.recipe.preprocessing].size(size)
  with tf.Graph().as_default():
    logits = model.logits(tf.zeros([2, side, side, 3]), False, model.recipe,
                          dataset=dataset)
    return (counting.parameter_count(tf.compat.v1.global_variables()),
            tuple(logits.shape))


@pytest.mark.parametrize('name', sorted(EXPECTED_PARAMETERS))
def test_each_model_takes_other_image_sizes_or_names_the_smallest(name):
  model = cifar10_models.get(name)
  count, shape = _eval_network(model, LARGE_SIZE)
  assert shape == (2, 10)
  assert (count == EXPECTED_PARAMETERS[name]) == (name in SIZE_FREE)
  if name not in SMALLEST_SIZE:
    assert _eval_network(model, SMALL_SIZE)[1] == (2, 10)
    return
  with pytest.raises(cifar10_models.UserError,
                     match=r'^--model=%s cannot take images of 8x8: .*; pass '
                     r'--image_size=%d or more$' % (name, SMALLEST_SIZE[name])):
    _eval_network(model, SMALL_SIZE)
  _eval_network(model, SMALLEST_SIZE[name])


def test_batch_norm_statistics_move_in_training_only():
  model = cifar10_models.get('baseline')
  images, labels = _images(model, 8), np.arange(8, dtype=np.int32)
  with tf.Graph().as_default() as graph:
    train_op, _ = _training_graph(model, images, labels)
    with tf.compat.v1.variable_scope('', reuse=True):
      eval_logits = model.logits(tf.constant(images), False, model.recipe)
    mean, variance = [v for v in tf.compat.v1.global_variables()
                      if v.op.name.startswith('conv1/bn/moving_')]
    bn_input = graph.get_tensor_by_name('conv1/BiasAdd:0')
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      before = sess.run([mean, variance])
      sess.run(eval_logits)
      np.testing.assert_array_equal(sess.run([mean, variance]), before)
      _, batch = sess.run([train_op, bn_input])
      after = sess.run([mean, variance])
  # Each moves 1 - BN_DECAY of the way to the batch's (variance: unbiased).
  keep = layers.BN_DECAY
  np.testing.assert_allclose(
      after[0], keep * before[0] + (1 - keep) * batch.mean(axis=(0, 1, 2)),
      rtol=1e-4, atol=1e-5)
  n = batch.size / batch.shape[-1]
  np.testing.assert_allclose(
      after[1], keep * before[1] +
      (1 - keep) * batch.var(axis=(0, 1, 2)) * n / (n - 1),
      rtol=1e-3, atol=1e-5)


def test_towers_update_batch_norm_statistics_once_per_step():
  model = cifar10_models.get('resnet20')
  images = _images(model, 2 * BATCH)
  batches = iter([(images[:BATCH], np.zeros(BATCH, np.int32)),
                  (images[BATCH:], np.ones(BATCH, np.int32))])
  with tf.Graph().as_default() as graph:
    global_step = tf.compat.v1.train.get_or_create_global_step()
    towers.model_step(
        training.Plan(model, model.recipe._replace(batch_size=BATCH), 1),
        towers.on_devices(['/cpu:0', '/cpu:1']),
        lambda: [tf.constant(t) for t in next(batches)], global_step)
    moving = [v for v in tf.compat.v1.global_variables()
              if '/moving_' in v.op.name]
    assert len(moving) == 2 * 19  # conv1 and 2 per block, 9 blocks.
    updates = [op for op in graph.get_operations()
               if op.type == 'AssignSubVariableOp' and '/moving_' in
               op.inputs[0].op.name]
  # Each tower builds its updates; only the first tower's run.
  assert len(updates) == 2 * len(moving)
  assert all(op.name.startswith(('tower_0/', 'tower_1/')) for op in updates)


def _recipe_flags(steps, batch):
  """Flags that make a zoo recipe's whole one-cycle schedule `steps` long
  on the data_dir fixture's training set."""
  return ['--batch_size=%d' % batch, '--epochs=%g' % (
      steps * batch / float(TRAINING_EXAMPLES))]


@pytest.mark.slow
def test_a_batch_norm_model_learns_the_colours(data_dir, tmp_path):
  train_dir = str(tmp_path / 'train')
  result = run_script('cifar10_train.py', '--data_dir=' + data_dir,
                      '--train_dir=' + train_dir, '--nodownload',
                      '--model=baseline', '--seed=1', '--log_frequency=50',
                      *_recipe_flags(150, 32))
  _assert_ok(result)
  assert 'Training baseline for 150 steps of 32 examples' in result.stdout
  precision = float(PRECISION_LINE.search(_eval(data_dir, train_dir).stdout)
                    .group(1))
  assert precision >= 0.9


def _probabilities(model, recipe, files, restore=None, sess=None):
  """Predict's probabilities for encoded `files`: from a checkpoint
  (restore=prefix, new graph) or with the variables of `sess`'s graph."""
  if sess is not None:
    with tf.compat.v1.variable_scope('', reuse=True):
      encoded, outputs = cifar10_predict.build_classifier(model, recipe)
    return sess.run(outputs['probabilities'], {encoded: files})
  with tf.Graph().as_default():
    encoded, outputs = cifar10_predict.build_classifier(model, recipe)
    var_map = cifar10.variables_to_restore(recipe.moving_average_decay)
    with tf.compat.v1.Session() as sess:
      tf.compat.v1.train.Saver(var_map).restore(sess, restore)
      return sess.run(outputs['probabilities'], {encoded: files})


def _png_files(n, seed=2):
  rng = np.random.RandomState(seed)
  return [tf.io.encode_png(rng.randint(0, 256, (32, 32, 3)).astype(
      np.uint8)).numpy() for _ in range(n)]


def test_a_checkpoint_predicts_what_the_training_graph_does(tmp_path):
  """Batch norm's statistics and the weights go through the checkpoint."""
  model = cifar10_models.get('resnet20')
  files = _png_files(6)
  images, labels = _images(model, 8), np.arange(8, dtype=np.int32)
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(0)
    train_op, _ = _training_graph(model, images, labels)
    saver = tf.compat.v1.train.Saver(
        {v.op.name: v for v in tf.compat.v1.global_variables()})
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      for _ in range(5):
        sess.run(train_op)
      expected = _probabilities(model, model.recipe, files, sess=sess)
      prefix = saver.save(sess, str(tmp_path / 'model.ckpt'))
  got = _probabilities(model, model.recipe, files, restore=prefix)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
  # Trained statistics, not the initial ones: they change the answer.
  assert not np.allclose(expected, expected[:1])


@pytest.mark.slow
def test_zoo_checkpoint_evaluates_predicts_and_exports(data_dir, tmp_path):
  train_dir = str(tmp_path / 'train')
  train_here(data_dir, train_dir, 'inception', 3)
  with open(os.path.join(train_dir, model_file.MODEL_FILE)) as f:
    assert json.load(f)['model'] == 'inception'
  # Eval and predict find the model in the folder.
  assert PRECISION_LINE.search(_eval(data_dir, train_dir).stdout)
  picture = tmp_path / 'picture.png'
  files = _png_files(3)
  picture.write_bytes(files[0])
  export_dir = str(tmp_path / 'export')
  result = run_script('cifar10_predict.py', '--checkpoint_dir=' + train_dir,
                      '--export_dir=' + export_dir, str(picture))
  _assert_ok(result)
  assert str(picture) + ': ' in result.stdout
  model = cifar10_models.get('inception')
  expected = _probabilities(model, model.recipe, files,
                            restore=tf.train.latest_checkpoint(train_dir))
  serve = tf.saved_model.load(export_dir).signatures['serving_default']
  np.testing.assert_allclose(
      serve(images=tf.constant(files))['probabilities'].numpy(), expected,
      rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_two_towers_train_a_batch_norm_model_and_eval_reads_it(data_dir,
                                                               tmp_path):
  train_dir = str(tmp_path / 'train')
  result = run_script('cifar10_multi_gpu_train.py', '--num_gpus=2',
                      '--model=baseline', '--data_dir=' + data_dir,
                      '--train_dir=' + train_dir, '--nodownload',
                      '--batch_size=8', '--max_steps=4')
  _assert_ok(result)
  assert 'Training baseline for 4 steps of 16 examples' in result.stdout
  assert PRECISION_LINE.search(_eval(data_dir, train_dir).stdout)


@pytest.mark.slow
def test_another_model_on_a_folder_is_one_line_and_changes_nothing(
    data_dir, tmp_path):
  train_dir = str(tmp_path / 'train')
  train_here(data_dir, train_dir, 'baseline', 1)
  before = {name: os.path.getmtime(os.path.join(train_dir, name))
            for name in os.listdir(train_dir)}
  _one_line_error(_train(data_dir, train_dir, '--model=lenet5',
                         '--max_steps=2'),
                  r'\S+ holds a baseline model, not --model=lenet5: pass a '
                  r'new --train_dir')
  _one_line_error(_eval(data_dir, train_dir, '--model=vgg16'),
                  r'\S+ holds a baseline model, not --model=vgg16')
  _one_line_error(run_script('cifar10_predict.py', '--model=tutorial',
                             '--checkpoint_dir=' + train_dir, 'x.png'),
                  r'\S+ holds a baseline model, not --model=tutorial')
  after = {name: os.path.getmtime(os.path.join(train_dir, name))
           for name in os.listdir(train_dir)}
  assert after == before
  # Without --model, training resumes the folder's model.
  result = _train(data_dir, train_dir, '--max_steps=2')
  _assert_ok(result)
  assert 'Training baseline' in result.stdout
  assert 'Resuming from' in result.stdout


@pytest.mark.slow
def test_a_resumed_run_keeps_the_batch_size_it_started_with(data_dir,
                                                           tmp_path):
  """The schedule counts epochs in steps of the batch: resuming with the
  recipe's batch instead would change both the schedule and the length."""
  train_dir = str(tmp_path / 'train')
  flags = ['--data_dir=' + data_dir, '--train_dir=' + train_dir,
           '--nodownload', '--model=baseline']
  # Two steps of 8 make the run's epochs; the first run stops after one.
  result = run_script('cifar10_train.py', *flags + _recipe_flags(2, 8) +
                      ['--max_steps=1'])
  _assert_ok(result)
  with open(os.path.join(train_dir, model_file.MODEL_FILE)) as f:
    assert json.load(f)['recipe']['batch_size'] == 8
  result = run_script('cifar10_train.py', *flags)
  _assert_ok(result)
  assert 'Training baseline for 2 steps of 8 examples' in result.stdout
  assert 'Resuming from' in result.stdout


@pytest.mark.slow
def test_tutorial_checkpoints_without_a_record_refuse_a_zoo_model(
    data_dir, tmp_path):
  train_dir = str(tmp_path / 'train')
  train_here(data_dir, train_dir, 'tutorial', 1)
  os.remove(os.path.join(train_dir, model_file.MODEL_FILE))
  _one_line_error(_train(data_dir, train_dir, '--model=resnet20',
                         '--max_steps=2'),
                  r'\S+ holds a tutorial model, not --model=resnet20')
  _one_line_error(_train(data_dir, str(tmp_path / 'new'), '--epochs=3',
                         '--max_steps=2'),
                  r'--epochs applies to the zoo\'s recipes')


def _numpy_padded_crop(images, offsets, flips):
  """The padded-crop preprocessing, one image at a time, in numpy."""
  pad = cifar10_input.PAD
  out = []
  for image, (row, column), flip in zip(images, offsets, flips):
    padded = np.pad(image.astype(np.float64),
                    [[pad, pad], [pad, pad], [0, 0]])
    crop = padded[row:row + 32, column:column + 32]
    out.append(crop[:, ::-1] if flip else crop)
  return ((np.stack(out) - cifar10_input.DATASET.channel_mean) /
          cifar10_input.DATASET.channel_std)


@pytest.mark.parametrize('shift', [cifar10_input.PAD, 0])
def test_zoo_training_views_crop_the_padded_image_and_flip(shift):
  images = np.random.RandomState(3).randint(0, 256, (64, 32, 32, 3)).astype(
      np.uint8)
  offsets, flips = cifar10_input.padded_crop_params(
      tf.constant([7, 1], tf.int64), 64, shift)
  got = cifar10_input.padded_crop_images(tf.constant(images), offsets, flips)
  offsets, flips = offsets.numpy(), flips.numpy()
  np.testing.assert_allclose(got.numpy(),
                             _numpy_padded_crop(images, offsets, flips),
                             rtol=1e-5, atol=1e-5)
  # Every shift happens, and only those; flips about half the time.
  pad = cifar10_input.PAD
  assert set(offsets.ravel()) == set(range(pad - shift, pad + shift + 1))
  assert 16 < flips.sum() < 48
  # Eval's preprocessing is the normalization alone, the same for every
  # image.
  np.testing.assert_allclose(
      cifar10_input.eval_preprocess(tf.constant(images),
                              cifar10_input.PADDED_CROP_PREPROCESSING).numpy(),
      _numpy_padded_crop(images, np.full([64, 2], pad), [False] * 64),
      rtol=1e-5, atol=1e-5)


def test_one_cycle_schedule_rises_then_falls_to_zero_at_the_last_epoch():
  recipe = recipes.zoo_recipe(0.2, epochs=20)._replace(epochs=10)
  examples = 500  # 100 steps an epoch.
  with tf.Graph().as_default():
    step = tf.compat.v1.placeholder(tf.int64, [])
    lr = recipes.learning_rate(recipe, step, examples)
    with tf.compat.v1.Session() as sess:
      rate = lambda s: sess.run(lr, {step: s})
      # The warm-up is 15% of the run as it is now: 1.5 epochs.
      np.testing.assert_allclose(
          [rate(0), rate(75), rate(150), rate(575), rate(1000), rate(1100)],
          [0.02, 0.11, 0.2, 0.1, 0.0, 0.0], atol=1e-6)


def test_label_smoothing_spreads_the_target_and_zero_is_the_tutorials():
  logits = np.random.RandomState(0).normal(size=(4, 10)).astype(np.float32)
  labels = np.array([0, 3, 9, 3], np.int32)
  log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))

  def loss(*smoothing):
    # A graph each: a graph's total loss adds up all its loss terms.
    with tf.Graph().as_default():
      total = cifar10.loss(tf.constant(logits), tf.constant(labels),
                           *smoothing)
      with tf.compat.v1.Session() as sess:
        return sess.run(total)

  plain, smooth = loss(), loss(0.2)
  rows = np.arange(4)
  assert plain == pytest.approx(-log_p[rows, labels].mean(), rel=1e-5)
  # 0.8 on the true class plus 0.02 on each of the ten.
  expected = -(0.8 * log_p[rows, labels] + 0.02 * log_p.sum(1)).mean()
  assert smooth == pytest.approx(expected, rel=1e-5)
  resnet18 = cifar10_models.get('resnet18')
  resnet18 = resnet18.describe(resnet18.recipe)
  assert 'label smoothing' not in resnet18
  # VGG16's recipe alone smooths its labels (and doubles the weight decay).
  vgg16 = cifar10_models.get('vgg16')
  vgg16 = vgg16.describe(vgg16.recipe)
  assert '; weight decay 0.001; label smoothing 0.1;' in vgg16


def test_vgg16_differs_from_the_shared_recipe_only_as_flags_can_undo(tmp_path):
  """--weight_decay=5e-4 --label_smoothing=0 give vgg16 the shared recipe."""
  model, recipe = model_file.resolve(
      str(tmp_path / 'new'), 'vgg16',
      overrides={'weight_decay': 5e-4, 'label_smoothing': 0.0}, training=True)
  assert model.recipe != recipe
  assert recipe == cifar10_models.get('resnet18').recipe


def test_a_record_from_before_label_smoothing_reads_as_zero(tmp_path):
  """Folders recorded by earlier versions have no label_smoothing field."""
  model = cifar10_models.get('resnet20')
  record = dict(model.recipe._asdict())
  del record['label_smoothing']
  with open(str(tmp_path / model_file.MODEL_FILE), 'w') as f:
    json.dump({'model': 'resnet20', 'recipe': record}, f)
  found, recipe, _ = model_file.read(str(tmp_path))
  assert found is model and recipe == model.recipe
  assert recipe.label_smoothing == 0.0
