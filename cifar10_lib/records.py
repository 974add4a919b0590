"""Data sets of fixed-length records: their layout, files and checks.

Every data set is read as the tutorial reads CIFAR-10's binary files
(https://www.cs.toronto.edu/~kriz/cifar.html): a series of fixed-length
records, each LABEL_BYTES label bytes followed by the image's bytes, the
red, green and blue planes one after the other (channel-major, rows from
the top). CIFAR-10's records have one label byte; CIFAR-100's two, its
coarse class and its fine one. A `Dataset` (cifar10_datasets has the
registered ones) says which byte is the label, how many classes it has,
the image size and where its files are.

The official "Python version" holds the same images and labels as pickled
batches: a dict with b'data', uint8 [N, image bytes] in the same plane
order, and the labels under the data set's keys (CIFAR-10: b'labels';
CIFAR-100: b'coarse_labels', b'fine_labels'). Where the binary folder is
absent and the Python one is there, that is read instead, turned into the
same records. A pickle can run any code when it is loaded, so these are
loaded allowing only the three things the official files contain (numpy's
array, its dtype and their rebuilding function); any other is refused
before it is touched.

The files are checked before anything is written, so that a wrong
--data_dir is one line, not an op error at the first training step.
"""

import collections
import contextlib
import os
import pickle
import re

import numpy as np
import tensorflow as tf

from cifar10_lib.cli import UserError

# Images have red, green and blue planes.
IMAGE_DEPTH = 3

# Marks the error raised when a record's label is not a class number, so
# that the training and evaluation loops can turn it into a one-line message.
_BAD_LABEL_MARKER = 'CIFAR10_BAD_LABEL'


class CifarFiles(collections.namedtuple('CifarFiles', [
    'binary_dir', 'train_files', 'test_files', 'archive', 'md5', 'url',
    'python_dir', 'python_train_files', 'python_test_files',
    'python_label_keys', 'python_archive', 'python_md5'])):
  """Where a data set of the CIFAR family lives below --data_dir.

  Attributes:
    binary_dir: the binary version's folder (below --data_dir, or an
      absolute path: a converted folder's cache); train_files, test_files:
      its files of records.
    archive, md5, url: the binary archive's file name, MD5 and official
      address (what --download fetches); None: nothing to fetch.
    python_dir, python_train_files, python_test_files: the Python
      version's folder (None: it has none) and pickled batches.
    python_label_keys: the batches' label keys, in the order of the binary
      records' label bytes.
    python_archive, python_md5: the Python archive's file name and MD5
      (used where the user put it in --data_dir; never downloaded).
  """


class Dataset(collections.namedtuple('Dataset', [
    'name', 'title', 'class_names', 'image_size', 'train_examples',
    'test_examples', 'channel_mean', 'channel_std', 'label_bytes',
    'label_offset', 'files', 'label_width', 'conversion'],
    defaults=[1, None])):
  """A data set: its classes, images, records and files.

  Attributes:
    name: its --dataset name; title: its name in messages.
    class_names: the classes' names, in label order.
    image_size: the images' height and width.
    train_examples, test_examples: the official splits' sizes (the
      counts a run uses are those of the files it reads).
    channel_mean, channel_std: the training images' per-channel pixel
      mean and standard deviation (R, G, B), which the per-channel
      normalization uses.
    label_bytes: the label bytes that start each record; label_offset:
      where this data set's label starts among them; label_width: its
      bytes (a big-endian number: two above 256 classes).
    files: a CifarFiles.
    conversion: for a data set converted from the user's images, how
      (cifar10_datasets.folder: the source folder, the held-out share and
      its seed), for model.json; None for the official files.
  """

  @property
  def num_classes(self):
    """How many classes its labels number."""
    return len(self.class_names)

  @property
  def image_bytes(self):
    """The bytes of one image: size x size x 3."""
    return self.image_size * self.image_size * IMAGE_DEPTH

  @property
  def record_bytes(self):
    """The bytes of one record: its label bytes, then its image."""
    return self.label_bytes + self.image_bytes


class DataError(UserError):
  """The data files are missing, malformed or not the data set's."""


def batches_dir(dataset, data_dir):
  """The folder of `dataset`'s binary files below `data_dir`."""
  return os.path.join(data_dir, dataset.files.binary_dir)


def python_batches_dir(dataset, data_dir):
  """The folder of `dataset`'s Python version below `data_dir`."""
  return os.path.join(data_dir, dataset.files.python_dir)


def _reads_python_version(dataset, data_dir):
  """Whether `data_dir` has the Python version and not the binary one."""
  return (dataset.files.python_dir is not None and
          not os.path.isdir(batches_dir(dataset, data_dir)) and
          os.path.isdir(python_batches_dir(dataset, data_dir)))


def is_python_batch(path):
  """Whether `path` is a pickled batch (binary files end in .bin)."""
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


