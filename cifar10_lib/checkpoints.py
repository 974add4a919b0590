"""Writes, finds, checks and restores checkpoints without ever losing one.

Training runs for hours, and machines die at any moment. The rules here:

- A checkpoint is written under a temporary name (`.partial-model.ckpt-N`)
  and renamed into place, its data files first and its `.index` last, before
  the `checkpoint` state file (written atomically by TensorFlow) names it. A
  `model.ckpt-N.index` file therefore always means a complete checkpoint,
  whenever the process was killed.
- Restoring checks the checkpoint against the model first, so a checkpoint
  of another model gets one line that names it, not an error about a tensor.
- An unreadable checkpoint (a damaged file) is reported and skipped: training
  resumes from the newest readable one, setting the skipped ones aside as
  `*.unreadable`, and evaluation moves on. Nothing is deleted but the
  oldest checkpoints beyond --keep_checkpoint_max that this module itself
  wrote, as the tutorial did; a checkpoint deleted or set aside loses
  its `.index` first.

One trainer per folder is folder_lock.py's part.
"""

import glob
import os
import re
import shutil

from google.protobuf import text_format
import tensorflow as tf

from cifar10_lib.cli import UserError

BASENAME = 'model.ckpt'
PARTIAL_PREFIX = '.partial-'
SET_ASIDE_SUFFIX = '.unreadable'

# The file a complete checkpoint has last: its presence marks it whole.
_INDEX_SUFFIX = '.index'

class UnreadableCheckpointError(UserError):
  """A checkpoint's files cannot be read (truncated, damaged, removed)."""


def _unreadable(checkpoint, error):
  """The UnreadableCheckpointError for a TensorFlow read failure."""
  message = (getattr(error, 'message', None) or str(error)).strip()
  reason = message.splitlines()[0] if message else repr(error)
  return UnreadableCheckpointError(
      'checkpoint %s is unreadable (%s): move it away, or point at another '
      'folder' % (checkpoint, reason))


def step_of(prefix):
  """The global step in a checkpoint's name (model.ckpt-STEP); -1 if none."""
  match = re.search(r'-(\d+)$', prefix)
  return int(match.group(1)) if match else -1


def _recorded(directory):
  """The checkpoint prefixes the state file lists, oldest first, each
  taken as a file of `directory`.

  A damaged state file lists nothing: the checkpoints are still found by
  their index files. A state file copied or moved with its folder may
  name the old folder's paths: they are read as this folder's own files,
  so that a copy never reads, sets aside or rotates away the original's.
  """
  try:
    state = tf.train.get_checkpoint_state(directory)
  except (tf.errors.OpError, text_format.ParseError):
    print('WARNING: %s is damaged; looking for checkpoints by their files.' %
          os.path.join(directory, 'checkpoint'), flush=True)
    return []
  if state is None:
    return []
  paths = list(state.all_model_checkpoint_paths) or [
      state.model_checkpoint_path]
  return [os.path.join(directory, os.path.basename(p)) for p in paths]


def candidates(directory):
  """All complete checkpoints in `directory`, newest (highest step) first.

  Complete means an `.index` file exists: the state file's entries and any
  other checkpoint whose index was renamed into place before a crash.
  """
  found = set()
  for index in glob.glob(os.path.join(glob.escape(directory),
                                      '*' + _INDEX_SUFFIX)):
    if not os.path.basename(index).startswith(PARTIAL_PREFIX):
      found.add(index[:-len(_INDEX_SUFFIX)])
  found.update(p for p in _recorded(directory)
               if os.path.exists(p + _INDEX_SUFFIX))
  return sorted(found, key=lambda p: (step_of(p), p), reverse=True)


def latest(directory):
  """The newest complete checkpoint in `directory`, or None."""
  found = candidates(directory)
  return found[0] if found else None


def require_latest(directory):
  """The newest complete checkpoint in `directory`; UserError if none."""
  checkpoint = latest(directory)
  if checkpoint is None:
    raise UserError('no checkpoint in %s: train first, or point '
                    '--checkpoint_dir at a folder with model.ckpt files' %
                    directory)
  return checkpoint


def check_compatible(checkpoint, var_map):
  """Raises unless `checkpoint` holds every variable of `var_map`.

  Args:
    checkpoint: a checkpoint prefix.
    var_map: dict from checkpoint name to the variable restored from it.

  Raises:
    UnreadableCheckpointError: the checkpoint's index cannot be read.
    UserError: the checkpoint is of another model.
  """
  try:
    reader = tf.train.load_checkpoint(checkpoint)
  except (tf.errors.OpError, ValueError) as e:
    raise _unreadable(checkpoint, e)
  shapes = reader.get_variable_to_shape_map()
  dtypes = reader.get_variable_to_dtype_map()
  for name, var in sorted(var_map.items()):
    if name not in shapes:
      raise UserError('checkpoint %s does not match this model: it has no '
                      'variable %s; use a --train_dir or --checkpoint_dir '
                      'written by this model' % (checkpoint, name))
    shape = var.shape.as_list()
    if list(shapes[name]) != shape:
      raise UserError('checkpoint %s does not match this model: %s has shape '
                      '%s there, %s here; use a --train_dir or '
                      '--checkpoint_dir written by this model' %
                      (checkpoint, name, list(shapes[name]), shape))
    if dtypes[name] != var.dtype.base_dtype:
      raise UserError('checkpoint %s holds %s variables (%s), this model %s '
                      'ones: pass --use_fp16 exactly when the model was '
                      'trained with it' % (checkpoint, dtypes[name].name,
                                           name, var.dtype.base_dtype.name))


