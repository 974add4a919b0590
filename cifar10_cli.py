"""Command-line plumbing shared by the cifar10 scripts.

Every script turns a problem the user can fix (missing data, a checkpoint
from another model, a bad flag) into one line on stderr and a non-zero exit
status, instead of a Python traceback from deep inside TensorFlow. Problems
are raised as `UserError` anywhere in the code and printed here, once.
"""

import logging
import sys

from absl import app

# Exit status for problems the user can fix (bad flags exit 1 through absl).
USER_ERROR_EXIT = 2


class UserError(Exception):
  """A problem with the user's input, reported as a single line.

  The message should say what is wrong and what to do about it.
  """


def fail(message):
  """Prints `message` as one error line and exits with USER_ERROR_EXIT."""
  sys.stderr.write('ERROR: %s\n' % message)
  sys.stderr.flush()
  sys.exit(USER_ERROR_EXIT)


def run(main, takes_arguments=False):
  """Runs `main` through absl, reporting any UserError as one line.

  Args:
    main: function taking absl's argv, as for `absl.app.run`.
    takes_arguments: whether the script takes arguments besides flags.
  """
  # TensorFlow's Python logger repeats, through absl's handler too, what our
  # own lines say ("Restoring parameters from ...") and warns that the TF1
  # APIs this tutorial teaches are deprecated; keep only its errors.
  logging.getLogger('tensorflow').setLevel(logging.ERROR)

  def guarded_main(argv):
    if len(argv) > 1 and not takes_arguments:
      fail('unexpected arguments %s: all options are --flags (see --help)' %
           ' '.join(argv[1:]))
    try:
      return main(argv)
    except UserError as e:
      fail(str(e))
  app.run(guarded_main)
