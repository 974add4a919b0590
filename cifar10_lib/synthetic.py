"""Small CIFAR-10 data sets in the official binary format, made on the spot.

Tests and benchmarks use them so that they need neither the real data set
nor a network: a set whose class is each image's colour, which survives
every distortion of every preprocessing, so a few steps of training learn it.
"""

import os

import numpy as np

from cifar10_lib import records


def write_records(path, images, labels):
  """Writes uint8 HWC `images` [n, 32, 32, 3] and `labels` as CIFAR records."""
  images = np.asarray(images, dtype=np.uint8)
  planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
  rows = np.concatenate(
      [np.asarray(labels, dtype=np.uint8).reshape(-1, 1), planes], axis=1)
  with open(path, 'wb') as f:
    f.write(rows.tobytes())


def colour_images(labels, rng, noise=20.0):
  """Images whose class is their colour: learnable through every distortion.

  Class k's colour lies at angle 2*pi*k/10 on the circle of colours with a
  fixed mean and spread over R, G, B. Brightness, contrast and per-image
  standardization change mean and spread only, so the angle survives them.
  """
  labels = np.asarray(labels)
  angles = 2 * np.pi * labels / 10.0
  u = np.array([1.0, -1.0, 0.0]) / np.sqrt(2.0)
  v = np.array([1.0, 1.0, -2.0]) / np.sqrt(6.0)
  colours = 128 + 90 * (np.cos(angles)[:, None] * u +
                        np.sin(angles)[:, None] * v)
  images = colours[:, None, None, :] + rng.normal(
      0, noise, size=(len(labels), 32, 32, 3))
  return np.clip(np.round(images), 0, 255).astype(np.uint8)


def make_data_dir(root, train_per_file=40, test_examples=50, seed=0):
  """Writes a learnable CIFAR-10 data set below `root`; returns `root`.

  Labels cycle 0..9 so that every class is present in every file.
  """
  rng = np.random.RandomState(seed)
  folder = os.path.join(root, records.BATCHES_DIR)
  os.makedirs(folder, exist_ok=True)
  for name in records.TRAIN_FILES:
    labels = rng.randint(0, 10, size=train_per_file)
    write_records(os.path.join(folder, name), colour_images(labels, rng),
                  labels)
  labels = np.arange(test_examples) % 10
  write_records(os.path.join(folder, records.TEST_FILES[0]),
                colour_images(labels, rng), labels)
  return str(root)
