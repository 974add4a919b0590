"""--dataset=folder at scale: a synthetic folder of many images, converted,
trained on and evaluated, with the training process's peak memory.

    python bench/folder_scale.py --images_dir=/tmp/scale [--images=200000] \
        [--classes=100] [--size=64] [--max_steps=100] [--model=tutorial]

Writes --images PNG files of --size x --size in --classes classes (each a
colour of its own with noise, so that a network learns them; a tenth in
test/; kept if --images_dir already has train/), converts them as a run
with --dataset=folder does and prints the rate, then trains --model for
--max_steps steps on them and evaluates once, each as its own process, and
prints each process's peak resident memory against the records' bytes
(the goal: under 3x). Past half the machine's memory the records are
streamed from the cache instead of held; the training's start line says
which.
"""

import argparse
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

# pylint: disable=g-import-not-at-top,wrong-import-position
from cifar10_lib import devices
devices.set_tensorflow_options()

import numpy as np
from PIL import Image

from cifar10_datasets import folder
from folder_dataset import folder_bytes
# pylint: enable=g-import-not-at-top,wrong-import-position

# The share of each class written to test/.
TEST_SHARE = 0.1
# Noise on each class's colour: classes stay apart, pixels vary.
NOISE = 40.0


def _write_class(args):
  """Writes class `k`'s files; returns how many."""
  images_dir, k, count, size = args
  rng = np.random.RandomState(k)
  colour = rng.randint(0, 256, 3)
  tests = int(count * TEST_SHARE)
  for i in range(count):
    split = 'test' if i < tests else 'train'
    path = os.path.join(images_dir, split, 'class%03d' % k)
    os.makedirs(path, exist_ok=True)
    pixels = np.clip(colour + rng.normal(0, NOISE, (size, size, 3)), 0, 255)
    Image.fromarray(pixels.astype(np.uint8)).save(
        os.path.join(path, '%06d.png' % i), compress_level=1)
  return count


def write_folder(images_dir, images, classes, size):
  """Writes the synthetic folder, a process per core."""
  per_class = images // classes
  with multiprocessing.Pool() as pool:
    return sum(pool.map(_write_class, [(images_dir, k, per_class, size)
                                       for k in range(classes)]))


def run_measured(command):
  """Runs `command`; returns (its output, its peak resident bytes)."""
  with tempfile.TemporaryFile('w+') as out, tempfile.TemporaryFile(
      'w+') as err:
    process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err)
    # wait4 gives this child's own usage (RUSAGE_CHILDREN would give the
    # largest of every child so far, the converter's included).
    _, status, usage = os.wait4(process.pid, 0)
    out.seek(0)
    err.seek(0)
    if status:
      sys.exit('%s failed:\n%s' % (command[1], err.read()[-3000:]))
    return out.read(), usage.ru_maxrss * 1024


def main():
  """Writes the folder if need be, converts, trains, evaluates, prints."""
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--images_dir', required=True)
  parser.add_argument('--images', type=int, default=200000)
  parser.add_argument('--classes', type=int, default=100)
  parser.add_argument('--size', type=int, default=64)
  parser.add_argument('--max_steps', type=int, default=100)
  parser.add_argument('--model', default='tutorial')
  args = parser.parse_args()
  print(devices.describe(), flush=True)
  if not os.path.isdir(os.path.join(args.images_dir, 'train')):
    start = time.time()
    count = write_folder(args.images_dir, args.images, args.classes,
                         args.size)
    print('Wrote %d PNG files of %dx%d in %d classes in %.1f s (%.0f MB).'
          % (count, args.size, args.size, args.classes, time.time() - start,
             folder_bytes(args.images_dir) / 1e6), flush=True)
  with tempfile.TemporaryDirectory() as scratch:
    cache = os.path.join(scratch, 'cache')
    start = time.time()
    dataset = folder.load(args.images_dir, folder.Settings(
        image_size=args.size, cache_dir=cache))
    seconds = time.time() - start
    images = dataset.train_examples + dataset.test_examples
    records_bytes = folder_bytes(cache)
    print('Converted %d images in %.1f s (%.0f images/s, %d cores); '
          'records %.0f MB.' % (images, seconds, images / seconds,
                                os.cpu_count(), records_bytes / 1e6),
          flush=True)
    flags = ['--dataset=folder', '--data_dir=' + args.images_dir,
             '--image_size=%d' % args.size, '--cache_dir=' + cache]
    train_dir = os.path.join(scratch, 'train')
    out, train_peak = run_measured(
        [sys.executable, 'cifar10_train.py', '--model=' + args.model,
         '--train_dir=' + train_dir, '--max_steps=%d' % args.max_steps,
         '--seed=1', '--summary_steps=0'] + flags)
    print(out.splitlines()[0])
    print('Training: peak resident memory %.0f MB, %.2fx the records\' '
          'bytes.' % (train_peak / 1e6, train_peak / records_bytes),
          flush=True)
    out, eval_peak = run_measured(
        [sys.executable, 'cifar10_eval.py', '--checkpoint_dir=' + train_dir,
         '--eval_dir=' + os.path.join(scratch, 'eval'), '--run_once',
         '--noper_class'] + flags)
    print(re.search(r'precision @ 1 = .*', out).group(0))
    print('Evaluation: peak resident memory %.0f MB.' % (eval_peak / 1e6),
          flush=True)


if __name__ == '__main__':
  main()