def load_python_batch(dataset, path):
  """The records of one Python-version file: uint8 [n, record_bytes].

  Raises:
    DataError: the file is not an official-format batch: refused globals,
      truncated, or other content; the message names the file.
  """
  archive = dataset.files.python_archive
  try:
    with open(path, 'rb') as f:
      batch = _OfficialPickleLoader(f, encoding='bytes').load()
  except _RefusedGlobal as e:
    raise DataError('%s is not a %s Python batch (%s); refusing to load it: '
                    're-extract %s' % (path, dataset.title, e, archive))
  except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError,
          KeyError, AttributeError, MemoryError) as e:
    raise DataError('%s is truncated or not a pickle (%s: %s): re-extract '
                    '%s' % (path, type(e).__name__, e, archive))
  keys = dataset.files.python_label_keys
  if not isinstance(batch, dict):
    batch = {}
  data, labels = batch.get(b'data'), [batch.get(key) for key in keys]
  if (not isinstance(data, np.ndarray) or data.dtype != np.uint8 or
      data.ndim != 2 or data.shape[1] != dataset.image_bytes or
      not all(_is_int_list(l, len(data)) for l in labels)):
    raise DataError(
        '%s is not a %s Python batch: it needs b\'data\', uint8 [N, %d], '
        'and %s, N ints each: re-extract %s' %
        (path, dataset.title, dataset.image_bytes,
         ', '.join(repr(k) for k in keys), archive))
  labels = np.asarray(labels, np.int64).T.reshape(len(data), len(keys))
  bad = _bad_labels(dataset, labels[:, dataset.label_offset])
  if bad is not None:
    raise DataError('%s has a record with label %d, not 0..%d: the file is '
                    'not %s data; re-extract it' %
                    (path, bad, dataset.num_classes - 1, dataset.title))
  return np.concatenate([labels.astype(np.uint8), data], axis=1)


def _is_int_list(labels, count):
  """Whether `labels` is a list of `count` ints, as the batches hold."""
  return (isinstance(labels, list) and len(labels) == count and
          all(isinstance(l, int) for l in labels))


def _bad_labels(dataset, labels):
  """The first label of int array `labels` that is not a class, or None."""
  wrong = (labels < 0) | (labels >= dataset.num_classes)
  return int(labels[wrong][0]) if wrong.any() else None


# Python batches this process has unpickled and checked, by file version
# (path, inode, mtime, size): their record counts, and their records until the
# input pipeline takes them, so a run unpickles each file once, not once for
# the check, once for the count and once for the pipeline.
_python_batch_counts = {}
_python_batches_unread = {}


