"""Where a run's towers go, and the training step of its model on them.

A tower is one device running the whole model on its own batch. One device
is the one-tower case (`ONE_DEVICE`: the default device, no tower name);
cifar10_multi_gpu_train.py places a tower on each GPU, or on as many
logical CPU devices where there are fewer GPUs, with the variables kept
once on the CPU; a cluster's worker places them within the cluster
(cluster.Cluster). Either way `model_step` builds the same step with
step.build.
"""

import collections

import tensorflow as tf

import cifar10
from cifar10_lib import devices
from cifar10_lib import step
from cifar10_lib import summaries
from cifar10_models import recipe as recipes

# Ops that hold variables; the tower device function keeps them on the CPU.
VARIABLE_OPS = frozenset(['Variable', 'VariableV2', 'VarHandleOp'])
VARIABLE_DEVICE = '/cpu:0'


class Deployment(collections.namedtuple(
    'Deployment', 'devices device_function variable_device '
    'workers_per_update sync_replicas',
    defaults=[None, None, 1, None])):
  """Where one training step runs.

  Attributes:
    devices: one device per tower; (None,) for one tower on the default
      device.
    device_function: maps a tower's device to its device function (None:
      the device itself).
    variable_device: where the step's ops outside the towers run.
    workers_per_update: how many workers' towers one update aggregates
      (a synchronous cluster's workers; else 1).
    sync_replicas: the cluster task that aggregates the workers' gradients
      (synchronous training), or None.
  """

  @property
  def towers(self):
    return len(self.devices)


ONE_DEVICE = Deployment(devices=(None,))


def tower_devices(num_towers):
  """Picks the towers' devices: GPUs if there are enough, else CPU devices.

  Returns:
    (devices, cpu_devices): the device of each tower, and how many logical
    CPU devices the session must create for them.
  """
  gpus = devices.gpus()
  if gpus >= num_towers:
    return ['/gpu:%d' % i for i in range(num_towers)], 1
  print('Asked for %d GPUs, found %d: running the %d towers on %d logical '
        'CPU devices.' % (num_towers, gpus, num_towers, num_towers),
        flush=True)
  return ['/cpu:%d' % i for i in range(num_towers)], num_towers


def tower_device_function(device):
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


def on_devices(devices):
  """The Deployment of towers on `devices` of this machine."""
  return Deployment(devices=tuple(devices),
                    device_function=tower_device_function,
                    variable_device=VARIABLE_DEVICE)


def model_step(plan, deployment, next_batch, global_step):
  """Builds the training step of `plan`'s model on `deployment`.

  Args:
    plan: a training.Plan (model, recipe, use_fp16).
    deployment: a Deployment.
    next_batch: function returning the next (images, labels) batch; each
      tower calls it once per step.
    global_step: the global step variable.

  Returns:
    (train_op, total loss; on towers, their mean).
  """
  recipe = plan.recipe
  # The schedule counts the examples of one update: every tower's batch of
  # every worker whose gradients it aggregates.
  examples_per_update = (plan.batch_size * deployment.towers *
                         deployment.workers_per_update)

  def tower_loss():
    images, labels = recipes.selected(recipe, *next_batch(), plan.dataset)
    summaries.image_summary('images', images)
    logits = plan.model.logits(images, True, recipe, plan.use_fp16,
                               plan.dataset)
    return cifar10.loss(logits, labels, recipe.label_smoothing,
                        recipe.loss_reduction)

  return step.build(
      tower_loss, global_step,
      lambda: recipes.optimizer(recipe, global_step, examples_per_update),
      deployment.devices, deployment.device_function,
      recipe.moving_average_decay,
      recipes.post_update(recipe, global_step, examples_per_update),
      deployment.sync_replicas, deployment.variable_device)
