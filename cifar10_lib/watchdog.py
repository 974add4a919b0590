"""Ends a cluster task that waits for a task that is gone.

A TF1 session run that needs a task which died (a ps task killed, a chief
that never comes back) does not always fail: a step waiting for the
synchronous optimizer's token, or a read from a ps task, can block
forever. A cluster manager then sees a task that neither works nor exits.
The watchdog looks at the tasks this one depends on, once a second, by
opening a TCP connection to each one's server; a task that does not
answer for `timeout_secs` ends this process with one line that names it
(exit status 2), so that the manager can restart the job, which resumes
from the newest checkpoint.

This module imports nothing that imports TensorFlow.
"""

import socket
import sys
import threading
import time

from cifar10_lib import errors

# How often the tasks are looked at, and how long a connection may take.
POLL_SECS = 1.0
CONNECT_SECS = 2.0


def reachable(address):
  """Whether a server listens at 'host:port' (a TCP connection opens)."""
  host, _, port = address.rpartition(':')
  try:
    with socket.create_connection((host, int(port)), CONNECT_SECS):
      return True
  except OSError:
    return False


def unreachable_line(task, seconds, reason):
  """The one line of a task gone for `seconds`."""
  return ('the cluster\'s %s stayed unreachable for %d s (%s): restart it, '
          'or the whole job; training resumes from the newest checkpoint' %
          (task, seconds, reason))


class Watchdog(object):
  """Watches `tasks`, {name ('ps 0 (host:port)'): address}, in a thread.

  say(name) is called when a task stops answering; after `timeout_secs`
  without an answer the process ends with unreachable_line's line.
  """

  def __init__(self, tasks, timeout_secs, say):
    self._tasks = dict(tasks)
    self._timeout_secs = timeout_secs
    self._say = say
    self._stopped = threading.Event()
    self._thread = threading.Thread(target=self._watch, daemon=True)

  def start(self):
    self._thread.start()

  def stop(self):
    self._stopped.set()
    if self._thread.is_alive():
      self._thread.join()

  def _watch(self):
    down_since = {}
    while not self._stopped.wait(POLL_SECS):
      for name, address in self._tasks.items():
        if reachable(address):
          down_since.pop(name, None)
        elif name not in down_since:
          down_since[name] = time.time()
          self._say(name)
        elif (time.time() - down_since[name] > self._timeout_secs and
              not self._stopped.is_set()):
          sys.stdout.flush()
          sys.stderr.write('ERROR: %s\n' % unreachable_line(
              name, self._timeout_secs, 'its server does not accept '
              'connections'))
          errors.exit_now(errors.USER_ERROR_EXIT)
