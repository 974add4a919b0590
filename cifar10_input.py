"""Reads the CIFAR-10 binary files and feeds them to the model through tf.data.

The binary format (https://www.cs.toronto.edu/~kriz/cifar.html) is a series of
fixed-length records: 1 label byte (0..9) followed by 3072 image bytes, the
red, green and blue 32x32 planes one after the other (channel-major, rows from
the top). Training reads `data_batch_1.bin` .. `data_batch_5.bin`, evaluation
reads `test_batch.bin` (or the training files, for `train_eval`).

The pipelines run in tf.data's background threads and prefetch whole batches,
so a training step never waits for the disk or for preprocessing, and the
first batch is ready as soon as the shuffle buffer of raw records (40% of an
epoch, like the tutorial's queue, but of 3 KB records rather than of
preprocessed float images) has been read: about a second, not minutes.
"""

import contextlib
import os
import re

import tensorflow as tf

from cifar10_cli import UserError

# Images are cropped from 32x32 to this size, as in the tutorial.
IMAGE_SIZE = 24

# The data set.
NUM_CLASSES = 10
CLASS_NAMES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog',
               'horse', 'ship', 'truck')
NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN = 50000
NUM_EXAMPLES_PER_EPOCH_FOR_EVAL = 10000

# The record layout of the binary files.
ORIGINAL_IMAGE_SIZE = 32
IMAGE_DEPTH = 3
LABEL_BYTES = 1
IMAGE_BYTES = ORIGINAL_IMAGE_SIZE * ORIGINAL_IMAGE_SIZE * IMAGE_DEPTH
RECORD_BYTES = LABEL_BYTES + IMAGE_BYTES

# Where the files live below --data_dir, and their names.
BATCHES_DIR = 'cifar-10-batches-bin'
TRAIN_FILES = tuple('data_batch_%d.bin' % i for i in range(1, 6))
TEST_FILES = ('test_batch.bin',)

# Training distortions, as in the tutorial.
MAX_BRIGHTNESS_DELTA = 63
CONTRAST_LOWER = 0.2
CONTRAST_UPPER = 1.8

# The tutorial filled its queue with 40% of an epoch before training started.
MIN_FRACTION_OF_EXAMPLES_IN_QUEUE = 0.4

# Marks the error raised when a record's label byte is not a class number, so
# that the training and evaluation loops can turn it into a one-line message.
_BAD_LABEL_MARKER = 'CIFAR10_BAD_LABEL'


class DataError(UserError):
  """The data files are missing, malformed or not CIFAR-10."""


def batches_dir(data_dir):
  """Returns the folder that holds the binary files below `data_dir`."""
  return os.path.join(data_dir, BATCHES_DIR)


def data_files(data_dir, eval_data=None):
  """Returns the checked paths of the files to read.

  Checks up front what can be checked without reading every byte, so that a
  wrong --data_dir is reported at once and in words, not as an op error at the
  first training step.

  Args:
    data_dir: the folder that holds `cifar-10-batches-bin/`.
    eval_data: None or 'train_eval' for the training files, 'test' for the
      test file.

  Returns:
    List of file paths.

  Raises:
    DataError: a folder or file is missing or a file is not whole records.
    ValueError: `eval_data` is not one of the values above.
  """
  if eval_data in (None, 'train_eval'):
    names = TRAIN_FILES
  elif eval_data == 'test':
    names = TEST_FILES
  else:
    raise ValueError("eval_data must be 'test' or 'train_eval', not %r" %
                     (eval_data,))
  if not os.path.exists(data_dir):
    raise DataError('data_dir %s does not exist: pass --data_dir=DIR where '
                    'DIR/%s holds the CIFAR-10 binary files' %
                    (data_dir, BATCHES_DIR))
  if not os.path.isdir(data_dir):
    raise DataError('data_dir %s is a file, not a folder: pass --data_dir=DIR '
                    'where DIR/%s holds the CIFAR-10 binary files' %
                    (data_dir, BATCHES_DIR))
  folder = batches_dir(data_dir)
  if not os.path.isdir(folder):
    raise DataError('%s is not a folder: put the CIFAR-10 binary files there, '
                    'or pass --download to fetch them' % folder)
  paths = [os.path.join(folder, name) for name in names]
  for path in paths:
    _check_data_file(path)
  return paths


