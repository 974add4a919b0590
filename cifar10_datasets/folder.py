"""A folder of your own images as a data set (--dataset=folder).

--data_dir holds `train/CLASS/*` and, optionally, `test/CLASS/*`: one
folder per class, named as the class, with PNG, JPEG, BMP, GIF or WebP
files of any size (grayscale, RGB, RGBA, 16-bit; a JPEG's EXIF rotation
applied). The layout Keras' image_dataset_from_directory and torchvision's
ImageFolder read.

It is converted once into the tutorial's fixed-length records (label
bytes, then the image's R, G and B planes), so one reader serves every
data set: each image is brought to --image_size by resizing its shorter
side and cropping the centre, in parallel on every core, with a progress
line. The records go into a cache (--cache_dir; by default under
$XDG_CACHE_HOME or ~/.cache), written to a temporary folder and renamed
into place when complete, and reused while the folder's files (names,
sizes, times) and the conversion's settings are unchanged. The images are
only ever read. Without `test/`, a stratified --test_fraction of each
class (the same draw for a given seed) is held out, and evaluation sees
exactly those images.
"""

import collections
import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from cifar10_lib import records
from cifar10_lib.cli import UserError

NAME = 'folder'
TRAIN, TEST = 'train', 'test'
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp')
DEFAULT_IMAGE_SIZE = 32
# --image_size's range: 8 keeps every network's pooling above one pixel;
# 512 keeps a record under a megabyte.
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 8, 512
DEFAULT_TEST_FRACTION = 0.1
# The held-out share's draw, recorded in model.json with the data set.
DEFAULT_SPLIT_SEED = 0
# A class may hold up to this share of files that are not images (skipped,
# said); more, and the folder is refused.
MAX_BAD_SHARE = 0.01
# Images whose header declares more pixels than this are not decoded:
# decoded and resized, 50 megapixels take about 1 GB, and a damaged or
# hostile header can claim billions (a "decompression bomb").
MAX_IMAGE_PIXELS = 50 * 10 ** 6
# Class counts above this need two label bytes.
ONE_BYTE_CLASSES = 256
# The progress line is rewritten at most this often.
PROGRESS_SECS = 1.0
# Images a decoding process takes at a time: large enough that passing
# them costs little beside decoding them.
CHUNK = 256
CACHE_FOLDER = 'cifar10-tf'
META_FILE = 'meta.json'
TRAIN_FILE, TEST_FILE = 'train.bin', 'test.bin'


class Settings(collections.namedtuple(
    'Settings', 'image_size test_fraction seed cache_dir',
    defaults=[DEFAULT_IMAGE_SIZE, DEFAULT_TEST_FRACTION, DEFAULT_SPLIT_SEED,
              None])):
  """How a folder is converted: --image_size, --test_fraction, the split's
  seed, --cache_dir (None: default_cache_dir())."""


def default_cache_dir():
  """$XDG_CACHE_HOME/cifar10-tf, or ~/.cache/cifar10-tf."""
  base = os.environ.get('XDG_CACHE_HOME') or os.path.join(
      os.path.expanduser('~'), '.cache')
  return os.path.join(base, CACHE_FOLDER)


class Listing(collections.namedtuple(
    'Listing', 'root classes train test skipped')):
  """What a folder holds: class names (sorted), [(path, class)] of train
  and of test (None: no test/ folder), and the files skipped as not
  images."""

  def signature(self):
    """What the cache depends on: every file's name, size and time."""
    digest = hashlib.sha256()
    for path, label in self.train + (self.test or []):
      stat = os.stat(path)
      digest.update(('%s\0%d\0%d\0%d\n' % (path, label, stat.st_size,
                                           stat.st_mtime_ns)).encode(
                                               'utf-8', 'surrogateescape'))
    return digest.hexdigest()


def _visible(names):
  """`names` without hidden ones (.DS_Store, .thumbnails, ...), which
  file browsers leave in image folders."""
  return [name for name in names if not name.startswith('.')]


def _class_folders(split_dir):
  """Sorted class folder names of `split_dir`; files beside them are
  refused."""
  names = sorted(_visible(os.listdir(split_dir)))
  stray = [n for n in names if not os.path.isdir(os.path.join(split_dir, n))]
  if stray:
    raise UserError('%s holds %s, which is not a class folder: %s/CLASS/ '
                    'holds each class\'s images; move it out' %
                    (split_dir, os.path.join(split_dir, stray[0]), split_dir))
  return names


