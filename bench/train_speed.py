"""Benchmarks training speed of several configurations in one run.

Usage:
  python bench/train_speed.py --data_dir=/tmp/cifar10_data --steps=300 \
      --variants=single,towers2
  (every zoo model is a variant too: --variants=resnet20,resnet20_bf16)

Each variant runs the real training script as a user would (fresh
--train_dir, real input pipeline, default flags unless the variant says
otherwise) for --steps steps, --rounds times, the variants taking turns so
that the machine's drift hits all alike. It reads the examples/sec of the
progress lines, drops the first --warmup_lines of each run, and prints the
median of the rest and its ratio to the first variant, and the peak
resident memory of its processes (the largest). The cluster variants start
1 ps and 2 worker processes on loopback and add up the workers' rates.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# pylint: disable=g-import-not-at-top,wrong-import-position
from cifar10_lib import devices
devices.set_tensorflow_options()  # Before TensorFlow loads.
from cifar10_training import cluster
import cifar10_models
import speed  # bench/speed.py, beside this file
# pylint: enable=g-import-not-at-top,wrong-import-position

# name -> (script, extra flags[, environment variables]).
VARIANTS = {
    'single': ('cifar10_train.py', []),
    # TensorFlow's own default on CPUs without AVX-512 (cifar10_lib.devices).
    'onednn_off': ('cifar10_train.py', [], {'TF_ENABLE_ONEDNN_OPTS': '0'}),
    'towers2': ('cifar10_multi_gpu_train.py', ['--num_gpus=2']),
    'nosummary': ('cifar10_train.py', ['--summary_steps=0']),
    'bf16': ('cifar10_train.py', ['--bf16']),
    'fp16': ('cifar10_train.py', ['--use_fp16']),
    # 1 ps + 2 workers on loopback; the rate is the two workers' sum.
    'cluster2': ('cifar10_multi_gpu_train.py', ['--job_name=worker']),
    'cluster2_async': ('cifar10_multi_gpu_train.py',
                       ['--job_name=worker', '--nosync_replicas']),
}



def _zoo_variants():
  """A variant per zoo model (its recipe, fp32) and one with --bf16."""
  variants = {}
  for name in cifar10_models.MODELS:
    if name != cifar10_models.DEFAULT_MODEL:
      variants[name] = ('cifar10_train.py', ['--model=' + name])
      variants[name + '_bf16'] = ('cifar10_train.py',
                                  ['--model=' + name, '--bf16'])
  return variants


VARIANTS.update(_zoo_variants())

RATE = re.compile(r': step \d+, loss = [\d.]+ \(([\d.]+) examples/sec;')


def _tasks(name, flags):
  """The command-line flags of each process a variant runs."""
  if not name.startswith('cluster'):
    return [flags]
  ps, w0, w1 = cluster.free_local_ports(3)
  hosts = ['--ps_hosts=127.0.0.1:%d' % ps,
           '--worker_hosts=127.0.0.1:%d,127.0.0.1:%d' % (w0, w1)]
  ps_flags = [f.replace('worker', 'ps') if f == '--job_name=worker' else f
              for f in flags]
  return [hosts + ps_flags, hosts + flags + ['--task_index=0'],
          hosts + flags + ['--task_index=1']]


def run_variant(name, data_dir, steps, warmup_lines):
  """Trains one variant in a fresh folder.

  Returns:
    (examples/sec per window, peak resident bytes): for each process its
    progress lines' rates after warm-up, a window's rate the sum over the
    worker processes; the largest peak memory of its processes.
  """
  script, flags, env = (VARIANTS[name] + ({},))[:3]
  with tempfile.TemporaryDirectory() as train_dir:
    processes = [subprocess.Popen(
        [sys.executable, os.path.join(ROOT, script), '--data_dir=' + data_dir,
         '--train_dir=' + train_dir, '--nodownload',
         '--max_steps=%d' % steps] + task,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, **env))
                 for task in _tasks(name, flags)]
    peaks = [0] * len(processes)

    def watch(i):
      peaks[i] = speed.peak_resident_bytes(processes[i])
    watchers = [threading.Thread(target=watch, args=(i,), daemon=True)
                for i in range(len(processes))]
    for watcher in watchers:
      watcher.start()
    outputs = [p.communicate() for p in processes]
    for watcher in watchers:
      watcher.join()
  rates = []
  for process, (out, err) in zip(processes, outputs):
    if process.returncode:
      sys.exit('%s failed:\n%s' % (name, err[-2000:]))
    found = [float(r) for r in RATE.findall(out)][warmup_lines:]
    if found:
      rates.append(found)
  return [sum(window) for window in zip(*rates)], max(peaks)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data_dir', required=True)
  parser.add_argument('--steps', type=int, default=300)
  parser.add_argument('--rounds', type=int, default=2)
  parser.add_argument('--warmup_lines', type=int, default=3)
  parser.add_argument('--variants', default='single,towers2')
  args = parser.parse_args()
  print(devices.describe(), flush=True)
  names = args.variants.split(',')
  unknown = set(names) - set(VARIANTS)
  if unknown:
    parser.error('unknown variants %s; known: %s' %
                 (', '.join(sorted(unknown)), ', '.join(VARIANTS)))
  rates = {name: [] for name in names}
  peaks = dict.fromkeys(names, 0)
  for _ in range(args.rounds):
    for name in names:
      found, peak = run_variant(name, args.data_dir, args.steps,
                                args.warmup_lines)
      rates[name] += found
      peaks[name] = max(peaks[name], peak)
  base = statistics.median(rates[names[0]])
  print('%-10s %12s %8s %8s %8s' % ('variant', 'examples/s', 'ratio',
                                    'windows', 'peak GB'))
  for name in names:
    median = statistics.median(rates[name])
    print('%-10s %12.1f %8.2f %8d %8.2f' % (
        name, median, median / base, len(rates[name]), peaks[name] / 2 ** 30))


if __name__ == '__main__':
  main()
