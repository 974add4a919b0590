"""What the tutorial's scripts stand on, one module per role.

  devices      how TensorFlow uses the machine: oneDNN on before TensorFlow
               loads, session options, what the CPU has, bfloat16
  errors       the error a user can fix (UserError) and its one line
  paths        the path flags and their checks, run before TensorFlow
  claims       one trainer per training folder, claimed before TensorFlow
  cli          command-line plumbing: TensorFlow's errors as one line,
               exit statuses
  options      the shared flags, and the functions that turn them into
               arguments (the only library code that reads FLAGS)
  step         the one builder of a training step (towers, gradients, the
               update and its averages)
  towers       where a run's towers go, and its model's step on them
  training     the training loop both trainer scripts run
  cluster      a task's part in a ps/worker cluster
  tf_config    a task's place, as cluster managers write it in TF_CONFIG
  checkpoints  atomic saves, finding, checking and restoring checkpoints
  records      the data files: formats, places, checks
  download     fetching and extracting the data set, checked
  summaries    TensorBoard summaries with the tutorial's tags
  figures      the pictures of an evaluation
  synthetic    small data sets in the official format, for tests and
               benchmarks

Importing the package imports `devices` first, and with it sets
TensorFlow's CPU options, which TensorFlow reads once when it is imported:
so every module of the project imports something of this package before
TensorFlow.
"""

from cifar10_lib import devices  # noqa: F401 (first: before TensorFlow)
