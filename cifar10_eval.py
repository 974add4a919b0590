"""Evaluates CIFAR-10 checkpoints: precision @ 1 with the averaged weights.

Usage:
  python cifar10_eval.py --checkpoint_dir=/tmp/cifar10_train --run_once

Restores the moving average of every weight (less noisy than the last
step's weights), classifies every example of --eval_data (or the first
--num_examples), each once, and prints

  2026-11-22 15:04:05.123456: precision @ 1 = 0.8614 (8614/10000)

then the precision of each class and the confusion matrix (--noper_class:
the tutorial's single line). It also writes a 'Precision @ 1' summary, one
per class, and two pictures (the confusion matrix as a heat map, and the
first misclassified images labelled true -> predicted) at the checkpoint's
global step into --eval_dir, and with --results_file the same results as
JSON. Without --run_once it watches --checkpoint_dir and evaluates each new
checkpoint once, checking every --eval_interval_secs seconds.
"""

import collections
import datetime
import json
import os
import signal
import sys
import tempfile
import time

from absl import flags
from cifar10_lib import command_line

command_line.define(command_line.DATA, command_line.DEVICES,
                    command_line.MODEL, command_line.EVAL,
                    command_line.INFERENCE)
flags.adopt_module_key_flags(command_line)

if __name__ == '__main__':  # First: a bad flag or path stops here, at once.
  command_line.parse(sys.argv, command_line.check_eval_from_flags)

# pylint: disable=g-import-not-at-top,wrong-import-position
from cifar10_lib import devices
# Before TensorFlow loads: it reads the oneDNN setting then.
devices.set_tensorflow_options(command_line.onednn_from_flags())

from cifar10_lib import cli
import numpy as np
import tensorflow as tf

import cifar10
import cifar10_input
import cifar10_datasets
from cifar10_datasets import folder
from cifar10_deploy import tflite
from cifar10_models import model_file
from cifar10_lib import checkpoints
from cifar10_lib import errors
from cifar10_lib import figures
from cifar10_lib import records
from cifar10_lib import tf_config
from cifar10_training import options
from cifar10_lib.cli import UserError

FLAGS = flags.FLAGS

# Examples per evaluation step unless --batch_size says (the tutorial's).
EVAL_BATCH_SIZE = 128
# The shortest wait between two looks for a new checkpoint: with
# --eval_interval_secs=0 the watch would keep a core busy.
MIN_INTERVAL_SECS = 1

PRECISION_TAG = 'Precision @ 1'
# With test-time views, PRECISION_TAG is theirs; the plain view's is this.
PLAIN_PRECISION_TAG = 'Precision @ 1 (plain view)'
# The eval's pictures in TensorBoard (figures draws them).
CONFUSION_TAG = 'Confusion matrix'
MISTAKES_TAG = 'Misclassified (true -> predicted)'
# The confusion matrix's columns: 5 digits and a space (10,000 test
# images), headed by the first HEADER_LETTERS letters of the class names,
# which tell CIFAR-10's classes apart (73 characters in all for its 10).
HEADER_LETTERS = 5
CELL = 6
# Up to this many classes the text shows the whole confusion matrix (20:
# 147 characters wide); above, the MAX_CONFUSIONS largest confusions.
MAX_MATRIX_CLASSES = 20
MAX_CONFUSIONS = 20
# From this many classes on, precision @ 5 is printed beside precision @ 1.
TOP_5_MIN_CLASSES = 20


class Settings(collections.namedtuple('Settings', [
    'checkpoint_dir', 'data_dir', 'eval_dir', 'eval_data', 'batch_size',
    'num_examples', 'run_once', 'eval_interval_secs', 'per_class',
    'results_file', 'model', 'use_fp16', 'tta', 'until_last_step',
    'dataset', 'folder_settings', 'tflite'],
    defaults=['test', EVAL_BATCH_SIZE, None, True, 300, True, None, None,
              False, True,
              False, None, folder.Settings(), None])):
  """What an evaluation reads, writes and prints: the flags of the same
  names (model: --model, dataset: --dataset or a records.Dataset already
  resolved, None to take the folder's;
  num_examples None: all of eval_data; folder_settings: an image folder's
  conversion, folder.Settings; tflite: a .tflite file to evaluate instead
  of the checkpoints). From Python an
  evaluation runs once by default; run_once=False watches the folder,
  and with until_last_step (a cluster's evaluator) ends once it has
  evaluated the step the run's trainer recorded as its last.
  """


