"""Shared test helpers: small CIFAR-10 files in the official binary format.

No test reads the real data set or the network: each writes the few hundred
records it needs into a temporary folder.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import cifar10_input  # pylint: disable=g-import-not-at-top,wrong-import-position

TRAIN_FILES = cifar10_input.TRAIN_FILES
TEST_FILE = cifar10_input.TEST_FILES[0]


def write_records(path, images, labels):
  """Writes uint8 HWC `images` [n, 32, 32, 3] and `labels` as CIFAR records."""
  images = np.asarray(images, dtype=np.uint8)
  planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
  records = np.concatenate(
      [np.asarray(labels, dtype=np.uint8).reshape(-1, 1), planes], axis=1)
  with open(path, 'wb') as f:
    f.write(records.tobytes())


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
  folder = os.path.join(root, cifar10_input.BATCHES_DIR)
  os.makedirs(folder, exist_ok=True)
  for name in TRAIN_FILES:
    labels = rng.randint(0, 10, size=train_per_file)
    write_records(os.path.join(folder, name), colour_images(labels, rng),
                  labels)
  labels = np.arange(test_examples) % 10
  write_records(os.path.join(folder, TEST_FILE), colour_images(labels, rng),
                labels)
  return str(root)


@pytest.fixture
def data_dir(tmp_path):
  """A small learnable data set in the official format."""
  return make_data_dir(tmp_path / 'data')


def run_script(script, *flags, timeout=300):
  """Runs one of the repository's scripts; returns the CompletedProcess."""
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, script)] + list(flags),
      cwd=ROOT, capture_output=True, text=True, timeout=timeout)
