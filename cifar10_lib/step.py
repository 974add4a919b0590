"""One training step, on one device or on several towers: the only builder.

`build` makes the step every trainer runs: each tower (a device running
the whole model on its own batch) builds the model and its loss and takes
the gradients of that loss; the towers' gradients are averaged; the loss
summaries' averages are updated; and `apply_gradients` applies the
gradients once, with the weight averages and the other updates of the
step. One device is one tower (TF-slim's model_deploy: one clone of the
same path), the default device and no tower name, so that its ops and
checkpoints keep the tutorial's names. On a cluster the same step runs on
every worker; synchronous training is a choice inside `apply_gradients`
(`sync_replicas`), not another assembly of the step.

The loss terms of a model are gathered in LOSSES_COLLECTION, and the
step's summaries use the tutorial's tags (summaries.py).
"""

import contextlib
import posixpath

import tensorflow as tf

from cifar10_lib import summaries

# The collection that holds the loss terms the total loss sums up, and
# the one of losses a step trains but does not report (a proxy network's
# that picks the training examples: cifar10_models/selection.py).
LOSSES_COLLECTION = 'losses'
SIDE_LOSSES = 'side_losses'

# The decay of the loss summaries' averages.
LOSS_AVERAGE_DECAY = 0.9


def loss_terms(collection=LOSSES_COLLECTION):
  """The `collection` terms created in the current name scope."""
  scope = tf.compat.v1.get_default_graph().get_name_scope()
  return tf.compat.v1.get_collection(collection,
                                     scope + '/' if scope else None)


def add_loss_summaries(losses, global_step):
  """Keeps 0.9 moving averages of the losses and summarizes raw and average.

  A single batch's loss is noisy; the average shows the trend. Raw values
  are tagged '<name> (raw)', averages '<name>'.

  The averages start at zero, so after t updates they hold only
  1 - 0.9 ** t of the losses' weight (the tutorial's curves started at
  0.0). The summaries show them divided by that (Adam's bias correction):
  at step 1 the averaged loss is the loss itself, and from about step 50
  on the correction is below 1%. The averages' variables, and so the
  checkpoints, stay the tutorial's.

  Args:
    losses: the loss terms and the total loss, named as `cifar10.loss()`
      names them outside any tower: the averages' variables take their
      names, and checkpoints must not depend on the number of towers.
    global_step: the global step variable. The returned op reads it, and
      the training step must apply its update after that op, so that it
      is read before this step increments it.

  Returns:
    The op that updates the averages; run it with each training step,
    before the optimizer's update.
  """
  averages = tf.compat.v1.train.ExponentialMovingAverage(
      LOSS_AVERAGE_DECAY, name='avg')
  update = averages.apply(losses)
  updates_made = tf.cast(global_step.read_value(), tf.float32) + 1.0
  with tf.control_dependencies([update]), summaries.summary_ops():
    weight = 1.0 - tf.pow(LOSS_AVERAGE_DECAY, updates_made)
    for l in losses:
      tag = summaries.summary_tag(l.op.name)
      summaries.scalar_summary(tag + ' (raw)', l)
      summaries.scalar_summary(tag, averages.average(l) / weight)
  return tf.group(update, updates_made)


def add_weight_and_gradient_summaries(grads_and_vars):
  """Adds histograms of every trainable variable and of its gradient."""
  for var in tf.compat.v1.trainable_variables():
    summaries.histogram_summary(var.op.name, var)
  for grad, var in grads_and_vars:
    if grad is not None:
      summaries.histogram_summary(var.op.name + '/gradients', grad)


def variable_averages(global_step, decay):
  """The `decay` moving averages of the variables that eval reads.

  num_updates makes the decay min(decay, (1 + step) / (10 + step)), so the
  averages follow the weights closely early in training.
  """
  return tf.compat.v1.train.ExponentialMovingAverage(
      decay, num_updates=global_step)


class _ThenPostUpdate(object):
  """An optimizer whose update is followed by a recipe's post-update.

  SyncReplicasOptimizer applies the aggregated gradients once per global
  step with its inner optimizer, on the chief, and lets the workers go on
  only after that update: wrapped so, the post-update (airbench's
  lookahead) runs once per global step, before any worker reads the
  weights again, as it does on one machine. Everything else is the inner
  optimizer's.
  """

  def __init__(self, optimizer, post_update):
    self._optimizer = optimizer
    self._post_update = post_update

  def apply_gradients(self, grads_and_vars, global_step=None, name=None):
    update = self._optimizer.apply_gradients(grads_and_vars, global_step,
                                             name)
    return tf.group(update, self._post_update(update))

  def __getattr__(self, name):
    return getattr(self._optimizer, name)


