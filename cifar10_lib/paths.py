"""The path flags, and their checks before anything else runs.

Every path a script takes is of one of a few kinds: a folder it reads, a
folder or file it writes, a new folder it makes. Each kind goes wrong in
known ways (missing, a file where a folder should be, not writable, a full
disk), and each way gets one line that names the flag, the path and what
to do (PROBLEMS). The scripts check their path flags first of all
(command_line.py), with no TensorFlow loaded, so the line comes at once rather
than after TensorFlow's 5-20 s start, and before anything is written.
What is missing and can be made (an output folder, its parents) is left
for the script to make: a run that stops on another error leaves nothing.

This module imports nothing that imports TensorFlow.
"""

import errno
import os

from cifar10_lib.errors import fail
from cifar10_lib.errors import UserError

# The kinds of path.
READ_FOLDER = 'read_folder'        # must exist (--checkpoint_dir)
DATA_FOLDER = 'data_folder'        # may be made by the download
WRITE_FOLDER = 'write_folder'      # made with its parents if missing
WRITE_FILE = 'write_file'          # its folder made if missing
NEW_FOLDER = 'new_folder'          # must not exist yet; made whole

# Every path flag: its kind and default. options.py and the scripts declare
# the flags with these defaults.
PATH_FLAGS = {
    'data_dir': (DATA_FOLDER, '/tmp/cifar10_data'),
    'checkpoint_dir': (READ_FOLDER, '/tmp/cifar10_train'),
    'train_dir': (WRITE_FOLDER, '/tmp/cifar10_train'),
    'eval_dir': (WRITE_FOLDER, '/tmp/cifar10_eval'),
    'results_file': (WRITE_FILE, None),
    'export_dir': (NEW_FOLDER, None),
}

# Below this many free bytes a file system counts as full: not even a
# summary file fits. (A disk that fills later, while a checkpoint is
# written, is checkpoints.save's to report.)
MIN_FREE_BYTES = 1 << 20

# Each way a path goes wrong, and its line. %(flag)s and %(path)s name the
# flag and the path; %(where)s the folder where the problem is (the path,
# or the nearest of its parents that exists).
PROBLEMS = {
    'not_utf8': '%(flag)s %(path)s is not valid UTF-8: TensorFlow takes '
                'paths as UTF-8 text; rename it, or pass another --%(flag)s',
    'url': '%(flag)s %(path)s is a URL: the scripts read and write a file '
           'system mounted on this machine (the training folder\'s lock and '
           'atomic renames need one); mount the bucket (gcsfuse, s3fs, a '
           'Kubernetes volume) and pass its path',
    'missing': '%(flag)s %(path)s does not exist: pass the folder to read '
               'with --%(flag)s=DIR',
    'file_not_folder': '%(flag)s %(path)s is a file, not a folder: pass '
                       '--%(flag)s=DIR',
    'folder_not_file': '%(flag)s %(path)s is a folder: pass the path of a '
                       'file to write, such as %(path)s/results.json',
    'parent_is_file': '%(flag)s %(path)s cannot be made: %(where)s is a '
                      'file, not a folder; pass another --%(flag)s',
    'exists': '%(flag)s %(path)s already exists: remove it or choose a new '
              'folder',
    'read_only': '%(flag)s %(path)s cannot be written: %(where)s is on a '
                 'read-only file system; pass another --%(flag)s',
    'not_writable': '%(flag)s %(path)s cannot be written: no permission to '
                    'write in %(where)s; pass another --%(flag)s',
    'full': '%(flag)s %(path)s cannot be written: the disk of %(where)s is '
            'full (%(free)s bytes free); free some space or pass another '
            '--%(flag)s',
}


def problem(kind, flag, path, **values):
  """The UserError of problem `kind` with `flag` and `path`."""
  return UserError(PROBLEMS[kind] % dict(values, flag=flag, path=path))


def _existing_ancestor(path):
  """`path` or the nearest of its parents that exists."""
  where = os.path.abspath(path)
  while not os.path.lexists(where):
    where = os.path.dirname(where)
  return where


def check_writable(flag, path, where=None):
  """Raises the problem that keeps `path` from being written in `where`
  (default: the nearest existing folder of `path`): not a folder,
  read-only, no permission, full."""
  where = where or _existing_ancestor(path)
  if not os.path.isdir(where):
    raise problem('parent_is_file', flag, path, where=where)
  stats = os.statvfs(where)
  if stats.f_flag & os.ST_RDONLY:
    raise problem('read_only', flag, path, where=where)
  if not os.access(where, os.W_OK | os.X_OK):
    raise problem('not_writable', flag, path, where=where)
  free = stats.f_bavail * stats.f_frsize
  if free < MIN_FREE_BYTES:
    raise problem('full', flag, path, where=where, free=free)


def check(flag, path, missing_ok=False):
  """Raises the problem with `path` as flag `flag`'s kind takes it.

  Args:
    flag: a name of PATH_FLAGS.
    path: the flag's value.
    missing_ok: for a DATA_FOLDER, that the download will make it (then
      it must be writable); for a READ_FOLDER, that the script waits for
      it to appear (evaluation watching a folder).
  """
  kind = PATH_FLAGS[flag][0]
  try:
    path.encode('utf-8')
  except UnicodeEncodeError:  # Bytes the file system name held as such.
    raise problem('not_utf8', flag, path.encode(
        'utf-8', 'backslashreplace').decode('utf-8'))
  if '://' in path:
    raise problem('url', flag, path)
  if kind == WRITE_FILE:  # (an existing file is replaced)
    if os.path.isdir(path):
      raise problem('folder_not_file', flag, path)
    check_writable(flag, path, _existing_ancestor(
        os.path.dirname(os.path.abspath(path))))
  elif kind == NEW_FOLDER:
    if os.path.lexists(path):
      raise problem('exists', flag, path)
    check_writable(flag, path)
  elif os.path.exists(path) and not os.path.isdir(path):
    raise problem('file_not_folder', flag, path)
  elif kind == WRITE_FOLDER or (kind == DATA_FOLDER and missing_ok and
                                not os.path.exists(path)):
    check_writable(flag, path)
  elif not os.path.exists(path) and not missing_ok:
    raise problem('missing', flag, path)


def check_flag(flag, path, missing_ok=False):
  """Checks path flag `flag` (of PATH_FLAGS) with its value `path` as
  `check` does, or exits with the one line of its problem; None (a flag
  left unset) passes."""
  if path is None:
    return
  try:
    check(flag, path, missing_ok)
  except UserError as e:
    fail(str(e))
  except OSError as e:  # A path the system refuses to look at.
    fail('%s %s cannot be used (%s): pass another --%s' %
         (flag, path, os.strerror(e.errno or errno.EIO), flag))
