"""One trainer per training folder, claimed before TensorFlow loads.

A second trainer started on a folder in use must stop before it writes
anything, and soon: importing TensorFlow takes from 5 to 20 s on a small
CPU, so the trainer scripts call `claim_from_command_line` as their first
act, with nothing but the standard library loaded. Its claim is the same
one training takes later (`claim`), which then finds it held.

This module imports nothing that imports TensorFlow.
"""

import fcntl
import os
import socket
import sys

from cifar10_lib.errors import fail
from cifar10_lib.errors import UserError

# --train_dir's default (options.py declares the flag with it).
DEFAULT_TRAIN_DIR = '/tmp/cifar10_train'

# The flags that make a process a task of a cluster, where only the chief
# claims the folder, once it knows it is the chief.
_CLUSTER_FLAGS = ('job_name', 'ps_hosts', 'worker_hosts')
# The flags that print help and do nothing else.
_HELP_FLAGS = ('help', 'helpfull', 'helpshort', 'helpxml', 'h', '?')

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
      /proc tells; nothing was changed.
  """
  path = os.path.realpath(directory)
  if path in _claims:
    return
  fd = os.open(path, os.O_RDONLY)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    holder = _lock_holder(os.fstat(fd).st_ino)
    os.close(fd)
    raise UserError('train_dir %s is in use by another trainer (%s): wait '
                    'for it to end or stop it, or pass another --train_dir' %
                    (directory, holder))
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


def flag_values(argv, name):
  """The values absl would read for flag `name` in `argv`, in order.

  absl takes --name=VALUE, -name=VALUE, and both with the value as the
  next argument; parsing stops at a lone `--`.
  """
  values = []
  args = list(argv[1:])
  while args:
    arg = args.pop(0)
    if arg == '--':
      break
    key, equals, value = arg.lstrip('-').partition('=')
    if not arg.startswith('-') or key != name:
      continue
    if equals:
      values.append(value)
    elif args:
      values.append(args.pop(0))
  return values


def _named(argv, names):
  """Whether any flag of `names` appears in `argv`, with or without a
  value."""
  return any(arg.startswith('-') and
             arg.lstrip('-').partition('=')[0] in names
             for arg in argv[1:])


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
  if _named(argv, _CLUSTER_FLAGS + _HELP_FLAGS) or environ.get('TF_CONFIG'):
    return
  directory = (flag_values(argv, 'train_dir') or [DEFAULT_TRAIN_DIR])[-1]
  if not os.path.isdir(directory):
    return
  try:
    claim(directory)
  except UserError as e:
    fail(str(e))
  except OSError:
    return  # An unreadable folder: training's checks word it.
