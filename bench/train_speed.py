"""Benchmarks training speed of several configurations in one run.

Usage:
  python bench/train_speed.py --data_dir=/root/cifar10_data --steps=300 \
      --variants=single,towers2

Each variant runs the real training script as a user would (fresh
--train_dir, real input pipeline, default flags unless the variant says
otherwise) for --steps steps, --rounds times, the variants taking turns so
that the machine's drift hits all alike. It reads the examples/sec of the
progress lines, drops the first --warmup_lines of each run, and prints the
median of the rest and its ratio to the first variant.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name -> (script, extra flags).
VARIANTS = {
    'single': ('cifar10_train.py', []),
    'towers2': ('cifar10_multi_gpu_train.py', ['--num_gpus=2']),
    'nosummary': ('cifar10_train.py', ['--summary_steps=0']),
}

RATE = re.compile(r': step \d+, loss = [\d.]+ \(([\d.]+) examples/sec;')


def run_variant(name, data_dir, steps):
  """Trains one variant in a fresh folder; returns its examples/sec lines."""
  script, flags = VARIANTS[name]
  with tempfile.TemporaryDirectory() as train_dir:
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, script), '--data_dir=' + data_dir,
         '--train_dir=' + train_dir, '--nodownload',
         '--max_steps=%d' % steps] + flags,
        capture_output=True, text=True, check=False)
  if result.returncode:
    sys.exit('%s failed:\n%s' % (name, result.stderr[-2000:]))
  return [float(r) for r in RATE.findall(result.stdout)]


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data_dir', required=True)
  parser.add_argument('--steps', type=int, default=300)
  parser.add_argument('--rounds', type=int, default=2)
  parser.add_argument('--warmup_lines', type=int, default=3)
  parser.add_argument('--variants', default='single,towers2')
  args = parser.parse_args()
  names = args.variants.split(',')
  unknown = set(names) - set(VARIANTS)
  if unknown:
    parser.error('unknown variants %s; known: %s' %
                 (', '.join(sorted(unknown)), ', '.join(VARIANTS)))
  rates = {name: [] for name in names}
  for _ in range(args.rounds):
    for name in names:
      rates[name] += run_variant(name, args.data_dir,
                                 args.steps)[args.warmup_lines:]
  base = statistics.median(rates[names[0]])
  print('%-10s %12s %8s %8s' % ('variant', 'examples/s', 'ratio', 'windows'))
  for name in names:
    median = statistics.median(rates[name])
    print('%-10s %12.1f %8.2f %8d' % (name, median, median / base,
                                      len(rates[name])))


if __name__ == '__main__':
  main()