def _check_data_file(path):
  """Raises DataError unless `path` is a non-empty file of whole records."""
  if not os.path.isfile(path):
    raise DataError('%s is missing: the CIFAR-10 binary data set has %s; '
                    're-extract cifar-10-binary.tar.gz into the data_dir' %
                    (path, ', '.join(TRAIN_FILES + TEST_FILES)))
  size = os.path.getsize(path)
  if size == 0 or size % RECORD_BYTES:
    raise DataError('%s has %d bytes, not a whole number of %d-byte records: '
                    'the file is truncated or not CIFAR-10 binary data; '
                    're-download it' % (path, size, RECORD_BYTES))


def num_examples_in(paths):
  """Returns the number of records in the given (checked) files."""
  return sum(os.path.getsize(p) // RECORD_BYTES for p in paths)


def _records(paths):
  """A dataset of (file path, raw record) pairs read from `paths` in order.

  The path travels with each record only so that a bad record can be
  reported with the file it came from.
  """
  def read_file(path):
    return tf.data.FixedLengthRecordDataset(path, RECORD_BYTES).map(
        lambda record: (path, record))
  return tf.data.Dataset.from_tensor_slices(paths).flat_map(read_file)


def decode_record(path, record):
  """Decodes raw records into uint8 [..., 32, 32, 3] images and int32 labels.

  Works on one record (a scalar string) or on a batch of them, so that
  evaluation can decode whole batches at once. A label byte outside
  0..NUM_CLASSES-1 fails the op with a message that `explain_data_errors`
  recognizes, naming the file of the first bad record.
  """
  data = tf.io.decode_raw(record, tf.uint8)
  label = tf.cast(data[..., 0], tf.int32)
  labels, paths = tf.reshape(label, [-1]), tf.reshape(path, [-1])
  first_bad = tf.argmax(tf.cast(labels >= NUM_CLASSES, tf.int32))
  check = tf.debugging.Assert(
      tf.reduce_all(labels < NUM_CLASSES),
      [_BAD_LABEL_MARKER, tf.gather(paths, first_bad),
       tf.gather(labels, first_bad)])
  with tf.control_dependencies([check]):
    label = tf.identity(label)
  batch_shape = tf.shape(data)[:-1]
  planes = tf.reshape(
      data[..., LABEL_BYTES:],
      tf.concat([batch_shape, [IMAGE_DEPTH, ORIGINAL_IMAGE_SIZE,
                               ORIGINAL_IMAGE_SIZE]], axis=0))
  rank = record.shape.rank
  image = tf.transpose(planes, list(range(rank)) + [rank + 1, rank + 2, rank])
  return image, label


@contextlib.contextmanager
def explain_data_errors():
  """Turns a bad-label failure of the input pipeline into a DataError.

  Wrap the session runs that pull data in this; other errors pass through.
  """
  try:
    yield
  except tf.errors.InvalidArgumentError as e:
    match = re.search(r'\[%s\] \[(.*?)\] \[(-?\d+)\]' % _BAD_LABEL_MARKER,
                      e.message)
    if not match:
      raise
    raise DataError('%s has a record with label byte %s, not 0..%d: the file '
                    'is not CIFAR-10 binary data; re-download it' %
                    (match.group(1), match.group(2), NUM_CLASSES - 1)) from e


def distort_image(image):
  """The training view of a uint8 [32, 32, 3] image: float32 [24, 24, 3].

  Random crop, left-right flip, brightness and contrast make each epoch show
  the network new variants of the same pictures; per-image standardization
  then removes the brightness and contrast scale the distortions added, so
  the network sees inputs of mean 0 and unit variance.
  """
  image = tf.cast(image, tf.float32)
  image = tf.image.random_crop(image, [IMAGE_SIZE, IMAGE_SIZE, IMAGE_DEPTH])
  image = tf.image.random_flip_left_right(image)
  image = tf.image.random_brightness(image, max_delta=MAX_BRIGHTNESS_DELTA)
  image = tf.image.random_contrast(image, lower=CONTRAST_LOWER,
                                   upper=CONTRAST_UPPER)
  return tf.image.per_image_standardization(image)


def eval_image(image):
  """The evaluation view of [..., 32, 32, 3] images: float32 [..., 24, 24, 3].

  The central crop and the standardization match what training shows the
  network, without the randomness.
  """
  image = tf.cast(image, tf.float32)
  image = tf.image.resize_with_crop_or_pad(image, IMAGE_SIZE, IMAGE_SIZE)
  return tf.image.per_image_standardization(image)


def train_dataset(data_dir, batch_size):
  """The endless, shuffled, distorted training dataset of (images, labels).

  Shuffling happens on raw records, which are 4x smaller than float images,
  so a buffer of 40% of an epoch costs about 60 MB and fills in a second.
  Batches are all `batch_size` long.
  """
  paths = data_files(data_dir)
  buffer_size = int(num_examples_in(paths) * MIN_FRACTION_OF_EXAMPLES_IN_QUEUE)
  records = _records(paths).shuffle(max(buffer_size, 1)).repeat()
  examples = records.map(
      lambda path, record: _distorted_example(*decode_record(path, record)),
      num_parallel_calls=tf.data.AUTOTUNE)
  return examples.batch(batch_size, drop_remainder=True).prefetch(
      tf.data.AUTOTUNE)


def _distorted_example(image, label):
  return distort_image(image), label


def eval_dataset(eval_data, data_dir, batch_size, num_examples=None):
  """One pass, in file order, over the evaluation images and labels.

  Every example comes exactly once; the last batch holds the remainder and is
  smaller, never padded or wrapped around.

  Args:
    eval_data: 'test' or 'train_eval'.
    data_dir: the folder that holds `cifar-10-batches-bin/`.
    batch_size: examples per batch.
    num_examples: how many examples to take from the start; None for all.

  Raises:
    DataError: the files are bad, or there are fewer than `num_examples`.
  """
  paths = data_files(data_dir, eval_data)
  available = num_examples_in(paths)
  if num_examples is None:
    num_examples = available
  elif num_examples > available:
    raise DataError('--num_examples=%d but %s holds only %d examples: pass '
                    '--num_examples=%d or fewer' %
                    (num_examples, eval_data, available, available))
  # Whole batches are decoded and cropped at once: the same arithmetic as
  # one image at a time, with far less per-element overhead.
  batches = _records(paths).take(num_examples).batch(batch_size).map(
      lambda path, record: _eval_example(*decode_record(path, record)),
      num_parallel_calls=tf.data.AUTOTUNE)
  return batches.prefetch(tf.data.AUTOTUNE)


def _eval_example(image, label):
  return eval_image(image), label


def distorted_inputs(data_dir, batch_size):
  """Graph-mode training input: images [batch, 24, 24, 3], labels [batch].

  The tensors yield a new batch each time they are evaluated, forever.
  """
  iterator = tf.compat.v1.data.make_one_shot_iterator(
      train_dataset(data_dir, batch_size))
  return iterator.get_next()


def inputs(eval_data, data_dir, batch_size, num_examples=None):
  """Graph-mode evaluation input: images [<=batch, 24, 24, 3], labels.

  The tensors walk once through the data, then raise OutOfRangeError. The
  pass starts again in each new tf.compat.v1.Session.
  """
  iterator = tf.compat.v1.data.make_one_shot_iterator(
      eval_dataset(eval_data, data_dir, batch_size, num_examples))
  return iterator.get_next()
