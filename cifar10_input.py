"""Reads a data set's files and feeds them to the model through tf.data.

It reads the files that cifar10_lib.records describes and checks: the
official binary records, or the Python version's pickled batches, of a
data set of cifar10_datasets (CIFAR-10, the tutorial's, unless said).

The files are read once, whole, and kept in memory as raw records (150 MB
for training). Batches are then picked by record number and preprocessed
with whole-batch ops in tf.data's background threads, and prefetched, so a
training step never waits for the disk or for preprocessing, preprocessing
takes little of the CPU the training step needs, and the first batch is
ready about a second after start, not minutes.
"""

import collections
import functools
import os
import random

import tensorflow as tf

import cifar10_datasets
from cifar10_lib import records

# Images are cropped from 32x32 to this size, as in the tutorial (from
# other sizes, to the same share of the side: crop_size).
IMAGE_SIZE = 24

# The data set the tutorial's functions read, and its numbers under the
# tutorial's names.
DATASET = cifar10_datasets.get(cifar10_datasets.DEFAULT_DATASET)
NUM_CLASSES = DATASET.num_classes
CLASS_NAMES = DATASET.class_names
NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN = DATASET.train_examples
NUM_EXAMPLES_PER_EPOCH_FOR_EVAL = DATASET.test_examples

# Training distortions, as in the tutorial.
MAX_BRIGHTNESS_DELTA = 63
CONTRAST_LOWER = 0.2
CONTRAST_UPPER = 1.8

# How the images are prepared for a model, in training and in eval (a
# recipe names one of PREPROCESSING below): the tutorial's, and the 32x32
# ones of the model zoo.
TUTORIAL_PREPROCESSING = 'tutorial'
PADDED_CROP_PREPROCESSING = 'padded_crop'
FLIP_PREPROCESSING = 'flip'
# The padded-crop preprocessing's padding.
PAD = 4

# A run resumed at batch N shuffles with seed + N * this (a prime), so
# that it does not replay the order it started with.
RESUMED_STREAM_STRIDE = 1000003

# The tutorial filled its queue with 40% of an epoch before training started.
MIN_FRACTION_OF_EXAMPLES_IN_QUEUE = 0.4

# Records that take more than this share of the machine's memory are read
# from their files as batches need them (the tutorial's fixed-length record
# reader), not held in memory: with the batches being made beside them, a
# larger share would not leave the network room. Their shuffle buffer holds
# the tutorial's 40% of an epoch, or this share of the memory if less.
STREAM_MEMORY_SHARE = 0.5
STREAM_BUFFER_SHARE = 0.1
# Each epoch of a streamed EPOCHS order shuffles with seed * this + epoch.
EPOCH_SEED_STRIDE = 1 << 20

def _load(dataset, paths, python_version):
  """All records of `paths`, in order, checked: uint8 [N, record bytes].

  Each file is read in one piece, about 0.1 s for the 150 MB of training
  records, instead of several ops per record in every epoch.

  Args:
    paths: string [number of files] tensor. (Constant paths would let
      graph optimization read the files into the graph itself: 0.5 s more
      to start and a second copy in memory.)
    python_version: whether they are the Python version's pickled batches.
  """
  return tf.concat([records.checked_records(dataset, paths[i], python_version)
                    for i in range(paths.shape[0])], 0)


