"""Reads the CIFAR-10 files and feeds them to the model through tf.data.

The binary format (https://www.cs.toronto.edu/~kriz/cifar.html) is a series of
fixed-length records: 1 label byte (0..9) followed by 3072 image bytes, the
red, green and blue 32x32 planes one after the other (channel-major, rows from
the top). Training reads `data_batch_1.bin` .. `data_batch_5.bin`, evaluation
reads `test_batch.bin` (or the training files, for `train_eval`).

The official "Python version" holds the same images and labels as pickled
batches (`cifar-10-batches-py/data_batch_1` .. `_5`, `test_batch`): a dict
with b'data', uint8 [10000, 3072] in the same plane order, and b'labels'.
Where `cifar-10-batches-bin` is absent and `cifar-10-batches-py` is there,
that is read instead, turned into the same records. A pickle can run any
code when it is loaded, so these are loaded allowing only the three things
the official files contain (numpy's array, its dtype and their rebuilding
function); any other is refused before it is touched.

The files are read once, whole, and kept in memory as raw records (150 MB
for training). Batches are then picked by record number and preprocessed
with whole-batch ops in tf.data's background threads, and prefetched, so a
training step never waits for the disk or for preprocessing, preprocessing
takes little of the CPU the training step needs, and the first batch is
ready about a second after start, not minutes.
"""

import contextlib
import os
import pickle
import random
import re

import numpy as np

import cifar10_lib  # Before TensorFlow: it sets TensorFlow's CPU options.
import tensorflow as tf

from cifar10_lib.cli import UserError

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
# The same for the Python version (pickled batches).
PYTHON_BATCHES_DIR = 'cifar-10-batches-py'
PYTHON_TRAIN_FILES = tuple(name[:-len('.bin')] for name in TRAIN_FILES)
PYTHON_TEST_FILES = tuple(name[:-len('.bin')] for name in TEST_FILES)

# Training distortions, as in the tutorial.
MAX_BRIGHTNESS_DELTA = 63
CONTRAST_LOWER = 0.2
CONTRAST_UPPER = 1.8

# The views of the images a model can take (cifar10_models' recipes say
# which): the tutorial's, and the 32x32 one of the model zoo.
TUTORIAL_VIEW = 'tutorial'
PADDED_CROP_VIEW = 'padded_crop'
FLIP_VIEW = 'flip'
VIEWS = {
    TUTORIAL_VIEW: ('24x24 (training: random crops, flips, brightness and '
                    'contrast; eval: central crops), per-image '
                    'standardization'),
    PADDED_CROP_VIEW: ('32x32 (training: random crops of the image padded '
                       'by 4 pixels, random flips; eval: whole), per-channel '
                       'normalization'),
    FLIP_VIEW: ('32x32 (training: random flips; eval: whole), per-channel '
                'normalization'),
}
# The padded-crop view: padding, and the training set's per-channel pixel
# mean and standard deviation (R, G, B), which eval and predict apply too.
PAD = 4
CHANNEL_MEAN = (125.307, 122.950, 113.865)
CHANNEL_STD = (62.993, 62.089, 66.705)

# A run resumed at batch N shuffles with seed + N * this (a prime), so
# that it does not replay the order it started with.
RESUMED_STREAM_STRIDE = 1000003

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


def python_batches_dir(data_dir):
  """Returns the folder of the Python version below `data_dir`."""
  return os.path.join(data_dir, PYTHON_BATCHES_DIR)


def _reads_python_version(data_dir):
  """Whether `data_dir` has the Python version and not the binary one."""
  return (not os.path.isdir(batches_dir(data_dir)) and
          os.path.isdir(python_batches_dir(data_dir)))


def _is_python_batch(path):
  return not path.endswith('.bin')


# The only globals the official Python batches name: numpy's ndarray, dtype
# and the function that rebuilds an array (under numpy 1's module name;
# numpy 2 keeps it in numpy._core), wherever this numpy keeps it.
_RECONSTRUCT = np.zeros(0).__reduce__()[0]
_PICKLE_GLOBALS = {
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
    ('numpy.core.multiarray', '_reconstruct'): _RECONSTRUCT,
    ('numpy._core.multiarray', '_reconstruct'): _RECONSTRUCT,
}


