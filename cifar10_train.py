"""Trains the CIFAR-10 model on one device, and holds the training loop.

Usage:
  python cifar10_train.py --data_dir=/tmp/cifar10_data --train_dir=/tmp/cifar10_train

Every --log_frequency steps it prints

  2026-11-22 15:04:05.123456: step 120, loss = 3.98 (1150.2 examples/sec; 0.111 sec/batch)

and it writes checkpoints (model.ckpt-STEP) and summaries into --train_dir.
Started again with the same --train_dir, it resumes from the newest
checkpoint; it never deletes what is there. Ctrl-C or SIGTERM saves a
checkpoint at the current step before exiting.

`run_training` is the loop itself; cifar10_multi_gpu_train.py runs the same
loop with a multi-tower model.
"""

import collections
import contextlib
import datetime
import functools
import math
import os
import signal
import time

from absl import flags
import cifar10_lib  # Before TensorFlow: it sets TensorFlow's CPU options.
from cifar10_lib import devices
import tensorflow as tf
from tensorflow.core.protobuf import rewriter_config_pb2

import cifar10
from cifar10_lib import summaries
from cifar10_lib import checkpoints
from cifar10_lib import cli
from cifar10_lib import download
from cifar10_lib import cluster
import cifar10_input
from cifar10_lib import records
import cifar10_models
from cifar10_lib.cli import UserError
from cifar10_models import recipe as recipes

FLAGS = flags.FLAGS

flags.DEFINE_string('train_dir', '/tmp/cifar10_train',
                    'Directory where to write event logs and checkpoints; '
                    'training resumes from the newest checkpoint there.')
flags.DEFINE_integer('max_steps', 1000000, 'Number of batches to run.',
                     lower_bound=1)
flags.DEFINE_boolean('log_device_placement', False,
                     'Whether to log device placement.')
flags.DEFINE_integer('log_frequency', 10,
                     'How often (in steps) to log results to the console.',
                     lower_bound=1)
flags.DEFINE_integer('save_checkpoint_secs', 600,
                     'Save a checkpoint every this many seconds; 0: never by '
                     'time.', lower_bound=0)
flags.DEFINE_integer('save_checkpoint_steps', 0,
                     'Save a checkpoint every this many steps; 0: never by '
                     'step count.', lower_bound=0)
flags.DEFINE_integer('keep_checkpoint_max', 5,
                     'How many of the newest checkpoints to keep.',
                     lower_bound=1)
flags.DEFINE_integer('summary_steps', 100,
                     'Write summaries every this many steps; 0: never.',
                     lower_bound=0)
flags.DEFINE_boolean('bf16', False,
                     'Mixed precision on CPUs: let oneDNN run convolutions '
                     'and matrix products in bfloat16, variables staying '
                     'float32. About 1.8x faster where the CPU has '
                     'AVX512_BF16 or AMX, slower where it has not; changes '
                     'results slightly (README.md has the figures).')
flags.DEFINE_integer('seed', None,
                     'Seed of the initial weights, the shuffling and the '
                     'distortions: the same seed gives the same loss curve '
                     'on one device. Unset: a new seed each run, printed at '
                     'the start.', lower_bound=0, upper_bound=2 ** 31 - 1)

# Stop signals the loop turns into "save, then exit".
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# Where the input pipeline and the global step live.
INPUT_DEVICE = '/cpu:0'


def session_config(cpu_devices=1):
  """The session options of the training scripts, as the flags set them.

  Args:
    cpu_devices: how many logical CPU devices to create, for towers on a
      machine without enough GPUs.
  """
  config = devices.session_config(
      FLAGS.gpu_memory_fraction, FLAGS.use_gpu, cpu_devices,
      FLAGS.log_device_placement)
  if FLAGS.bf16:
    print(devices.bf16_plan(), flush=True)
    use_bf16(config)
  return config


