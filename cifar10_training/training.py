"""The training loop both trainer scripts run, and what a run trains.

A `Plan` says what is trained (model, recipe, length), `LoopOptions` where
and how often it logs, summarizes and saves. `run_training` builds the
step of the plan's model on a towers.Deployment (one device, or towers),
restores or initializes the variables, and runs steps until the plan's last one,
printing progress lines, writing summaries and checkpoints, stopping
cleanly at Ctrl-C or SIGTERM and at a NaN loss.

What a task of a cluster does differently (who initializes, waiting for
the others, retrying while a task is unreachable) is its role's: the loop
calls the same methods of `LocalRole` on one machine and of
cluster.Cluster on a cluster, and never asks which it has.
"""

import collections
import contextlib
import datetime
import math
import os
import shlex
import signal
import time

import tensorflow as tf

import cifar10_input
from cifar10_models import layers
from cifar10_models import model_file
from cifar10_lib import checkpoints
from cifar10_lib import folder_lock
from cifar10_lib import cli
from cifar10_lib import errors
from cifar10_lib import records
from cifar10_training import towers
from cifar10_lib.cli import UserError

# The length of a run whose recipe has no epochs (the tutorial's): the
# tutorial's --max_steps default.
DEFAULT_MAX_STEPS = 1000000

# Stop signals the loop turns into "save, then exit".
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# Where the input pipeline and the global step live.
INPUT_DEVICE = '/cpu:0'


class Plan(collections.namedtuple(
    'Plan', 'model recipe max_steps use_fp16 dataset',
    defaults=[False, cifar10_input.DATASET])):
  """What a run trains: the model, its recipe and the length, on which
  data set.

  max_steps counts global steps; use_fp16 is the tutorial's --use_fp16;
  dataset is a records.Dataset (cifar10_datasets).
  """

  @property
  def batch_size(self):
    """Examples per tower per step: the recipe's, recorded with it."""
    return self.recipe.batch_size


def make_plan(train_dir, name=None, overrides=None, use_fp16=False,
              batch_size=None, max_steps=None, towers=1,
              workers_per_update=1, dataset=None, data_dir=None):
  """The Plan for training into `train_dir`.

  A folder that holds a model resumes it with its recorded recipe and data
  set; else the model `name` (default: the tutorial's) with its own, on
  the data set `dataset` (a records.Dataset, or a name: default CIFAR-10;
  `folder` reads `data_dir`). `batch_size` and
  `max_steps`, when given, win; otherwise the recipe's batch size, and its
  epochs in global steps of towers x workers_per_update batches (a recipe
  without epochs: DEFAULT_MAX_STEPS). An epoch is the training records in
  `data_dir` (without it, the data set's official count). The batch size
  and that count go into the recipe that the folder records, so a resumed
  run keeps them: the learning-rate schedule turns steps into epochs with
  them.

  Raises:
    UserError: as model_file.resolve and resolve_dataset, a count below
      1, or the data files' problems (records.DataError).
  """
  for argument, value in (('batch_size', batch_size),
                          ('max_steps', max_steps)):
    if value is not None:
      errors.check_count(argument, value)
  data = (dataset if isinstance(dataset, records.Dataset) else
          model_file.resolve_dataset(train_dir, dataset, training=True,
                                     data_dir=data_dir))
  model, recipe = model_file.resolve(train_dir, name, use_fp16, overrides,
                                     training=True)
  if batch_size is not None:
    recipe = recipe._replace(batch_size=batch_size)
  if recipe.train_examples is None:
    recipe = recipe._replace(train_examples=(
        training_records(data, data_dir) if data_dir is not None
        else data.train_examples))
  if max_steps is None:
    max_steps = (DEFAULT_MAX_STEPS if recipe.epochs is None else recipe.steps(
        recipe.batch_size * towers * workers_per_update))
  return Plan(model, recipe, max_steps, use_fp16, data)


def training_records(dataset, data_dir):
  """How many training records `data_dir` holds of `dataset` (checked)."""
  return records.num_examples_in(dataset,
                                 records.data_files(dataset, data_dir))


class LoopOptions(collections.namedtuple('LoopOptions', [
    'train_dir', 'data_dir', 'seed', 'log_frequency', 'summary_steps',
    'save_checkpoint_secs', 'save_checkpoint_steps', 'keep_checkpoint_max'],
    defaults=[None, 10, 100, 600, 0, 5])):
  """Where a run writes, and how often it logs, summarizes and saves.

  The fields are the training flags of the same names; seed None draws a
  new seed, printed at the start.
  """


