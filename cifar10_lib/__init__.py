"""What the tutorial's scripts stand on, one module per role.

  devices      how TensorFlow uses the machine (oneDNN on before TensorFlow
               loads, session options, what the CPU has)
  cli          command-line plumbing: one error line and an exit status
  checkpoints  atomic saves, finding, checking and restoring checkpoints,
               one trainer per folder
  cluster      a task's part in a ps/worker cluster
  figures      the pictures of an evaluation

Importing the package imports `devices` first, and with it sets
TensorFlow's CPU options, which TensorFlow reads once when it is imported:
so every module of the project imports something of this package before
TensorFlow.
"""

from cifar10_lib import devices  # pylint: disable=unused-import
