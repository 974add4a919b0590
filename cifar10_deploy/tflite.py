"""A training folder's model as a TensorFlow Lite file, and the file run.

For phones and small devices: `export` converts the model as evaluation
sees it (its eval weights: moving averages or batch norm's statistics;
its preprocessing and, if asked, its test-time views inside) into a
`.tflite` file whose input is the data set's raw uint8 image [n, size,
size, 3] and whose output is the class probabilities. `quantize` is
'none' (float32), 'float16' (weights in float16) or 'int8' (full-integer:
int8 kernels only, uint8 input and output, calibrated on training images
in the model's eval view). Beside FILE, FILE.json records the class
names, the model, the data set and the checkpoint, so that eval and
predict need nothing else.

`Classifier` runs a file with the LiteRT interpreter (ai-edge-litert;
tf.lite.Interpreter is deprecated).
"""

import contextlib
import json
import os

from absl import logging
import numpy as np
import tensorflow as tf

import cifar10
import cifar10_input
from cifar10_lib import checkpoints
from cifar10_lib.cli import UserError
from cifar10_models import layers
from cifar10_models import model_file

QUANTIZATIONS = ('none', 'float16', 'int8')
DEFAULT_CALIBRATION_IMAGES = 500
SIDECAR_SUFFIX = '.json'
INPUT_NAME = 'image'
OUTPUT_NAME = 'probabilities'
# The types a full-integer file's ops may compute in: int8 and uint8
# values, int32 biases and shapes.
INTEGER_TYPES = (np.int8, np.uint8, np.int32, np.int64, np.bool_)
# Ops that convert between types or read shapes, not values: a float
# tensor beside them is no float arithmetic.
VALUELESS_OPS = ('QUANTIZE', 'DEQUANTIZE', 'SHAPE')


def _inference_graph(model, recipe, dataset, tta):
  """(raw images placeholder, probabilities) of the inference network in
  the default graph, in ops TensorFlow Lite converts (layers.PORTABLE):
  the data set's raw pixels in (as float32, 0..255), its eval
  preprocessing and the network (its views if `tta`) inside."""
  tf.compat.v1.add_to_collection(layers.PORTABLE, True)
  size = dataset.image_size
  raw = tf.compat.v1.placeholder(tf.float32, [None, size, size, 3],
                                 name=INPUT_NAME)
  images = cifar10_input.eval_preprocess(raw, recipe.preprocessing, dataset)
  logits = model.eval_logits(images, recipe, tta=tta, dataset=dataset)
  return raw, tf.nn.softmax(logits, name=OUTPUT_NAME)


def _converter(sess, raw, probabilities, quantize, calibration):
  """The converter of the session's graph, set for `quantize`."""
  converter = tf.compat.v1.lite.TFLiteConverter.from_session(
      sess, [raw], [probabilities])
  if quantize == 'float16':
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
  elif quantize == 'int8':
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: (
        [calibration[i:i + 1].astype(np.float32)]
        for i in range(len(calibration)))
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
  return converter


def convert(checkpoint_dir, quantize='none', calibration=None, tta=True):
  """The `.tflite` bytes of the newest checkpoint of `checkpoint_dir` and
  its sidecar record.

  Args:
    checkpoint_dir: a training folder.
    quantize: one of QUANTIZATIONS.
    calibration: uint8 [n, size, size, 3] training images, for int8.
    tta: the recipe's test-time views inside the file, if it has them.

  Raises:
    UserError: no checkpoint, or an op that int8 cannot quantize.
  """
  model, recipe = model_file.resolve(checkpoint_dir)
  dataset = model_file.resolve_dataset(checkpoint_dir)
  checkpoint = checkpoints.require_latest(checkpoint_dir)
  with tf.Graph().as_default():
    raw, probabilities = _inference_graph(model, recipe, dataset, tta)
    var_map = cifar10.variables_to_restore(recipe.moving_average_decay)
    saver = tf.compat.v1.train.Saver(var_map)
    with tf.compat.v1.Session() as sess:
      checkpoints.restore(sess, saver, var_map, checkpoint)
      converter = _converter(sess, raw, probabilities, quantize, calibration)
      try:
        with _quiet_absl():
          data = converter.convert()
      except Exception as e:  # The converter raises its own ConverterError.
        raise UserError('--quantize=%s cannot convert the %s model: %s; %s'
                        % (quantize, model.name, _first_line(e),
                           'export it with --quantize=none or float16'
                           if quantize == 'int8' else
                           'export a SavedModel (--export_dir) instead'))
  if quantize == 'int8':
    _check_integer_only(data, model.name)
  record = {'model': model.name, 'dataset': dataset.name,
            'class_names': list(dataset.class_names),
            'image_size': dataset.image_size, 'quantize': quantize,
            'tta': bool(tta and recipe.tta), 'checkpoint': checkpoint,
            'global_step': checkpoints.step_of(checkpoint)}
  return data, record