def use_bf16(config):
  """Turns on TensorFlow's oneDNN bfloat16 rewrite in session `config`.

  The rewrite runs convolutions, matrix products and the ops between them
  in bfloat16 and keeps variables, their updates and the loss in float32;
  bfloat16 has float32's range, so unlike float16 it needs no loss scaling.
  """
  config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = (
      rewriter_config_pb2.RewriterConfig.ON)


class Plan(collections.namedtuple('Plan', 'model recipe max_steps')):
  """What a run trains: the model, its recipe and the length.

  max_steps counts global steps.
  """

  @property
  def batch_size(self):
    """Examples per tower per step: the recipe's, recorded with it."""
    return self.recipe.batch_size


def plan_from_flags(towers=1, workers_per_update=1):
  """The Plan the flags and --train_dir ask for.

  --batch_size and --max_steps given explicitly win; otherwise the
  recipe's batch size, and its epochs in global steps of towers x
  workers_per_update batches (the tutorial's recipe has none: the
  --max_steps default). The batch size goes into the recipe that the
  folder records, so a resumed run keeps it: the learning-rate schedule
  turns steps into epochs with it.
  """
  name, overrides = cifar10_models.requested()
  model, recipe = cifar10_models.for_training(FLAGS.train_dir, name, overrides,
                                              FLAGS.use_fp16)
  if FLAGS['batch_size'].present:
    recipe = recipe._replace(batch_size=FLAGS.batch_size)
  max_steps = FLAGS.max_steps
  if not FLAGS['max_steps'].present and recipe.epochs is not None:
    max_steps = recipe.steps(recipe.batch_size * towers * workers_per_update)
  return Plan(model, recipe, max_steps)


def single_device_model(next_batch, global_step, plan):
  """Builds the single-device training graph of `plan`'s model.

  Args:
    next_batch: function returning the next (images, labels) batch.
    global_step: the global step variable.
    plan: a Plan.

  Returns:
    (train_op, total_loss).
  """
  images, labels = next_batch()
  summaries.image_summary('images', images)
  logits = plan.model.logits(images, True, plan.recipe, FLAGS.use_fp16)
  total_loss = cifar10.loss(logits, labels, plan.recipe.label_smoothing)
  optimizer = recipes.optimizer(plan.recipe, global_step, plan.batch_size)
  train_op = cifar10.train_step(
      total_loss, global_step, optimizer, plan.recipe.moving_average_decay,
      tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS))
  return train_op, total_loss


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


def _prepare_train_dir(train_dir):
  """Creates `train_dir` if need be and claims it for this trainer."""
  if os.path.exists(train_dir) and not os.path.isdir(train_dir):
    raise UserError('train_dir %s is a file, not a folder: pass '
                    '--train_dir=DIR' % train_dir)
  os.makedirs(train_dir, exist_ok=True)
  checkpoints.claim(train_dir)


def _restore_or_initialize(sess, saver, var_map, init_op, global_step):
  """Resumes from the newest readable checkpoint in --train_dir, or starts.

  Returns:
    The global step training continues from.
  """
  checkpoints.remove_partial(FLAGS.train_dir)
  checkpoint = checkpoints.restore_newest(sess, saver, var_map,
                                                 FLAGS.train_dir)
  if checkpoint is None:
    sess.run(init_op)
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


def _device_scope(cluster):
  return cluster.device_scope() if cluster else contextlib.nullcontext()


def _watch_workers(cluster, sess):
  if cluster is None:
    return contextlib.nullcontext()
  return cluster.watch_workers(sess, FLAGS.worker_warning_secs)


