"""Trains the CIFAR-10 model on one device.

Usage:
  python cifar10_train.py --data_dir=/tmp/cifar10_data --train_dir=/tmp/cifar10_train

Every --log_frequency steps it prints

  2026-11-22 15:04:05.123456: step 120, loss = 3.98 (1150.2 examples/sec; 0.111 sec/batch)

and it writes checkpoints (model.ckpt-STEP) and summaries into --train_dir.
Started again with the same --train_dir, it resumes from the newest
checkpoint; it never deletes what is there. Ctrl-C or SIGTERM saves a
checkpoint at the current step before exiting.

The step is cifar10_lib/step.py's on one device (the one-tower case of
cifar10_multi_gpu_train.py's towers), the loop around it
cifar10_training/training.py's. From Python, without flags:

  plan = training.make_plan(train_dir, 'tutorial', max_steps=1000)
  train(plan, training.LoopOptions(train_dir, data_dir))
"""

import sys

from absl import flags
from cifar10_lib import command_line

command_line.define(command_line.DATA, command_line.DEVICES,
                    command_line.MODEL, command_line.TRAINING,
                    command_line.CLUSTER)
flags.adopt_module_key_flags(command_line)

if __name__ == '__main__':  # First: bad flags and paths, a busy --train_dir.
  command_line.parse(
      sys.argv, command_line.check_trainer_from_flags,
      other_scripts_flags={'num_gpus': 'cifar10_multi_gpu_train.py'})

# pylint: disable=g-import-not-at-top,wrong-import-position
from cifar10_lib import devices
# Before TensorFlow loads: it reads the oneDNN setting then.
devices.set_tensorflow_options(command_line.onednn_from_flags())

from cifar10_lib import cli
from cifar10_training import options
from cifar10_training import towers
from cifar10_training import training


def train(plan, loop_options, config=None, on_stop=None):
  """Trains `plan` on one device; returns the exit status (training's).

  Args:
    plan: a training.Plan.
    loop_options: a training.LoopOptions.
    config: the session's tf.compat.v1.ConfigProto; by default
      devices.session_config's.
    on_stop: as training.run_training's.
  """
  return training.run_training(plan, towers.ONE_DEVICE,
                               config or devices.session_config(),
                               loop_options, on_stop=on_stop)


def main(unused_argv):
  plan = options.plan_from_flags()
  return train(plan, options.loop_options_from_flags(),
               options.training_session_config_from_flags(),
               on_stop=cli.exit_now)


if __name__ == '__main__':
  cli.run(main)
