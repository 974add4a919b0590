"""TensorFlow Lite files (cifar10_predict.py --tflite): converted from a
training folder, run by LiteRT, evaluated and classified with."""

import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

import cifar10
import cifar10_datasets
import cifar10_input
from cifar10_datasets.synthetic import make_data_dir
from cifar10_deploy import tflite
from cifar10_lib import checkpoints
from cifar10_lib import records
from cifar10_lib.cli import UserError
from cifar10_models import model_file
from conftest import run_script, train_here
from test_scripts import _assert_ok, _one_line_error

pytest.importorskip('ai_edge_litert', reason='the LiteRT interpreter '
                    '(ai-edge-litert) is not installed')
# One test process for the module: its trained folders are made once.
pytestmark = pytest.mark.xdist_group(name='tflite')


@pytest.fixture(scope='module')
def synthetic_data(tmp_path_factory):
  return make_data_dir(tmp_path_factory.mktemp('data'))


@pytest.fixture(scope='module')
def trained(tmp_path_factory, synthetic_data):
  """(data_dir, {model: training folder}) of a few steps of the
  tutorial's, the baseline and airbench94 (GELU, test-time views) on the
  synthetic data set."""
  data_dir = synthetic_data
  folders = {}
  for model in ('tutorial', 'baseline', 'airbench94'):
    train_dir = str(tmp_path_factory.mktemp('train_' + model))
    train_here(data_dir, train_dir, model, 40)
    folders[model] = train_dir
  return data_dir, folders


def _test_images(data_dir):
  """(uint8 images, labels) of the synthetic test file."""
  dataset = cifar10_datasets.get('cifar10')
  path = records.data_files(dataset, data_dir, 'test')[0]
  rows = np.fromfile(path, np.uint8).reshape(-1, dataset.record_bytes)
  return rows[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), rows[:, 0]


def _checkpoint_probabilities(train_dir, images):
  """The probabilities of the newest checkpoint as eval computes them, in
  TensorFlow: its graph's forms (tuned GELU, batch norm after the pool),
  not those of the graph built for conversion."""
  model, recipe = model_file.resolve(train_dir)
  dataset = model_file.resolve_dataset(train_dir)
  with tf.Graph().as_default():
    size = dataset.image_size
    raw = tf.compat.v1.placeholder(tf.float32, [None, size, size, 3])
    probabilities = tf.nn.softmax(model.eval_logits(
        cifar10_input.eval_preprocess(raw, recipe.preprocessing, dataset),
        recipe, tta=True, dataset=dataset))
    var_map = cifar10.variables_to_restore(recipe.moving_average_decay)
    with tf.compat.v1.Session() as sess:
      checkpoints.restore(sess, tf.compat.v1.train.Saver(var_map), var_map,
                          checkpoints.latest(train_dir))
      return sess.run(probabilities, {raw: images.astype(np.float32)})


def _export(train_dir, path, quantize, data_dir):
  calibration = None
  if quantize == 'int8':
    dataset = model_file.resolve_dataset(train_dir)
    calibration = records.training_images(dataset, data_dir, 100)
  data, record = tflite.convert(train_dir, quantize, calibration)
  tflite.write(path, data, record)
  return data


@pytest.mark.slow
@pytest.mark.parametrize('model,quantize', [
    ('tutorial', 'none'), ('tutorial', 'float16'), ('baseline', 'none'),
    ('baseline', 'float16'), ('airbench94', 'none')])
def test_a_float_file_gives_the_checkpoints_probabilities(trained, tmp_path,
                                                          model, quantize):
  data_dir, folders = trained
  path = str(tmp_path / 'model.tflite')
  _export(folders[model], path, quantize, data_dir)
  images, _ = _test_images(data_dir)
  expected = _checkpoint_probabilities(folders[model], images)
  got = tflite.Classifier(path).probabilities(images)
  # float16 weights round to 11 significant bits.
  tolerance = 1e-4 if quantize == 'none' else 2e-2
  np.testing.assert_allclose(got, expected, atol=tolerance)
  with open(path + tflite.SIDECAR_SUFFIX) as f:
    record = json.load(f)
  assert record['model'] == model and record['quantize'] == quantize
  assert record['class_names'][0] == 'airplane'
  assert record['global_step'] == 40


# The lead, in probability, of the checkpoint's top class over the next
# that an image needs for the int8 file to be held to the same class. An
# int8 file's probabilities lie within about 0.09 of the checkpoint's here,
# and after 40 steps airbench94's (a ninth of its head's output, averaged
# over six views) are close: half its test images lead by under 0.03, a
# tie quantization may split either way; leads of 0.05 or more (15 to 24
# of the 50 images, for three seeds) it keeps. The baseline is held on
# every image. Of the images held, at least INT8_DECISIVE_IMAGES, the int8
# file must give the checkpoint's class on INT8_AGREEMENT.
INT8_MARGIN = {'baseline': 0.0, 'airbench94': 0.05}
INT8_AGREEMENT = 0.95
INT8_DECISIVE_IMAGES = 5