class Results(collections.namedtuple(
    'Results', 'checkpoint step confusion rate mistakes plain_correct '
    'class_names top_5_correct', defaults=[None, None, None])):
  """One checkpoint's evaluation.

  `confusion` is int64 [classes, classes]: row = true class, column =
  predicted class; every other figure is derived from it. `mistakes` is
  (images, labels, predictions) of the first misclassified examples, at
  most figures.MAX_MISTAKES, for the pictures. With test-time views, the
  predictions are those of the views' weighted logits, and
  `plain_correct` counts the plain view's right answers. `class_names`
  are the data set's; `top_5_correct` counts the examples whose class is
  among the five best scored (None with fewer than TOP_5_MIN_CLASSES).
  """

  @property
  def total(self):
    return int(self.confusion.sum())

  @property
  def correct(self):
    return int(np.trace(self.confusion))

  @property
  def precision(self):
    return self.correct / float(self.total)

  @property
  def plain_precision(self):
    """The plain view's precision, None without test-time views."""
    if self.plain_correct is None:
      return None
    return self.plain_correct / float(self.total)

  def per_class(self):
    """[(name, correct, total)] for each class, in class order."""
    return [(name, int(self.confusion[k, k]), int(self.confusion[k].sum()))
            for k, name in enumerate(self.class_names)]

  @property
  def top_5_precision(self):
    """Precision @ 5, None where it is not counted."""
    if self.top_5_correct is None:
      return None
    return self.top_5_correct / float(self.total)


def confusion_matrix(labels, predictions, classes):
  """Counts of (true class, predicted class) pairs: int64 [classes,
  classes]."""
  pairs = (np.asarray(labels, np.int64) * classes +
           np.asarray(predictions, np.int64))
  return np.bincount(pairs, minlength=classes * classes).reshape(classes,
                                                                 classes)


class EvalGraph(collections.namedtuple(
    'EvalGraph', 'images labels predictions plain_predictions saver var_map '
    'dataset in_top_5')):
  """build_eval_graph's tensors: the images as the network sees them,
  int32 [batch] true and top-1 predicted classes (plain_predictions: the
  plain view's, with test-time views; else None), the saver that restores
  what eval reads, the records.Dataset evaluated, and bool [batch]: the
  true class among the five best (None with fewer than TOP_5_MIN_CLASSES
  classes)."""


def build_eval_graph(model, recipe, data_dir, eval_data='test', batch_size=128,
                     num_examples=None, use_fp16=False, tta=True,
                     dataset=cifar10_input.DATASET):
  """Builds the evaluation graph of `model` in the default graph.

  The network is built in inference mode (batch norm's moving statistics,
  no dropout) on the recipe's evaluation preprocessing of the images, and on its
  test-time views too if it has them and `tta`.

  Returns:
    An EvalGraph.
  """
  tf.compat.v1.train.get_or_create_global_step()
  with tf.device('/cpu:0'):
    images, labels = cifar10_input.inputs(eval_data, data_dir, batch_size,
                                          num_examples, recipe.preprocessing,
                                          dataset)
  # The tutorial's in_top_k(k=1) differs from the top-1 class only where
  # two logits are exactly equal; one prediction per example keeps the
  # per-class counts and the matrix adding up to the precision.
  logits = model.logits(images, False, recipe, use_fp16, dataset)
  plain = tf.argmax(logits, axis=1, output_type=tf.int32)
  predictions, plain_predictions = plain, None
  if tta and recipe.tta:
    logits = model.eval_logits(images, recipe, use_fp16, dataset=dataset)
    predictions = tf.argmax(logits, axis=1, output_type=tf.int32)
    plain_predictions = plain
  in_top_5 = (tf.nn.in_top_k(labels, logits, 5)
              if dataset.num_classes >= TOP_5_MIN_CLASSES else None)
  var_map = cifar10.variables_to_restore(recipe.moving_average_decay)
  return EvalGraph(images, labels, predictions, plain_predictions,
                   tf.compat.v1.train.Saver(var_map), var_map, dataset,
                   in_top_5)