@contextlib.contextmanager
def _quiet_absl():
  """The converter logs its progress at INFO through absl: not the
  user's business."""
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.WARNING)
  try:
    yield
  finally:
    logging.set_verbosity(verbosity)


def _first_line(error):
  """The first line of an error's message: converters write pages."""
  lines = [l.strip() for l in str(error).splitlines() if l.strip()]
  return lines[0] if lines else type(error).__name__


def _check_integer_only(data, model_name):
  """Raises UserError naming the first op of a full-integer file that
  computes in floating point."""
  interpreter = _interpreter(data)
  details = interpreter.get_tensor_details()
  types = {d['index']: d['dtype'] for d in details}
  for op in interpreter._get_ops_details():  # pylint: disable=protected-access
    if op['op_name'] in VALUELESS_OPS:
      continue
    floats = [i for i in list(op['inputs']) + list(op['outputs'])
              if i >= 0 and types[i] not in INTEGER_TYPES]
    if floats:
      raise UserError('--quantize=int8: the %s model\'s %s op computes in '
                      '%s, having no int8 kernel here; export it with '
                      '--quantize=none or float16' %
                      (model_name, op['op_name'], np.dtype(types[floats[0]])))


def _interpreter(data, path=None, threads=None):
  """A LiteRT interpreter of the file content `data` (read from `path`,
  for messages)."""
  try:
    from ai_edge_litert import interpreter as litert  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise UserError('running a .tflite file needs the LiteRT interpreter: '
                    'pip install ai-edge-litert')
  try:
    return litert.Interpreter(model_content=data, num_threads=threads)
  except ValueError as e:
    raise UserError('%s is not a readable TensorFlow Lite file (%s): export '
                    'it again' % (path or 'the converted model',
                                  _first_line(e)))


def write(path, data, record):
  """Writes `data` to the new file `path` and `record` beside it
  (path + SIDECAR_SUFFIX), each complete or not at all; an existing file
  is never replaced.

  Raises:
    UserError: either file exists, or the folder cannot be written.
  """
  path = os.path.abspath(path)
  for target in (path, path + SIDECAR_SUFFIX):
    if os.path.exists(target):
      raise UserError('%s already exists: remove it or choose another '
                      '--tflite' % target)
  folder = os.path.dirname(path)
  written = []
  try:
    os.makedirs(folder, exist_ok=True)
    for target, content in ((path + SIDECAR_SUFFIX,
                             json.dumps(record, indent=1).encode('utf-8')),
                            (path, data)):
      temporary = os.path.join(folder, '.%s.%d.partial' % (
          os.path.basename(target), os.getpid()))
      with open(temporary, 'wb') as f:
        f.write(content)
      # A link fails where the name exists: nothing is ever replaced.
      os.link(temporary, target)
      os.remove(temporary)
      written.append(target)
  except OSError as e:
    for target in written:
      os.remove(target)
    raise UserError('could not write %s (%s): pass a --tflite in a folder '
                    'that can be written' % (path, e.strerror or e))


class Classifier(object):
  """A `.tflite` file of this project, run by the LiteRT interpreter.

  Attributes:
    record: its sidecar record (class names, model, data set, ...).
  """

  def __init__(self, path, threads=None):
    sidecar = path + SIDECAR_SUFFIX
    if not os.path.isfile(path):
      raise UserError('%s does not exist: pass a .tflite file written by '
                      'cifar10_predict.py --tflite' % path)
    try:
      with open(sidecar) as f:
        self.record = json.load(f)
      if not (isinstance(self.record.get('class_names'), list) and
              isinstance(self.record.get('image_size'), int)):
        raise ValueError('no class_names or image_size')
    except (OSError, ValueError, AttributeError) as e:
      raise UserError('%s is missing or damaged (%s): export the model '
                      'again with cifar10_predict.py --tflite' %
                      (sidecar, e))
    with open(path, 'rb') as f:
      self._interpreter = _interpreter(f.read(), path, threads)
    try:
      self._interpreter.allocate_tensors()
    except RuntimeError as e:
      raise UserError('%s is not a runnable TensorFlow Lite file (%s): '
                      'export it again' % (path, _first_line(e)))
    self._input = self._interpreter.get_input_details()[0]
    self._output = self._interpreter.get_output_details()[0]
    self._batch = None

  @property
  def class_names(self):
    """The classes the file scores, in output order."""
    return self.record['class_names']

  def probabilities(self, images):
    """float32 [n, classes]: the class probabilities of uint8 images
    [n, size, size, 3]."""
    images = np.asarray(images)
    if self._batch != len(images):
      self._interpreter.resize_tensor_input(self._input['index'],
                                            images.shape)
      self._interpreter.allocate_tensors()
      self._batch = len(images)
    self._interpreter.set_tensor(self._input['index'],
                                 images.astype(self._input['dtype']))
    self._interpreter.invoke()
    output = self._interpreter.get_tensor(self._output['index'])
    scale, zero_point = self._output['quantization']
    if scale:
      return (output.astype(np.float32) - zero_point) * scale
    return output.astype(np.float32)