class LocalRole(object):
  """The part of a single-process run: it is the chief and waits for no one.

  cluster.Cluster has the same methods for a task of a cluster.
  """

  is_chief = True
  task_index = 0

  @staticmethod
  def device_scope():
    return contextlib.nullcontext()

  def build_coordination_ops(self):
    pass

  @staticmethod
  def prepare_session(unused_sess, restore, unused_read_step):
    """Restores or initializes; returns the step training continues from."""
    return restore()

  def start(self, sess):
    pass

  @staticmethod
  def run_step(sess, fetches, unused_restart_input):
    return sess.run(fetches)

  @staticmethod
  def watching(unused_sess):
    return contextlib.nullcontext()

  def finish(self, sess):
    pass

  def join(self):
    pass


class _StopRequest(object):
  """Records Ctrl-C / SIGTERM so that the loop can save before exiting."""

  def __init__(self):
    self.signum = None
    self._previous = {}

  def __enter__(self):
    for signum in STOP_SIGNALS:
      self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *unused):
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)

  def _handle(self, signum, unused_frame):
    self.signum = signum


class _CheckpointSchedule(object):
  """Decides when to save: every N steps and/or every S seconds."""

  def __init__(self, every_steps, every_secs, step):
    self._every_steps = every_steps
    self._every_secs = every_secs
    self._last_step = step
    self._last_time = time.time()

  def due(self, step):
    if self._every_steps and step - self._last_step >= self._every_steps:
      return True
    return bool(self._every_secs and
                time.time() - self._last_time >= self._every_secs)

  def saved(self, step):
    self._last_step = step
    self._last_time = time.time()

  def saved_at(self, step):
    return self._last_step == step


def _check_batch_fits(batch_size, dataset, data_dir):
  """Raises UserError, before anything is written, if one batch needs more
  examples than the training files of `data_dir` hold."""
  examples = training_records(dataset, data_dir)
  if batch_size > examples:
    raise UserError('--batch_size=%d is more than the %d training examples '
                    'in %s: pass at most --batch_size=%d' %
                    (batch_size, examples, data_dir, examples))


def _prepare_train_dir(train_dir):
  """Creates `train_dir` if need be and claims it for this trainer."""
  if os.path.exists(train_dir) and not os.path.isdir(train_dir):
    raise UserError('train_dir %s is a file, not a folder: pass '
                    '--train_dir=DIR' % train_dir)
  os.makedirs(train_dir, exist_ok=True)
  folder_lock.lock(train_dir)


def _restore_or_initialize(sess, saver, var_map, init_op, global_step,
                           options, dataset):
  """Resumes from the newest readable checkpoint in options.train_dir, or
  starts: initializes the variables, and sets those a layer takes from the
  training data (layers.data_initializers).

  Returns:
    The global step training continues from.
  """
  checkpoints.remove_partial(options.train_dir)
  checkpoint = checkpoints.restore_newest(sess, saver, var_map,
                                          options.train_dir)
  if checkpoint is None:
    sess.run(init_op)
    for count, images, assign in layers.data_initializers(sess.graph):
      sess.run(assign, {images: records.training_images(
          dataset, options.data_dir, count)})
    return 0
  step = sess.run(global_step)
  print('Resuming from %s at step %d.' % (checkpoint, step), flush=True)
  return step


class _TrainOps(collections.namedtuple(
    '_TrainOps', 'train_op total_loss step_after summary_op start_input')):
  """The ops one training step runs.

  step_after is the global step read after the update; across machines it
  may have moved by more than one. start_input(sess, step) (re)starts the
  input where it is at global step `step`.
  """


def run_training(plan, deployment, config, options, role=None, target='',
                 on_stop=None):
  """Trains until plan.max_steps: the loop every training script shares.

  Args:
    plan: the Plan; the chief records its model and recipe in
      options.train_dir once it has restored or initialized the variables.
    deployment: a towers.Deployment, where the step's towers run
      (towers.ONE_DEVICE: one device).
    config: tf.compat.v1.ConfigProto for the session.
    options: LoopOptions.
    role: this process's part (LocalRole by default; a cluster.Cluster for
      a task of a cluster). Only the chief restores, saves and writes
      summaries.
    target: the session target, this task's server on a cluster.
    on_stop: None, or a function called with the exit status once a
      signal's stop has saved the checkpoint and said so: the scripts'
      cli.exit_now, which ends the process there.

  Returns:
    The process exit status: 0 when plan.max_steps was reached, 128 +
    signal number when stopped by a signal.
  """
  role = role or LocalRole()
  _check_batch_fits(plan.batch_size, plan.dataset, options.data_dir)
  if role.is_chief:
    _prepare_train_dir(options.train_dir)
  try:
    return _train(plan, deployment, config, options, role, target, on_stop)
  finally:
    # The folder is free once training in it ends, also for a process that
    # lives on (a notebook, a program that trains then evaluates); a task
    # that is not the chief holds no lock, and this does nothing.
    folder_lock.unlock(options.train_dir)


