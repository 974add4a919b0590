"""Small data sets in the official binary format, made on the spot.

Tests and benchmarks use them so that they need neither the real data set
nor a network: a set whose class is each image's colour, which survives
every distortion of every preprocessing, so a few steps of training learn it.
"""

import os

import numpy as np

from cifar10_datasets import cifar10


def write_records(path, images, labels):
  """Writes uint8 HWC `images` [n, size, size, 3] and their label bytes
  (`labels`: [n], or [n, label bytes]) as records."""
  images = np.asarray(images, dtype=np.uint8)
  planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
  rows = np.concatenate(
      [np.asarray(labels, dtype=np.uint8).reshape(len(images), -1), planes],
      axis=1)
  with open(path, 'wb') as f:
    f.write(rows.tobytes())


def colour_images(labels, rng, noise=20.0, classes=10, size=32):
  """Images whose class is their colour: learnable through every distortion.

  Class k's colour lies at angle 2*pi*k/classes on the circle of colours
  with a fixed mean and spread over R, G, B. Brightness, contrast and
  per-image standardization change mean and spread only, so the angle
  survives them.
  """
  labels = np.asarray(labels)
  angles = 2 * np.pi * labels / float(classes)
  u = np.array([1.0, -1.0, 0.0]) / np.sqrt(2.0)
  v = np.array([1.0, 1.0, -2.0]) / np.sqrt(6.0)
  colours = 128 + 90 * (np.cos(angles)[:, None] * u +
                        np.sin(angles)[:, None] * v)
  images = colours[:, None, None, :] + rng.normal(
      0, noise, size=(len(labels), size, size, 3))
  return np.clip(np.round(images), 0, 255).astype(np.uint8)


def label_bytes(dataset, labels):
  """The records' label bytes [n, dataset.label_bytes] for class numbers
  `labels`: the class in the data set's byte, the others its class
  number divided by 5 (CIFAR-100's superclasses group 5 fine classes)."""
  labels = np.asarray(labels)
  columns = [labels // 5] * dataset.label_bytes
  columns[dataset.label_offset] = labels
  return np.stack(columns, axis=1)


def make_data_dir(root, train_per_file=40, test_examples=50, seed=0,
                  dataset=cifar10.CIFAR10):
  """Writes a learnable copy of `dataset`'s binary files below `root`;
  returns `root`.

  Each training file holds `train_per_file` records of random classes,
  the test file `test_examples` whose classes cycle through every class.
  """
  rng = np.random.RandomState(seed)
  folder = os.path.join(root, dataset.files.binary_dir)
  os.makedirs(folder, exist_ok=True)

  def write(name, labels):
    """One file of records of `labels`' colours."""
    write_records(os.path.join(folder, name),
                  colour_images(labels, rng, classes=dataset.num_classes,
                                size=dataset.image_size),
                  label_bytes(dataset, labels))
  for name in dataset.files.train_files:
    write(name, rng.randint(0, dataset.num_classes, size=train_per_file))
  write(dataset.files.test_files[0],
        np.arange(test_examples) % dataset.num_classes)
  return str(root)