def _from_memory(dataset, paths, batch_records, make_batch, first_number=0):
  """Batches made by `make_batch(batch_number, images, labels, ids)`.

  Each element of `batch_records` (int64 [n]) says which records make a
  batch; `make_batch` gets them decoded, numbered from `first_number`, and
  transforms them with whole-batch ops. The records of `paths` are read
  once and kept in memory (150 MB for the training files). The calls run
  in parallel in tf.data's threads and whole batches are prefetched, so
  the training step does not wait for them.
  """
  python_version = records.is_python_batch(paths[0])
  table = tf.data.Dataset.from_tensors(tf.constant(paths)).map(
      _no_autograph(lambda p: _load(dataset, p, python_version))).cache()
  pairs = tf.data.Dataset.zip((batch_records.enumerate(first_number),
                               table.repeat()))
  return pairs.map(
      _no_autograph(lambda numbered, table: make_batch(
          numbered[0],
          *records.split_records(dataset, tf.gather(table, numbered[1])),
          numbered[1])),
      num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _no_autograph(function):
  """`function` for Dataset.map as it is: it has no Python control flow on
  tensors to convert, and AutoGraph's conversion takes 0.7 s at start."""
  return tf.autograph.experimental.do_not_convert(function)


def memory_bytes():
  """The machine's physical memory, in bytes."""
  return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')


def streams(paths):
  """Whether the records of `paths` are read from the files as they are
  needed: binary files whose bytes pass STREAM_MEMORY_SHARE of the memory
  (the Python version's pickles are loaded whole: CIFAR's fit)."""
  return not records.is_python_batch(paths[0]) and sum(
      os.path.getsize(p) for p in paths) > STREAM_MEMORY_SHARE * memory_bytes()


def _file_records(dataset, paths):
  """(record number, (its file, uint8 record [record_bytes])) of every
  record of the binary files `paths`, in order, read as they are needed."""
  def of_file(path):
    return tf.data.FixedLengthRecordDataset(path, dataset.record_bytes).map(
        lambda record: (path, tf.io.decode_raw(record, tf.uint8)))
  return tf.data.Dataset.from_tensor_slices(paths).flat_map(
      of_file).enumerate()


def _stream_buffer(dataset, num_examples):
  """The streamed reader's shuffle buffer, in records."""
  return max(1, min(int(num_examples * MIN_FRACTION_OF_EXAMPLES_IN_QUEUE),
                    int(memory_bytes() * STREAM_BUFFER_SHARE /
                        dataset.record_bytes)))


def _streamed(dataset, batches, make_batch, first_number=0):
  """_from_memory's batches from `batches`, a dataset of batches of
  _file_records' elements (record numbers, (files, records))."""
  def numbered_batch(number, batch):
    ids, (sources, rows) = batch
    return make_batch(number, *records.split_records(
        dataset, records.checked(dataset, rows, sources)), ids)
  return batches.enumerate(first_number).map(
      _no_autograph(numbered_batch),
      num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def new_seed():
  """A random seed for a run whose user did not choose one."""
  return random.SystemRandom().randrange(2 ** 31)


def crop_size(image_size):
  """The tutorial's crop of an image of `image_size`: 24 of 32, the same
  share of other sizes."""
  return image_size * IMAGE_SIZE // DATASET.image_size


def distortion_params(seed, n, image_size=DATASET.image_size):
  """Random distortions for n images of `image_size`, a function of the
  int64 [2] `seed`.

  Returns:
    (offsets, flips, deltas, factors): int32 [n, 2] crop offsets (row,
    column) in 0..image_size-24, bool [n] left-right flips, float32 [n]
    brightness deltas in [-63, 63) and contrast factors in [0.2, 1.8): the
    distributions of the tutorial's random_crop, random_flip_left_right,
    random_brightness and random_contrast.
  """
  u = tf.random.stateless_uniform([n, 5], seed)
  offsets = tf.cast(
      u[:, :2] * (image_size - crop_size(image_size) + 1), tf.int32)
  flips = u[:, 2] < 0.5
  deltas = MAX_BRIGHTNESS_DELTA * (2.0 * u[:, 3] - 1.0)
  factors = CONTRAST_LOWER + (CONTRAST_UPPER - CONTRAST_LOWER) * u[:, 4]
  return offsets, flips, deltas, factors


def distort_images(images, offsets, flips, deltas, factors):
  """The tutorial's training preprocessing of uint8 images [n, 32, 32, 3]:
  float32 [n, 24, 24, 3].

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
  images = _crop_and_flip(images, offsets, flips,
                          crop_size(images.shape[1]))
  images = tf.cast(images, tf.float32) + deltas[:, None, None, None]
  means = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
  images = (images - means) * factors[:, None, None, None] + means
  return tf.image.per_image_standardization(images)


def distort_images_one_at_a_time(images, offsets, flips, deltas, factors):
  """`distort_images` with the tutorial's tf.image ops, one image at a time.

  The reference the batch form is tested against (tests/test_input.py)
  and timed against (bench/tuned_forms.py): the same arithmetic.
  """
  def distort(args):
    image, offset, flip, delta, factor = args
    crop = crop_size(image.shape[0])
    image = tf.image.crop_to_bounding_box(
        tf.cast(image, tf.float32), offset[0], offset[1], crop, crop)
    image = tf.where(flip, tf.image.flip_left_right(image), image)
    image = tf.image.adjust_brightness(image, delta)
    image = tf.image.adjust_contrast(image, factor)
    return tf.image.per_image_standardization(image)
  return tf.map_fn(distort, (images, offsets, flips, deltas, factors),
                   fn_output_signature=tf.float32)


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


def padded_crop_images(images, offsets, flips, dataset=DATASET):
  """The zoo's training preprocessing of uint8 images [n, size, size, 3].

  Each image, padded with PAD black pixels on every side, is cropped back
  to its size at `offsets` and flipped where `flips` says, then normalized
  with `dataset`'s statistics.
  """
  padded = tf.pad(images, [[0, 0], [PAD, PAD], [PAD, PAD], [0, 0]])
  return normalize(_crop_and_flip(padded, offsets, flips, images.shape[1]),
                   dataset)


def normalize(images, dataset=DATASET):
  """The per-channel normalization: with the training set's mean and
  standard deviation (`dataset`'s), the same for every image."""
  return ((tf.cast(images, tf.float32) - tf.constant(dataset.channel_mean)) /
          tf.constant(dataset.channel_std))


def eval_image(image, unused_dataset=None):
  """The tutorial's evaluation preprocessing of [..., 32, 32, 3] images:
  float32 [..., 24, 24, 3].

  The central crop and the standardization match what training shows the
  network, without the randomness. (Per-image standardization needs no
  data set's statistics.)
  """
  crop = crop_size(image.shape[-2])
  margin = (image.shape[-2] - crop) // 2
  image = tf.cast(image[..., margin:margin + crop, margin:margin + crop, :],
                  tf.float32)
  return tf.image.per_image_standardization(image)


# How a preprocessing orders the training records: a stream through a shuffle
# buffer (the tutorial's), or a permutation per epoch in whole batches, the
# last partial batch dropped (airbench's).
STREAM = 'stream'
EPOCHS = 'epochs'
# airbench's preprocessing: translation by up to this many pixels over a
# reflect-padded image, and the stream key of the fixed per-image flips.
TRANSLATE = 2
_FLIP_KEY = -1
# airbench96's (legacy/airbench96.py): translations by up to 4 pixels, and a
# square of CUTOUT x CUTOUT pixels (at most the image), its corner anywhere
# that keeps it inside, set to 0 after the normalization (to the training
# set's mean), drawn from the batch's seed folded with _CUTOUT_KEY.
TRANSLATE_96 = 4
CUTOUT = 12
_CUTOUT_KEY = -2


class Batch(collections.namedtuple(
    'Batch', 'seed number epoch images ids size num_examples dataset')):
  """A training batch as a preprocessing's `train` gets it.

  seed: the run's seed; number: the batch's number in the run (int64
  tensor); epoch: the epoch it belongs to (int64 tensor; the EPOCHS order
  only, else None); images: uint8 [size, 32, 32, 3]; ids: the records'
  numbers (int64 [size]); size: the batch size; num_examples: the records;
  dataset: the records.Dataset (its statistics normalize).
  """

  def seed_pair(self):
    """The int64 [2] stateless seed of this batch's random draws."""
    return tf.stack([tf.constant(self.seed, tf.int64), self.number])


class Preprocessing(collections.namedtuple(
    'Preprocessing', 'description size train eval order',
                                  defaults=[STREAM])):
  """How a model sees the images, a recipe element any model can use.

  Attributes:
    description: in words, for the run's first line ('%(size)d': the
      size the network gets).
    size: size(image_size) -> the height and width the network gets of
      images of image_size.
    train: train(batch) -> float32 training images from a Batch, a
      function of its seed and number (and ids, epoch) alone.
    eval: eval(images, dataset) -> the float32 evaluation form of uint8
      (or float) images [..., 32, 32, 3] of `dataset`: eval, predict and
      the SavedModel apply it.
    order: STREAM or EPOCHS.
  """

  def describe(self, image_size):
    """The description, for images of `image_size`."""
    return self.description % {'size': self.size(image_size)}


def _tutorial_train(batch):
  return distort_images(batch.images, *distortion_params(
      batch.seed_pair(), batch.size, batch.dataset.image_size))


def _padded_crop_train(batch, shift):
  return padded_crop_images(
      batch.images, *padded_crop_params(batch.seed_pair(), batch.size, shift),
      dataset=batch.dataset)


def alternating_flips(batch):
  """airbench's flips: each image's own, drawn once for the run, in even
  epochs, and the opposite in odd ones (bool [size])."""
  fixed = tf.random.stateless_uniform(
      [batch.num_examples], tf.constant([batch.seed, _FLIP_KEY], tf.int64))
  return tf.not_equal(tf.gather(fixed, batch.ids) < 0.5,
                      tf.equal(batch.epoch % 2, 1))


def _translate_and_flip_train(batch, shift=TRANSLATE, cutout=0):
  """airbench's training preprocessing: a random translation by up to
  `shift` pixels over the reflect-padded image, the alternating flip, the
  per-channel normalization, then a `cutout` square (none if 0)."""
  offsets = tf.random.stateless_uniform(
      [batch.size, 2], batch.seed_pair(), 0, 2 * shift + 1, tf.int32)
  padded = tf.pad(batch.images, [[0, 0], [shift, shift], [shift, shift],
                                 [0, 0]], 'REFLECT')
  images = normalize(_crop_and_flip(padded, offsets, alternating_flips(batch),
                                    batch.images.shape[1]), batch.dataset)
  return cut_out(images, cutout, tf.random.experimental.stateless_fold_in(
      batch.seed_pair(), _CUTOUT_KEY)) if cutout else images


def cut_out(images, size, seed):
  """float images [n, side, side, 3] with a size x size square of each
  (size at most the side) set to 0, its corner drawn uniformly from where
  the square fits, from the stateless `seed`."""
  side = images.shape[1]
  size = min(size, side)
  corners = tf.random.stateless_uniform([tf.shape(images)[0], 2], seed, 0,
                                        side - size + 1, tf.int32)
  span = tf.range(side)[None, :]
  rows = (span >= corners[:, :1]) & (span < corners[:, :1] + size)
  columns = (span >= corners[:, 1:]) & (span < corners[:, 1:] + size)
  inside = rows[:, :, None, None] & columns[:, None, :, None]
  return tf.where(inside, tf.zeros_like(images), images)


def _whole(image_size):
  """The zoo's preprocessings show the network the whole image."""
  return image_size


TRANSLATE_PREPROCESSING = 'translate_alternating_flip'
TRANSLATE_CUTOUT_PREPROCESSING = 'translate4_alternating_flip_cutout12'
PREPROCESSING = {
    TUTORIAL_PREPROCESSING: Preprocessing(
        '%(size)dx%(size)d (training: random crops, flips, brightness and '
        'contrast; eval: central crops), per-image standardization',
        crop_size, _tutorial_train, eval_image),
    PADDED_CROP_PREPROCESSING: Preprocessing(
        '%(size)dx%(size)d (training: random crops of the image padded by 4 '
        'pixels, random flips; eval: whole), per-channel normalization',
        _whole, functools.partial(_padded_crop_train, shift=PAD), normalize),
    FLIP_PREPROCESSING: Preprocessing(
        '%(size)dx%(size)d (training: random flips; eval: whole), per-channel '
        'normalization', _whole,
        functools.partial(_padded_crop_train, shift=0), normalize),
    TRANSLATE_PREPROCESSING: Preprocessing(
        '%(size)dx%(size)d (training: translations by up to 2 pixels over '
        'the reflect-padded image, alternating flips, whole epochs of whole '
        'batches; eval: whole), per-channel normalization',
        _whole, _translate_and_flip_train, normalize, EPOCHS),
    TRANSLATE_CUTOUT_PREPROCESSING: Preprocessing(
        '%(size)dx%(size)d (training: translations by up to 4 pixels over '
        'the reflect-padded image, alternating flips, a 12x12 cutout, whole '
        'epochs of whole batches; eval: whole), per-channel normalization',
        _whole, functools.partial(_translate_and_flip_train,
                                  shift=TRANSLATE_96, cutout=CUTOUT),
        normalize, EPOCHS),
}


def examples_per_epoch(preprocessing, num_examples, batch_size):
  """The examples an epoch of `preprocessing` trains on: all of them, but for
  the
  last partial batch, which the EPOCHS order drops."""
  if PREPROCESSING[preprocessing].order == EPOCHS:
    return num_examples // batch_size * batch_size
  return num_examples


# Test-time augmentation (a recipe's `tta`): the views of each evaluated
# image and the weights of their logits. airbench's (tta_level 2): the
# image and its mirror, each as is (1/4 each) and shifted one pixel up-left
# and one pixel down-right over the reflect-padded image (1/8 each).
MIRROR_TRANSLATE_TTA = 'mirror_translate'


def mirror_translate_views(images):
  """[(weight, images)]: the six views of float images [n, 32, 32, 3]."""
  padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], 'REFLECT')
  size = images.shape[1]
  shifted = [padded[:, :size, :size], padded[:, 2:, 2:]]
  views = []
  for weight, group in ((0.25, [images]), (0.125, shifted)):
    for image in group:
      views += [(weight, image), (weight, tf.reverse(image, [2]))]
  return views


TEST_TIME_VIEWS = {MIRROR_TRANSLATE_TTA: mirror_translate_views}


def over_test_time_views(tta, images, network):
  """The logits of `network` over the test-time views `tta` of `images`,
  weighted as the views say.

  The views go through `network` (a function images -> logits) as one
  batch, so that it is built once.
  """
  weights, views = zip(*TEST_TIME_VIEWS[tta](images))
  logits = network(tf.concat(views, 0))
  per_view = tf.reshape(logits, [len(views), -1, logits.shape[-1]])
  return tf.tensordot(tf.constant(weights, tf.float32), per_view, 1)


def preprocessed_size(preprocessing, image_size=DATASET.image_size):
  """The height and width of the images that `preprocessing` gives the
  network from images of `image_size`."""
  return PREPROCESSING[preprocessing].size(image_size)


def eval_preprocess(images, preprocessing, dataset=DATASET):
  """`preprocessing`'s evaluation form of [..., 32, 32, 3] images of
  `dataset`."""
  return PREPROCESSING[preprocessing].eval(images, dataset)


def train_dataset(data_dir, batch_size, seed=None,
                  preprocessing=TUTORIAL_PREPROCESSING,
                  first_batch=0, dataset=DATASET):
  """The endless, shuffled, distorted training dataset of (images, labels).

  `preprocessing` (a name in PREPROCESSING) says how the images are
  prepared.
  `first_batch` (an int64 scalar, maybe a tensor) numbers the first batch:
  a run resumed at step N starts there, so that its order and distortions
  are new ones, a function of (seed, N), instead of a replay of the batches
  the run began with. (Going on with the very stream of a run that never
  stopped would mean skipping N batches of record numbers: 20 s for 100K.)
  Batches are all `batch_size` long. The order is the tutorial's: a
  shuffle buffer of 40% of an epoch over the records in file order, here
  shuffling record numbers. Order and distortions are a function of
  `seed`: the same seed gives the same batches; None draws a new seed.
  `dataset` (a records.Dataset) says which files to read and how.
  """
  if seed is None:
    seed = new_seed()
  paths = records.data_files(dataset, data_dir)
  num_examples = records.num_examples_in(dataset, paths)
  order = PREPROCESSING[preprocessing].order

  def distorted_batch(batch_number, images, labels, ids):
    epoch = (batch_number // (num_examples // batch_size)
             if PREPROCESSING[preprocessing].order == EPOCHS else None)
    return PREPROCESSING[preprocessing].train(Batch(
        seed, batch_number, epoch, images, ids, batch_size, num_examples,
        dataset)), labels
  if streams(paths):
    return _streamed(dataset, _STREAMED_ORDERS[order](
        _file_records(dataset, paths), _stream_buffer(dataset, num_examples),
        num_examples, batch_size, seed, first_batch), distorted_batch,
                     first_batch)
  batch_records = _BATCH_ORDERS[order](num_examples, batch_size, seed,
                                       first_batch)
  return _from_memory(dataset, paths, batch_records, distorted_batch,
                      first_batch)


def _stream_seed(seed, first_batch):
  """The shuffle seed of a stream that starts at batch `first_batch`."""
  return (tf.constant(seed, tf.int64) +
          RESUMED_STREAM_STRIDE * tf.cast(first_batch, tf.int64))


def _stream_batches(num_examples, batch_size, seed, first_batch):
  """The tutorial's order: a shuffle buffer of 40% of an epoch over the
  record numbers, endless; a run resumed at batch N shuffles anew."""
  buffer_size = int(num_examples * MIN_FRACTION_OF_EXAMPLES_IN_QUEUE)
  return tf.data.Dataset.range(num_examples).shuffle(
      max(buffer_size, 1), seed=_stream_seed(seed, first_batch)).repeat(
          ).batch(batch_size, drop_remainder=True)


def _epoch_batches(num_examples, batch_size, seed, first_batch):
  """A permutation of the records per epoch, a function of (seed, epoch),
  in whole batches: a run resumed at batch N goes on with the very batches
  an uninterrupted run would have had."""
  per_epoch = num_examples // batch_size
  first_batch = tf.cast(first_batch, tf.int64)

  def epoch_batches(epoch):
    order = tf.argsort(tf.random.stateless_uniform(
        [num_examples], tf.stack([tf.constant(seed, tf.int64), epoch])))
    return tf.data.Dataset.from_tensor_slices(tf.reshape(
        tf.cast(order[:per_epoch * batch_size], tf.int64),
        [per_epoch, batch_size]))
  return tf.data.Dataset.range(first_batch // per_epoch, 2 ** 62).flat_map(
      epoch_batches).skip(first_batch % per_epoch)


_BATCH_ORDERS = {STREAM: _stream_batches, EPOCHS: _epoch_batches}


def _streamed_stream(file_records, buffer_size, unused_num_examples,
                     batch_size, seed, first_batch):
  """_stream_batches' order over streamed records: the shuffle buffer
  over the files' records."""
  return file_records.shuffle(
      buffer_size, seed=_stream_seed(seed, first_batch)).repeat().batch(
          batch_size, drop_remainder=True)


def _streamed_epochs(file_records, buffer_size, num_examples, batch_size,
                     seed, first_batch):
  """_epoch_batches' whole epochs of whole batches over streamed records,
  each epoch shuffled through the buffer as a function of (seed, epoch):
  a run resumed at batch N reads past the batches of its epoch before N
  and goes on with those an uninterrupted run would have had."""
  per_epoch = num_examples // batch_size
  first_batch = tf.cast(first_batch, tf.int64)

  def epoch_batches(epoch):
    return file_records.shuffle(
        buffer_size, seed=seed * EPOCH_SEED_STRIDE + epoch,
        reshuffle_each_iteration=False).batch(batch_size,
                                              drop_remainder=True)
  return tf.data.Dataset.range(first_batch // per_epoch, 2 ** 62).flat_map(
      epoch_batches).skip(first_batch % per_epoch)


_STREAMED_ORDERS = {STREAM: _streamed_stream, EPOCHS: _streamed_epochs}


def eval_dataset(eval_data, data_dir, batch_size, num_examples=None,
                 preprocessing=TUTORIAL_PREPROCESSING, dataset=DATASET):
  """One pass, in file order, over the evaluation images and labels.

  Every example comes exactly once; the last batch holds the remainder and is
  smaller, never padded or wrapped around.

  Args:
    eval_data: 'test' or 'train_eval'.
    data_dir: the folder that holds the data set's files.
    batch_size: examples per batch.
    num_examples: how many examples to take from the start; None for all.
    preprocessing: the evaluation preprocessing (PREPROCESSING) of the
      images; None: the uint8 images as they are (for a file that
      preprocesses them itself, a .tflite).
    dataset: the records.Dataset.

  Raises:
    DataError: the files are bad, or there are fewer than `num_examples`.
  """
  paths = records.data_files(dataset, data_dir, eval_data)
  available = records.num_examples_in(dataset, paths)
  if num_examples is None:
    num_examples = available
  elif num_examples > available:
    raise records.DataError(
        '--num_examples=%d but %s holds only %d examples: pass '
        '--num_examples=%d or fewer' %
        (num_examples, eval_data, available, available))
  def eval_batch(unused_number, images, labels, unused_ids):
    return (eval_preprocess(images, preprocessing, dataset)
            if preprocessing else images), labels
  if streams(paths):
    return _streamed(dataset, _file_records(dataset, paths).take(
        num_examples).batch(batch_size), eval_batch)
  return _from_memory(dataset, paths,
                      tf.data.Dataset.range(num_examples).batch(batch_size),
                      eval_batch)


def distorted_inputs(data_dir, batch_size, seed=None):
  """Graph-mode training input: images [batch, 24, 24, 3], labels [batch].

  The tensors yield a new batch each time they are evaluated, forever.
  """
  iterator = tf.compat.v1.data.make_one_shot_iterator(
      train_dataset(data_dir, batch_size, seed))
  return iterator.get_next()


def inputs(eval_data, data_dir, batch_size, num_examples=None,
           preprocessing=TUTORIAL_PREPROCESSING, dataset=DATASET):
  """Graph-mode evaluation input: images [<=batch, 24, 24, 3], labels.

  (32x32 for the padded-crop preprocessing.)

  The tensors walk once through the data, then raise OutOfRangeError. The
  pass starts again in each new tf.compat.v1.Session.
  """
  iterator = tf.compat.v1.data.make_one_shot_iterator(
      eval_dataset(eval_data, data_dir, batch_size, num_examples,
                   preprocessing, dataset))
  return iterator.get_next()
