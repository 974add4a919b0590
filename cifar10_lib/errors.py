"""The error a user can fix, and its exit status, without TensorFlow.

cli.py prints a UserError raised anywhere as one line; this module holds
the class apart so that what runs before TensorFlow is imported
(folder_lock.py) can raise and report it too.
"""

import os
import sys

# Exit status for problems the user can fix (bad flags exit 1 through absl).
USER_ERROR_EXIT = 2


class UserError(Exception):
  """A problem with the user's input, reported as a single line.

  The message should say what is wrong and what to do about it.
  """


def check_count(name, value):
  """Raises UserError unless `value`, the Python argument `name` (the flag
  --name), is a whole number of at least 1: the flag's own check, for
  callers from Python."""
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise UserError('%s=%r: it must be a whole number of at least 1 (--%s)'
                    % (name, value, name))


def fail(message):
  """Prints `message` as one error line and exits with USER_ERROR_EXIT."""
  sys.stderr.write('ERROR: %s\n' % message)
  sys.stderr.flush()
  sys.exit(USER_ERROR_EXIT)


def exit_now(status):
  """Ends the process at once with `status`, once its output is flushed.

  For a run stopped by a signal, whose checkpoint and summaries are already
  on disk: the interpreter's normal exit then waits for TensorFlow's
  teardown (tf.data's threads and buffers, tensorflow/tensorflow#21277),
  which takes from under a second to several, while the user waits for the
  prompt after Ctrl-C. Also for a thread that must end the process (a
  cluster's watchdog): sys.exit there would end the thread alone.
  """
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(status)  # pylint: disable=protected-access
