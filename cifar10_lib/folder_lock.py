"""One trainer per training folder: its lock, taken before TensorFlow loads.

A second trainer started on a folder in use must stop before it writes
anything, and soon: importing TensorFlow takes from 5 to 20 s on a small
CPU, so the trainer scripts lock it (`lock_existing`, through
command_line's check_*trainer_from_flags) as their first act, with no
TensorFlow loaded. It is the same lock training takes later (`lock`),
which then finds it held, and releases (`unlock`) when it ends.

This module imports nothing that imports TensorFlow.
"""

import fcntl
import os
import socket

from cifar10_lib.errors import fail
from cifar10_lib.errors import UserError

# The folders this process holds locked: folder -> its open descriptor,
# whose lock lasts as long.
_locks = {}


def lock(directory):
  """Locks the training folder `directory` for this process, or fails.

  An exclusive lock (flock) on the folder itself: no file is written, and
  the kernel drops the lock when the process ends, however it ends (kill -9
  included), so a crash never leaves a stale lock behind. Locking twice
  in one process is a no-op.

  Raises:
    UserError: another live process holds the folder, named as far as
      /proc tells, or its file system has no locks; nothing was changed.
  """
  path = os.path.realpath(directory)
  if path in _locks:
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
  _locks[path] = fd


def unlock(directory):
  """Releases this process's lock of `directory`, if it holds one."""
  fd = _locks.pop(os.path.realpath(directory), None)
  if fd is not None:
    os.close(fd)


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


def lock_existing(directory):
  """Locks `directory` if it is an existing folder (a missing one is left
  for training to make and lock), or exits with the one line `lock`
  gives."""
  if not os.path.isdir(directory):
    return
  try:
    lock(directory)
  except UserError as e:
    fail(str(e))