def evaluate(checkpoint, graph_outputs, config=None):
  """Evaluates one checkpoint: its confusion matrix over the data.

  A new session starts the one-pass input from the beginning, so every
  example is counted exactly once.

  Args:
    checkpoint: the checkpoint prefix.
    graph_outputs: what build_eval_graph returns.
    config: the session's tf.compat.v1.ConfigProto.

  Returns:
    Results.
  """
  graph = graph_outputs
  plain, top_5 = graph.plain_predictions, graph.in_top_5
  with tf.compat.v1.Session(config=config) as sess:
    checkpoints.restore(sess, graph.saver, graph.var_map, checkpoint)
    step = int(sess.run(tf.compat.v1.train.get_global_step()))
    tally = _Tally(graph.dataset, plain is not None)
    with records.explain_data_errors(graph.dataset):
      while True:
        # The images are fetched only while mistakes are still wanted.
        fetches = {'labels': graph.labels, 'predictions': graph.predictions,
                   'plain': plain, 'in_top_5': top_5,
                   'images': graph.images if tally.mistakes.wanted() else None}
        try:
          batch = sess.run({k: f for k, f in fetches.items()
                            if f is not None})
        except tf.errors.OutOfRangeError:
          break
        tally.add(**batch)
    # Timed before the session closes: closing sometimes waits 0.8 s for
    # tf.data's autotuning thread, which is not evaluation.
    return tally.results(checkpoint, step)


class _Tally(object):
  """Adds up an evaluation batch by batch, a checkpoint's or a .tflite
  file's: the confusion matrix, the plain view's right answers (with
  test-time views), the top-5 hits (with TOP_5_MIN_CLASSES classes or
  more) and the first mistakes; times it from its making."""

  def __init__(self, dataset, plain):
    self._dataset = dataset
    classes = dataset.num_classes
    self._confusion = confusion_matrix([], [], classes)
    self._plain = 0 if plain else None
    self._top_5 = 0 if classes >= TOP_5_MIN_CLASSES else None
    self.mistakes = _Mistakes()
    self._start = time.time()

  def add(self, labels, predictions, plain=None, in_top_5=None, images=None):
    """Counts one batch: its true and predicted classes, the plain view's
    predictions, bool [batch] top-5 hits, the images as the network saw
    them (for the mistakes)."""
    self._confusion += confusion_matrix(labels, predictions,
                                        self._dataset.num_classes)
    if self._plain is not None:
      self._plain += int(np.sum(plain == labels))
    if self._top_5 is not None:
      self._top_5 += int(np.sum(in_top_5))
    self.mistakes.add(labels, predictions, images)

  def results(self, source, step):
    """The Results so far, of `source` (a checkpoint or a file) at `step`."""
    rate = self._confusion.sum() / (time.time() - self._start)
    return Results(source, step, self._confusion, rate,
                   self.mistakes.arrays(), self._plain,
                   self._dataset.class_names, self._top_5)


class _Mistakes(object):
  """Keeps the first misclassified examples of an evaluation."""

  def __init__(self, limit=figures.MAX_MISTAKES):
    self._limit = limit
    self._kept = []

  def wanted(self):
    return len(self._kept) < self._limit

  def add(self, labels, predictions, images=None):
    """Keeps the batch's mistakes, if any are still wanted."""
    if images is None:
      return
    for i in np.flatnonzero(labels != predictions):
      if self.wanted():
        self._kept.append((images[i], labels[i], predictions[i]))

  def arrays(self):
    """(images, labels, predictions) as numpy arrays."""
    if not self._kept:
      return np.zeros([0, 1, 1, 3], np.float32), np.zeros(0), np.zeros(0)
    images, labels, predictions = zip(*self._kept)
    return np.stack(images), np.array(labels), np.array(predictions)


