"""Tests of cifar10_input: the record format, the pipelines, the file checks."""

import os

import numpy as np
import pytest
import tensorflow as tf

import cifar10_input
from conftest import TEST_FILE, colour_images, make_data_dir, write_records


def _pattern_images(n):
  """Images whose every pixel says where it is: channel, row, column."""
  h, w, c = np.meshgrid(np.arange(32), np.arange(32), np.arange(3),
                        indexing='ij')
  base = (c * 80 + h * 2 + w * 5) % 256
  return np.stack([(base + i) % 256 for i in range(n)]).astype(np.uint8)


def _decoded(paths):
  dataset = cifar10_input._records(paths).map(cifar10_input.decode_record)
  return list(dataset.as_numpy_iterator())


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
  folder = tmp_path / cifar10_input.BATCHES_DIR
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
  with pytest.raises(cifar10_input.DataError, match='holds only 50'):
    cifar10_input.eval_dataset('test', data_dir, 16, num_examples=51)


def test_train_eval_reads_the_training_files(data_dir):
  batches = cifar10_input.eval_dataset('train_eval', data_dir, 64)
  assert sum(len(l) for _, l in batches.as_numpy_iterator()) == 5 * 40


def test_distortions_keep_shape_and_standardize():
  image = tf.constant(_pattern_images(1)[0])
  for _ in range(20):
    distorted = cifar10_input.distort_image(image).numpy()
    assert distorted.shape == (24, 24, 3)
    assert distorted.dtype == np.float32
    assert abs(distorted.mean()) < 1e-4
    assert abs(distorted.std() - 1.0) < 1e-3


def test_distortions_are_random():
  image = tf.constant(_pattern_images(1)[0])
  first = cifar10_input.distort_image(image).numpy()
  assert any(not np.allclose(first, cifar10_input.distort_image(image).numpy())
             for _ in range(5))


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
  with pytest.raises(cifar10_input.DataError, match='does not exist'):
    cifar10_input.data_files(str(tmp_path / 'nowhere'))


def test_file_instead_of_folder_is_reported(tmp_path):
  path = tmp_path / 'file'
  path.write_text('x')
  with pytest.raises(cifar10_input.DataError, match='is a file'):
    cifar10_input.data_files(str(path))


def test_missing_file_is_reported(data_dir):
  os.remove(os.path.join(cifar10_input.batches_dir(data_dir),
                         'data_batch_3.bin'))
  with pytest.raises(cifar10_input.DataError,
                     match='data_batch_3.bin is missing'):
    cifar10_input.data_files(data_dir)


def test_partial_record_is_reported(data_dir):
  path = os.path.join(cifar10_input.batches_dir(data_dir), TEST_FILE)
  with open(path, 'ab') as f:
    f.write(b'\0' * 100)
  with pytest.raises(cifar10_input.DataError,
                     match='not a whole number of 3073-byte records'):
    cifar10_input.data_files(data_dir, 'test')


def test_bad_label_is_reported_with_its_file(tmp_path):
  root = make_data_dir(tmp_path)
  path = os.path.join(cifar10_input.batches_dir(root), TEST_FILE)
  data = bytearray(open(path, 'rb').read())
  data[5 * cifar10_input.RECORD_BYTES] = 12
  open(path, 'wb').write(bytes(data))
  with tf.Graph().as_default():
    images, labels = cifar10_input.inputs('test', root, 8)
    with tf.compat.v1.Session() as sess:
      with pytest.raises(cifar10_input.DataError,
                         match=r'test_batch.bin has a record with label byte '
                         r'12, not 0..9'):
        with cifar10_input.explain_data_errors():
          sess.run([images, labels])
