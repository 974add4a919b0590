"""Classifies your own pictures with a trained model; exports it for serving.

Usage:
  python cifar10_predict.py --checkpoint_dir=/tmp/cifar10_train cat.jpg ship.png
  python cifar10_predict.py --checkpoint_dir=/tmp/cifar10_train --export_dir=/tmp/cifar10_model

Each PNG, JPEG, GIF (first frame) or BMP file, of any size, grayscale, RGB
or RGBA, is brought to 32x32 RGB and then shown to the network as evaluation
shows it (the tutorial's model: central 24x24 crop, per-image
standardization; the zoo's: the whole image, normalized per channel). The
newest checkpoint classifies it, with the weights eval reads (the
tutorial's: their moving averages), the model being the one the folder
records (cifar10_models); each file gets a line

  cat.jpg: cat 0.912, dog 0.051, deer 0.013

A file that is not a readable image gets an error line naming it; the other
files are still classified, and the exit status is 2.

--export_dir writes a SavedModel of the same graph: its serving signature
takes a batch of encoded image files (strings) and returns `probabilities`
[batch, 10], `class_names` [batch, 10] (the name of each column) and
`top_class` [batch]. An existing folder is never overwritten.
"""

import os
import shutil
import struct
import sys
import tempfile

from absl import flags
from cifar10_lib import command_line

command_line.define(command_line.DATA, command_line.DEVICES,
                    command_line.MODEL, command_line.PREDICT,
                    command_line.INFERENCE)
flags.adopt_module_key_flags(command_line)

if __name__ == '__main__':  # First: a bad flag or path stops here, at once.
  command_line.parse(sys.argv, command_line.check_predict_from_flags)

# pylint: disable=g-import-not-at-top,wrong-import-position
from cifar10_lib import devices
# Before TensorFlow loads: it reads the oneDNN setting then.
devices.set_tensorflow_options(command_line.onednn_from_flags())

from cifar10_lib import cli
import numpy as np
import tensorflow as tf

import cifar10
import cifar10_input
from cifar10_datasets import folder
from cifar10_deploy import tflite
from cifar10_lib import download
from cifar10_models import model_file
from cifar10_lib import checkpoints
from cifar10_lib import paths as path_checks
from cifar10_lib import records
from cifar10_lib import tf_config
from cifar10_training import options
from cifar10_training import training
from cifar10_lib.cli import UserError

FLAGS = flags.FLAGS


SIGNATURE_INPUT = 'images'

# Pictures with more pixels than this are refused before decoding (the
# image folder's limit, the same reason).
MAX_IMAGE_PIXELS = folder.MAX_IMAGE_PIXELS

# JPEG start-of-frame markers, which carry the picture's size: C0..CF but
# C4 (Huffman tables), C8 (reserved) and CC (arithmetic coding tables).
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def declared_size(data):
  """(width, height) that an image file's header declares, or None.

  Read from the header alone, without decoding: PNG's IHDR, JPEG's
  start-of-frame segment, GIF's logical screen, BMP's info header. None
  for anything else, which the decoder then reports.
  """
  if data.startswith(b'\x89PNG\r\n\x1a\n') and len(data) >= 24:
    return struct.unpack('>II', data[16:24])
  if data[:6] in (b'GIF87a', b'GIF89a') and len(data) >= 10:
    return struct.unpack('<HH', data[6:10])
  if data.startswith(b'BM') and len(data) >= 26:
    width, height = struct.unpack('<ii', data[18:26])
    return abs(width), abs(height)
  if data.startswith(b'\xff\xd8'):
    return _jpeg_size(data)
  return None


def _jpeg_size(data):
  """The size in a JPEG's start-of-frame segment, or None if there is none."""
  at = 2
  while at + 9 <= len(data) and data[at] == 0xFF:
    marker = data[at + 1]
    if marker in _JPEG_FRAME_MARKERS:
      height, width = struct.unpack('>HH', data[at + 5:at + 9])
      return width, height
    at += 2 + struct.unpack('>H', data[at + 2:at + 4])[0]
  return None