def _train(plan, deployment, config, options, role, target, on_stop):
  """run_training's graph and session, once the folder is this trainer's;
  returns the exit status."""
  # Examples one step of this process trains on, for examples/sec.
  examples_per_step = plan.batch_size * deployment.towers
  print('Training %s for %d steps of %d examples of %s; %s.' %
        (plan.model.name, plan.max_steps, examples_per_step,
         _describe_data(plan, options.data_dir),
         plan.model.describe(plan.recipe, plan.dataset.image_size)),
        flush=True)
  seed = _seed(options.seed)
  with tf.Graph().as_default() as graph, role.device_scope():
    tf.compat.v1.set_random_seed(seed)
    # Workers of a cluster each get their own order and distortions.
    global_step, start_input, next_batch = input_and_global_step(
        options.data_dir, plan.batch_size, seed + role.task_index,
        plan.recipe.preprocessing, plan.dataset)
    train_op, total_loss = towers.model_step(plan, deployment, next_batch,
                                             global_step)
    with tf.control_dependencies([train_op]):
      step_after = global_step.read_value()
    ops = _TrainOps(train_op, total_loss, step_after,
                    tf.compat.v1.summary.merge_all() if role.is_chief
                    else None, start_input)
    var_map = {v.op.name: v for v in tf.compat.v1.global_variables()}
    saver = tf.compat.v1.train.Saver(var_map, max_to_keep=0)
    init_op = tf.compat.v1.global_variables_initializer()
    role.build_coordination_ops()
    with tf.compat.v1.Session(target, config=config) as sess:
      step = role.prepare_session(
          sess, lambda: _restore_or_initialize(sess, saver, var_map, init_op,
                                               global_step, options,
                                               plan.dataset),
          lambda: sess.run(global_step))
      if 0 < step < plan.max_steps:
        print('%d of the run\'s %d steps remain.' %
              (plan.max_steps - step, plan.max_steps), flush=True)
      if role.is_chief:
        # Once the checkpoints are known to be this model's.
        model_file.write(options.train_dir, plan.model, plan.recipe,
                         plan.max_steps, plan.dataset)
      ops.start_input(sess, step)
      writer = (tf.compat.v1.summary.FileWriter(options.train_dir, graph)
                if role.is_chief else None)
      graph.finalize()
      role.start(sess)
      with _StopRequest() as stop, role.watching(sess):
        step = _loop(sess, ops, writer, saver if role.is_chief else None,
                     step, plan, examples_per_step, stop, role, options)
      if writer:
        writer.close()
      if stop.signum is None:
        role.finish(sess)
      else:
        print('Stopped by signal %d at step %d; newest checkpoint: %s.' %
              (stop.signum, step, checkpoints.latest(options.train_dir)),
              flush=True)
        if on_stop:
          # Before the session closes: that waits for tf.data's threads,
          # up to seconds after the checkpoint is safe.
          on_stop(cli.SIGNAL_EXIT_BASE + stop.signum)
    role.join()
  if stop.signum is not None:
    return cli.SIGNAL_EXIT_BASE + stop.signum
  if role.is_chief:
    print(_end_line(step, options, plan), flush=True)
  return 0


def _end_line(step, options, plan):
  """The last line of a run that reached its last step: where its newest
  checkpoint is and how to evaluate it (with --use_fp16 if it trained so:
  its checkpoints hold float16 variables; with --cache_dir for converted
  images, so that eval finds them)."""
  flags = ' --use_fp16' if plan.use_fp16 else ''
  if plan.dataset.conversion:
    flags += ' --cache_dir=%s' % shlex.quote(
        os.path.dirname(plan.dataset.files.binary_dir))
  return ('Done: reached step %d, the last of this run; newest checkpoint: '
          '%s. Evaluate it with: %s --data_dir=%s --checkpoint_dir=%s '
          '--run_once%s' %
          (step, checkpoints.latest(options.train_dir),
           cli.command_for('cifar10_eval.py'), shlex.quote(options.data_dir),
           shlex.quote(options.train_dir), flags))