def precision_line(results):
  """The tutorial's line, with the checkpoint, its step and the speed;
  with test-time views, which views, and the plain view's on a line of its
  own."""
  line = ('%s: precision @ 1 = %.4f (%d/%d) [%s, step %d; %.0f images/sec]' %
          (datetime.datetime.now(), results.precision, results.correct,
           results.total, os.path.basename(results.checkpoint), results.step,
           results.rate))
  if results.plain_correct is not None:
    line = ('%s with the test-time views averaged\n%s: precision @ 1 = %.4f '
            '(%d/%d) with the plain view alone' %
            (line, datetime.datetime.now(), results.plain_precision,
             results.plain_correct, results.total))
  if results.top_5_correct is not None:
    line += '\n%s: precision @ 5 = %.4f (%d/%d)' % (
        datetime.datetime.now(), results.top_5_precision,
        results.top_5_correct, results.total)
  return line


def _column(results):
  """Wide enough for the longest class name and a space."""
  return max(len(name) for name in results.class_names) + 1


def per_class_lines(results):
  """Each class's precision (correct/total), one line each, aligned."""
  lines = ['Precision @ 1 by class:']
  column = _column(results)
  for name, correct, total in results.per_class():
    share = '%.4f' % (correct / float(total)) if total else '   -  '
    lines.append('  %-*s %s (%d/%d)' % (column, name, share, correct, total))
  return lines


def confusion_lines(results):
  """The confusion matrix as text: a row per true class, a column per
  guess; above MAX_MATRIX_CLASSES classes, the largest confusions."""
  if len(results.class_names) > MAX_MATRIX_CLASSES:
    return largest_confusion_lines(results)
  names, column = results.class_names, _column(results)
  lines = ['Confusion matrix (rows: true class, columns: predicted class):',
           ' ' * (column + 2) + ''.join(
               '%*s' % (CELL, name[:HEADER_LETTERS]) for name in names)]
  for name, row in zip(names, results.confusion):
    lines.append('  %-*s' % (column, name) +
                 ''.join('%*d' % (CELL, count) for count in row))
  return lines


def largest_confusions(confusion, count=MAX_CONFUSIONS):
  """[(true, predicted, number)] of the `count` largest off-diagonal
  cells with a mistake in them, largest first (ties: in class order)."""
  mistakes = np.array(confusion, np.int64)
  np.fill_diagonal(mistakes, 0)
  order = np.argsort(-mistakes, axis=None, kind='stable')[:count]
  cells = [np.unravel_index(i, mistakes.shape) for i in order]
  return [(int(t), int(p), int(mistakes[t, p])) for t, p in cells
          if mistakes[t, p]]


def largest_confusion_lines(results):
  """The largest confusions as text, one per line."""
  names = results.class_names
  lines = ['The %d largest confusions (true class -> predicted class; the '
           'whole matrix is in TensorBoard and --results_file):' %
           MAX_CONFUSIONS]
  width = max(len(name) for name in names)
  for true, predicted, number in largest_confusions(results.confusion):
    lines.append('  %-*s -> %-*s %5d' % (width, names[true], width,
                                         names[predicted], number))
  return lines


def write_results(path, results, eval_data):
  """Writes `results` to the JSON file `path`, atomically.

  Written to a temporary file beside it and renamed over it, so that a
  program watching the file never reads half of one.
  """
  data = {
      'checkpoint': results.checkpoint,
      'global_step': results.step,
      'eval_data': eval_data,
      'precision': results.precision,
      'correct': results.correct,
      'total': results.total,
      'per_class': [{'class': name, 'correct': correct, 'total': total,
                     'precision': correct / float(total) if total else None}
                    for name, correct, total in results.per_class()],
      'class_names': list(results.class_names),
      'confusion_matrix': results.confusion.tolist(),
  }
  if results.plain_correct is not None:
    data['precision_plain_view'] = results.plain_precision
  if results.top_5_correct is not None:
    data['precision_at_5'] = results.top_5_precision
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  handle, temporary = tempfile.mkstemp(prefix='.results-', dir=folder)
  try:
    with os.fdopen(handle, 'w') as f:
      json.dump(data, f, indent=1)
    os.replace(temporary, path)
  except BaseException:
    os.remove(temporary)
    raise


