"""Trains the CIFAR-10 model on several devices ("towers") in lockstep.

Usage:
  python cifar10_multi_gpu_train.py --num_gpus=2 --train_dir=/tmp/cifar10_train

Each tower runs the whole model on its own batch of --batch_size examples,
taken from one shared input pipeline. The variables live once, on the CPU;
the towers' gradients are averaged (the one synchronization point) and
applied once, so one global step trains on num_gpus x batch_size examples.
The learning-rate schedule counts global steps, with an epoch being
NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN / (num_gpus x batch_size) of them.

With fewer GPUs than --num_gpus (none included), the towers run on as many
logical CPU devices, so the same command runs, and is tested, anywhere.

Everything else (flags, progress lines, checkpoints, resume, summaries, the
NaN stop, Ctrl-C) is cifar10_lib/training.py's loop, the same as
single-device training's; on a cluster the task's cluster.Cluster is its
role in that loop. Checkpoints use the same variable names, so either
trainer resumes from the other's checkpoints and cifar10_eval.py reads both.
"""

import contextlib
import functools
import posixpath

if __name__ == '__main__':  # First: bad paths, a busy --train_dir stop here.
  from cifar10_lib import claims  # pylint: disable=g-import-not-at-top
  claims.check_trainer_command_line()

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import flags
from cifar10_lib import cli  # Before TensorFlow: it sets its CPU options.
import tensorflow as tf

import cifar10
import cifar10_models
from cifar10_lib import cluster
from cifar10_lib import download
from cifar10_lib import options
from cifar10_lib import summaries
from cifar10_lib import training
from cifar10_models import recipe as recipes

FLAGS = flags.FLAGS

options.define(options.DATA, options.DEVICES, options.MODEL, options.TRAINING,
               options.CLUSTER)
flags.adopt_module_key_flags(options)
flags.DEFINE_integer('num_gpus', 1, 'How many GPUs (towers) to use.',
                     lower_bound=1)

# Ops that hold variables; the tower device function keeps them on the CPU.
VARIABLE_OPS = frozenset(['Variable', 'VariableV2', 'VarHandleOp'])
VARIABLE_DEVICE = '/cpu:0'


def tower_devices(num_towers):
  """Picks the towers' devices: GPUs if there are enough, else CPU devices.

  Returns:
    (devices, cpu_devices): the device of each tower, and how many logical
    CPU devices the session must create for them.
  """
  gpus = len(tf.config.list_physical_devices('GPU'))
  if gpus >= num_towers:
    return ['/gpu:%d' % i for i in range(num_towers)], 1
  print('Asked for %d GPUs, found %d: running the %d towers on %d logical '
        'CPU devices.' % (num_towers, gpus, num_towers, num_towers),
        flush=True)
  return ['/cpu:%d' % i for i in range(num_towers)], num_towers


def _tower_device(device):
  """A device function for a tower's ops on `device`.

  Variables go to VARIABLE_DEVICE, where the towers share them, and so do
  the ops made with them that take their handle (initializers, the
  is-initialized check): an op must run where its resource is. (Reads are
  built outside any device function, and TensorFlow places them beside
  the variable.) An op whose device an inner scope chose keeps it (the
  summaries' CPU); every other op goes to `device`.
  """
  def place(op):
    if op.type in VARIABLE_OPS or any(t.dtype == tf.resource
                                      for t in op.inputs):
      return VARIABLE_DEVICE
    return op.device or device
  return place


@contextlib.contextmanager
def _summaries_dropped(drop):
  """If `drop`, forgets the summaries created inside the block.

  The towers write identical tags; one tower's summaries are enough.
  """
  summaries = tf.compat.v1.get_collection_ref(
      tf.compat.v1.GraphKeys.SUMMARIES)
  count = len(summaries)
  yield
  if drop:
    del summaries[count:]


def average_gradients(tower_grads):
  """Averages each variable's gradient over the towers.

  Args:
    tower_grads: one list of (gradient, variable) pairs per tower, all in
      the same variable order.

  Returns:
    A list of (averaged gradient, variable) pairs.
  """
  averaged = []
  for grads_and_vars in zip(*tower_grads):
    var = grads_and_vars[0][1]
    grads = [g for g, _ in grads_and_vars]
    averaged.append((tf.add_n(grads) / float(len(grads)), var))
  return averaged


def _mean_over_towers(tensors):
  """The mean of one loss term over the towers, named as on one device.

  `tower_0/local3/weight_loss` becomes `local3/weight_loss`, so that the
  loss averages' variables, and thus checkpoints, do not depend on the
  number of towers.
  """
  name = summaries.summary_tag(tensors[0].op.name)
  scope, base = posixpath.split(name)
  with tf.compat.v1.name_scope(scope + '/' if scope else None):
    return tf.reduce_mean(tf.stack(tensors), name=base)