class _RefusedGlobal(pickle.UnpicklingError):
  """A pickle named a global that the official files never name."""


class _OfficialPickleLoader(pickle.Unpickler):
  """Unpickles only what the official CIFAR-10 Python batches contain.

  Dicts, lists, byte strings and numbers run no code when unpickled; of
  the globals, only _PICKLE_GLOBALS are given. Any other (os.system, say)
  is refused before it is even imported.
  """

  def find_class(self, module, name):
    if (module, name) not in _PICKLE_GLOBALS:
      raise _RefusedGlobal('it asks to load %s.%s, which the official files '
                           'never do' % (module, name))
    return _PICKLE_GLOBALS[(module, name)]


def load_python_batch(path):
  """The records of one Python-version file: uint8 [n, RECORD_BYTES].

  Raises:
    DataError: the file is not an official-format batch: refused globals,
      truncated, or other content; the message names the file.
  """
  try:
    with open(path, 'rb') as f:
      batch = _OfficialPickleLoader(f, encoding='bytes').load()
  except _RefusedGlobal as e:
    raise DataError('%s is not a CIFAR-10 Python batch (%s); refusing to load '
                    'it: re-extract cifar-10-python.tar.gz' % (path, e))
  except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError,
          KeyError, AttributeError, MemoryError) as e:
    raise DataError('%s is truncated or not a pickle (%s: %s): re-extract '
                    'cifar-10-python.tar.gz' % (path, type(e).__name__, e))
  data = batch.get(b'data') if isinstance(batch, dict) else None
  labels = batch.get(b'labels') if isinstance(batch, dict) else None
  if (not isinstance(data, np.ndarray) or data.dtype != np.uint8 or
      data.ndim != 2 or data.shape[1] != IMAGE_BYTES or
      not isinstance(labels, list) or len(labels) != len(data) or
      not all(isinstance(l, int) for l in labels)):
    raise DataError('%s is not a CIFAR-10 Python batch: it needs b\'data\', '
                    'uint8 [N, %d], and b\'labels\', N ints: re-extract '
                    'cifar-10-python.tar.gz' % (path, IMAGE_BYTES))
  labels = np.asarray(labels)
  if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
    raise DataError('%s has a record with label %d, not 0..%d: the file is '
                    'not CIFAR-10 data; re-extract it' %
                    (path, labels[(labels < 0) | (labels >= NUM_CLASSES)][0],
                     NUM_CLASSES - 1))
  return np.concatenate([labels.astype(np.uint8)[:, None], data], axis=1)


# Python batches this process has unpickled and checked, by file version
# (path, inode, mtime, size): their record counts, and their records until the
# input pipeline takes them, so a run unpickles each file once, not once for
# the check, once for the count and once for the pipeline.
_python_batch_counts = {}
_python_batches_unread = {}