def _describe_data(plan, data_dir):
  """The data set of a run's first line: its title, classes and records
  (and, for converted images, how they were brought to their size; for
  records too large to hold, that they are read as they are needed)."""
  converted = ('; each image\'s shorter side resized to %d, the centre '
               'cropped' % plan.dataset.image_size
               if plan.dataset.conversion else '')
  streamed = ('; read from its files as needed: they take over %d%% of the '
              'memory' % (100 * cifar10_input.STREAM_MEMORY_SHARE)
              if cifar10_input.streams(records.data_files(plan.dataset,
                                                          data_dir)) else '')
  return '%s (%d classes, %d training records%s%s)' % (
      plan.dataset.title, plan.dataset.num_classes,
      plan.recipe.records(), converted, streamed)


def input_and_global_step(data_dir, batch_size, seed,
                          preprocessing=cifar10_input.TUTORIAL_PREPROCESSING,
                          dataset=cifar10_input.DATASET):
  """The global step and the training input, both on the CPU.

  On a GPU machine the placer would be free to put them on a GPU: the
  input pipeline has no GPU kernels, and the step, like every variable,
  is shared by all towers from the CPU.

  Returns:
    (global_step, start_input, next_batch): start_input(sess, step)
    starts the input (again) where a run that never stopped would be at
    global step `step`, apart from the first step, so that a failed step
    (a cluster task restarting) does not leave it half made; next_batch()
    returns a new (images, labels) pair of tensors each call, one per
    tower.
  """
  with tf.device(INPUT_DEVICE):
    global_step = tf.compat.v1.train.get_or_create_global_step()
    first_batch = tf.compat.v1.placeholder_with_default(
        tf.constant(0, tf.int64), [], name='first_batch')
    iterator = tf.compat.v1.data.make_initializable_iterator(
        cifar10_input.train_dataset(data_dir, batch_size, seed, preprocessing,
                                    first_batch, dataset))
  batches_per_step = []

  def next_batch():
    batches_per_step.append(1)
    with tf.device(INPUT_DEVICE):
      return iterator.get_next()

  def start_input(sess, step):
    sess.run(iterator.initializer,
             {first_batch: step * len(batches_per_step)})
  return global_step, start_input, next_batch


def _seed(seed):
  """`seed`, or a new one, printed so that the run can be repeated."""
  if seed is not None:
    return seed
  seed = cifar10_input.new_seed()
  print('Random seed: %d (pass --seed=%d to repeat this run).' % (seed, seed),
        flush=True)
  return seed


def _summary_due(summary_op, every, step):
  """Summaries go with step 1, to show the start, then every N steps."""
  return summary_op is not None and every and (step == 1 or step % every == 0)


def _loop(sess, ops, writer, saver, step, plan, examples_per_step, stop, role,
          options):
  """Runs training steps from `step` to plan.max_steps; returns the last
  step.

  Without a saver (a worker that is not the chief) it saves nothing.
  """
  if step >= plan.max_steps:
    print('Already at step %d, the last of this run (%d): nothing to do.' %
          (step, plan.max_steps), flush=True)
  schedule = _CheckpointSchedule(options.save_checkpoint_steps,
                                 options.save_checkpoint_secs, step)
  window_start, window_steps = time.time(), 0
  while step < plan.max_steps and stop.signum is None:
    write_summary = _summary_due(ops.summary_op, options.summary_steps,
                                 step + 1)
    fetches = [ops.step_after, ops.total_loss] + (
        [ops.summary_op] if write_summary else [])
    with records.explain_data_errors(plan.dataset):
      # A failed step leaves the input iterator at its end: restart it.
      results = role.run_step(sess, fetches,
                              lambda: ops.start_input(sess, step))
    previous, step, loss_value = step, results[0], results[1]
    window_steps += 1
    if math.isnan(loss_value):
      raise UserError('model diverged with loss = NaN at step %d; the '
                      'checkpoints in %s are from before it; lower the '
                      'learning rate or check the data' %
                      (step, options.train_dir))
    if write_summary:
      writer.add_summary(results[2], step)
    if step // options.log_frequency > previous // options.log_frequency:
      duration = time.time() - window_start
      print('%s: step %d, loss = %.2f (%.1f examples/sec; %.3f sec/batch)' %
            (datetime.datetime.now(), step, loss_value,
             examples_per_step * window_steps / duration,
             duration / window_steps), flush=True)
      window_start, window_steps = time.time(), 0
    if saver and schedule.due(step):
      checkpoints.save(sess, saver, options.train_dir, step,
                       options.keep_checkpoint_max)
      schedule.saved(step)
  if saver and not schedule.saved_at(step):
    checkpoints.save(sess, saver, options.train_dir, step,
                     options.keep_checkpoint_max)
  return step
