"""Latency per image of a training folder's model: TensorFlow against its
.tflite files, one thread, batch 1.

    python bench/tflite_latency.py --checkpoint_dir=/tmp/cifar10_train \
        --data_dir=/tmp/cifar10_data FILE.tflite [FILE2.tflite ...]

Runs the test images one at a time (--images, default 1,000) through the
folder's SavedModel (cifar10_predict.py --export_dir's, loaded with
tf.saved_model.load; its signature takes encoded files, so each image is
PNG-encoded beforehand and the time includes decoding it), through the
inference graph the files are converted from (TensorFlow, the
checkpoint's eval weights, a session), then through each file (LiteRT),
in turns, all on one thread, and prints each one's median and 90th
percentile latency, its ratio to the SavedModel's, and its file size.
"""

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# pylint: disable=g-import-not-at-top,wrong-import-position
from cifar10_lib import devices
devices.set_tensorflow_options()

import numpy as np
import tensorflow as tf

import cifar10
import cifar10_input
import cifar10_predict
from cifar10_deploy import tflite
from cifar10_lib import checkpoints
from cifar10_models import model_file
# pylint: enable=g-import-not-at-top,wrong-import-position


def test_images(checkpoint_dir, data_dir, count):
  """The first `count` uint8 test images of the folder's data set."""
  dataset = model_file.resolve_dataset(checkpoint_dir, data_dir=data_dir)
  images = []
  for batch, _ in cifar10_input.eval_dataset('test', data_dir, 100, count,
                                             None, dataset):
    images.append(batch.numpy())
  return np.concatenate(images)


def tensorflow_runner(checkpoint_dir):
  """images [1, s, s, 3] -> probabilities, in a one-thread session."""
  model, recipe = model_file.resolve(checkpoint_dir)
  dataset = model_file.resolve_dataset(checkpoint_dir)
  graph = tf.Graph()
  with graph.as_default():
    raw, probabilities = tflite._inference_graph(  # pylint: disable=protected-access
        model, recipe, dataset, True)
    var_map = cifar10.variables_to_restore(recipe.moving_average_decay)
    saver = tf.compat.v1.train.Saver(var_map)
  config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1,
                                    inter_op_parallelism_threads=1)
  sess = tf.compat.v1.Session(graph=graph, config=config)
  with graph.as_default():
    checkpoints.restore(sess, saver, var_map,
                        checkpoints.latest(checkpoint_dir))
  return lambda image: sess.run(probabilities,
                                {raw: image.astype(np.float32)})


def saved_model_runner(checkpoint_dir, export_dir):
  """[encoded image] -> probabilities, through the folder's SavedModel,
  written to `export_dir`."""
  cifar10_predict.predict(checkpoint_dir, [], export_dir=export_dir)
  serve = tf.saved_model.load(export_dir).signatures['serving_default']
  return lambda encoded: serve(images=tf.constant(encoded))['probabilities']


def timed(run, images):
  """Seconds per image, each image alone, after one warm-up."""
  run(images[:1])
  times = []
  for i in range(len(images)):
    start = time.perf_counter()
    run(images[i:i + 1])
    times.append(time.perf_counter() - start)
  return np.array(times)


def main():
  """Times TensorFlow and each file, in turns; prints the figures."""
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--checkpoint_dir', required=True)
  parser.add_argument('--data_dir', required=True)
  parser.add_argument('--images', type=int, default=1000)
  parser.add_argument('files', nargs='+')
  args = parser.parse_args()
  # One thread for everything, TensorFlow's eager calls included.
  tf.config.threading.set_intra_op_parallelism_threads(1)
  tf.config.threading.set_inter_op_parallelism_threads(1)
  print(devices.describe(), flush=True)
  images = test_images(args.checkpoint_dir, args.data_dir, args.images)
  encoded = [tf.io.encode_png(image).numpy() for image in images]
  with tempfile.TemporaryDirectory(prefix='latency-') as scratch:
    runners = [
        ('SavedModel (PNG input)', saved_model_runner(
            args.checkpoint_dir, os.path.join(scratch, 'saved_model')), None,
         encoded),
        ('TensorFlow (checkpoint)', tensorflow_runner(args.checkpoint_dir),
         None, images)]
    for path in args.files:
      classifier = tflite.Classifier(path, threads=1)
      runners.append((os.path.basename(path), classifier.probabilities,
                      os.path.getsize(path), images))
    base = None
    for name, run, size, inputs in runners:
      times = timed(run, inputs)
      median = float(np.median(times))
      base = base or median
      print('%-28s median %.3f ms, 90th percentile %.3f ms, %.2fx; %s' %
            (name, 1e3 * median, 1e3 * np.percentile(times, 90),
             median / base, '%.2f MB' % (size / 1e6) if size else '-'),
            flush=True)


if __name__ == '__main__':
  main()