def run_training(build_train_op, plan, examples_per_step, config,
                 cluster=None, target=''):
  """Trains until plan.max_steps: the loop every training script shares.

  Args:
    build_train_op: function (next_batch, global_step) -> (train_op,
      total_loss) that builds the model; next_batch() returns a new
      (images, labels) batch from the shared input pipeline each call.
    plan: the Plan; the chief records its model and recipe in
      --train_dir once it has restored or initialized the variables.
    examples_per_step: examples one step of this process trains on, for
      examples/sec.
    config: tf.compat.v1.ConfigProto for the session.
    cluster: a cluster.Cluster for a worker task, None on one
      machine. Only the chief (worker 0) restores, saves and writes
      summaries; the others wait for it to initialize the model.
    target: the session target, this task's server on a cluster.

  Returns:
    The process exit status: 0 when --max_steps was reached, 128 + signal
    number when stopped by a signal.
  """
  is_chief = cluster is None or cluster.is_chief
  if is_chief:
    _prepare_train_dir(FLAGS.train_dir)
  print('Training %s for %d steps of %d examples; %s.' %
        (plan.model.name, plan.max_steps, examples_per_step,
         plan.recipe.describe()), flush=True)
  seed = _seed()
  with tf.Graph().as_default() as graph, _device_scope(cluster):
    tf.compat.v1.set_random_seed(seed)
    # Workers of a cluster each get their own order and distortions.
    global_step, start_input, next_batch = input_and_global_step(
        FLAGS.data_dir, plan.batch_size,
        seed + (cluster.task_index if cluster else 0), plan.recipe.view)
    train_op, total_loss = build_train_op(next_batch, global_step)
    with tf.control_dependencies([train_op]):
      step_after = global_step.read_value()
    ops = _TrainOps(train_op, total_loss, step_after,
                    tf.compat.v1.summary.merge_all() if is_chief else None,
                    start_input)
    var_map = {v.op.name: v for v in tf.compat.v1.global_variables()}
    saver = tf.compat.v1.train.Saver(var_map, max_to_keep=0)
    init_op = tf.compat.v1.global_variables_initializer()
    if cluster:
      cluster.build_coordination_ops()
    with tf.compat.v1.Session(target, config=config) as sess:
      if is_chief:
        step = _retry_while_unavailable(
            lambda: _restore_or_initialize(sess, saver, var_map, init_op,
                                           global_step))
        # Once the checkpoints are known to be this model's.
        cifar10_models.write_record(FLAGS.train_dir, plan.model, plan.recipe)
      else:
        _retry_while_unavailable(lambda: cluster.wait_for_chief(sess))
        step = sess.run(global_step)
      ops.start_input(sess, step)
      writer = (tf.compat.v1.summary.FileWriter(FLAGS.train_dir, graph)
                if is_chief else None)
      graph.finalize()
      if cluster:
        cluster.start(sess)
      with _StopRequest() as stop, _watch_workers(cluster, sess):
        step = _loop(sess, ops, writer, saver if is_chief else None, step,
                     plan.max_steps, examples_per_step, stop)
      if writer:
        writer.close()
      if cluster and stop.signum is None:
        cluster.finish(sess)
    if cluster:
      cluster.join()
  if stop.signum is not None:
    print('Stopped by signal %d at step %d; newest checkpoint: %s.' %
          (stop.signum, step, checkpoints.latest(FLAGS.train_dir)),
          flush=True)
    return cli.SIGNAL_EXIT_BASE + stop.signum
  return 0


def input_and_global_step(data_dir, batch_size, seed,
                          view=cifar10_input.TUTORIAL_VIEW):
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
        cifar10_input.train_dataset(data_dir, batch_size, seed, view,
                                    first_batch))
  batches_per_step = []

  def next_batch():
    batches_per_step.append(1)
    with tf.device(INPUT_DEVICE):
      return iterator.get_next()

  def start_input(sess, step):
    sess.run(iterator.initializer,
             {first_batch: step * len(batches_per_step)})
  return global_step, start_input, next_batch


def _seed():
  """--seed, or a new one, printed so that the run can be repeated."""
  if FLAGS.seed is not None:
    return FLAGS.seed
  seed = cifar10_input.new_seed()
  print('Random seed: %d (pass --seed=%d to repeat this run).' % (seed, seed),
        flush=True)
  return seed


