"""Tests of cifar10_input: the record format, the pipelines, the file checks."""

import os
import pickle
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

import cifar10
import cifar10_input
from cifar10_lib import records
from cifar10_datasets.synthetic import colour_images, make_data_dir
from cifar10_datasets.synthetic import write_records
from cifar10_datasets.cifar10 import CIFAR10
from conftest import TEST_FILE, to_python_version, write_python_batch


def _pattern_images(n):
  """Images whose every pixel says where it is: channel, row, column."""
  h, w, c = np.meshgrid(np.arange(32), np.arange(32), np.arange(3),
                        indexing='ij')
  base = (c * 80 + h * 2 + w * 5) % 256
  return np.stack([(base + i) % 256 for i in range(n)]).astype(np.uint8)


def _decoded(paths):
  images, labels = records.split_records(CIFAR10,
      cifar10_input._load(CIFAR10, tf.constant(paths), False))
  return list(zip(images.numpy(), labels.numpy()))


def test_reader_returns_exact_pixels_and_labels(tmp_path):
  images = _pattern_images(3)
  path = str(tmp_path / 'records.bin')
  write_records(path, images, [7, 0, 9])
  # Build the expected bytes by hand from the format's definition, not with
  # write_records' own transpose: label, then the R, G and B planes.
  raw = open(path, 'rb').read()
  assert raw[0] == 7
  assert raw[1:1 + 1024] == images[0, :, :, 0].tobytes()  # red, row-major
  assert raw[1 + 2048:1 + 3072] == images[0, :, :, 2].tobytes()  # blue
  decoded = _decoded([path])
  assert [label for _, label in decoded] == [7, 0, 9]
  for (image, _), expected in zip(decoded, images):
    assert image.dtype == np.uint8 and image.shape == (32, 32, 3)
    np.testing.assert_array_equal(image, expected)
  # Orientation: pixel (row 1, column 0) of the red plane is byte 1 + 32.
  assert decoded[0][0][1, 0, 0] == raw[1 + 32]


def _expected_eval_image(image):
  crop = image[4:28, 4:28, :].astype(np.float64)
  std = max(crop.std(), 1.0 / np.sqrt(crop.size))
  return (crop - crop.mean()) / std


@pytest.mark.parametrize('num_examples,batch_size', [(12, 4), (13, 4),
                                                       (3, 5)])
