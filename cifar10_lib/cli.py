"""Command-line plumbing shared by the cifar10 scripts.

Every script turns a problem the user can fix (missing data, a checkpoint
from another model, a bad flag) into one line on stderr and a non-zero exit
status, instead of a Python traceback from deep inside TensorFlow. Problems
are raised as `UserError` anywhere in the code and printed here, once.
"""

import os
import shlex
import shutil
import signal
import sys

from absl import app
import tensorflow as tf

from cifar10_lib import command_line
from cifar10_lib.errors import exit_now
from cifar10_lib.errors import fail
from cifar10_lib.errors import USER_ERROR_EXIT  # noqa: F401 (cli.USER_ERROR_EXIT)
from cifar10_lib.errors import UserError

# Exit statuses from this one up mean "stopped by signal (status - 128)".
SIGNAL_EXIT_BASE = 128

# The folder of the scripts.
PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# What to do about an error TensorFlow raises in the middle of a run, by
# its class; others get OTHER_OP_ERROR_ADVICE.
OP_ERROR_ADVICE = {
    tf.errors.ResourceExhaustedError:
        'out of memory: lower --batch_size, or stop what else uses the '
        'memory, then run again',
}
OTHER_OP_ERROR_ADVICE = ('run again; if it happens again, report it with '
                         'the command line')


def op_error_line(error):
  """The one line for a TensorFlow error: its class, its message, advice.

  Training saves nothing on the way out, so the checkpoints are as they
  were and a new run resumes from the newest.
  """
  message = ' '.join((error.message or '').split())
  if len(message) > 300:
    message = message[:300] + '...'
  return 'TensorFlow stopped with %s (%s): %s; the checkpoints are as they ' \
         'were' % (type(error).__name__, message, OP_ERROR_ADVICE.get(
             type(error), OTHER_OP_ERROR_ADVICE))


def _as_typed(path):
  """`path` as short as it can be typed from the current folder: relative
  below it, else absolute."""
  relative = os.path.relpath(path)
  return path if relative.startswith(os.pardir) else relative


def command_for(script):
  """The command that runs the project's `script` as this process runs:
  with the same Python (the one of run.sh's .venv, if it made this one),
  from the current folder."""
  python = sys.executable
  on_path = shutil.which('python')
  # Not resolving links: a virtual environment's python is a link to the
  # interpreter it was made from, which lacks the environment's packages.
  if on_path and os.path.abspath(on_path) == os.path.abspath(python):
    python = 'python'
  else:
    python = _as_typed(python)
  return '%s %s' % (shlex.quote(python), shlex.quote(
      _as_typed(os.path.join(PROJECT_DIR, script))))


def run(main, takes_arguments=False):
  """Runs `main` through absl, reporting any UserError as one line.

  The flags are those command_line.parse read (it parses them now if the
  script did not yet).

  A status from `main` of SIGNAL_EXIT_BASE or more (stopped by a signal,
  work saved) ends the process at once; so does Ctrl-C before `main` has
  its own handler, with one line instead of a traceback.

  Args:
    main: function taking absl's argv, as for `absl.app.run`.
    takes_arguments: whether the script takes arguments besides flags.
  """

  def guarded_main(argv):
    if len(argv) > 1 and not takes_arguments:
      fail('unexpected arguments %s: all options are --flags (see --help)' %
           ' '.join(argv[1:]))
    try:
      status = main(argv)
    except UserError as e:
      fail(str(e))
    except tf.errors.OpError as e:
      fail(op_error_line(e))
    except KeyboardInterrupt:
      sys.stderr.write('Stopped by Ctrl-C.\n')
      exit_now(SIGNAL_EXIT_BASE + signal.SIGINT)
    if status is not None and status >= SIGNAL_EXIT_BASE:
      exit_now(status)
    return status
  app.run(guarded_main, flags_parser=command_line.parsed_arguments)