def _file_version(path):
  stat = os.stat(path)
  return (path, stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _check_python_batch(dataset, path):
  """Checks a Python-version file (once per version); returns its count."""
  version = _file_version(path)
  if version not in _python_batch_counts:
    records = load_python_batch(dataset, path)
    _python_batches_unread[version] = records
    _python_batch_counts[version] = len(records)
  return _python_batch_counts[version]


def read_python_batch(dataset, path):
  """The records of a Python-version file for the input pipeline.

  Those its check unpickled are handed over (and let go of here); a pipeline
  run again, or a file changed since, unpickles the file anew.
  """
  records = _python_batches_unread.pop(_file_version(path), None)
  return load_python_batch(dataset, path) if records is None else records


def check_not_a_batches_folder(dataset, data_dir):
  """Raises DataError if `data_dir` is itself a folder of batches (what
  extracting the archive made), not the folder that holds it: a download
  into it would fetch the data set again."""
  files = dataset.files
  names = set(os.listdir(data_dir)) if os.path.isdir(data_dir) else set()
  if names & set(files.train_files + files.test_files +
                 files.python_train_files + files.python_test_files):
    raise DataError('data_dir %s holds the batch files themselves: pass its '
                    'parent, --data_dir=%s' %
                    (data_dir, os.path.dirname(os.path.abspath(data_dir))))


def data_files(dataset, data_dir, eval_data=None):
  """Returns the checked paths of the files to read.

  Checks up front what can be checked without reading every byte, so that a
  wrong --data_dir is reported at once and in words, not as an op error at the
  first training step.

  Args:
    dataset: the Dataset.
    data_dir: the folder that holds its binary folder (or Python one).
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
  files, test = dataset.files, eval_data == 'test'
  if os.path.isdir(data_dir) and _reads_python_version(dataset, data_dir):
    names = files.python_test_files if test else files.python_train_files
    paths = [os.path.join(python_batches_dir(dataset, data_dir), n)
             for n in names]
    for path in paths:
      if not os.path.isfile(path):
        raise DataError('%s is missing: the %s Python version has %s; '
                        're-extract %s into the data_dir' %
                        (path, dataset.title,
                         ', '.join(files.python_train_files +
                                   files.python_test_files),
                         files.python_archive))
      _check_python_batch(dataset, path)
    return paths
  names = files.test_files if test else files.train_files
  where = ('where DIR/%s holds the %s binary files' %
           (files.binary_dir, dataset.title))
  if not os.path.exists(data_dir):
    raise DataError('data_dir %s does not exist: pass --data_dir=DIR %s' %
                    (data_dir, where))
  if not os.path.isdir(data_dir):
    raise DataError('data_dir %s is a file, not a folder: pass --data_dir=DIR '
                    '%s' % (data_dir, where))
  folder = batches_dir(dataset, data_dir)
  if not os.path.isdir(folder):
    raise DataError('%s is not a folder: put the %s binary files there '
                    '(or the Python version in %s), or pass --download to '
                    'fetch them' % (folder, dataset.title, files.python_dir))
  paths = [os.path.join(folder, name) for name in names]
  for path in paths:
    _check_data_file(dataset, path)
  return paths


def _check_data_file(dataset, path):
  """Raises DataError unless `path` is a non-empty file of whole records."""
  files = dataset.files
  if not os.path.isfile(path):
    raise DataError('%s is missing: the %s binary data set has %s; '
                    're-extract %s into the data_dir' %
                    (path, dataset.title,
                     ', '.join(files.train_files + files.test_files),
                     files.archive))
  size = os.path.getsize(path)
  if size == 0 or size % dataset.record_bytes:
    raise DataError('%s has %d bytes, not a whole number of %d-byte records: '
                    'the file is truncated or not %s binary data; '
                    're-download it' %
                    (path, size, dataset.record_bytes, dataset.title))


def training_images(dataset, data_dir, count):
  """The first `count` training images (all, if there are fewer), uint8
  [count, size, size, 3], read with numpy (for a layer set from the data
  when a run starts)."""
  rows = []
  for path in data_files(dataset, data_dir):
    if is_python_batch(path):
      # Left for the input pipeline to take: this read must not take it.
      cached = _python_batches_unread.get(_file_version(path))
      rows.append(load_python_batch(dataset, path) if cached is None
                  else cached)
    else:
      rows.append(np.fromfile(path, np.uint8).reshape(
          -1, dataset.record_bytes))
    if sum(len(r) for r in rows) >= count:
      break
  images = np.concatenate(rows)[:count, dataset.label_bytes:]
  size = dataset.image_size
  return images.reshape(-1, IMAGE_DEPTH, size, size).transpose(0, 2, 3, 1)


def num_examples_in(dataset, paths):
  """Returns the number of records in the given (checked) files."""
  return sum(_check_python_batch(dataset, p) if is_python_batch(p) else
             os.path.getsize(p) // dataset.record_bytes for p in paths)


def checked_records(dataset, path, python_version):
  """The records of the file `path`: uint8 [n, record_bytes].

  A label outside 0..num_classes-1 fails the op with a message that
  `explain_data_errors` recognizes, naming the file.

  Args:
    dataset: the Dataset.
    path: string tensor.
    python_version: whether the file is a pickled batch of the Python
      version, loaded (safely) in Python, rather than binary records.
  """
  if python_version:
    raw = tf.numpy_function(lambda p: read_python_batch(dataset, p.decode()),
                            [path], tf.uint8, stateful=False)
  else:
    raw = tf.io.decode_raw(tf.io.read_file(path), tf.uint8)
  return checked(dataset, tf.reshape(raw, [-1, dataset.record_bytes]), path)


def checked(dataset, records, sources):
  """uint8 records [n, record_bytes], n >= 1, as they are, once a check
  has found every label in 0..num_classes-1: else the op fails with a
  message that `explain_data_errors` recognizes, naming the file of the
  first wrong one. `sources`: a string scalar, the records' file, or
  [n], each record's.
  """
  labels = record_labels(dataset, records)
  wrong = labels >= dataset.num_classes
  first = tf.argmax(tf.cast(wrong, tf.int32))
  source = sources if sources.shape.rank == 0 else tf.gather(sources, first)
  check = tf.debugging.Assert(
      tf.logical_not(tf.reduce_any(wrong)),
      [_BAD_LABEL_MARKER, source, tf.gather(labels, first)])
  with tf.control_dependencies([check]):
    return tf.identity(records)


@contextlib.contextmanager
def explain_data_errors(dataset):
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
                    'is not %s data; re-download it' %
                    (match.group(1), match.group(2), dataset.num_classes - 1,
                     dataset.title)) from e


def split_records(dataset, records):
  """uint8 records [n, record_bytes] -> uint8 images [n, size, size, 3],
  int32 labels [n].

  The images have rows from the top and R, G, B channels last.
  """
  size = dataset.image_size
  planes = tf.reshape(records[:, dataset.label_bytes:],
                      [-1, IMAGE_DEPTH, size, size])
  return tf.transpose(planes, [0, 2, 3, 1]), record_labels(dataset, records)


def record_labels(dataset, records):
  """int32 [n]: the labels of uint8 records [n, record_bytes], each
  label_width bytes from label_offset, big-endian."""
  labels = tf.zeros_like(records[:, 0], tf.int32)
  for k in range(dataset.label_width):
    labels = labels * 256 + tf.cast(records[:, dataset.label_offset + k],
                                    tf.int32)
  return labels
