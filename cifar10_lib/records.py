"""The CIFAR-10 files: their formats, where they live, and their checks.

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

The files are checked before anything is written, so that a wrong
--data_dir is one line, not an op error at the first training step.
"""

import contextlib
import os
import pickle
import re

import numpy as np
import tensorflow as tf

from cifar10_lib.cli import UserError

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


def is_python_batch(path):
  return not path.endswith('.bin')


def _latin1_bytes(text, encoding):
  """What _codecs.encode does in a pickle of Python 3's protocols 0-2,
  which store byte strings as their latin-1 text: text.encode('latin1').
  Any other use of it is refused."""
  if not isinstance(text, str) or encoding not in ('latin1', 'latin-1'):
    raise _RefusedGlobal('it asks _codecs.encode for %r, where a pickled '
                         'byte string asks for latin1' % (encoding,))
  return text.encode('latin1')


# The only globals that pickled CIFAR-10 batches name, each as harmless as
# a dict: numpy's ndarray and dtype and the functions that rebuild an array
# (_reconstruct; _frombuffer, protocol 5), under numpy 1's module names
# (numpy.core) and numpy 2's (numpy._core), wherever this numpy keeps them;
# and _codecs.encode, with which Python 3's protocols 0-2 store bytes, only
# as _latin1_bytes. The official files name the first three.
_RECONSTRUCT = np.zeros(0).__reduce__()[0]
_FROMBUFFER = np.zeros(0).__reduce_ex__(5)[0]
_PICKLE_GLOBALS = {
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
    ('numpy.core.multiarray', '_reconstruct'): _RECONSTRUCT,
    ('numpy._core.multiarray', '_reconstruct'): _RECONSTRUCT,
    ('numpy.core.numeric', '_frombuffer'): _FROMBUFFER,
    ('numpy._core.numeric', '_frombuffer'): _FROMBUFFER,
    ('_codecs', 'encode'): _latin1_bytes,
}


class _RefusedGlobal(pickle.UnpicklingError):
  """A pickle named a global that a CIFAR-10 batch never names, or asked
  one for what a CIFAR-10 batch never asks."""


class _OfficialPickleLoader(pickle.Unpickler):
  """Unpickles only what CIFAR-10 Python batches contain.

  The official files, and the same batches saved again by Python 3 with
  any pickle protocol (0-5) and numpy 1 or 2. Dicts, lists, byte strings
  and numbers run no code when unpickled; of the globals, only
  _PICKLE_GLOBALS are given. Any other (os.system, say) is refused before
  it is even imported.
  """

  def find_class(self, module, name):
    if (module, name) not in _PICKLE_GLOBALS:
      raise _RefusedGlobal('it asks to load %s.%s, which CIFAR-10 batches '
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


def read_python_batch(path):
  """The records of a Python-version file for the input pipeline.

  Those its check unpickled are handed over (and let go of here); a pipeline
  run again, or a file changed since, unpickles the file anew.
  """
  records = _python_batches_unread.pop(_file_version(path), None)
  return load_python_batch(path) if records is None else records


def check_not_a_batches_folder(data_dir):
  """Raises DataError if `data_dir` is itself a folder of batches (what
  extracting the archive made), not the folder that holds it: a download
  into it would fetch the data set again."""
  names = set(os.listdir(data_dir)) if os.path.isdir(data_dir) else set()
  if names & set(TRAIN_FILES + TEST_FILES + PYTHON_TRAIN_FILES +
                 PYTHON_TEST_FILES):
    raise DataError('data_dir %s holds the batch files themselves: pass its '
                    'parent, --data_dir=%s' %
                    (data_dir, os.path.dirname(os.path.abspath(data_dir))))


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


def training_images(data_dir, count):
  """The first `count` training images (all, if there are fewer), uint8
  [count, 32, 32, 3], read with numpy (for a layer set from the data when
  a run starts)."""
  rows = []
  for path in data_files(data_dir):
    if is_python_batch(path):
      # Left for the input pipeline to take: this read must not take it.
      cached = _python_batches_unread.get(_file_version(path))
      rows.append(load_python_batch(path) if cached is None else cached)
    else:
      rows.append(np.fromfile(path, np.uint8).reshape(-1, RECORD_BYTES))
    if sum(len(r) for r in rows) >= count:
      break
  images = np.concatenate(rows)[:count, LABEL_BYTES:]
  return images.reshape(-1, IMAGE_DEPTH, ORIGINAL_IMAGE_SIZE,
                        ORIGINAL_IMAGE_SIZE).transpose(0, 2, 3, 1)


def num_examples_in(paths):
  """Returns the number of records in the given (checked) files."""
  return sum(_check_python_batch(p) if is_python_batch(p) else
             os.path.getsize(p) // RECORD_BYTES for p in paths)


def checked_records(path, python_version):
  """The records of the file `path`: uint8 [n, RECORD_BYTES].

  A label byte outside 0..NUM_CLASSES-1 fails the op with a message that
  `explain_data_errors` recognizes, naming the file.

  Args:
    path: string tensor.
    python_version: whether the file is a pickled batch of the Python
      version, loaded (safely) in Python, rather than binary records.
  """
  if python_version:
    raw = tf.numpy_function(lambda p: read_python_batch(p.decode()), [path],
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

