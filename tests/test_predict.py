"""Tests of cifar10_predict: your own pictures, and the exported SavedModel.

A model trained on gray stripe patterns (they survive grayscale, alpha,
resizing and JPEG) must name the pattern of pictures it never saw, in other
sizes and formats.
"""

import os
import re

import numpy as np
import pytest
import tensorflow as tf

import cifar10
import cifar10_input
import cifar10_predict
from conftest import TEST_FILE, TRAIN_FILES, run_script, write_records
from test_scripts import _assert_ok, _one_line_error, _train

pytestmark = pytest.mark.slow

# Class number -> pattern; the model's names for them are CLASS_NAMES[k].
PATTERNS = ('horizontal', 'vertical', 'checkerboard', 'flat')


def _pattern(kind, size, rng, noise=15.0):
  """A gray [size, size] picture of `kind`, stripes 4 pixels per period at 32."""
  y, x = np.mgrid[0:size, 0:size] * 32.0 / size
  stripes = {'horizontal': (y // 2) % 2, 'vertical': (x // 2) % 2,
             'checkerboard': ((y // 2) + (x // 2)) % 2,
             'flat': np.full((size, size), 0.5)}[kind]
  picture = 60 + 140 * stripes + rng.normal(0, noise, (size, size))
  return np.clip(np.round(picture), 0, 255).astype(np.uint8)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """(checkpoint_dir, folder): a model trained on the four patterns."""
  root = tmp_path_factory.mktemp('predict')
  rng = np.random.RandomState(5)
  folder = root / 'data' / cifar10_input.BATCHES_DIR
  folder.mkdir(parents=True)
  for name in TRAIN_FILES + (TEST_FILE,):
    labels = rng.randint(0, len(PATTERNS), size=100)
    gray = np.stack([_pattern(PATTERNS[k], 32, rng) for k in labels])
    write_records(str(folder / name), np.repeat(gray[..., None], 3, axis=3),
                  labels)
  train_dir = str(root / 'train')
  # As in test_scripts' learnable set: some runs only learn after 150 steps,
  # and a fixed seed keeps the test from the runs that diverge.
  _assert_ok(_train(str(root / 'data'), train_dir, '--max_steps=250',
                    '--seed=1', '--batch_size=64', '--log_frequency=50'))
  return train_dir, root


def _write_pictures(folder):
  """Each pattern as RGB PNG 64x64, gray JPEG 96x96 and RGBA PNG 128x128.

  Whole multiples of 32: a checkerboard of 2-pixel cells scaled by a
  fraction (40 to 32, seen) blurs into a flat gray, a picture of another
  class.
  """
  rng = np.random.RandomState(9)
  expected = {}
  for k, kind in enumerate(PATTERNS):
    rgb = np.repeat(_pattern(kind, 64, rng)[..., None], 3, axis=2)
    gray = _pattern(kind, 96, rng)[..., None]
    rgba = np.concatenate(
        [np.repeat(_pattern(kind, 128, rng)[..., None], 3, axis=2),
         np.full((128, 128, 1), 255, np.uint8)], axis=2)
    for name, data in (('%s.png' % kind, tf.io.encode_png(rgb)),
                       ('%s_gray.jpg' % kind, tf.io.encode_jpeg(gray)),
                       ('%s_rgba.png' % kind, tf.io.encode_png(rgba))):
      path = str(folder / name)
      tf.io.write_file(path, data)
      expected[path] = cifar10_input.CLASS_NAMES[k]
  return expected


LINE = re.compile(r'^(\S+): (\w+) ([\d.]+), (\w+) ([\d.]+)$', re.M)


def test_classifies_pictures_of_any_size_and_format(trained, tmp_path):
  train_dir, _ = trained
  expected = _write_pictures(tmp_path)
  result = run_script('cifar10_predict.py', '--checkpoint_dir=' + train_dir,
                      '--top_k=2', *sorted(expected))
  _assert_ok(result)
  got = {m.group(1): m.group(2) for m in LINE.finditer(result.stdout)}
  assert got == expected, result.stdout
  for m in LINE.finditer(result.stdout):
    assert float(m.group(3)) >= float(m.group(5))


def test_unreadable_files_are_named_and_others_still_classified(trained,
                                                                tmp_path):
  train_dir, _ = trained
  pictures = sorted(_write_pictures(tmp_path))[:2]
  text = tmp_path / 'notes.txt'
  text.write_text('not a picture')
  missing = str(tmp_path / 'missing.png')
  result = run_script('cifar10_predict.py', '--checkpoint_dir=' + train_dir,
                      '--top_k=2', str(text), pictures[0], missing,
                      pictures[1])
  assert result.returncode == 2
  assert 'Traceback' not in result.stderr
  errors = [l for l in result.stderr.splitlines() if l.startswith('ERROR:')]
  assert errors == [
      'ERROR: %s is not a readable image (not a PNG, JPEG, GIF or BMP)' % text,
      'ERROR: %s is not a readable image (No such file or directory)' %
      missing]
  assert sorted(m.group(1) for m in LINE.finditer(result.stdout)) == pictures


def test_no_checkpoint_is_one_line(tmp_path):
  _one_line_error(run_script('cifar10_predict.py',
                             '--checkpoint_dir=' + str(tmp_path), 'x.png'),
                  r'no checkpoint in \S+: train first')


def _checkpoint_probabilities(train_dir, files):
  """The probabilities computed from the checkpoint, in this process."""
  with tf.Graph().as_default():
    encoded, outputs = cifar10_predict.build_classifier()
    var_map = cifar10.variables_to_restore()
    with tf.compat.v1.Session() as sess:
      tf.compat.v1.train.Saver(var_map).restore(
          sess, tf.train.latest_checkpoint(train_dir))
      return sess.run(outputs['probabilities'], {encoded: files})


def test_saved_model_matches_the_checkpoint_and_is_not_overwritten(
    trained, tmp_path):
  train_dir, _ = trained
  export_dir = str(tmp_path / 'export')
  result = run_script('cifar10_predict.py', '--checkpoint_dir=' + train_dir,
                      '--export_dir=' + export_dir)
  _assert_ok(result)
  assert 'Exported a SavedModel to %s.' % export_dir in result.stdout
  files = [open(p, 'rb').read() for p in sorted(_write_pictures(tmp_path))]
  expected = _checkpoint_probabilities(train_dir, files)

  serve = tf.saved_model.load(export_dir).signatures['serving_default']
  out = serve(images=tf.constant(files))
  np.testing.assert_allclose(out['probabilities'].numpy(), expected,
                             rtol=1e-5, atol=1e-6)
  names = np.array(cifar10_input.CLASS_NAMES)
  assert [n.decode() for n in out['top_class'].numpy()] == list(
      names[expected.argmax(axis=1)])
  assert [n.decode() for n in out['class_names'].numpy()[0]] == list(names)

  before = sorted(os.listdir(export_dir))
  _one_line_error(run_script('cifar10_predict.py',
                             '--checkpoint_dir=' + train_dir,
                             '--export_dir=' + export_dir),
                  r'export_dir \S+ already exists')
  assert sorted(os.listdir(export_dir)) == before
