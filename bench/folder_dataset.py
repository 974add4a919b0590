"""Times --dataset=folder: CIFAR-10 written out as image files, converted.

    python bench/folder_dataset.py --data_dir=/root/cifar10_data \
        --images_dir=/tmp/cifar10_png [--format=png] [--size=32]

Writes CIFAR-10's 60,000 images (its binary files in --data_dir) as files
of --format in the folder layout (--images_dir/train/CLASS/N.png,
--images_dir/test/CLASS/N.png; kept if already there), enlarged to --size
if asked, then converts them into a new cache, as a run with
--dataset=folder does, and prints the conversion's time and rate, the
cache's size and the process's peak memory; then loads them again (the
cache reused) and prints that time. Train on the folder with
cifar10_train.py --dataset=folder --data_dir=IMAGES_DIR.
"""

import argparse
import os
import resource
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# pylint: disable=g-import-not-at-top,wrong-import-position
from cifar10_lib import devices
devices.set_tensorflow_options()

import numpy as np
from PIL import Image

from cifar10_datasets import cifar10
from cifar10_datasets import folder
from cifar10_lib import records
# pylint: enable=g-import-not-at-top,wrong-import-position

DATASET = cifar10.CIFAR10


def write_images(data_dir, images_dir, image_format, size):
  """Writes the data set's records as image files in the folder layout;
  returns how many."""
  count = 0
  for split, eval_data in (('train', None), ('test', 'test')):
    for path in records.data_files(DATASET, data_dir, eval_data):
      rows = np.fromfile(path, np.uint8).reshape(-1, DATASET.record_bytes)
      for row in rows:
        name = DATASET.class_names[row[0]]
        folder_path = os.path.join(images_dir, split, name)
        os.makedirs(folder_path, exist_ok=True)
        image = Image.fromarray(row[1:].reshape(3, 32, 32).transpose(1, 2, 0))
        if size != 32:
          image = image.resize((size, size), Image.Resampling.BICUBIC)
        image.save(os.path.join(folder_path, '%05d.%s' % (count,
                                                          image_format)))
        count += 1
  return count


def folder_bytes(path):
  """The bytes of every file below `path`."""
  return sum(os.path.getsize(os.path.join(d, f))
             for d, _, files in os.walk(path) for f in files)


def main():
  """Writes the files if need be, converts them, prints the figures."""
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data_dir', required=True,
                      help='holds cifar-10-batches-bin/')
  parser.add_argument('--images_dir', required=True)
  parser.add_argument('--format', default='png', choices=['png', 'jpg'])
  parser.add_argument('--size', type=int, default=32,
                      help='the files\' side (32: as CIFAR-10 has them)')
  parser.add_argument('--image_size', type=int, default=32,
                      help='the conversion\'s --image_size')
  args = parser.parse_args()
  print(devices.describe(), flush=True)
  if not os.path.isdir(os.path.join(args.images_dir, 'train')):
    start = time.time()
    count = write_images(args.data_dir, args.images_dir, args.format,
                         args.size)
    print('Wrote %d %s files of %dx%d in %.1f s (%.1f MB).' %
          (count, args.format, args.size, args.size, time.time() - start,
           folder_bytes(args.images_dir) / 1e6), flush=True)
  with tempfile.TemporaryDirectory() as cache:
    settings = folder.Settings(image_size=args.image_size, cache_dir=cache)
    start = time.time()
    dataset = folder.load(args.images_dir, settings)
    converted = time.time() - start
    images = dataset.train_examples + dataset.test_examples
    print('Converted %d images in %.1f s (%.0f images/s, %d cores); cache '
          '%.1f MB; peak resident memory %.0f MB.' %
          (images, converted, images / converted, os.cpu_count(),
           folder_bytes(cache) / 1e6,
           resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3),
          flush=True)
    start = time.time()
    folder.load(args.images_dir, settings)
    print('Loaded again from the cache in %.2f s.' % (time.time() - start),
          flush=True)


if __name__ == '__main__':
  main()
