"""Finds, checks and restores checkpoints for training and evaluation.

A checkpoint the user points us at may come from another model or be
damaged. Restoring it blindly fails deep inside TensorFlow with a message
about a tensor; here it is checked first and reported in one line that names
the checkpoint and what to do.
"""

import tensorflow as tf

from cifar10_cli import UserError


def latest(checkpoint_dir):
  """Returns the newest checkpoint prefix in `checkpoint_dir`, or None."""
  return tf.train.latest_checkpoint(checkpoint_dir)


def _shapes_in(checkpoint):
  """Maps each variable name stored in `checkpoint` to its shape.

  Raises:
    UserError: the checkpoint cannot be read.
  """
  try:
    return dict(tf.train.list_variables(checkpoint))
  except (tf.errors.OpError, ValueError) as e:
    raise _unreadable(checkpoint, e)


def _unreadable(checkpoint, error):
  """The UserError for a checkpoint that TensorFlow failed to read."""
  message = (getattr(error, 'message', None) or str(error)).strip()
  reason = message.splitlines()[0] if message else repr(error)
  return UserError('checkpoint %s is unreadable (%s): remove it, or point at '
                   'another folder' % (checkpoint, reason))


def check_compatible(checkpoint, var_map):
  """Raises UserError unless `checkpoint` holds every variable in `var_map`.

  Args:
    checkpoint: a checkpoint prefix.
    var_map: dict from checkpoint name to the variable restored from it.
  """
  stored = _shapes_in(checkpoint)
  for name, var in sorted(var_map.items()):
    if name not in stored:
      raise UserError('checkpoint %s does not match this model: it has no '
                      'variable %s; use a --train_dir or --checkpoint_dir '
                      'written by this model' % (checkpoint, name))
    shape = var.shape.as_list()
    if list(stored[name]) != shape:
      raise UserError('checkpoint %s does not match this model: %s has shape '
                      '%s there, %s here; use a --train_dir or '
                      '--checkpoint_dir written by this model' %
                      (checkpoint, name, list(stored[name]), shape))


def restore(sess, saver, var_map, checkpoint):
  """Checks `checkpoint` against `var_map`, then restores it into `sess`.

  Raises:
    UserError: the checkpoint does not match or cannot be read.
  """
  check_compatible(checkpoint, var_map)
  try:
    saver.restore(sess, checkpoint)
  except (tf.errors.OpError, ValueError) as e:
    raise _unreadable(checkpoint, e)
