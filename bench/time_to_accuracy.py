"""Trains a model until its eval precision reaches a target; prints the time.

Usage:
  python bench/time_to_accuracy.py --data_dir=/tmp/cifar10_data \
      --model=resnet20 --target=0.86

It runs the real scripts as a user would: cifar10_train.py for one
--eval_every_epochs chunk at a time (each run resumes the last; the
recipe's schedule is that of the whole run, so stopping early changes
nothing before the stop), then cifar10_eval.py --run_once on the chunk's
checkpoint, until the precision reaches --target or the recipe's epochs
run out. It prints each chunk's precision and the training wall time so
far (the eval runs are not counted), and at the end the time to the
target. Each chunk restarts the trainer, which costs its start-up (a few
seconds each) and is included in the time: the figure is an upper bound
of one uninterrupted run's.

The airbench recipes take their learning rate to zero at their last step,
and their precision comes in the last epochs; for them, evaluating once
(--eval_every_epochs equal to the recipe's epochs, e.g. 45 for
airbench96_faster) gives the time of the whole run without the evaluations'
cost, which for the bigger networks is minutes each.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# pylint: disable=g-import-not-at-top,wrong-import-position
from cifar10_lib import devices
devices.set_tensorflow_options()  # Before TensorFlow loads.
import cifar10_input
import cifar10_models
# pylint: enable=g-import-not-at-top,wrong-import-position


def _run(script, *flags):
  """Runs one of the scripts; exits with its output if it fails."""
  result = subprocess.run([sys.executable, os.path.join(ROOT, script)] +
                          list(flags), capture_output=True, text=True)
  if result.returncode:
    sys.exit('%s failed:\n%s%s' % (script, result.stdout, result.stderr))
  return result.stdout


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data_dir', required=True)
  parser.add_argument('--model', default=cifar10_models.TUTORIAL,
                      choices=list(cifar10_models.MODELS))
  parser.add_argument('--target', type=float, default=0.86)
  parser.add_argument('--eval_every_epochs', type=float, default=1.0)
  parser.add_argument('--epochs', type=float, default=None,
                      help='the run\'s length (default: the recipe\'s; the '
                      'tutorial\'s model: 100K steps of 128 = 256 epochs)')
  parser.add_argument('--train_dir', default=None,
                      help='default: a new temporary folder')
  parser.add_argument('--seed', type=int, default=1)
  parser.add_argument('extra', nargs='*', help='more flags for the trainer, '
                      'after --, e.g. -- --bf16')
  args = parser.parse_args()
  print(devices.describe(), flush=True)
  model = cifar10_models.get(args.model)
  epochs = args.epochs or model.recipe.epochs or 256.0
  batch = model.recipe.batch_size
  # The recipe counts its steps (a preprocessing of whole batches drops the last
  # partial one); the trainer stops there, and so must the chunks.
  last_step = model.recipe._replace(epochs=epochs).steps(batch)
  steps_per_epoch = cifar10_input.examples_per_epoch(
      model.recipe.preprocessing,
      cifar10_input.NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN,
      batch) / batch
  chunk = max(1, int(round(args.eval_every_epochs * steps_per_epoch)))
  train_dir = args.train_dir or tempfile.mkdtemp(prefix='time_to_accuracy-')
  flags = ['--data_dir=' + args.data_dir, '--nodownload',
           '--model=' + args.model, '--train_dir=' + train_dir,
           '--seed=%d' % args.seed, '--log_frequency=100',
           '--save_checkpoint_secs=0'] + args.extra
  if model.tunable:
    flags.append('--epochs=%g' % epochs)
  print('%s to precision %.4f: at most %g epochs (%d steps of %d), eval '
        'every %d steps; training into %s' %
        (args.model, args.target, epochs, last_step, batch, chunk,
         train_dir), flush=True)
  trained_secs, step, precision = 0.0, 0, 0.0
  while step < last_step and precision < args.target:
    step = min(step + chunk, last_step)
    start = time.time()
    _run('cifar10_train.py', '--max_steps=%d' % step, *flags)
    trained_secs += time.time() - start
    results_file = os.path.join(train_dir, 'results.json')
    _run('cifar10_eval.py', '--data_dir=' + args.data_dir, '--nodownload',
         '--checkpoint_dir=' + train_dir, '--eval_dir=' + train_dir + '_eval',
         '--run_once', '--noper_class', '--results_file=' + results_file)
    with open(results_file) as f:
      precision = json.load(f)['precision']
    print('step %d (epoch %.2f): precision @ 1 = %.4f after %.0f s of '
          'training' % (step, step / steps_per_epoch, precision,
                        trained_secs), flush=True)
  if precision >= args.target:
    print('%s reached %.4f >= %.4f at step %d (epoch %.2f) in %.0f s (%.2f h) '
          'of training, %d trainer start-ups included' %
          (args.model, precision, args.target, step, step / steps_per_epoch,
           trained_secs, trained_secs / 3600, math.ceil(step / chunk)))
  else:
    print('%s did not reach %.4f in %d steps: %.4f after %.0f s' %
          (args.model, args.target, step, precision, trained_secs))


if __name__ == '__main__':
  main()
