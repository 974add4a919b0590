"""Tests of cifar10_predict: your own pictures, and the exported SavedModel.

A model trained on gray stripe patterns (they survive grayscale, alpha,
resizing and JPEG) must name the pattern of pictures it never saw, in other
sizes and formats.
"""

import os
import re
import struct

import numpy as np
import pytest
import tensorflow as tf

import cifar10
import cifar10_input
import cifar10_models
import cifar10_predict
from conftest import PATTERNS, run_script, stripe_pattern
from test_scripts import _assert_ok, _one_line_error

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(name='stripes_model')]

def _write_pictures(folder):
  """Each pattern as RGB PNG 64x64, gray JPEG 96x96 and RGBA PNG 128x128.

  Whole multiples of 32: a checkerboard of 2-pixel cells scaled by a
  fraction (40 to 32, seen) blurs into a flat gray, a picture of another
  class.
  """
  rng = np.random.RandomState(9)
  expected = {}
  for k, kind in enumerate(PATTERNS):
    rgb = np.repeat(stripe_pattern(kind, 64, rng)[..., None], 3, axis=2)
    gray = stripe_pattern(kind, 96, rng)[..., None]
    rgba = np.concatenate(
        [np.repeat(stripe_pattern(kind, 128, rng)[..., None], 3, axis=2),
         np.full((128, 128, 1), 255, np.uint8)], axis=2)
    for name, data in (('%s.png' % kind, tf.io.encode_png(rgb)),
                       ('%s_gray.jpg' % kind, tf.io.encode_jpeg(gray)),
                       ('%s_rgba.png' % kind, tf.io.encode_png(rgba))):
      path = str(folder / name)
      tf.io.write_file(path, data)
      expected[path] = cifar10_input.CLASS_NAMES[k]
  return expected


LINE = re.compile(r'^(\S+): (\w+) ([\d.]+), (\w+) ([\d.]+)$', re.M)


def test_classifies_pictures_of_any_size_and_format(stripes_model, tmp_path):
  _, train_dir = stripes_model
  expected = _write_pictures(tmp_path)
  result = run_script('cifar10_predict.py', '--checkpoint_dir=' + train_dir,
                      '--top_k=2', *sorted(expected))
  _assert_ok(result)
  got = {m.group(1): m.group(2) for m in LINE.finditer(result.stdout)}
  assert got == expected, result.stdout
  for m in LINE.finditer(result.stdout):
    assert float(m.group(3)) >= float(m.group(5))


def _huge_png(path, width, height):
  """A small PNG whose header claims width x height: a decompression bomb."""
  data = bytearray(tf.io.encode_png(np.zeros((8, 8, 3), np.uint8)).numpy())
  data[16:24] = struct.pack('>II', width, height)
  path.write_bytes(bytes(data))
  return str(path)


def test_unreadable_and_oversized_files_are_named_and_others_classified(
    stripes_model, tmp_path):
  _, train_dir = stripes_model
  pictures = sorted(_write_pictures(tmp_path))[:2]
  text = tmp_path / 'notes.txt'
  text.write_text('not a picture')
  missing = str(tmp_path / 'missing.png')
  folder = tmp_path / 'a folder.png'
  folder.mkdir()
  huge = _huge_png(tmp_path / 'huge.png', 30000, 20000)
  result = run_script('cifar10_predict.py', '--checkpoint_dir=' + train_dir,
                      '--top_k=2', str(text), pictures[0], missing, huge,
                      str(folder), pictures[1])
  assert result.returncode == 2
  assert 'Traceback' not in result.stderr
  errors = [l for l in result.stderr.splitlines() if l.startswith('ERROR:')]
  what_to_do = ': pass PNG, JPEG, GIF or BMP files'
  assert errors == [
      'ERROR: %s is not a readable image (not a PNG, JPEG, GIF or BMP)%s' % (
          text, what_to_do),
      'ERROR: %s is not a readable image (No such file or directory)%s' % (
          missing, what_to_do),
      'ERROR: %s is 30000x20000 pixels, more than the 50 megapixels this '
      'program decodes: scale it down first' % huge,
      'ERROR: %s is not a readable image (Is a directory)%s' % (folder,
                                                               what_to_do)]
  assert sorted(m.group(1) for m in LINE.finditer(result.stdout)) == pictures


def test_declared_size_reads_each_formats_header(tmp_path):
  image = np.zeros((7, 13, 3), np.uint8)  # 13 wide, 7 high
  png = tf.io.encode_png(image).numpy()
  jpeg = tf.io.encode_jpeg(image).numpy()
  gif = b'GIF89a' + struct.pack('<HH', 13, 7) + b'\0' * 20
  bmp = b'BM' + b'\0' * 16 + struct.pack('<ii', 13, -7) + b'\0' * 30
  for data in (png, jpeg, gif, bmp):
    assert cifar10_predict.declared_size(data) == (13, 7)
  assert cifar10_predict.declared_size(b'not a picture') is None
  cifar10_predict.check_size('ok.png', png)
  with pytest.raises(cifar10_predict.UserError, match=r'huge.png is '
                     r'30000x20000 pixels'):
    cifar10_predict.check_size(
        'huge.png', open(_huge_png(tmp_path / 'huge.png', 30000, 20000),
                         'rb').read())


def test_no_checkpoint_is_one_line(tmp_path):
  _one_line_error(run_script('cifar10_predict.py',
                             '--checkpoint_dir=' + str(tmp_path), 'x.png'),
                  r'no checkpoint in \S+: train first')


def _checkpoint_probabilities(train_dir, files):
  """The probabilities computed from the checkpoint, in this process."""
  with tf.Graph().as_default():
    tutorial = cifar10_models.get(cifar10_models.TUTORIAL)
    encoded, outputs = cifar10_predict.build_classifier(tutorial,
                                                        tutorial.recipe)
    var_map = cifar10.variables_to_restore()
    with tf.compat.v1.Session() as sess:
      tf.compat.v1.train.Saver(var_map).restore(
          sess, tf.train.latest_checkpoint(train_dir))
      return sess.run(outputs['probabilities'], {encoded: files})


def test_saved_model_matches_the_checkpoint_and_is_not_overwritten(
    stripes_model, tmp_path):
  _, train_dir = stripes_model
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