def restore(sess, saver, var_map, checkpoint):
  """Checks `checkpoint` against `var_map`, then restores it into `sess`.

  Raises:
    UnreadableCheckpointError: the checkpoint cannot be read.
    UserError: the checkpoint is of another model.
  """
  check_compatible(checkpoint, var_map)
  try:
    saver.restore(sess, checkpoint)
  except tf.errors.UnavailableError:
    raise  # Another task of a cluster is not up yet: not the file's fault.
  except (tf.errors.OpError, ValueError) as e:
    raise _unreadable(checkpoint, e)


def restore_newest(sess, saver, var_map, directory):
  """Restores the newest readable checkpoint of `directory`.

  Unreadable checkpoints are reported and skipped; once a readable one is
  restored, the skipped ones are set aside (renamed `*.unreadable`, never
  deleted) and the state file is rewritten to list only readable ones, so
  that later saves at their steps neither overwrite nor rotate them away.
  When none is readable, nothing is changed.

  Returns:
    The restored checkpoint prefix, or None when there is no checkpoint.

  Raises:
    UserError: there are checkpoints, none readable; or they are of another
      model.
  """
  found = candidates(directory)
  for i, checkpoint in enumerate(found):
    try:
      restore(sess, saver, var_map, checkpoint)
    except UnreadableCheckpointError as e:
      print('WARNING: %s; trying the one before it.' % e, flush=True)
      continue
    for skipped in found[:i]:
      _set_aside(skipped)
    recorded = _recorded(directory)
    if i or recorded[-1:] != [checkpoint]:
      # Skipped ones, or a checkpoint completed just before a crash that
      # the state file does not name yet.
      _write_state(directory, checkpoint,
                   [p for p in recorded
                    if step_of(p) <= step_of(checkpoint)])
    return checkpoint
  if found:
    raise UserError('no readable checkpoint in %s (%d unreadable, kept): '
                    'move them away to start afresh, or pass another '
                    '--train_dir' % (directory, len(found)))
  return None


def _write_state(directory, newest, paths):
  """Points the state file at `newest`, listing `paths` (oldest first), by
  names relative to `directory`, so that it holds when the folder is
  copied or moved (TensorFlow's tools read them so too)."""
  names = [os.path.basename(p) for p in paths if p != newest]
  names.append(os.path.basename(newest))
  tf.compat.v1.train.update_checkpoint_state(
      directory, names[-1], all_model_checkpoint_paths=names)


def remove_partial(directory):
  """Removes what an interrupted save left: only our `.partial-` files."""
  for path in glob.glob(os.path.join(glob.escape(directory),
                                     PARTIAL_PREFIX + '*')):
    if os.path.isdir(path):
      shutil.rmtree(path, ignore_errors=True)
    else:
      os.remove(path)


def _files_of(prefix):
  """The files of checkpoint `prefix`, but not those set aside; its
  `.index` first.

  Deleting or setting aside in this order is the save's in reverse: a
  crash in between leaves data files that no search takes for a
  checkpoint, never an index that promises data that is gone.
  """
  files = [path for path in glob.glob(glob.escape(prefix) + '.*')
           if not path.endswith(SET_ASIDE_SUFFIX)]
  return sorted(files, key=lambda path: not path.endswith(_INDEX_SUFFIX))


def _set_aside(prefix):
  """Renames the unreadable checkpoint `prefix` out of the way.

  Its files are kept, as `model.ckpt-N.index.unreadable` and so on, where
  no search for checkpoints finds them and no save overwrites them.
  """
  for path in _files_of(prefix):
    os.replace(path, path + SET_ASIDE_SUFFIX)


def save(sess, saver, directory, step, keep):
  """Writes checkpoint `model.ckpt-<step>` so that no crash leaves half of it.

  Args:
    sess: the session whose variables to save.
    saver: a Saver that keeps every checkpoint (max_to_keep=0); rotation
      is done here, after the state file names the new checkpoint.
    directory: the training folder.
    step: the global step, part of the name.
    keep: how many of the newest checkpoints the state file keeps; older
      ones it lists are deleted.

  Returns:
    The checkpoint prefix.

  Raises:
    UserError: the checkpoint could not be written (disk full, say); the
      previous checkpoints are untouched.
  """
  prefix = os.path.join(directory, '%s-%d' % (BASENAME, step))
  partial = os.path.join(directory, PARTIAL_PREFIX + os.path.basename(prefix))
  previous = latest(directory)
  try:
    saver.save(sess, partial, write_meta_graph=False, write_state=False)
    data = [f for f in _files_of(partial) if not f.endswith(_INDEX_SUFFIX)]
    for path in data + [partial + _INDEX_SUFFIX]:
      os.replace(path, prefix + path[len(partial):])
    recorded = [p for p in _recorded(directory) if p != prefix]
    _write_state(directory, prefix, recorded[-(keep - 1):] if keep > 1 else [])
  except (tf.errors.OpError, OSError) as e:
    remove_partial(directory)
    reason = (getattr(e, 'message', None) or str(e)).strip().splitlines()[0]
    if previous is None:
      raise UserError('could not write checkpoint %s (%s), the first of this '
                      'folder: free disk space, then run again' %
                      (prefix, reason))
    raise UserError('could not write checkpoint %s (%s); the previous '
                    'checkpoint %s is intact: free disk space, then run again '
                    'to resume' % (prefix, reason, previous))
  for old in recorded[:-(keep - 1)] if keep > 1 else recorded:
    for path in _files_of(old):
      os.remove(path)
  return prefix