@pytest.mark.slow
@pytest.mark.parametrize('model', sorted(INT8_MARGIN))
def test_an_int8_file_is_integer_only_and_agrees(trained, tmp_path, model):
  data_dir, folders = trained
  path = str(tmp_path / 'model.tflite')
  data = _export(folders[model], path, 'int8', data_dir)
  float_size = len(_export(folders[model], str(tmp_path / 'f.tflite'),
                           'none', data_dir))
  assert len(data) <= 0.3 * float_size, (len(data), float_size)
  classifier = tflite.Classifier(path)
  images, _ = _test_images(data_dir)
  expected = _checkpoint_probabilities(folders[model], images)
  top_two = np.sort(expected, axis=1)[:, -2:]
  decisive = top_two[:, 1] - top_two[:, 0] >= INT8_MARGIN[model]
  assert decisive.sum() >= INT8_DECISIVE_IMAGES, decisive.sum()
  agree = (classifier.probabilities(images).argmax(1) ==
           expected.argmax(1))[decisive]
  assert agree.mean() >= INT8_AGREEMENT, (agree.mean(), agree.size)


@pytest.mark.slow
def test_int8_names_the_op_it_cannot_quantize(trained, tmp_path):
  data_dir, folders = trained
  path = str(tmp_path / 'model.tflite')
  with pytest.raises(UserError) as raised:
    _export(folders['tutorial'], path, 'int8', data_dir)
  assert re.fullmatch(r"--quantize=int8: the tutorial model's [A-Z_0-9]+ op "
                      r"computes in float32, having no int8 kernel here; "
                      r"export it with --quantize=none or float16",
                      str(raised.value)), str(raised.value)
  assert not os.path.exists(path)


@pytest.mark.slow
def test_eval_and_predict_read_the_file(trained, tmp_path):
  data_dir, folders = trained
  path = str(tmp_path / 'out' / 'model.tflite')
  result = run_script('cifar10_predict.py', '--checkpoint_dir=' +
                      folders['baseline'], '--tflite=' + path)
  _assert_ok(result)
  assert re.search(r'Wrote .*model.tflite \(float32, \d+ bytes\) from '
                   r'.*model.ckpt-40', result.stdout)
  results_file = str(tmp_path / 'results.json')
  result = run_script('cifar10_eval.py', '--data_dir=' + data_dir,
                      '--nodownload', '--tflite=' + path,
                      '--eval_dir=' + str(tmp_path / 'eval'),
                      '--results_file=' + results_file)
  _assert_ok(result)
  match = re.search(r'precision @ 1 = ([\d.]+) \((\d+)/50\) \[model.tflite, '
                    r'step 40;', result.stdout)
  assert match, result.stdout
  images, labels = _test_images(data_dir)
  expected = _checkpoint_probabilities(folders['baseline'], images)
  assert int(match.group(2)) == int(np.sum(expected.argmax(1) == labels))
  assert 'Confusion matrix' in result.stdout
  with open(results_file) as f:
    assert json.load(f)['total'] == 50
  picture = str(tmp_path / 'picture.png')
  tf.io.write_file(picture, tf.io.encode_png(images[0]))
  result = run_script('cifar10_predict.py', '--tflite=' + path,
                      '--top_k=2', picture)
  _assert_ok(result)
  assert re.search(r'picture.png: \w+ [\d.]+, \w+ [\d.]+$', result.stdout,
                   re.M), result.stdout
  # Another data set's classes: one line.
  result = run_script('cifar10_eval.py', '--data_dir=' + data_dir,
                      '--nodownload', '--tflite=' + path,
                      '--dataset=cifar100')
  _one_line_error(result, r'classifies 10 classes; CIFAR-100 has 100')


def test_an_existing_file_is_never_replaced(tmp_path):
  path = tmp_path / 'model.tflite'
  path.write_bytes(b'mine')
  with pytest.raises(UserError) as raised:
    tflite.write(str(path), b'new', {'class_names': ['a', 'b']})
  assert str(raised.value) == ('%s already exists: remove it or choose '
                               'another --tflite' % path)
  assert path.read_bytes() == b'mine'
  assert sorted(os.listdir(tmp_path)) == ['model.tflite']


def test_a_damaged_file_is_one_line(tmp_path):
  path = tmp_path / 'model.tflite'
  path.write_bytes(b'TFL3' + b'\0' * 60)
  (tmp_path / 'model.tflite.json').write_text(json.dumps(
      {'class_names': ['a', 'b'], 'image_size': 32}))
  with pytest.raises(UserError) as raised:
    tflite.Classifier(str(path))
  assert re.match(r'%s is not a (readable|runnable) TensorFlow Lite file '
                  r'\(.*\): export it again$' % re.escape(str(path)),
                  str(raised.value)), str(raised.value)
  os.remove(tmp_path / 'model.tflite.json')
  with pytest.raises(UserError) as raised:
    tflite.Classifier(str(path))
  assert 'model.tflite.json is missing or damaged' in str(raised.value)


@pytest.mark.slow
def test_calibration_out_of_range_is_one_line(trained, tmp_path):
  data_dir, folders = trained
  result = run_script('cifar10_predict.py', '--checkpoint_dir=' +
                      folders['baseline'], '--data_dir=' + data_dir,
                      '--nodownload', '--tflite=' + str(tmp_path / 'm.tflite'),
                      '--quantize=int8', '--calibration_images=5000')
  _one_line_error(result, r'--calibration_images=5000: pass 1 to 200 \(the '
                          r'training images in ')
  assert os.listdir(tmp_path) == []


def test_no_checkpoint_is_one_line(tmp_path):
  result = run_script('cifar10_predict.py', '--checkpoint_dir=' +
                      str(tmp_path), '--tflite=' + str(tmp_path / 'm.tflite'))
  _one_line_error(result, r'no checkpoint')
  assert os.listdir(tmp_path) == []