def check_size(path, data):
  """Raises UserError if the picture in `data` is too large to decode."""
  size = declared_size(data)
  if size and size[0] * size[1] > MAX_IMAGE_PIXELS:
    raise UserError('%s is %dx%d pixels, more than the %d megapixels this '
                    'program decodes: scale it down first' %
                    (path, size[0], size[1], MAX_IMAGE_PIXELS // 10 ** 6))


def decode_image(data, preprocessing=cifar10_input.TUTORIAL_PREPROCESSING,
                 dataset=cifar10_input.DATASET):
  """One encoded image file, prepared as evaluation prepares images:
  float32 [24, 24, 3].

  Any size and channel count becomes RGB of the data set's size (alpha
  dropped, gray copied; 32x32 for CIFAR), like a picture of the data set,
  before the crop that eval applies; 32x32 for the zoo's preprocessing,
  which eval shows whole.
  """
  return cifar10_input.eval_preprocess(
      _resized(data, dataset.image_size), preprocessing, dataset)


def _resized(data, size):
  """An encoded image file decoded as RGB (alpha dropped, gray copied)
  and resized to float32 [size, size, 3]."""
  image = tf.io.decode_image(data, channels=3, expand_animations=False)
  return tf.image.resize(image, [size, size], antialias=True)


def build_classifier(model, recipe, use_fp16=False,
                     dataset=cifar10_input.DATASET):
  """Builds encoded images -> class probabilities in the default graph.

  Args:
    model, recipe: the cifar10_models.Model (inference mode) and its
      Recipe.
    use_fp16: whether the model was trained with --use_fp16.
    dataset: the records.Dataset it was trained on: its image size,
      statistics and class names.

  Returns:
    (encoded, outputs): a string placeholder [batch], and a dict of the
    signature's outputs.
  """
  encoded = tf.compat.v1.placeholder(tf.string, [None], name='encoded_images')
  size = cifar10_input.preprocessed_size(recipe.preprocessing,
                                        dataset.image_size)
  images = tf.map_fn(
      lambda data: decode_image(data, recipe.preprocessing, dataset), encoded,
      fn_output_signature=tf.TensorSpec([size, size, records.IMAGE_DEPTH],
                                        tf.float32))
  probabilities = tf.nn.softmax(
      model.eval_logits(images, recipe, use_fp16, dataset=dataset),
      name='probabilities')
  names = tf.constant(dataset.class_names)
  batch = tf.shape(probabilities)[0]
  outputs = {
      'probabilities': probabilities,
      'class_names': tf.tile(names[tf.newaxis], [batch, 1]),
      'top_class': tf.gather(names, tf.argmax(probabilities, axis=1)),
  }
  return encoded, outputs


def _restore_newest(sess, recipe, checkpoint_dir):
  """Restores the newest checkpoint of `checkpoint_dir`, with the weights
  eval reads; returns its path."""
  checkpoint = checkpoints.require_latest(checkpoint_dir)
  var_map = cifar10.variables_to_restore(recipe.moving_average_decay)
  checkpoints.restore(sess, tf.compat.v1.train.Saver(var_map),
                             var_map, checkpoint)
  return checkpoint


def classify(probabilities_of, paths, top_k=3,
             class_names=cifar10_input.CLASS_NAMES):
  """Prints the top classes of each file, `probabilities_of(encoded
  image)` giving its class probabilities; returns how many failed."""
  failed = 0
  for path in paths:
    try:
      with open(path, 'rb') as f:
        data = f.read()
      check_size(path, data)
      probabilities = probabilities_of(data)
    except UserError as e:
      sys.stderr.write('ERROR: %s\n' % e)
      failed += 1
      continue
    except (OSError, tf.errors.InvalidArgumentError) as e:
      reason = getattr(e, 'strerror', None) or 'not a PNG, JPEG, GIF or BMP'
      sys.stderr.write('ERROR: %s is not a readable image (%s): pass PNG, '
                       'JPEG, GIF or BMP files\n' % (path, reason))
      failed += 1
      continue
    best = np.argsort(-probabilities)[:top_k]
    print('%s: %s' % (path, ', '.join(
        '%s %.3f' % (class_names[i], probabilities[i])
        for i in best)), flush=True)
  return failed


def export(sess, encoded, outputs, export_dir):
  """Writes the SavedModel into the new folder `export_dir`, all or nothing."""
  export_dir = os.path.abspath(export_dir)
  if os.path.exists(export_dir):
    raise path_checks.problem('exists', 'export_dir', export_dir)
  parent = os.path.dirname(export_dir)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix='.export-', dir=parent)
  try:
    target = os.path.join(staging, 'model')
    builder = tf.compat.v1.saved_model.Builder(target)
    signature = tf.compat.v1.saved_model.predict_signature_def(
        inputs={SIGNATURE_INPUT: encoded}, outputs=outputs)
    builder.add_meta_graph_and_variables(
        sess, [tf.compat.v1.saved_model.SERVING],
        signature_def_map={'serving_default': signature})
    builder.save()
    os.rename(target, export_dir)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  print('Exported a SavedModel to %s.' % export_dir, flush=True)


def predict(checkpoint_dir, paths, top_k=3, export_dir=None, model=None,
            use_fp16=False, config=None):
  """Classifies `paths` with the newest checkpoint; exports if asked.

  Args:
    checkpoint_dir: the training folder.
    paths: image files; each gets a line (or an error line on stderr).
    top_k: how many classes each line names.
    export_dir: if given, a new folder for the SavedModel.
    model: the model's name (--model), None to take the folder's.
    use_fp16: whether the model was trained with --use_fp16.
    config: the session's tf.compat.v1.ConfigProto; by default
      devices.session_config's.

  Returns:
    How many files could not be classified.
  """
  model, recipe = model_file.resolve(checkpoint_dir, model, use_fp16)
  dataset = model_file.resolve_dataset(checkpoint_dir)
  _check_top_k(top_k, dataset.class_names)
  with tf.Graph().as_default():
    encoded, outputs = build_classifier(model, recipe, use_fp16, dataset)
    with tf.compat.v1.Session(
        config=config or devices.session_config()) as sess:
      checkpoint = _restore_newest(sess, recipe, checkpoint_dir)
      print('Classifying with %s.' % checkpoint, flush=True)
      failed = classify(
          lambda data: sess.run(outputs['probabilities'],
                                {encoded: [data]})[0],
          paths, top_k, dataset.class_names)
      if export_dir:
        export(sess, encoded, outputs, export_dir)
  return failed


def _check_top_k(top_k, class_names):
  """Raises UserError if --top_k asks for more classes than there are."""
  if top_k > len(class_names):
    raise UserError('--top_k=%d: the model has %d classes; pass at most '
                    '--top_k=%d' % (top_k, len(class_names),
                                    len(class_names)))


def raw_image(data, size):
  """One encoded image file as the data set's raw pixels: uint8 [size,
  size, 3], any size and channel count resized (as build_classifier
  does) for a file that preprocesses them itself (a .tflite)."""
  image = _resized(data, size)
  return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8).numpy()