def _class_files(folder):
  """(image paths, files that are not images) of one class folder."""
  images, others = [], []
  for entry in sorted(os.scandir(folder), key=lambda e: e.name):
    if entry.name.startswith('.'):
      continue
    try:
      is_dir, is_file = entry.is_dir(), entry.is_file()
    except OSError:  # a link that loops
      is_dir = is_file = False
    if is_dir:
      raise UserError('%s is a folder inside the class folder %s: a class '
                      'folder holds image files only; move its images up '
                      'or make it a class of its own' % (entry.path, folder))
    if not is_file:
      raise UserError('%s is not a file (a link that loops or leads '
                      'nowhere?): remove it' % entry.path)
    target = (images if entry.name.lower().endswith(IMAGE_EXTENSIONS)
              else others)
    target.append(entry.path)
  return images, others


def scan(data_dir):
  """The Listing of the folder `data_dir`, checked.

  Raises:
    UserError: no train/ folder, an empty class, a single class, a test
      class that train lacks, a nested folder, or a class with more than
      MAX_BAD_SHARE files that are not images.
  """
  train_dir = os.path.join(data_dir, TRAIN)
  if not os.path.isdir(train_dir):
    raise UserError('%s is not a folder: --dataset=folder reads '
                    'DATA_DIR/train/CLASS/* (and DATA_DIR/test/CLASS/*); '
                    'pass that DATA_DIR as --data_dir' % train_dir)
  classes = _class_folders(train_dir)
  if len(classes) < 2:
    raise UserError('%s holds %s: a classifier needs at least two class '
                    'folders' % (train_dir, 'one class folder' if classes
                                 else 'no class folder'))
  skipped = []
  train = _split_files(train_dir, classes, skipped)
  test = None
  test_dir = os.path.join(data_dir, TEST)
  if os.path.isdir(test_dir):
    test_classes = _class_folders(test_dir)
    unknown = sorted(set(test_classes) - set(classes))
    if unknown:
      raise UserError('%s is a class that %s lacks: rename it to a class '
                      'of train/ or add it there' %
                      (os.path.join(test_dir, unknown[0]), train_dir))
    test = _split_files(test_dir, classes, skipped, test_classes)
  return Listing(os.path.abspath(data_dir), classes, train, test, skipped)


def _split_files(split_dir, classes, skipped, present=None):
  """[(path, class)] of a split's class folders (those in `present`)."""
  files = []
  for label, name in enumerate(classes):
    if present is not None and name not in present:
      continue
    folder = os.path.join(split_dir, name)
    images, others = _class_files(folder)
    if not images:
      raise UserError('%s holds no images (PNG, JPEG, BMP, GIF or WebP): '
                      'add some or remove the class folder' % folder)
    _check_share(folder, others, len(images) + len(others))
    skipped += others
    files += [(path, label) for path in images]
  return files


def _too_many(bad, total):
  """Whether `bad` of a class's `total` files are more than it may hold."""
  return bad > MAX_BAD_SHARE * total


def _check_share(folder, bad, total):
  """Refuses a class folder with more than MAX_BAD_SHARE bad files."""
  if _too_many(len(bad), total):
    raise UserError('%s: %d of its %d files are not images (%s, ...): '
                    'remove them, or fix them if they are images' %
                    (folder, len(bad), total, bad[0]))


def hold_out(listing, fraction, seed):
  """(train, test) of a folder without test/: `fraction` of each class's
  images, drawn with `seed`, held out (at least one image stays in
  training)."""
  rng = np.random.RandomState(seed)
  train, test = [], []
  by_class = collections.defaultdict(list)
  for path, label in listing.train:
    by_class[label].append(path)
  for label in sorted(by_class):
    paths = by_class[label]
    count = min(int(round(fraction * len(paths))), len(paths) - 1)
    chosen = set(rng.permutation(len(paths))[:count])
    for i, path in enumerate(paths):
      (test if i in chosen else train).append((path, label))
  return train, test


def cache_key(listing, settings):
  """The cache folder's name: the source folder's, and a digest of its
  files and the conversion's settings."""
  digest = hashlib.sha256(json.dumps({
      'root': listing.root, 'files': listing.signature(),
      'image_size': settings.image_size,
      'test_fraction': None if listing.test else settings.test_fraction,
      'seed': settings.seed}, sort_keys=True).encode(
          'utf-8', 'surrogateescape')).hexdigest()
  return '%s-%s' % (os.path.basename(listing.root) or 'root', digest[:16])