def tower_model(next_batch, global_step, devices, batch_size,
                examples_per_update=None, device_fn=_tower_device,
                apply_fn=cifar10.apply_gradients, use_fp16=False, model=None,
                recipe=None):
  """Builds the synchronous multi-tower training graph.

  Args:
    next_batch: function returning the next (images, labels) batch; each
      tower calls it once per step.
    global_step: the global step variable.
    devices: one device name per tower.
    batch_size: examples per tower per step.
    examples_per_update: examples per global step, for the learning-rate
      schedule; by default the towers' batches (more across workers).
    device_fn: maps a tower's device to its device function, which must put
      the variables where they are shared.
    apply_fn: (optimizer, grads_and_vars, global_step,
      moving_average_decay, update_ops, post_update) -> train op; by
      default the optimizer's update plus the moving averages, as on one
      device.
    use_fp16: variables and activations in float16 (--use_fp16).
    model, recipe: the cifar10_models.Model and its Recipe; by default the
      tutorial's. Batch norm's moving statistics are updated from the
      first tower's batch, once per step.

  Returns:
    (train_op, mean total loss over the towers).
  """
  model, recipe = cifar10_models.or_default(model, recipe)
  examples_per_update = examples_per_update or batch_size * len(devices)
  optimizer = recipes.optimizer(recipe, global_step, examples_per_update)
  tower_grads, tower_losses = [], []
  update_ops = []
  with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(),
                                   reuse=tf.compat.v1.AUTO_REUSE):
    for i, device in enumerate(devices):
      tower_scope = '%s_%d' % (cifar10.TOWER_NAME, i)
      with tf.compat.v1.device(device_fn(device)), \
           tf.compat.v1.name_scope(tower_scope) as scope, \
           _summaries_dropped(i > 0):
        images, labels = next_batch()
        summaries.image_summary('images', images)
        total_loss = cifar10.loss(
            model.logits(images, True, recipe, use_fp16), labels,
            recipe.label_smoothing, recipe.loss_reduction)
        if i == 0:
          update_ops = tf.compat.v1.get_collection(
              tf.compat.v1.GraphKeys.UPDATE_OPS, scope)
        tower_losses.append(cifar10.loss_terms() + [total_loss])
        tower_grads.append(optimizer.compute_gradients(total_loss))
  with tf.device(VARIABLE_DEVICE):
    losses = [_mean_over_towers(list(t)) for t in zip(*tower_losses)]
    loss_averages_op = cifar10.add_loss_summaries(losses, global_step)
    # As on one device, the update waits for the loss averages (see
    # add_loss_summaries); only the gradients wait, not the start-up ops
    # that a cluster's optimizer builds beside its update.
    with tf.control_dependencies([loss_averages_op]):
      grads = average_gradients(tower_grads)
    return apply_fn(optimizer, grads, global_step,
                    recipe.moving_average_decay, update_ops,
                    recipes.post_update(recipe, global_step,
                                        examples_per_update)), losses[-1]


def main(unused_argv):
  task = options.cluster_from_flags()
  if task is not None and task.job_name == 'ps':
    return cluster.run_ps(task)
  download.prepare_data(FLAGS.data_dir, None, FLAGS.download, FLAGS.data_url)
  towers, cpu_devices = tower_devices(FLAGS.num_gpus)
  # Synchronous updates train on every worker's examples at once.
  workers_per_update = task.num_workers if task and task.sync else 1
  plan = options.plan_from_flags(len(towers), workers_per_update)
  examples_per_step = plan.batch_size * len(towers)
  config = options.training_session_config_from_flags(cpu_devices)
  build = functools.partial(
      tower_model, batch_size=plan.batch_size, use_fp16=plan.use_fp16,
      model=plan.model, recipe=plan.recipe)
  loop_options = options.loop_options_from_flags()
  if task is None:
    return training.run_training(
        functools.partial(build, devices=towers), plan, examples_per_step,
        config, loop_options)
  build = functools.partial(
      build, devices=task.tower_devices(towers),
      examples_per_update=examples_per_step * workers_per_update,
      device_fn=task.tower_device_fn, apply_fn=task.apply_gradients)
  server = task.start_server(options.session_config_from_flags(cpu_devices))
  return training.run_training(
      build, plan, examples_per_step, task.session_config(config),
      loop_options, task, server.target)


if __name__ == '__main__':
  cli.run(main)