def test_eval_input_yields_each_example_once_in_order(tmp_path, num_examples,
                                                      batch_size):
  rng = np.random.RandomState(1)
  labels = rng.randint(0, 10, size=num_examples)
  images = colour_images(labels, rng, noise=60.0)
  folder = tmp_path / CIFAR10.files.binary_dir
  folder.mkdir()
  write_records(str(folder / TEST_FILE), images, labels)
  batches = list(cifar10_input.eval_dataset(
      'test', str(tmp_path), batch_size).as_numpy_iterator())
  sizes = [len(batch_labels) for _, batch_labels in batches]
  expected_sizes = [batch_size] * (num_examples // batch_size)
  if num_examples % batch_size:
    expected_sizes.append(num_examples % batch_size)
  assert sizes == expected_sizes
  got_images = np.concatenate([b for b, _ in batches])
  got_labels = np.concatenate([l for _, l in batches])
  np.testing.assert_array_equal(got_labels, labels)
  for got, image in zip(got_images, images):
    np.testing.assert_allclose(got, _expected_eval_image(image), atol=1e-4)


def test_eval_input_takes_exactly_num_examples(data_dir):
  batches = cifar10_input.eval_dataset('test', data_dir, 16, num_examples=37)
  assert sum(len(l) for _, l in batches.as_numpy_iterator()) == 37


def test_eval_input_refuses_more_examples_than_there_are(data_dir):
  with pytest.raises(records.DataError, match='holds only 50'):
    cifar10_input.eval_dataset('test', data_dir, 16, num_examples=51)


def test_train_eval_reads_the_training_files(data_dir):
  batches = cifar10_input.eval_dataset('train_eval', data_dir, 64)
  assert sum(len(l) for _, l in batches.as_numpy_iterator()) == 5 * 40


def test_batch_distortions_equal_tf_image_ops_one_image_at_a_time():
  images = tf.constant(colour_images(np.arange(40) % 10,
                                     np.random.RandomState(3), noise=50.0))
  params = [p.numpy() for p in cifar10_input.distortion_params(
      tf.constant([5, 1], tf.int64), 40)]
  got = cifar10_input.distort_images(images, *params).numpy()
  expected = cifar10_input.distort_images_one_at_a_time(images, *params).numpy()
  assert got.shape == (40, 24, 24, 3) and got.dtype == np.float32
  np.testing.assert_allclose(got, expected, atol=2e-5)
  # Standardized: every image has mean 0 and standard deviation 1.
  np.testing.assert_allclose(got.mean(axis=(1, 2, 3)), 0, atol=1e-4)
  np.testing.assert_allclose(got.std(axis=(1, 2, 3)), 1, atol=1e-3)


def test_batch_distortions_crop_and_flip_the_right_pixels():
  images = _pattern_images(2)
  offsets = np.array([[0, 8], [3, 5]], np.int32)
  # No brightness change and contrast factor 1: only crop and flip remain
  # before the standardization, which the expected images get too.
  got = cifar10_input.distort_images(
      tf.constant(images), offsets, np.array([False, True]),
      np.zeros(2, np.float32), np.ones(2, np.float32)).numpy()
  crops = [images[0, 0:24, 8:32], images[1, 3:27, 5:29][:, ::-1]]
  for got_image, crop in zip(got, crops):
    crop = crop.astype(np.float64)
    np.testing.assert_allclose(got_image, (crop - crop.mean()) / crop.std(),
                               atol=1e-4)


def test_distortion_params_follow_the_tutorials_distributions():
  offsets, flips, deltas, factors = [
      p.numpy() for p in cifar10_input.distortion_params(
          tf.constant([0, 0], tf.int64), 20000)]
  assert sorted(np.unique(offsets)) == list(range(9))
  counts = np.bincount(offsets.ravel(), minlength=9)
  assert counts.min() > 0.9 * counts.mean()
  assert 0.48 < flips.mean() < 0.52
  assert -63 <= deltas.min() < -62 and 62 < deltas.max() < 63
  assert 0.2 <= factors.min() < 0.21 and 1.79 < factors.max() < 1.8
  assert abs(deltas.mean()) < 1.5 and abs(factors.mean() - 1.0) < 0.02


def _losses_at_shared_weights(data_dir, seed, steps=10):
  """Trains on the batch pipeline; each step also scores two other batches.

  Three pipelines feed three copies of the model that share its variables:
  the batch ops with `seed` (trained on), tf.image's ops one image at a
  time with the same `seed` (the tutorial's way), and those with seed + 1.
  Every step evaluates all three losses with the same weights, before the
  update. Returns (losses [steps, 3], largest pixel difference between the
  first two pipelines).
  """
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(seed)
    global_step = tf.compat.v1.train.get_or_create_global_step()
    datasets = [cifar10_input.train_dataset(data_dir, 64, seed)]
    with mock.patch.object(cifar10_input, 'distort_images',
                           cifar10_input.distort_images_one_at_a_time):
      datasets += [cifar10_input.train_dataset(data_dir, 64, s)
                   for s in (seed, seed + 1)]
    images, losses = [], []
    with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(),
                                     reuse=tf.compat.v1.AUTO_REUSE):
      for i, dataset in enumerate(datasets):
        with tf.name_scope('%s_%d' % (cifar10.TOWER_NAME, i)):
          batch, labels = tf.compat.v1.data.make_one_shot_iterator(
              dataset).get_next()
          images.append(batch)
          losses.append(cifar10.loss(cifar10.inference(batch), labels))
    with tf.control_dependencies(losses[1:]):
      train_op = cifar10.train(losses[0], global_step, 64)
    pixel_gap = tf.reduce_max(tf.abs(images[0] - images[1]))
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      results = [sess.run([train_op, losses, pixel_gap]) for _ in range(steps)]
  return (np.array([r[1] for r in results]),
          max(r[2] for r in results))