def apply_gradients(optimizer, grads_and_vars, global_step,
                    moving_average_decay=None, update_ops=(),
                    post_update=None, sync_replicas=None):
  """Applies the gradients, then updates the variables' moving averages.

  The one place where a step's gradients are applied. Evaluation reads the
  averages (cifar10.variables_to_restore), which are less noisy than the
  last step's weights.

  Args:
    optimizer, grads_and_vars, global_step: as Optimizer.apply_gradients.
    moving_average_decay: the averages' decay; None: no averages.
    update_ops: other ops the step runs, such as batch norm's updates of
      its moving statistics (the zoo's models).
    post_update: None, or a function post_update(after) that builds an op
      to run after the op `after`, here all of the step's updates (a
      recipe's lookahead).
    sync_replicas: None, or a cluster task that aggregates the gradients
      of all workers (cluster.Cluster, synchronous): its
      `sync_optimizer(optimizer, averages)` wraps the optimizer so that
      the summed gradients are applied once per global step, on the chief,
      and the averages updated after that update, as on one machine. For
      the same reason only the chief runs `update_ops` then.

  Returns:
    The training op.
  """
  add_weight_and_gradient_summaries(grads_and_vars)
  averages = (variable_averages(global_step, moving_average_decay)
              if moving_average_decay else None)
  if sync_replicas is not None:
    if post_update is not None:
      optimizer = _ThenPostUpdate(optimizer, post_update)
    update = sync_replicas.sync_optimizer(optimizer, averages).apply_gradients(
        grads_and_vars, global_step)
    return tf.group(update, *(update_ops if sync_replicas.is_chief else ()))
  update = optimizer.apply_gradients(grads_and_vars, global_step=global_step)
  with tf.control_dependencies([update]):
    if averages:
      update = averages.apply(tf.compat.v1.trainable_variables())
    else:
      update = tf.no_op()
  update = tf.group(update, *update_ops) if update_ops else update
  if post_update is None:
    return update
  return tf.group(update, post_update(update))


@contextlib.contextmanager
def _summaries_dropped(drop):
  """If `drop`, forgets the summaries created inside the block.

  The towers write identical tags; one tower's summaries are enough.
  """
  collection = tf.compat.v1.get_collection_ref(
      tf.compat.v1.GraphKeys.SUMMARIES)
  count = len(collection)
  yield
  if drop:
    del collection[count:]


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


def average_gradients(tower_grads):
  """Averages each variable's gradient over the towers.

  Args:
    tower_grads: one list of (gradient, variable) pairs per tower, all in
      the same variable order.

  Returns:
    A list of (averaged gradient, variable) pairs; a variable without a
    gradient keeps None. One tower's gradients pass through an identity,
    so that the caller's control dependencies hold for them too.
  """
  averaged = []
  for grads_and_vars in zip(*tower_grads):
    var = grads_and_vars[0][1]
    grads = [g for g, _ in grads_and_vars]
    if grads[0] is None:
      averaged.append((None, var))
    elif len(grads) == 1:
      averaged.append((tf.identity(grads[0]), var))
    else:
      averaged.append((tf.add_n(grads) / float(len(grads)), var))
  return averaged


def _tower_scope(index, device, device_function):
  """The device and name scope of tower `index`, entered again at each
  call (the name ends in '/'); none for the default device (None), where
  one tower is the single-device model."""
  if device is None:
    return contextlib.nullcontext()
  stack = contextlib.ExitStack()
  stack.enter_context(tf.compat.v1.device(
      device_function(device) if device_function else device))
  stack.enter_context(tf.compat.v1.name_scope(
      '%s_%d/' % (summaries.TOWER_NAME, index)))
  return stack


def build(tower_loss, global_step, make_optimizer, devices=(None,),
          device_function=None, moving_average_decay=None, post_update=None,
          sync_replicas=None, variable_device=None):
  """Builds one training step over `devices`: the only step builder.

  Args:
    tower_loss: function () -> total loss that builds one tower's model on
      its own batch (its terms in LOSSES_COLLECTION, what else it trains
      in SIDE_LOSSES); called once per tower, in the tower's device and
      name scope, with the variables shared.
    global_step: the global step variable; the step increments it by one.
    make_optimizer: function () -> the optimizer, called once, after the
      first tower's model is built: an optimizer may read what its layers
      put in graph collections (airbench's SGD, the variables that train
      for their first epochs only).
    devices: one device per tower; (None,): one tower on the default
      device, with no tower name scope (single-device training).
    device_function: maps a tower's device to its device function, which
      must put the variables where the towers share them; None: the device
      itself.
    moving_average_decay, post_update, sync_replicas: apply_gradients'.
      Batch norm's moving statistics (UPDATE_OPS) are updated from the
      first tower's batch, once per step.
    variable_device: where the step's own ops outside the towers run (the
      loss means and the update), on towers: the variables' device.

  Returns:
    (train_op, total loss; on towers, their mean).
  """
  optimizer = None
  tower_grads, tower_losses, update_ops = [], [], []
  with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(),
                                   reuse=tf.compat.v1.AUTO_REUSE):
    for i, device in enumerate(devices):
      with _tower_scope(i, device, device_function), \
           _summaries_dropped(i > 0):
        total_loss = tower_loss()
        scope = tf.compat.v1.get_default_graph().get_name_scope()
        if i == 0:
          update_ops = tf.compat.v1.get_collection(
              tf.compat.v1.GraphKeys.UPDATE_OPS, scope + '/' if scope else None)
        tower_losses.append(loss_terms() + [total_loss])
        trained = tf.add_n([total_loss] + loss_terms(SIDE_LOSSES))
      # Outside the tower: the schedule's ops are the step's, not a tower's.
      optimizer = optimizer or make_optimizer()
      with _tower_scope(i, device, device_function):
        tower_grads.append(optimizer.compute_gradients(trained))
  with (tf.compat.v1.device(variable_device) if variable_device
        else contextlib.nullcontext()):
    if len(devices) == 1 and devices[0] is None:
      losses = tower_losses[0]
    else:
      losses = [_mean_over_towers(list(t)) for t in zip(*tower_losses)]
    loss_averages_op = add_loss_summaries(losses, global_step)
    # The update waits for the loss averages (see add_loss_summaries); only
    # the gradients wait, not the start-up ops that a cluster's optimizer
    # builds beside its update.
    with tf.control_dependencies([loss_averages_op]):
      grads = average_gradients(tower_grads)
    train_op = apply_gradients(optimizer, grads, global_step,
                               moving_average_decay, update_ops, post_update,
                               sync_replicas)
  return train_op, losses[-1]
