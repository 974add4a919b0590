"""The training loop and where it runs: the layer above the networks.

  towers     where a run's towers go (one device, GPUs, logical CPU
             devices), and the step of a plan's model on them
  training   the loop both trainer scripts run: Plan, LoopOptions,
             run_training, the single machine's role
  cluster    a task's part in a ps/worker cluster
  options    the shared flags, and the functions that turn them into
             arguments (the only library code that reads FLAGS)

It imports the networks (cifar10, cifar10_models), the data
(cifar10_input) and cifar10_lib; nothing below imports it.
"""