def test_batch_distortions_give_the_tutorials_losses_along_training(
    data_dir):
  """With the same seed, the whole-batch distortions train on the batches
  tf.image's ops make one image at a time: at every step of a training run
  the two losses agree, with the same weights.

  Why with the same weights: two separate training runs would each feed
  their last-bit differences back through SGD at lr 0.1, and the gap grows
  with every step (1.5e-4 relative by step 10 on an AVX2 CPU, 1e-4 by step
  12 on an AVX-512 one): it measures the chaos of training, not the input.
  Here each step's gap comes from that step's pixels alone. Pixels may
  differ by 2e-5 (the per-image test's bound, checked again here); the
  loss moves by at most the L1 norm of its gradient with respect to the
  pixels times that, which over these 10 steps is at most 1.2e-5 of the
  loss (measured: the norm grows from 0.55 to 2.5). Hence rtol 2e-5. What
  was measured is far less (6e-8, one float32 rounding), and the batch of
  another seed, with the same weights, is off by 3.7e-4 or more at every
  step: the comparison can tell another batch apart.
  """
  losses, pixel_gap = _losses_at_shared_weights(data_dir, 11)
  batched, one_by_one, other_seed = losses.T
  assert pixel_gap <= 2e-5
  np.testing.assert_allclose(one_by_one, batched, rtol=2e-5)
  assert np.all(np.abs(other_seed - batched) > 2e-5 * np.abs(batched))
  assert batched[-1] < batched[0]  # It trains.


def _first_batches(data_dir, seed, count=8, first_batch=0):
  dataset = cifar10_input.train_dataset(data_dir, 32, seed,
                                        first_batch=first_batch)
  return list(dataset.take(count).as_numpy_iterator())


def _same_batches(a, b):
  return all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1])
             for x, y in zip(a, b))


def test_same_seed_gives_the_same_batches(data_dir):
  first, again = _first_batches(data_dir, 7), _first_batches(data_dir, 7)
  other = _first_batches(data_dir, 8)
  assert _same_batches(first, again)
  assert not all(np.array_equal(a[1], b[1]) for a, b in zip(first, other))


def test_a_resumed_stream_does_not_replay_the_first_batches(data_dir):
  first = _first_batches(data_dir, 7)
  resumed = _first_batches(data_dir, 7, first_batch=tf.constant(40,
                                                                tf.int64))
  # Neither the order nor the distortions of the start come again...
  assert not any(np.array_equal(a[1], b[1]) for a, b in zip(first, resumed))
  assert not any(np.allclose(a[0], b[0]) for a, b in zip(first, resumed))
  # ...and a resumed stream is a function of (seed, first batch).
  assert _same_batches(resumed, _first_batches(data_dir, 7, first_batch=40))


def test_training_batches_are_full_and_shuffled(data_dir):
  dataset = cifar10_input.train_dataset(data_dir, 32)
  batches = list(dataset.take(20).as_numpy_iterator())
  assert all(images.shape == (32, 24, 24, 3) for images, _ in batches)
  # 20 batches of 32 run past the 200 examples: the dataset repeats.
  labels = np.concatenate([l for _, l in batches])
  assert labels.shape == (640,)
  first_epoch_order = np.concatenate(
      [l for _, l in cifar10_input.eval_dataset(
          'train_eval', data_dir, 200).as_numpy_iterator()])
  assert not np.array_equal(labels[:200], first_epoch_order)


def test_missing_data_dir_is_reported(tmp_path):
  with pytest.raises(records.DataError, match='does not exist'):
    records.data_files(CIFAR10, str(tmp_path / 'nowhere'))


def test_file_instead_of_folder_is_reported(tmp_path):
  path = tmp_path / 'file'
  path.write_text('x')
  with pytest.raises(records.DataError, match='is a file'):
    records.data_files(CIFAR10, str(path))


def test_missing_file_is_reported(data_dir):
  os.remove(os.path.join(records.batches_dir(CIFAR10, data_dir),
                         'data_batch_3.bin'))
  with pytest.raises(records.DataError,
                     match='data_batch_3.bin is missing'):
    records.data_files(CIFAR10, data_dir)


def test_partial_record_is_reported(data_dir):
  path = os.path.join(records.batches_dir(CIFAR10, data_dir), TEST_FILE)
  with open(path, 'ab') as f:
    f.write(b'\0' * 100)
  with pytest.raises(records.DataError,
                     match='not a whole number of 3073-byte records'):
    records.data_files(CIFAR10, data_dir, 'test')


@pytest.mark.parametrize('eval_data,name,streamed_records', [
    ('test', TEST_FILE, False), ('train_eval', 'data_batch_4.bin', True)])
def test_bad_label_is_reported_with_its_file(tmp_path, monkeypatch,
                                             eval_data, name,
                                             streamed_records):
  root = make_data_dir(tmp_path)
  path = os.path.join(records.batches_dir(CIFAR10, root), name)
  data = bytearray(open(path, 'rb').read())
  data[5 * CIFAR10.record_bytes] = 12
  open(path, 'wb').write(bytes(data))
  if streamed_records:
    monkeypatch.setattr(cifar10_input, 'memory_bytes', lambda: 1)
  with tf.Graph().as_default():
    images, labels = cifar10_input.inputs(eval_data, root, 200)
    with tf.compat.v1.Session() as sess:
      with pytest.raises(records.DataError,
                         match=r'%s has a record with label byte 12, not '
                         r'0..9' % name):
        with records.explain_data_errors(CIFAR10):
          sess.run([images, labels])


