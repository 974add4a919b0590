"""Times how long a trainer takes to exit after Ctrl-C (SIGINT).

    python bench/stop_latency.py [--data_dir=DIR] [--stops=10] [--model=tutorial]

Starts cifar10_train.py --stops times, each time sends SIGINT after a
different number of progress lines (5, 6, ...), and prints the seconds from
the signal to the process's exit, which include finishing the current step
and saving its checkpoint; then the median and the largest. Without
--data_dir it trains on a small synthetic data set.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

# pylint: disable=g-import-not-at-top,wrong-import-position
from cifar10_lib import devices
devices.set_tensorflow_options()  # Before TensorFlow loads.
from cifar10_datasets.synthetic import make_data_dir

# Progress lines before the first stop: past the first steps' warm-up.
FIRST_STOP_AFTER = 5


def stop_once(data_dir, train_dir, model, lines):
  """Seconds from SIGINT, sent after `lines` progress lines, to the exit;
  and the exit status."""
  process = subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'cifar10_train.py'),
       '--data_dir=' + data_dir, '--train_dir=' + train_dir, '--nodownload',
       '--model=' + model, '--log_frequency=1', '--seed=1'],
      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
  seen = 0
  for line in process.stdout:
    if ': step ' in line:
      seen += 1
      if seen == lines:
        break
  start = time.time()
  process.send_signal(signal.SIGINT)
  process.communicate()
  return time.time() - start, process.returncode


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data_dir', default=None)
  parser.add_argument('--stops', type=int, default=10)
  parser.add_argument('--model', default='tutorial')
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as scratch:
    data_dir = args.data_dir or make_data_dir(scratch, train_per_file=400)
    seconds = []
    for i in range(args.stops):
      elapsed, status = stop_once(data_dir, os.path.join(scratch, 'run%d' % i),
                                  args.model, FIRST_STOP_AFTER + i)
      seconds.append(elapsed)
      print('stop %d: %.2f s (exit status %d)' % (i + 1, elapsed, status),
            flush=True)
  print('median %.2f s, largest %.2f s over %d stops' %
        (statistics.median(seconds), max(seconds), len(seconds)))


if __name__ == '__main__':
  main()