def classify_with_tflite(path, paths, top_k=3):
  """Classifies `paths` with the .tflite file `path`; returns how many
  failed."""
  classifier = tflite.Classifier(path)
  _check_top_k(top_k, classifier.class_names)
  size = classifier.record['image_size']
  print('Classifying with %s.' % path, flush=True)
  return classify(
      lambda data: classifier.probabilities(raw_image(data, size)[None])[0],
      paths, top_k, classifier.class_names)


def calibration_images(dataset, data_dir, count):
  """The first `count` training images of `dataset` in `data_dir`,
  uint8, for int8's calibration.

  Raises:
    UserError: `count` is below 1 or above the training images there.
  """
  available = training.training_records(dataset, data_dir)
  if not 1 <= count <= available:
    raise UserError('--calibration_images=%d: pass 1 to %d (the training '
                    'images in %s)' % (count, available, data_dir))
  return records.training_images(dataset, data_dir, count)


def export_tflite(checkpoint_dir, path, quantize='none', calibration=None,
                  tta=True):
  """Writes the newest checkpoint's model into the new .tflite file
  `path` (and its record beside it)."""
  data, record = tflite.convert(checkpoint_dir, quantize, calibration, tta)
  tflite.write(path, data, record)
  print('Wrote %s (%s, %d bytes) from %s.' %
        (path, 'float32' if quantize == 'none' else quantize, len(data),
         record['checkpoint']), flush=True)


def tflite_from_flags(paths):
  """--tflite: classify with the file, or write it."""
  if paths:
    return classify_with_tflite(FLAGS.tflite, paths, FLAGS.top_k)
  calibration = None
  if FLAGS.quantize == 'int8':
    settings = options.folder_settings_from_flags()
    dataset = model_file.resolve_dataset(FLAGS.checkpoint_dir,
                                         data_dir=FLAGS.data_dir,
                                         folder_settings=settings)
    download.prepare_data(dataset, FLAGS.data_dir, None, FLAGS.download,
                          FLAGS.data_url)
    calibration = calibration_images(dataset, FLAGS.data_dir,
                                     FLAGS.calibration_images)
  export_tflite(FLAGS.checkpoint_dir, FLAGS.tflite, FLAGS.quantize,
                calibration, FLAGS.tta)
  return 0


def main(argv):
  place = tf_config.from_environment()
  if place is not None:
    print(tf_config.describe(place, 'cifar10_predict.py'), flush=True)
  model = options.model_from_flags()[0]
  paths = argv[1:]
  if FLAGS.tflite:
    return cli.USER_ERROR_EXIT if tflite_from_flags(paths) else 0
  if not paths and not FLAGS.export_dir:
    raise UserError('give image files to classify, --export_dir=DIR or '
                    '--tflite=FILE')
  failed = predict(FLAGS.checkpoint_dir, paths, FLAGS.top_k, FLAGS.export_dir,
                   model, FLAGS.use_fp16,
                   options.session_config_from_flags())
  return cli.USER_ERROR_EXIT if failed else 0


if __name__ == '__main__':
  cli.run(main, takes_arguments=True)