def _file_version(path):
  stat = os.stat(path)
  return (path, stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _check_python_batch(path):
  """Checks a Python-version file (once per version); returns its count."""
  version = _file_version(path)
  if version not in _python_batch_counts:
    records = load_python_batch(path)
    _python_batches_unread[version] = records
    _python_batch_counts[version] = len(records)
  return _python_batch_counts[version]


def _read_python_batch(path):
  """The records of a Python-version file for the input pipeline.

  Those its check unpickled are handed over (and let go of here); a pipeline
  run again, or a file changed since, unpickles the file anew.
  """
  records = _python_batches_unread.pop(_file_version(path), None)
  return load_python_batch(path) if records is None else records


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
    List of file paths: of the binary version, or, where it is absent, of
    the Python version.

  Raises:
    DataError: a folder or file is missing or a file is not whole records.
    ValueError: `eval_data` is not one of the values above.
  """
  if eval_data not in (None, 'train_eval', 'test'):
    raise ValueError("eval_data must be 'test' or 'train_eval', not %r" %
                     (eval_data,))
  if os.path.isdir(data_dir) and _reads_python_version(data_dir):
    names = PYTHON_TEST_FILES if eval_data == 'test' else PYTHON_TRAIN_FILES
    paths = [os.path.join(python_batches_dir(data_dir), n) for n in names]
    for path in paths:
      if not os.path.isfile(path):
        raise DataError('%s is missing: the CIFAR-10 Python version has %s; '
                        're-extract cifar-10-python.tar.gz into the data_dir' %
                        (path, ', '.join(PYTHON_TRAIN_FILES +
                                         PYTHON_TEST_FILES)))
      _check_python_batch(path)
    return paths
  names = TEST_FILES if eval_data == 'test' else TRAIN_FILES
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
    raise DataError('%s is not a folder: put the CIFAR-10 binary files there '
                    '(or the Python version in %s), or pass --download to '
                    'fetch them' % (folder, PYTHON_BATCHES_DIR))
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
  return sum(_check_python_batch(p) if _is_python_batch(p) else
             os.path.getsize(p) // RECORD_BYTES for p in paths)


def _checked_records(path, python_version):
  """The records of the file `path`: uint8 [n, RECORD_BYTES].

  A label byte outside 0..NUM_CLASSES-1 fails the op with a message that
  `explain_data_errors` recognizes, naming the file.

  Args:
    path: string tensor.
    python_version: whether the file is a pickled batch of the Python
      version, loaded (safely) in Python, rather than binary records.
  """
  if python_version:
    raw = tf.numpy_function(lambda p: _read_python_batch(p.decode()), [path],
                            tf.uint8, stateful=False)
  else:
    raw = tf.io.decode_raw(tf.io.read_file(path), tf.uint8)
  records = tf.reshape(raw, [-1, RECORD_BYTES])
  labels = records[:, 0]
  first_bad = tf.argmax(tf.cast(labels >= NUM_CLASSES, tf.int32))
  check = tf.debugging.Assert(
      tf.reduce_all(labels < NUM_CLASSES),
      [_BAD_LABEL_MARKER, path, tf.cast(tf.gather(labels, first_bad),
                                        tf.int32)])
  with tf.control_dependencies([check]):
    return tf.identity(records)


def _load(paths, python_version):
  """All records of `paths`, in order, checked: uint8 [N, RECORD_BYTES].

  Each file is read in one piece, about 0.1 s for the 150 MB of training
  records, instead of several ops per record in every epoch.

  Args:
    paths: string [number of files] tensor. (Constant paths would let
      graph optimization read the files into the graph itself: 0.5 s more
      to start and a second copy in memory.)
    python_version: whether they are the Python version's pickled batches.
  """
  return tf.concat([_checked_records(paths[i], python_version)
                    for i in range(paths.shape[0])], 0)


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


def split_records(records):
  """uint8 records [n, RECORD_BYTES] -> uint8 images [n, 32, 32, 3], labels.

  The images have rows from the top and R, G, B channels last; the labels
  are int32 [n].
  """
  planes = tf.reshape(records[:, LABEL_BYTES:],
                      [-1, IMAGE_DEPTH, ORIGINAL_IMAGE_SIZE,
                       ORIGINAL_IMAGE_SIZE])
  return (tf.transpose(planes, [0, 2, 3, 1]),
          tf.cast(records[:, 0], tf.int32))


def _from_memory(paths, picks, view, first_number=0):
  """Batches made by `view(batch_number, images, labels)` for `picks`.

  Each element of `picks` (int64 [n]) says which records make a batch;
  `view` gets them decoded, numbered from `first_number`, and transforms
  them with whole-batch ops. The
  records of `paths` are read once and kept in memory (150 MB for the
  training files). The calls run in parallel in tf.data's threads and
  whole batches are prefetched, so the training step does not wait for
  them.
  """
  python_version = _is_python_batch(paths[0])
  table = tf.data.Dataset.from_tensors(tf.constant(paths)).map(
      _no_autograph(lambda p: _load(p, python_version))).cache()
  pairs = tf.data.Dataset.zip((picks.enumerate(first_number), table.repeat()))
  return pairs.map(
      _no_autograph(lambda numbered, records: view(numbered[0], *split_records(
          tf.gather(records, numbered[1])))),
      num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _no_autograph(function):
  """`function` for Dataset.map as it is: it has no Python control flow on
  tensors to convert, and AutoGraph's conversion takes 0.7 s at start."""
  return tf.autograph.experimental.do_not_convert(function)


def new_seed():
  """A random seed for a run whose user did not choose one."""
  return random.SystemRandom().randrange(2 ** 31)


def distortion_params(seed, n):
  """Random distortions for n images, a function of the int64 [2] `seed`.

  Returns:
    (offsets, flips, deltas, factors): int32 [n, 2] crop offsets (row,
    column) in 0..32-24, bool [n] left-right flips, float32 [n] brightness
    deltas in [-63, 63) and contrast factors in [0.2, 1.8): the
    distributions of the tutorial's random_crop, random_flip_left_right,
    random_brightness and random_contrast.
  """
  u = tf.random.stateless_uniform([n, 5], seed)
  offsets = tf.cast(u[:, :2] * (ORIGINAL_IMAGE_SIZE - IMAGE_SIZE + 1),
                    tf.int32)
  flips = u[:, 2] < 0.5
  deltas = MAX_BRIGHTNESS_DELTA * (2.0 * u[:, 3] - 1.0)
  factors = CONTRAST_LOWER + (CONTRAST_UPPER - CONTRAST_LOWER) * u[:, 4]
  return offsets, flips, deltas, factors


def distort_images(images, offsets, flips, deltas, factors):
  """The training view of uint8 images [n, 32, 32, 3]: float32 [n, 24, 24, 3].

  Crop, left-right flip, brightness and contrast make each epoch show the
  network new variants of the same pictures; per-image standardization
  then removes the brightness and contrast scale the distortions added, so
  the network sees inputs of mean 0 and unit variance. The arithmetic is
  that of tf.image's crop_to_bounding_box, flip_left_right,
  adjust_brightness, adjust_contrast and per_image_standardization, one
  image after the other (tests/test_input.py checks it), done for the
  whole batch at once: crop and flip are one gather of pixel indices.

  Args:
    images: uint8 [n, 32, 32, 3].
    offsets, flips, deltas, factors: per image, as `distortion_params`
      returns them.
  """
  images = _crop_and_flip(images, offsets, flips, IMAGE_SIZE)
  images = tf.cast(images, tf.float32) + deltas[:, None, None, None]
  means = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
  images = (images - means) * factors[:, None, None, None] + means
  return tf.image.per_image_standardization(images)


def _crop_and_flip(images, offsets, flips, size):
  """size x size crops of images [n, h, w, c] at `offsets`, flipped where
  `flips` says: one gather of pixel indices per axis."""
  span = tf.range(size)
  rows = offsets[:, :1] + span
  columns = offsets[:, 1:] + tf.where(flips[:, None], size - 1 - span, span)
  images = tf.gather(images, rows, axis=1, batch_dims=1)
  return tf.gather(images, columns, axis=2, batch_dims=1)


def padded_crop_params(seed, n, shift=PAD):
  """Random crop offsets (int32 [n, 2]) and flips (bool [n]).

  The offsets are those of crops shifted by up to `shift` pixels from the
  centre of the padded image: 0 gives the image itself, flipped or not.
  """
  u = tf.random.stateless_uniform([n, 3], seed)
  offsets = tf.cast(u[:, :2] * (2 * shift + 1), tf.int32) + (PAD - shift)
  return offsets, u[:, 2] < 0.5


def padded_crop_images(images, offsets, flips):
  """The zoo's training view of uint8 images [n, 32, 32, 3].

  Each image, padded with PAD black pixels on every side, is cropped back
  to 32x32 at `offsets` and flipped where `flips` says, then normalized.
  """
  padded = tf.pad(images, [[0, 0], [PAD, PAD], [PAD, PAD], [0, 0]])
  return normalize(_crop_and_flip(padded, offsets, flips,
                                  ORIGINAL_IMAGE_SIZE))


def normalize(images):
  """The padded-crop view's normalization: per channel, with the training
  set's mean and standard deviation, the same for every image."""
  return ((tf.cast(images, tf.float32) - tf.constant(CHANNEL_MEAN)) /
          tf.constant(CHANNEL_STD))


def view_size(view):
  """The height and width of the images a view gives the network."""
  return IMAGE_SIZE if view == TUTORIAL_VIEW else ORIGINAL_IMAGE_SIZE


def eval_view(images, view):
  """The evaluation view of [..., 32, 32, 3] images for `view`."""
  return eval_image(images) if view == TUTORIAL_VIEW else normalize(images)


def eval_image(image):
  """The evaluation view of [..., 32, 32, 3] images: float32 [..., 24, 24, 3].

  The central crop and the standardization match what training shows the
  network, without the randomness.
  """
  margin = (ORIGINAL_IMAGE_SIZE - IMAGE_SIZE) // 2
  image = tf.cast(image[..., margin:margin + IMAGE_SIZE,
                        margin:margin + IMAGE_SIZE, :], tf.float32)
  return tf.image.per_image_standardization(image)


def train_dataset(data_dir, batch_size, seed=None, view=TUTORIAL_VIEW,
                  first_batch=0):
  """The endless, shuffled, distorted training dataset of (images, labels).

  `view` says which training view (VIEWS) the images are in.
  `first_batch` (an int64 scalar, maybe a tensor) numbers the first batch:
  a run resumed at step N starts there, so that its order and distortions
  are new ones, a function of (seed, N), instead of a replay of the batches
  the run began with. (Going on with the very stream of a run that never
  stopped would mean skipping N batches of record numbers: 20 s for 100K.)
  Batches are all `batch_size` long. The order is the tutorial's: a
  shuffle buffer of 40% of an epoch over the records in file order, here
  shuffling record numbers. Order and distortions are a function of
  `seed`: the same seed gives the same batches; None draws a new seed.
  """
  if seed is None:
    seed = new_seed()
  paths = data_files(data_dir)
  num_examples = num_examples_in(paths)
  buffer_size = int(num_examples * MIN_FRACTION_OF_EXAMPLES_IN_QUEUE)
  shuffle_seed = (tf.constant(seed, tf.int64) +
                  RESUMED_STREAM_STRIDE * tf.cast(first_batch, tf.int64))
  picks = tf.data.Dataset.range(num_examples).shuffle(
      max(buffer_size, 1), seed=shuffle_seed).repeat().batch(
          batch_size, drop_remainder=True)

  def distorted_batch(batch_number, images, labels):
    batch_seed = tf.stack([tf.constant(seed, tf.int64), batch_number])
    if view == TUTORIAL_VIEW:
      return distort_images(
          images, *distortion_params(batch_seed, batch_size)), labels
    shift = 0 if view == FLIP_VIEW else PAD
    return padded_crop_images(
        images, *padded_crop_params(batch_seed, batch_size, shift)), labels
  return _from_memory(paths, picks, distorted_batch, first_batch)


def eval_dataset(eval_data, data_dir, batch_size, num_examples=None,
                 view=TUTORIAL_VIEW):
  """One pass, in file order, over the evaluation images and labels.

  Every example comes exactly once; the last batch holds the remainder and is
  smaller, never padded or wrapped around.

  Args:
    eval_data: 'test' or 'train_eval'.
    data_dir: the folder that holds `cifar-10-batches-bin/`.
    batch_size: examples per batch.
    num_examples: how many examples to take from the start; None for all.
    view: the evaluation view (VIEWS) of the images.

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
  picks = tf.data.Dataset.range(num_examples).batch(batch_size)
  return _from_memory(paths, picks,
                      lambda unused_number, images, labels: (
                          eval_view(images, view), labels))


def distorted_inputs(data_dir, batch_size, seed=None):
  """Graph-mode training input: images [batch, 24, 24, 3], labels [batch].

  The tensors yield a new batch each time they are evaluated, forever.
  """
  iterator = tf.compat.v1.data.make_one_shot_iterator(
      train_dataset(data_dir, batch_size, seed))
  return iterator.get_next()


def inputs(eval_data, data_dir, batch_size, num_examples=None,
           view=TUTORIAL_VIEW):
  """Graph-mode evaluation input: images [<=batch, 24, 24, 3], labels.

  (32x32 for the padded-crop view.)

  The tensors walk once through the data, then raise OutOfRangeError. The
  pass starts again in each new tf.compat.v1.Session.
  """
  iterator = tf.compat.v1.data.make_one_shot_iterator(
      eval_dataset(eval_data, data_dir, batch_size, num_examples, view))
  return iterator.get_next()