def report(results, writer, settings):
  """Prints the results and records them: summaries, --results_file."""
  print(precision_line(results), flush=True)
  if settings.per_class:
    print('\n'.join(per_class_lines(results) + confusion_lines(results)),
          flush=True)
  summary = tf.compat.v1.Summary()
  summary.value.add(tag=PRECISION_TAG, simple_value=results.precision)
  if results.plain_correct is not None:
    summary.value.add(tag=PLAIN_PRECISION_TAG,
                      simple_value=results.plain_precision)
  for name, correct, total in results.per_class():
    if total:
      summary.value.add(tag='%s/%s' % (PRECISION_TAG, name),
                        simple_value=correct / float(total))
  summary.value.extend([
      figures.image_summary_value(
          CONFUSION_TAG, figures.confusion_heat_map(
              results.confusion, results.class_names)),
      figures.image_summary_value(
          MISTAKES_TAG, figures.mistakes_grid(
              *results.mistakes, class_names=results.class_names))])
  writer.add_summary(summary, results.step)
  writer.flush()
  if settings.results_file:
    write_results(settings.results_file, results, settings.eval_data)


def evaluate_tflite(settings):
  """Evaluates the .tflite file settings.tflite with the LiteRT
  interpreter on the data set it records; prints and records the results
  as for a checkpoint."""
  _check_settings(settings)
  classifier = tflite.Classifier(settings.tflite)
  dataset = cifar10_datasets.load(
      settings.dataset or classifier.record['dataset'], settings.data_dir,
      settings.folder_settings)
  if dataset.image_size != classifier.record['image_size']:
    raise UserError('%s takes images of %dx%d; %s has %dx%d: evaluate it on '
                    'the data set it was exported from (%s%s)' %
                    (settings.tflite, classifier.record['image_size'],
                     classifier.record['image_size'], dataset.title,
                     dataset.image_size, dataset.image_size,
                     classifier.record['dataset'],
                     ', --image_size=%d' % classifier.record['image_size']
                     if dataset.conversion else ''))
  if dataset.num_classes != len(classifier.class_names):
    raise UserError('%s classifies %d classes; %s has %d: evaluate it on '
                    'the data set it was exported from (%s)' %
                    (settings.tflite, len(classifier.class_names),
                     dataset.title, dataset.num_classes,
                     classifier.record['dataset']))
  tally = _Tally(dataset, plain=False)
  with records.explain_data_errors(dataset):
    for images, labels in cifar10_input.eval_dataset(
        settings.eval_data, settings.data_dir, settings.batch_size,
        settings.num_examples, None, dataset):
      images, labels = images.numpy(), labels.numpy()
      probabilities = classifier.probabilities(images)
      # Stable: among equal scores the first class, as np.argmax takes.
      best = np.argsort(-probabilities, axis=1, kind='stable')[:, :5]
      tally.add(labels, best[:, 0], in_top_5=np.any(
          best == labels[:, None], axis=1), images=images)
  results = tally.results(settings.tflite,
                          classifier.record.get('global_step', 0))
  with tf.Graph().as_default():  # FileWriter writes graph-mode events.
    writer = tf.compat.v1.summary.FileWriter(settings.eval_dir)
    report(results, writer, settings)
    writer.close()


def _evaluate_or_skip(checkpoint, graph_outputs, writer, config, settings):
  """Evaluates; in watch mode, an unreadable checkpoint is reported, skipped.

  Training may delete an old checkpoint (keep-last-N) while it is being
  restored here; that, like a damaged file, must not end the watch.
  """
  try:
    report(evaluate(checkpoint, graph_outputs, config), writer, settings)
  except checkpoints.UnreadableCheckpointError as e:
    if settings.run_once:
      raise
    print('WARNING: %s; skipping it.' % e, flush=True)