def _retry_while_unavailable(run, recover=None, seconds=120):
  """Calls `run`, again while another task of the cluster is unreachable.

  Tasks start in any order and may be restarted; a server that is not
  listening (yet, or again) makes ops fail with UnavailableError rather than
  wait. On one machine this never happens.

  Args:
    run: the function to call.
    recover: if given, called before each new try.
    seconds: how long to keep trying.
  """
  deadline = time.time() + seconds
  failed = False
  while True:
    try:
      if failed and recover:
        recover()
      return run()
    except tf.errors.UnavailableError as e:
      reason = ' '.join(e.message.split())[:200]
      if time.time() > deadline:
        raise UserError('the cluster stayed unreachable for %d s (%s): are '
                        'all tasks of --ps_hosts and --worker_hosts running? '
                        'Training resumes from the newest checkpoint' %
                        (seconds, reason))
      print('Waiting for the other tasks of the cluster (%s).' % reason,
            flush=True)
      failed = True
      time.sleep(1)


def _summary_due(summary_op, step):
  """Summaries go with step 1, to show the start, then every N steps."""
  every = FLAGS.summary_steps
  return summary_op is not None and every and (step == 1 or step % every == 0)


def _loop(sess, ops, writer, saver, step, max_steps, examples_per_step,
          stop):
  """Runs training steps from `step` to `max_steps`; returns the last step.

  Without a saver (a worker that is not the chief) it saves nothing.
  """
  if step >= max_steps:
    print('Already at step %d, the last of this run (%d): nothing to do.' %
          (step, max_steps), flush=True)
  schedule = _CheckpointSchedule(FLAGS.save_checkpoint_steps,
                                 FLAGS.save_checkpoint_secs, step)
  window_start, window_steps = time.time(), 0
  while step < max_steps and stop.signum is None:
    write_summary = _summary_due(ops.summary_op, step + 1)
    fetches = [ops.step_after, ops.total_loss] + (
        [ops.summary_op] if write_summary else [])
    with records.explain_data_errors():
      # A failed step leaves the input iterator at its end: restart it.
      results = _retry_while_unavailable(
          lambda: sess.run(fetches), lambda: ops.start_input(sess, step))
    previous, step, loss_value = step, results[0], results[1]
    window_steps += 1
    if math.isnan(loss_value):
      raise UserError('model diverged with loss = NaN at step %d; the '
                      'checkpoints in %s are from before it; lower the '
                      'learning rate or check the data' %
                      (step, FLAGS.train_dir))
    if write_summary:
      writer.add_summary(results[2], step)
    if step // FLAGS.log_frequency > previous // FLAGS.log_frequency:
      duration = time.time() - window_start
      print('%s: step %d, loss = %.2f (%.1f examples/sec; %.3f sec/batch)' %
            (datetime.datetime.now(), step, loss_value,
             examples_per_step * window_steps / duration,
             duration / window_steps), flush=True)
      window_start, window_steps = time.time(), 0
    if saver and schedule.due(step):
      _save(sess, saver, step)
      schedule.saved(step)
  if saver and not schedule.saved_at(step):
    _save(sess, saver, step)
  return step


def _save(sess, saver, step):
  checkpoints.save(sess, saver, FLAGS.train_dir, step,
                          FLAGS.keep_checkpoint_max)


def main(unused_argv):
  if FLAGS.ps_hosts or FLAGS.worker_hosts or FLAGS.job_name:
    raise UserError('cluster flags are for cifar10_multi_gpu_train.py; '
                    'cifar10_train.py trains on one device')
  download.prepare_data(FLAGS.data_dir, None, FLAGS.download, FLAGS.data_url)
  plan = plan_from_flags()
  return run_training(functools.partial(single_device_model, plan=plan), plan,
                      plan.batch_size, session_config())


if __name__ == '__main__':
  cli.run(main)
