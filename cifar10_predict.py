"""Classifies your own pictures with a trained model; exports it for serving.

Usage:
  python cifar10_predict.py --checkpoint_dir=/tmp/cifar10_train cat.jpg ship.png
  python cifar10_predict.py --checkpoint_dir=/tmp/cifar10_train --export_dir=/tmp/cifar10_model

Each PNG, JPEG, GIF (first frame) or BMP file, of any size, grayscale, RGB
or RGBA, is brought to 32x32 RGB and then shown to the network as evaluation
shows it (central 24x24 crop, per-image standardization). The newest
checkpoint's moving-average weights classify it; each file gets a line

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
import sys
import tempfile

from absl import flags
import numpy as np
import tensorflow as tf

import cifar10
import cifar10_checkpoint
import cifar10_cli
import cifar10_input
from cifar10_cli import UserError

FLAGS = flags.FLAGS

flags.DEFINE_integer('top_k', 3, 'How many classes to print for each file.',
                     lower_bound=1, upper_bound=cifar10_input.NUM_CLASSES)
flags.DEFINE_string('export_dir', None, 'Write a SavedModel for serving into '
                    'this new folder.')

SIGNATURE_INPUT = 'images'


def decode_image(data):
  """One encoded image file to the evaluation view, float32 [24, 24, 3].

  Any size and channel count becomes 32x32 RGB (alpha dropped, gray
  copied), like a CIFAR-10 picture, before the crop that eval applies.
  """
  image = tf.io.decode_image(data, channels=3, expand_animations=False)
  image = tf.image.resize(image, [cifar10_input.ORIGINAL_IMAGE_SIZE] * 2,
                          antialias=True)
  return cifar10_input.eval_image(image)


def build_classifier():
  """Builds encoded images -> class probabilities in the default graph.

  Returns:
    (encoded, outputs): a string placeholder [batch], and a dict of the
    signature's outputs.
  """
  encoded = tf.compat.v1.placeholder(tf.string, [None], name='encoded_images')
  images = tf.map_fn(decode_image, encoded,
                     fn_output_signature=tf.TensorSpec(
                         [cifar10_input.IMAGE_SIZE, cifar10_input.IMAGE_SIZE,
                          cifar10_input.IMAGE_DEPTH], tf.float32))
  probabilities = tf.nn.softmax(cifar10.inference(images),
                                name='probabilities')
  names = tf.constant(cifar10_input.CLASS_NAMES)
  batch = tf.shape(probabilities)[0]
  outputs = {
      'probabilities': probabilities,
      'class_names': tf.tile(names[tf.newaxis], [batch, 1]),
      'top_class': tf.gather(names, tf.argmax(probabilities, axis=1)),
  }
  return encoded, outputs


def _restore_newest(sess):
  checkpoint = cifar10_checkpoint.require_latest(FLAGS.checkpoint_dir)
  var_map = cifar10.variables_to_restore()
  cifar10_checkpoint.restore(sess, tf.compat.v1.train.Saver(var_map),
                             var_map, checkpoint)
  return checkpoint


def classify(sess, encoded, outputs, paths):
  """Prints the top classes of each file; returns how many failed."""
  failed = 0
  for path in paths:
    try:
      with open(path, 'rb') as f:
        data = f.read()
      probabilities = sess.run(outputs['probabilities'], {encoded: [data]})[0]
    except (OSError, tf.errors.InvalidArgumentError) as e:
      reason = getattr(e, 'strerror', None) or 'not a PNG, JPEG, GIF or BMP'
      sys.stderr.write('ERROR: %s is not a readable image (%s)\n' %
                       (path, reason))
      failed += 1
      continue
    best = np.argsort(-probabilities)[:FLAGS.top_k]
    print('%s: %s' % (path, ', '.join(
        '%s %.3f' % (cifar10_input.CLASS_NAMES[i], probabilities[i])
        for i in best)), flush=True)
  return failed


def export(sess, encoded, outputs, export_dir):
  """Writes the SavedModel into the new folder `export_dir`, all or nothing."""
  export_dir = os.path.abspath(export_dir)
  if os.path.exists(export_dir):
    raise UserError('export_dir %s already exists: remove it or choose a new '
                    'folder' % export_dir)
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


def main(argv):
  paths = argv[1:]
  if not paths and not FLAGS.export_dir:
    raise UserError('give image files to classify, or --export_dir=DIR')
  with tf.Graph().as_default():
    encoded, outputs = build_classifier()
    with tf.compat.v1.Session() as sess:
      checkpoint = _restore_newest(sess)
      print('Classifying with %s.' % checkpoint, flush=True)
      failed = classify(sess, encoded, outputs, paths)
      if FLAGS.export_dir:
        export(sess, encoded, outputs, FLAGS.export_dir)
  return cifar10_cli.USER_ERROR_EXIT if failed else 0


if __name__ == '__main__':
  cifar10_cli.run(main, takes_arguments=True)