def run_eval(settings, config=None):
  """Evaluates the newest checkpoint once, or each new one as it comes.

  Watching, it waits for the first checkpoint before it builds the
  model: the trainer records which model the folder holds as it starts.

  Args:
    settings: Settings.
    config: the session's tf.compat.v1.ConfigProto; by default
      devices.session_config's.
  """
  _check_settings(settings)
  interval_secs = max(settings.eval_interval_secs, MIN_INTERVAL_SECS)
  if not settings.run_once:
    _wait_for_a_checkpoint(settings.checkpoint_dir, interval_secs)
  model, recipe = model_file.resolve(settings.checkpoint_dir, settings.model,
                                     settings.use_fp16)
  dataset = settings.dataset
  if not isinstance(dataset, records.Dataset):
    dataset = model_file.resolve_dataset(
        settings.checkpoint_dir, dataset, data_dir=settings.data_dir,
        folder_settings=settings.folder_settings)
  config = config or devices.session_config()
  with tf.Graph().as_default() as graph:
    graph_outputs = build_eval_graph(
        model, recipe, settings.data_dir, settings.eval_data,
        settings.batch_size, settings.num_examples, settings.use_fp16,
        settings.tta, dataset)
    graph.finalize()
    evaluated = None
    writer = None
    while True:
      if settings.run_once:
        checkpoint = checkpoints.require_latest(settings.checkpoint_dir)
      else:
        checkpoint = checkpoints.latest(settings.checkpoint_dir)
      if checkpoint is not None and checkpoint != evaluated:
        writer = writer or tf.compat.v1.summary.FileWriter(settings.eval_dir,
                                                           graph)
        _evaluate_or_skip(checkpoint, graph_outputs, writer, config, settings)
        evaluated = checkpoint
        if settings.until_last_step and _is_the_last(checkpoint, settings):
          break
      if settings.run_once:
        break
      time.sleep(interval_secs)
    writer.close()  # (the loop ends only after evaluating)


def _check_settings(settings):
  """Raises UserError for counts that make no evaluation."""
  errors.check_count('batch_size', settings.batch_size)
  if settings.num_examples is not None:
    errors.check_count('num_examples', settings.num_examples)


def _wait_for_a_checkpoint(directory, interval_secs):
  """Returns once `directory` holds a checkpoint, saying that it waits."""
  if checkpoints.latest(directory) is None:
    print('No checkpoint in %s yet; waiting for one.' % directory,
          flush=True)
  while checkpoints.latest(directory) is None:
    time.sleep(interval_secs)


def _is_the_last(checkpoint, settings):
  """Whether `checkpoint` is at the last step the run's trainer recorded;
  says so if it is."""
  last = model_file.recorded_max_steps(settings.checkpoint_dir)
  if last is None or checkpoints.step_of(checkpoint) < last:
    return False
  print('Evaluated the run\'s last checkpoint (step %d); done.' %
        checkpoints.step_of(checkpoint), flush=True)
  return True


def settings_from_flags():
  """The Settings the command line asks for."""
  return Settings(
      checkpoint_dir=FLAGS.checkpoint_dir, data_dir=FLAGS.data_dir,
      eval_dir=FLAGS.eval_dir, eval_data=FLAGS.eval_data,
      batch_size=FLAGS.batch_size or EVAL_BATCH_SIZE,
      num_examples=FLAGS.num_examples,
      run_once=FLAGS.run_once, eval_interval_secs=FLAGS.eval_interval_secs,
      per_class=FLAGS.per_class, results_file=FLAGS.results_file,
      model=options.model_from_flags()[0], use_fp16=FLAGS.use_fp16,
      tta=FLAGS.tta, dataset=FLAGS.dataset,
      folder_settings=options.folder_settings_from_flags(),
      tflite=FLAGS.tflite)


def main(unused_argv):
  place = tf_config.from_environment()
  evaluator = place is not None and place.job_name == tf_config.EVALUATOR
  if place is not None:
    print(tf_config.describe(place, 'cifar10_eval.py',
                             watching=not FLAGS.run_once), flush=True)
  settings = settings_from_flags()._replace(until_last_step=evaluator)
  if settings.tflite:
    evaluate_tflite(settings)
    return 0
  dataset = options.dataset_from_flags(FLAGS.checkpoint_dir, training=False)
  if settings.run_once:
    # Watching, run_eval resolves it again once a trainer has recorded
    # the folder's: the record may not be there yet.
    settings = settings._replace(dataset=dataset)
  try:
    run_eval(settings, options.session_config_from_flags())
  except KeyboardInterrupt:
    print('Stopped.')
    return cli.SIGNAL_EXIT_BASE + signal.SIGINT
  return 0


if __name__ == '__main__':
  cli.run(main)