def test_python_version_gives_the_binary_versions_pixels_and_labels(
    data_dir, tmp_path):
  python_dir = to_python_version(data_dir, tmp_path / 'python')
  assert [os.path.basename(p) for p in records.data_files(CIFAR10,
      python_dir)] == list(CIFAR10.files.python_train_files)
  for eval_data in ('test', 'train_eval'):
    got = list(cifar10_input.eval_dataset(eval_data, python_dir,
                                          64).as_numpy_iterator())
    expected = list(cifar10_input.eval_dataset(eval_data, data_dir,
                                               64).as_numpy_iterator())
    assert len(got) == len(expected)
    for (images, labels), (images2, labels2) in zip(got, expected):
      np.testing.assert_array_equal(labels, labels2)
      np.testing.assert_array_equal(images, images2)
  # Training: the same batches, distortions included, for the same seed.
  got = cifar10_input.train_dataset(python_dir, 32, seed=4).take(8)
  expected = cifar10_input.train_dataset(data_dir, 32, seed=4).take(8)
  for (images, labels), (images2, labels2) in zip(got.as_numpy_iterator(),
                                                  expected.as_numpy_iterator()):
    np.testing.assert_array_equal(labels, labels2)
    np.testing.assert_array_equal(images, images2)


def test_a_run_unpickles_each_python_batch_once(data_dir, tmp_path,
                                                monkeypatch):
  python_dir = to_python_version(data_dir, tmp_path / 'python')
  loaded = []
  load = records.load_python_batch
  monkeypatch.setattr(records, 'load_python_batch',
                      lambda dataset, path: loaded.append(path) or
                      load(dataset, path))
  records.data_files(CIFAR10, python_dir)  # the scripts' check at start
  dataset = cifar10_input.train_dataset(python_dir, 32, seed=4)
  next(iter(dataset.as_numpy_iterator()))
  assert sorted(os.path.basename(p) for p in loaded) == sorted(
      CIFAR10.files.python_train_files)
  # A file changed after its check is unpickled (and checked) again.
  path = os.path.join(records.python_batches_dir(CIFAR10, python_dir),
                      'data_batch_2')
  write_python_batch(path, np.zeros((3, 32, 32, 3)), [1, 2, 3])
  assert records.num_examples_in(CIFAR10,
      records.data_files(CIFAR10, python_dir)) == 4 * 40 + 3
  assert loaded[-1] == path


class _RunsACommand(object):
  """Pickles as os.system(command): what a hostile batch file would hold."""

  def __init__(self, command):
    self.command = command

  def __reduce__(self):
    return os.system, (self.command,)


def _python_dir_with(tmp_path, data_dir, damage):
  """The Python version of data_dir, its data_batch_2 replaced by damage(path)."""
  python_dir = to_python_version(data_dir, tmp_path / 'python')
  path = os.path.join(records.python_batches_dir(CIFAR10, python_dir),
                      'data_batch_2')
  damage(path)
  return python_dir


def test_a_pickle_that_would_run_a_command_is_refused_unrun(data_dir,
                                                            tmp_path):
  marker = tmp_path / 'ran'

  def hostile(path):
    with open(path, 'wb') as f:
      pickle.dump({b'data': _RunsACommand('touch %s' % marker),
                   b'labels': []}, f, protocol=4)
  python_dir = _python_dir_with(tmp_path, data_dir, hostile)
  with pytest.raises(records.DataError,
                     match=r'data_batch_2 is not a CIFAR-10 Python batch \(it '
                     r'asks to load \w+\.system, which CIFAR-10 batches '
                     r'never do\); refusing to load it'):
    records.data_files(CIFAR10, python_dir)
  assert not marker.exists()


def _numpy1_module(obj, name):
  """pickle.whichmodule as it answers under numpy 1, whose array-rebuilding
  functions live in numpy.core (numpy 2: numpy._core, with numpy.core
  kept as an alias, so the pickler still finds them there)."""
  module = _WHICHMODULE(obj, name)
  return module.replace('numpy._core', 'numpy.core')


