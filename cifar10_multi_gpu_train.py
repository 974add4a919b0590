"""Trains the CIFAR-10 model on several devices ("towers") in lockstep.

Usage:
  python cifar10_multi_gpu_train.py --num_gpus=2 --train_dir=/tmp/cifar10_train

Each tower runs the whole model on its own batch of --batch_size examples,
taken from one shared input pipeline. The variables live once, on the CPU;
the towers' gradients are averaged (the one synchronization point) and
applied once, so one global step trains on num_gpus x batch_size examples.
The learning-rate schedule counts global steps, with an epoch being
NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN / (num_gpus x batch_size) of them.

With fewer GPUs than --num_gpus (none included), the towers run on as many
logical CPU devices, so the same command runs, and is tested, anywhere.

The towers' devices are cifar10_training/towers.py's, the step on them
cifar10_lib/step.py's, the same step as single-device training's (its one
tower). Everything else (flags, progress lines, checkpoints, resume,
summaries, the NaN stop, Ctrl-C) is cifar10_training/training.py's loop;
on a cluster the task's cluster.Cluster is its role in that loop. Checkpoints use the same variable names, so either
trainer resumes from the other's checkpoints and cifar10_eval.py reads both.
"""

import sys

from absl import flags
from cifar10_lib import command_line

command_line.define(command_line.DATA, command_line.DEVICES,
                    command_line.MODEL, command_line.TRAINING,
                    command_line.CLUSTER, command_line.TOWERS)
flags.adopt_module_key_flags(command_line)

if __name__ == '__main__':  # First: bad flags and paths, a busy --train_dir.
  command_line.parse(sys.argv,
                     command_line.check_multi_gpu_trainer_from_flags)

# pylint: disable=g-import-not-at-top,wrong-import-position
from cifar10_lib import devices
# Before TensorFlow loads: it reads the oneDNN setting then.
devices.set_tensorflow_options(command_line.onednn_from_flags())

from cifar10_lib import cli
from cifar10_training import cluster
from cifar10_training import options
from cifar10_training import towers
from cifar10_training import training
from cifar10_lib.cli import UserError

FLAGS = flags.FLAGS


def main(unused_argv):
  task = options.cluster_from_flags()
  if task is not None and task.job_name == 'ps':
    return cluster.run_ps(task)
  tower_devices, cpu_devices = towers.tower_devices(FLAGS.num_gpus)
  deployment = (towers.on_devices(tower_devices) if task is None
                else task.deployment(tower_devices))
  plan = options.plan_from_flags(deployment.towers,
                                 deployment.workers_per_update)
  if task is not None and not task.sync and plan.recipe.lookahead:
    raise UserError('this recipe\'s lookahead needs synchronous updates, '
                    'one per global step: drop --nosync_replicas')
  config = options.training_session_config_from_flags(cpu_devices)
  loop_options = options.loop_options_from_flags()
  if task is None:
    return training.run_training(plan, deployment, config, loop_options,
                                 on_stop=cli.exit_now)
  server = task.start_server(options.session_config_from_flags(cpu_devices))
  return training.run_training(plan, deployment, task.session_config(config),
                               loop_options, task, server.target,
                               on_stop=cli.exit_now)


if __name__ == '__main__':
  cli.run(main)