def decode(path, size):
  """The image file `path` as uint8 [size, size, 3]: its EXIF rotation
  applied, as RGB (gray copied, alpha dropped, 16 bits scaled to 8), the
  shorter side resized to `size` and the centre cropped.

  Raises:
    ValueError: the file is not an image Pillow reads, or declares more
      than MAX_IMAGE_PIXELS pixels.
  """
  from PIL import Image, ImageOps, UnidentifiedImageError
  try:
    with Image.open(path) as image:
      if image.width * image.height > MAX_IMAGE_PIXELS:
        raise ValueError('%dx%d pixels, more than the %d megapixels read' %
                         (image.width, image.height,
                          MAX_IMAGE_PIXELS // 10 ** 6))
      image = ImageOps.exif_transpose(image)
      if image.mode in ('I', 'I;16', 'I;16B', 'I;16L'):
        image = Image.fromarray(
            (np.asarray(image, np.uint32) >> 8).astype(np.uint8), 'L')
      image = ImageOps.fit(image.convert('RGB'), (size, size),
                           Image.Resampling.BICUBIC)
      return np.asarray(image, np.uint8)
  except (UnidentifiedImageError, OSError, SyntaxError) as e:
    raise ValueError(str(e) or type(e).__name__)


def _decode_or_error(job):
  """decode() for a worker: (array or None, error or None)."""
  path, size = job
  try:
    return decode(path, size), None
  except ValueError as e:
    return None, str(e)


class _Progress(object):
  """The conversion's progress line: images done, images/s, time left."""

  def __init__(self, total, root):
    self._total, self._root = total, root
    self._start = self._shown = time.time()

  def update(self, done, final=False):
    """Rewrites the line for `done` images, at most every PROGRESS_SECS
    (and at the end, `final`, with a newline)."""
    now = time.time()
    if not final and now - self._shown < PROGRESS_SECS:
      return
    self._shown = now
    rate = done / max(now - self._start, 1e-9)
    sys.stdout.write('\rConverting %s: %d/%d images, %.0f images/s, %.0f s '
                     'left ' % (self._root, done, self._total, rate,
                                (self._total - done) / max(rate, 1e-9)))
    if final:
      sys.stdout.write('\n')
    sys.stdout.flush()


def _pool():
  """Processes that decode, one per core: forked, so that they start at
  once and share the parent's modules (they run only Pillow and numpy);
  threads where fork is missing (3x slower: 35 s against 11 s for
  CIFAR-10's 60,000 PNGs on 2 cores)."""
  if 'fork' in multiprocessing.get_all_start_methods():
    return concurrent.futures.ProcessPoolExecutor(
        os.cpu_count(), mp_context=multiprocessing.get_context('fork'))
  return concurrent.futures.ThreadPoolExecutor(os.cpu_count())


def _label_bytes(classes):
  """A record's label bytes for `classes`: one, two above 256."""
  return 1 if len(classes) <= ONE_BYTE_CLASSES else 2


def _write_split(path, files, size, label_bytes, progress, done, pool,
                 sums=None):
  """Writes `files` [(path, class)] as records into `path`; returns the
  images done so far and [(path, reason)] of those that are not images.

  `sums` (float64 [3, 2]), if given, accumulates each channel's sum and
  sum of squares.
  """
  failed = []
  with open(path, 'wb') as out:
    jobs = [(p, size) for p, _ in files]
    for (image, error), (source, label) in zip(
        pool.map(_decode_or_error, jobs, chunksize=CHUNK), files):
      done += 1
      progress.update(done)
      if error is not None:
        failed.append((source, error))
        continue
      label_field = label.to_bytes(label_bytes, 'big')
      out.write(label_field + image.transpose(2, 0, 1).tobytes())
      if sums is not None:
        pixels = image.reshape(-1, 3).astype(np.float64)
        sums[:, 0] += pixels.sum(0)
        sums[:, 1] += np.square(pixels).sum(0)
  return done, failed


def convert(listing, settings, target):
  """Converts `listing` into records in the new folder `target`, via a
  temporary folder beside it renamed when complete; returns its meta.

  Raises:
    UserError: too many files of a class are not images, the folder
      changed meanwhile, or the cache cannot be written.
  """
  train, test = ((listing.train, listing.test) if listing.test is not None
                 else hold_out(listing, settings.test_fraction,
                               settings.seed))
  # Training records in a random order (the seed's), as CIFAR's files
  # have them: the tutorial's shuffle buffer holds 40% of an epoch, which
  # in class order would hold fewer than half the classes.
  train = [train[i] for i in
           np.random.RandomState(settings.seed).permutation(len(train))]
  label_bytes = _label_bytes(listing.classes)
  parent = os.path.dirname(target)
  staging = None
  try:
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix='.converting-', dir=parent)
    progress = _Progress(len(train) + len(test), listing.root)
    sums = np.zeros([3, 2])
    with _pool() as pool:
      done, failed = _write_split(os.path.join(staging, TRAIN_FILE), train,
                                  settings.image_size, label_bytes, progress,
                                  0, pool, sums)
      done, failed_test = _write_split(os.path.join(staging, TEST_FILE), test,
                                       settings.image_size, label_bytes,
                                       progress, done, pool)
    progress.update(done, final=True)
    _check_failures(failed + failed_test, train + test)
    if listing.signature() != scan(listing.root).signature():
      raise UserError('%s changed while it was converted: run again once '
                      'nothing writes into it' % listing.root)
    pixels = (len(train) - len(failed)) * settings.image_size ** 2
    mean = sums[:, 0] / pixels
    meta = {
        'source': listing.root, 'class_names': listing.classes,
        'image_size': settings.image_size,
        'test_fraction': None if listing.test else settings.test_fraction,
        'seed': settings.seed, 'label_bytes': label_bytes,
        'train_examples': len(train) - len(failed),
        'test_examples': len(test) - len(failed_test),
        'channel_mean': [round(float(m), 3) for m in mean],
        'channel_std': [round(float(s), 3) for s in
                        np.sqrt(sums[:, 1] / pixels - np.square(mean))],
        'skipped': len(listing.skipped) + len(failed + failed_test)}
    with open(os.path.join(staging, META_FILE), 'w') as f:
      json.dump(meta, f, indent=1)
    os.rename(staging, target)
    staging = None
    return meta
  except OSError as e:
    raise UserError('could not write the converted images into %s (%s): '
                    'free some space there or pass another --cache_dir' %
                    (parent, e.strerror or e))
  finally:
    if staging:
      shutil.rmtree(staging, ignore_errors=True)


def _check_failures(failed, files):
  """Refuses a class with more than MAX_BAD_SHARE files that did not
  decode; says how many were skipped."""
  if not failed:
    return
  per_class = collections.Counter(
      os.path.dirname(path) for path, _ in files)
  bad = collections.Counter(os.path.dirname(path) for path, _ in failed)
  for folder, count in sorted(bad.items()):
    if _too_many(count, per_class[folder]):
      first = [p for p, _ in failed if os.path.dirname(p) == folder][0]
      raise UserError('%s: %d of its %d images could not be read (%s: %s): '
                      'remove or fix them' %
                      (folder, count, per_class[folder], first,
                       dict(failed)[first]))
  print('Skipped %d files that could not be read as images, the first %s '
        '(%s).' % (len(failed), failed[0][0], failed[0][1]), flush=True)


def _read_meta(folder):
  """The meta of a complete cache folder, or None if it is missing,
  damaged or its files do not hold what it says."""
  try:
    with open(os.path.join(folder, META_FILE)) as f:
      meta = json.load(f)
    record = meta['label_bytes'] + 3 * meta['image_size'] ** 2
    for name, count in ((TRAIN_FILE, meta['train_examples']),
                        (TEST_FILE, meta['test_examples'])):
      if os.path.getsize(os.path.join(folder, name)) != count * record:
        return None
    return meta
  except (OSError, ValueError, KeyError, TypeError):
    return None


def check_settings(settings):
  """Raises UserError for an --image_size or --test_fraction out of range."""
  if not MIN_IMAGE_SIZE <= settings.image_size <= MAX_IMAGE_SIZE:
    raise UserError('--image_size=%d: it must be from %d to %d' %
                    (settings.image_size, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE))
  if not 0 < settings.test_fraction < 1:
    raise UserError('--test_fraction=%g: it must be above 0 and below 1' %
                    settings.test_fraction)


def load(data_dir, settings=Settings()):
  """The records.Dataset of the image folder `data_dir`: its cache,
  converted first if the folder or the settings changed since (or the
  cache is damaged or gone).

  Raises:
    UserError: as scan() and convert(), or settings out of range.
  """
  check_settings(settings)
  listing = scan(data_dir)
  if listing.skipped:
    print('Skipping %d files that are not images (PNG, JPEG, BMP, GIF, '
          'WebP), the first %s.' % (len(listing.skipped),
                                   listing.skipped[0]), flush=True)
  cache = os.path.abspath(settings.cache_dir or default_cache_dir())
  target = os.path.join(cache, cache_key(listing, settings))
  meta = _read_meta(target)
  if meta is None:
    if os.path.exists(target):
      shutil.rmtree(target, ignore_errors=True)
    meta = convert(listing, settings, target)
  return dataset_of(meta, target)


def dataset_of(meta, cache_folder):
  """The records.Dataset of a converted folder's meta and its records'
  folder (None: a record's, without files)."""
  files = cache_folder and records.CifarFiles(
      binary_dir=cache_folder, train_files=(TRAIN_FILE,),
      test_files=(TEST_FILE,),
      archive=None, md5=None, url=None, python_dir=None,
      python_train_files=(), python_test_files=(), python_label_keys=(),
      python_archive=None, python_md5=None)
  label_bytes = _label_bytes(meta['class_names'])
  return records.Dataset(
      name=NAME, title='the images of %s' % meta['source'],
      class_names=tuple(meta['class_names']),
      image_size=meta['image_size'],
      train_examples=meta.get('train_examples'),
      test_examples=meta.get('test_examples'),
      channel_mean=tuple(meta['channel_mean']),
      channel_std=tuple(meta['channel_std']),
      label_bytes=label_bytes, label_offset=0, files=files,
      label_width=label_bytes,
      conversion={'source': meta['source'],
                  'test_fraction': meta['test_fraction'],
                  'seed': meta['seed']})


def recorded(fields):
  """The Dataset of model.json's "dataset" fields (checked by
  record_problem), without files: what predict and the SavedModel need."""
  return dataset_of(dict(fields, **fields['conversion']), None)


def recorded_settings(dataset, cache_dir=None):
  """The Settings that made a recorded `dataset`, with `cache_dir`."""
  conversion = dataset.conversion
  return Settings(dataset.image_size,
                  conversion['test_fraction'] or DEFAULT_TEST_FRACTION,
                  conversion['seed'], cache_dir)


def _is_int(value):
  """A JSON whole number (not a boolean)."""
  return isinstance(value, int) and not isinstance(value, bool)


def _numbers(value, count):
  """A JSON list of `count` numbers."""
  return (isinstance(value, list) and len(value) == count and
          all(isinstance(v, (int, float)) and not isinstance(v, bool)
              for v in value))


# model.json's "dataset" fields of an image folder: (test, what it must be).
RECORD_RULES = (
    ('class_names', lambda v: isinstance(v, list) and len(v) >= 2 and all(
        isinstance(n, str) and n for n in v) and len(set(v)) == len(v),
     'a list of two or more different class names'),
    ('image_size', lambda v: _is_int(v) and
     MIN_IMAGE_SIZE <= v <= MAX_IMAGE_SIZE,
     'a whole number from %d to %d' % (MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)),
    ('channel_mean', lambda v: _numbers(v, 3), 'a list of 3 numbers'),
    ('channel_std', lambda v: _numbers(v, 3) and min(v) > 0,
     'a list of 3 numbers above 0'),
    ('conversion', lambda v: isinstance(v, dict) and isinstance(
        v.get('source'), str) and _is_int(v.get('seed')) and (
            v.get('test_fraction') is None or (
                isinstance(v['test_fraction'], (int, float)) and
                0 < v['test_fraction'] < 1)),
     'an object with "source" (a path), "test_fraction" (null or a number '
     'between 0 and 1) and "seed" (a whole number)'),
)


def record_problem(fields):
  """(field, problem) of the first wrong "dataset" field of an image
  folder's model.json, or None."""
  for field, test, expected in RECORD_RULES:
    if not test(fields.get(field)):
      return field, 'is %s; it must be %s' % (
          json.dumps(fields.get(field))[:60], expected)
  return None
