"""One trainer per training folder, claimed before TensorFlow loads.

A second trainer started on a folder in use must stop before it writes
anything, and soon: importing TensorFlow takes from 5 to 20 s on a small
CPU, so the trainer scripts call `check_trainer_command_line` as their
first act, with nothing but the standard library loaded. Its claim is the same
one training takes later (`claim`), which then finds it held.

This module imports nothing that imports TensorFlow.
"""

import fcntl
import os
import socket
import sys

from cifar10_lib import paths
from cifar10_lib.errors import fail
from cifar10_lib.errors import UserError

# The flags that make a process a task of a cluster, where only the chief
# claims the folder, once it knows it is the chief.
_CLUSTER_FLAGS = ('job_name', 'ps_hosts', 'worker_hosts')

# The claims this process holds: folder -> its open descriptor, whose lock
# lasts as long.
_claims = {}


def claim(directory):
  """Claims the training folder `directory` for this process, or fails.

  An exclusive lock (flock) on the folder itself: no file is written, and
  the kernel drops the lock when the process ends, however it ends (kill -9
  included), so a crash never leaves a stale claim behind. Claiming twice
  in one process is a no-op.

  Raises:
    UserError: another live process holds the folder, named as far as
      /proc tells, or its file system has no locks; nothing was changed.
  """
  path = os.path.realpath(directory)
  if path in _claims:
    return
  try:
    fd = os.open(path, os.O_RDONLY)
  except OSError as e:
    raise UserError('train_dir %s cannot be opened (%s): pass another '
                    '--train_dir' % (directory, os.strerror(e.errno)))
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    holder = _lock_holder(os.fstat(fd).st_ino)
    os.close(fd)
    raise UserError('train_dir %s is in use by another trainer (%s): wait '
                    'for it to end or stop it, or pass another --train_dir' %
                    (directory, holder))
  except OSError as e:
    os.close(fd)
    raise UserError('train_dir %s is on a file system that cannot lock it '
                    '(%s): training needs one with locks and atomic renames '
                    '(a local disk, NFS, a Kubernetes persistent volume); '
                    'pass another --train_dir' %
                    (directory, os.strerror(e.errno)))
  _claims[path] = fd


def _lock_holder(inode):
  """'pid N on HOST: COMMAND' of the process whose flock holds `inode`.

  Read from /proc/locks (Linux: one line per lock, with the pid and the
  device:inode it holds) and /proc/PID/cmdline; 'another process' where
  they do not tell.
  """
  try:
    with open('/proc/locks') as f:
      for line in f:
        fields = line.split()
        if (len(fields) > 5 and fields[1] == 'FLOCK' and
            fields[5].endswith(':%d' % inode)):
          pid = int(fields[4])
          with open('/proc/%d/cmdline' % pid, 'rb') as cmdline:
            command = ' '.join(cmdline.read().replace(b'\0', b' ').decode(
                'utf-8', 'replace').split())  # one line, whatever it held
          return 'pid %d on %s: %s' % (pid, socket.gethostname(), command)
  except (OSError, ValueError):
    pass
  return 'another process'


def claim_from_command_line(argv=None, environ=None):
  """Claims the --train_dir that `argv` (default: sys.argv) names, or the
  default one, if it is an existing folder; or exits with the one line
  `claim` gives.

  Not on a cluster (its flags in `argv`, or TF_CONFIG in `environ`,
  default: os.environ), and not for --help: there the folder is claimed,
  if at all, once the flags are parsed. A missing folder is left for
  training to create and claim.
  """
  argv = sys.argv if argv is None else argv
  environ = os.environ if environ is None else environ
  if (paths.named(argv, _CLUSTER_FLAGS + paths.HELP_FLAGS) or
      environ.get('TF_CONFIG')):
    return
  directory = paths.flag_value(argv, 'train_dir')
  if not os.path.isdir(directory):
    return
  try:
    claim(directory)
  except UserError as e:
    fail(str(e))


def check_trainer_command_line(argv=None, environ=None):
  """What a trainer script does first: checks --data_dir and --train_dir
  (paths.check_command_line), then claims --train_dir
  (claim_from_command_line); exits with one line at a problem."""
  argv = sys.argv if argv is None else argv
  paths.check_command_line(
      ['data_dir', 'train_dir'], argv,
      missing_ok=['data_dir'] if paths.boolean_flag(argv, 'download', True)
      else [])
  claim_from_command_line(argv, environ)