_WHICHMODULE = pickle.whichmodule


@pytest.mark.parametrize('numpy_names', ['numpy 2', 'numpy 1'])
@pytest.mark.parametrize('protocol', range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_batch_saved_again_with_any_protocol_loads_the_same(
    tmp_path, monkeypatch, protocol, numpy_names):
  """The official batch, loaded and saved again by Python 3 (pickle's pure
  Python pickler, which writes what the C one does), gives the same
  records; numpy 1's module names are written by the pickler as numpy 1
  would name them."""
  rng = np.random.RandomState(protocol)
  images = rng.randint(0, 256, size=(5, 32, 32, 3))
  labels = [3, 0, 9, 1, 7]
  official = str(tmp_path / 'official')
  write_python_batch(official, images, labels)
  with open(official, 'rb') as f:
    batch = pickle.load(f, encoding='bytes')
  if numpy_names == 'numpy 1':
    monkeypatch.setattr(pickle, 'whichmodule', _numpy1_module)
  saved = tmp_path / 'saved'
  with open(saved, 'wb') as f:
    pickle._Pickler(f, protocol=protocol).dump(batch)  # pylint: disable=protected-access
  written = saved.read_bytes()
  assert (b'numpy.core.' in written) == (numpy_names == 'numpy 1')
  np.testing.assert_array_equal(records.load_python_batch(CIFAR10, str(saved)),
                                records.load_python_batch(CIFAR10, official))


@pytest.mark.parametrize('module,name,args', [
    ('os', 'system', ('true',)),
    ('subprocess', 'check_output', (['true'],)),
    ('builtins', 'eval', ('1',)),
    ('builtins', 'exec', ('x = 1',)),
    ('builtins', 'getattr', (0, 'real')),
    ('_codecs', 'encode', ('1', 'rot13')),
])
def test_a_pickle_that_calls_anything_else_is_refused(tmp_path, module, name,
                                                      args):
  """A batch whose b'data' is module.name(*args), written opcode by opcode
  (protocol 2), as a hostile file would be: refused, never called."""
  call = (pickle.GLOBAL + ('%s\n%s\n' % (module, name)).encode() +
          pickle.dumps(args, protocol=2)[2:-1] + pickle.REDUCE)
  batch = (pickle.PROTO + b'\x02' + pickle.EMPTY_DICT + pickle.SHORT_BINBYTES +
           b'\x04data' + call + pickle.SETITEM + pickle.STOP)
  path = tmp_path / 'data_batch_1'
  path.write_bytes(batch)
  with open(path, 'rb') as f:  # The file does call it, unguarded.
    assert b'data' in pickle.load(f)
  with pytest.raises(records.DataError, match=r'is not a CIFAR-10 Python '
                     r'batch \(it asks .*; refusing to load it'):
    records.load_python_batch(CIFAR10, str(path))


@pytest.mark.parametrize('damage,message', [
    (lambda path: os.truncate(path, os.path.getsize(path) // 2),
     r'data_batch_2 is truncated or not a pickle'),
    (lambda path: pickle.dump({b'labels': [1, 2]}, open(path, 'wb')),
     r"data_batch_2 is not a CIFAR-10 Python batch: it needs b'data'"),
    (lambda path: write_python_batch(path, np.zeros((2, 32, 32, 3)),
                                     [3, 10]),
     r'data_batch_2 has a record with label 10, not 0..9'),
])
def test_a_damaged_python_batch_is_one_line(data_dir, tmp_path, damage,
                                           message):
  python_dir = _python_dir_with(tmp_path, data_dir, damage)
  with pytest.raises(records.DataError, match=message) as error:
    records.data_files(CIFAR10, python_dir)
  assert '\n' not in str(error.value)


@pytest.fixture
def streamed(monkeypatch, data_dir):
  """Makes the data_dir fixture's records pass half of the 'memory', so
  the pipelines stream them; its shuffle buffer then holds a fifth of
  them."""
  files = records.data_files(CIFAR10, data_dir)
  size = sum(os.path.getsize(p) for p in files)
  monkeypatch.setattr(cifar10_input, 'memory_bytes', lambda: 2 * size - 1)
  assert cifar10_input.streams(files)
  return data_dir


def test_records_stream_only_past_half_the_memory(data_dir, tmp_path):
  files = records.data_files(CIFAR10, data_dir)
  assert not cifar10_input.streams(files)
  size = sum(os.path.getsize(p) for p in files)
  with mock.patch.object(cifar10_input, 'memory_bytes',
                         return_value=2 * size - 1):
    assert cifar10_input.streams(files)
    # The Python version's pickles are always loaded whole.
    python_dir = to_python_version(data_dir, str(tmp_path / 'python'))
    assert not cifar10_input.streams(
        records.data_files(CIFAR10, python_dir))


@pytest.mark.parametrize('eval_data', ['test', 'train_eval'])
def test_streamed_evaluation_reads_what_the_loaded_one_does(data_dir,
                                                            monkeypatch,
                                                            eval_data):
  def batches():
    return list(cifar10_input.eval_dataset(
        eval_data, data_dir, 16, num_examples=45).as_numpy_iterator())
  loaded = batches()
  files = records.data_files(CIFAR10, data_dir)
  monkeypatch.setattr(cifar10_input, 'memory_bytes', lambda: 1)
  assert cifar10_input.streams(files)
  streamed = batches()
  assert [len(l) for _, l in streamed] == [16, 16, 13]
  assert _same_batches(loaded, streamed) and len(loaded) == len(streamed)


def _streamed_ids(data_dir, batch_size, seed, first_batch, batches):
  """The record numbers of `batches` batches of a streamed EPOCHS order."""
  files = records.data_files(CIFAR10, data_dir)
  order = cifar10_input._streamed_epochs(
      cifar10_input._file_records(CIFAR10, files), 40, 200, batch_size,
      seed, first_batch)
  return [ids for ids, _ in order.take(batches).as_numpy_iterator()]


def test_a_streamed_epoch_holds_each_record_once_and_resumes_exactly(
    data_dir):
  # 200 records in batches of 64: 3 whole batches an epoch.
  ids = _streamed_ids(data_dir, 64, 5, 0, 7)
  for epoch in (ids[0:3], ids[3:6]):
    flat = np.concatenate(epoch)
    assert len(set(flat)) == 192 and flat.max() < 200
  assert not np.array_equal(ids[0], ids[3])
  # Resumed at batch 4 (epoch 1, its second batch): the same batches.
  resumed = _streamed_ids(data_dir, 64, 5, 4, 3)
  assert all(np.array_equal(a, b) for a, b in zip(resumed, ids[4:7]))
  assert not np.array_equal(_streamed_ids(data_dir, 64, 6, 0, 1)[0], ids[0])


def test_streamed_training_batches_are_the_records_shuffled(streamed):
  def first(seed):
    return list(cifar10_input.train_dataset(streamed, 32, seed).take(
        8).as_numpy_iterator())
  batches = first(7)
  assert all(images.shape == (32, 24, 24, 3) for images, _ in batches)
  labels = np.concatenate([l for _, l in batches])
  in_order = np.concatenate([l for _, l in cifar10_input.eval_dataset(
      'train_eval', streamed, 200).as_numpy_iterator()])
  assert not np.array_equal(labels[:200], in_order)
  assert np.array_equal(np.bincount(labels[:200], minlength=10) > 0,
                        np.bincount(in_order, minlength=10) > 0)
  assert _same_batches(batches, first(7))
  # airbench's order: whole epochs of whole batches, streamed too.
  epochs = list(cifar10_input.train_dataset(
      streamed, 50, 7, cifar10_input.TRANSLATE_PREPROCESSING).take(
          4).as_numpy_iterator())
  assert sorted(np.concatenate([l for _, l in epochs])) == sorted(in_order)


@pytest.mark.slow
def test_a_run_on_streamed_records_says_so_trains_and_evaluates(
    streamed, tmp_path, capsys):
  import cifar10_eval  # pylint: disable=g-import-not-at-top
  import cifar10_train  # pylint: disable=g-import-not-at-top
  from cifar10_training import training  # pylint: disable=g-import-not-at-top
  train_dir = str(tmp_path / 'train')
  plan = training.make_plan(train_dir, 'airbench94', batch_size=16,
                            max_steps=3, data_dir=streamed)
  assert cifar10_train.train(plan, training.LoopOptions(
      train_dir, streamed, seed=1, log_frequency=1)) == 0
  cifar10_eval.run_eval(cifar10_eval.Settings(
      train_dir, streamed, str(tmp_path / 'eval'), num_examples=50))
  out = capsys.readouterr().out
  assert ('200 training records; read from its files as needed: they take '
          'over 50% of the memory)') in out
  assert ': step 3, loss = ' in out and 'precision @ 1 = ' in out
