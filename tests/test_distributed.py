"""Multi-machine training over loopback: every task a real process.

1 ps + 2 workers on free localhost ports, synchronous and asynchronous, a
worker killed and restarted, a missing worker, and bad cluster flags. Every
process a test starts is stopped when the test ends, pass or fail.
"""

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from cifar10_training.cluster import free_local_ports
from conftest import ROOT, env_without_tensorflow
from test_scripts import (PRECISION_LINE, TRAIN_LINE, _assert_ok, _eval,
                          _one_line_error)

# One test process runs them all, one cluster at a time (pytest.ini runs
# two): two loopback clusters at once would compete for the two cores, and
# each picks free ports that the other could pick too.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(name='cluster')]

SCRIPT = os.path.join(ROOT, 'cifar10_multi_gpu_train.py')


class _Cluster(object):
  """Starts tasks of a 1-ps, 2-worker cluster; kills them all at the end."""

  def __init__(self, data_dir, train_dir, *flags):
    ps, w0, w1 = free_local_ports(3)
    self.workers = ['127.0.0.1:%d' % w0, '127.0.0.1:%d' % w1]
    self.hosts = ['--ps_hosts=127.0.0.1:%d' % ps,
                  '--worker_hosts=' + ','.join(self.workers)]
    self.flags = ['--data_dir=' + data_dir, '--train_dir=' + train_dir,
                  # Batches of 16 at a learning rate of 0.1 sometimes
                  # diverge, more so with asynchronous updates.
                  '--nodownload', '--batch_size=64', '--log_frequency=5'
                  ] + list(flags)
    self.processes = []

  def start(self, job, index, *flags, env=None, cluster_flags=True):
    process = subprocess.Popen(
        [sys.executable, SCRIPT] + (self.hosts + [
            '--job_name=' + job, '--task_index=%d' % index]
                                    if cluster_flags else []) +
        self.flags + list(flags),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)
    self.processes.append(process)
    return process

  def finish(self, process, timeout=240):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, out + err[-3000:]
    return out

  def kill_all(self):
    for process in self.processes:
      if process.poll() is None:
        process.kill()
      process.communicate()


@pytest.fixture
def cluster_factory():
  clusters = []

  def make(*args):
    clusters.append(_Cluster(*args))
    return clusters[-1]

  yield make
  for cluster in clusters:
    cluster.kill_all()


def _steps(out):
  return [int(s) for s in TRAIN_LINE.findall(out)]


def test_synchronous_training_any_start_order_then_resume(
    data_dir, tmp_path, cluster_factory):
  train_dir = str(tmp_path / 'train')
  cluster = cluster_factory(data_dir, train_dir, '--max_steps=30')
  # Workers first: they wait for the ps task, worker 1 for the chief.
  w1 = cluster.start('worker', 1)
  w0 = cluster.start('worker', 0)
  time.sleep(3)
  ps = cluster.start('ps', 0)
  out0, out1 = cluster.finish(w0), cluster.finish(w1)
  out_ps = cluster.finish(ps)
  assert 'ps task 0: 2 of 2 workers done.' in out_ps
  assert _steps(out0)[-1] == 30 and _steps(out1)[-1] == 30
  assert tf.train.latest_checkpoint(train_dir).endswith('model.ckpt-30')
  # Only the chief writes into train_dir.
  assert len([f for f in os.listdir(train_dir) if 'tfevents' in f]) == 1
  result = _eval(data_dir, train_dir)
  _assert_ok(result)
  assert PRECISION_LINE.search(result.stdout)

  # A full restart: the chief resumes from the last checkpoint.
  cluster = cluster_factory(data_dir, train_dir, '--max_steps=40')
  ps = cluster.start('ps', 0)
  w0, w1 = cluster.start('worker', 0), cluster.start('worker', 1)
  out0 = cluster.finish(w0)
  cluster.finish(w1)
  cluster.finish(ps)
  assert re.search(r'Resuming from \S+model.ckpt-30 at step 30\.', out0)
  assert tf.train.latest_checkpoint(train_dir).endswith('model.ckpt-40')


def test_synchronous_cluster_trains_a_batch_norm_model(data_dir, tmp_path,
                                                        cluster_factory):
  train_dir = str(tmp_path / 'train')
  cluster = cluster_factory(data_dir, train_dir, '--max_steps=6',
                            '--model=baseline')
  ps = cluster.start('ps', 0)
  w0, w1 = cluster.start('worker', 0), cluster.start('worker', 1)
  out0 = cluster.finish(w0)
  cluster.finish(w1)
  cluster.finish(ps)
  assert 'Training baseline for 6 steps' in out0
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(train_dir))
  # The chief's updates moved the moving mean off its initial zeros.
  assert np.abs(reader.get_tensor('conv1/bn/moving_mean')).max() > 0
  result = _eval(data_dir, train_dir)
  _assert_ok(result)
  assert PRECISION_LINE.search(result.stdout)


def _tf_config(cluster, job, index):
  env = dict(os.environ)
  env['TF_CONFIG'] = json.dumps({
      'cluster': {'ps': [cluster.hosts[0].split('=')[1]],
                  'worker': cluster.workers},
      'task': {'type': job, 'index': index}})
  return env


def test_asynchronous_worker_killed_and_restarted_rejoins(
    data_dir, tmp_path, cluster_factory):
  train_dir = str(tmp_path / 'train')
  # Asynchronous updates at the tutorial's learning rate diverged on this
  # small set in 1 run of 5 past step 90; 60 steps are enough here.
  cluster = cluster_factory(data_dir, train_dir, '--max_steps=60',
                            '--nosync_replicas')
  ps = cluster.start('ps', 0, env=_tf_config(cluster, 'ps', 0),
                     cluster_flags=False)
  w0 = cluster.start('worker', 0)
  w1 = cluster.start('worker', 1)
  for line in w1.stdout:
    if TRAIN_LINE.match(line.strip()):
      break
  w1.send_signal(signal.SIGKILL)
  w1.communicate()
  # Pause the chief, so that it cannot reach --max_steps before the
  # restarted worker is back: the restart must train, not just find the
  # work done.
  w0.send_signal(signal.SIGSTOP)
  try:
    w1 = cluster.start('worker', 1, env=_tf_config(cluster, 'worker', 1),
                       cluster_flags=False)
    rejoined = []
    for line in w1.stdout:
      if TRAIN_LINE.match(line.strip()):
        rejoined.append(line)
        break
  finally:
    w0.send_signal(signal.SIGCONT)
  out1 = cluster.finish(w1)
  out0 = cluster.finish(w0)
  cluster.finish(ps)
  assert rejoined, out1
  final = int(tf.train.latest_checkpoint(train_dir).rsplit('-', 1)[1])
  # Asynchronous updates may overshoot by the other worker's last step.
  assert 60 <= final <= 61
  assert _steps(out0)[-1] >= 55


def test_chief_reports_a_missing_worker(data_dir, tmp_path, cluster_factory):
  cluster = cluster_factory(data_dir, str(tmp_path / 'train'),
                            '--max_steps=100000', '--worker_warning_secs=2')
  cluster.start('ps', 0)
  w0 = cluster.start('worker', 0)
  warning = _first_line_with(w0, 'made no step', seconds=120)
  assert warning == ('WARNING: worker 1 (%s) made no step in the last 2 s; '
                     'is it running?' % cluster.workers[1]), w0.poll()


def _first_line_with(process, text, seconds):
  """The first line of `process`'s output that holds `text`, or None.

  Read in a thread, so that a process that prints nothing more cannot
  hold the test past `seconds`.
  """
  found = queue.Queue()

  def read():
    for line in process.stdout:
      if text in line:
        found.put(line.strip())
        return
    found.put(None)
  threading.Thread(target=read, daemon=True).start()
  try:
    return found.get(timeout=seconds)
  except queue.Empty:
    return None


def test_port_in_use_is_one_line(data_dir, tmp_path, cluster_factory):
  cluster = cluster_factory(data_dir, str(tmp_path / 'train'))
  port = int(cluster.hosts[0].rsplit(':', 1)[1])
  with socket.socket() as taken:
    taken.bind(('127.0.0.1', port))
    taken.listen(1)
    ps = cluster.start('ps', 0)
    out, err = ps.communicate(timeout=60)
  result = subprocess.CompletedProcess(ps.args, ps.returncode, out, err)
  _one_line_error(result, r'cannot serve 127.0.0.1:%d \(ps/0\): Address '
                  r'already in use' % port)


@pytest.mark.parametrize('script,flags,pattern', [
    (SCRIPT, ['--ps_hosts=localhost:1', '--worker_hosts=localhost',
              '--job_name=ps'],
     r"--worker_hosts: 'localhost' is not host:port"),
    (SCRIPT, ['--ps_hosts=localhost:1', '--worker_hosts=localhost:2,'
              'localhost:3', '--job_name=worker', '--task_index=2'],
     r'--task_index=2 but the worker job has 2 tasks \(0..1\)'),
    (SCRIPT, ['--ps_hosts=localhost:1', '--worker_hosts=localhost:2',
              '--job_name=chief'],
     r'--job_name=chief: value should be one of <ps\|worker>'),
    (SCRIPT, ['--ps_hosts=localhost:1', '--worker_hosts=localhost:2'],
     r'--job_name=ps or --job_name=worker is needed'),
    (os.path.join(ROOT, 'cifar10_train.py'), ['--ps_hosts=localhost:1'],
     r'cluster flags are for cifar10_multi_gpu_train.py; cifar10_train.py '
     r'trains on one device'),
])
def test_bad_cluster_flags_are_one_line_before_tensorflow_loads(
    tmp_path, script, flags, pattern):
  result = subprocess.run([sys.executable, script] + flags, cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env=env_without_tensorflow(tmp_path))
  _one_line_error(result, pattern)


def test_bad_tf_config(tmp_path):
  env = dict(env_without_tensorflow(tmp_path),
             TF_CONFIG='{"cluster": {"ps": ["a:1"]}}')
  result = subprocess.run([sys.executable, SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
  _one_line_error(result, r'TF_CONFIG has task None, whose "type" is not one '
                  r'of chief, master, worker, ps, evaluator: expected '
                  r'\{"cluster": ')


def _managed(cluster, task_type, index=0):
  """The environment a cluster manager gives task (task_type, index)."""
  return dict(os.environ, TF_CONFIG=json.dumps(
      {'cluster': cluster, 'task': {'type': task_type, 'index': index}}))


@pytest.mark.parametrize('chief_job', ['chief', None])
def test_a_managers_cluster_trains_and_its_evaluator_follows(
    data_dir, tmp_path, cluster_factory, chief_job):
  """TF_CONFIG as Kubeflow's TFJob and Vertex AI write it (a chief, a
  worker, a ps and an evaluator outside the cluster lists), and in the
  plain worker/ps shape; no cluster flag on any command line."""
  train_dir = str(tmp_path / 'train')
  cluster = cluster_factory(data_dir, train_dir, '--max_steps=10')
  ps, first, second = ['127.0.0.1:%d' % p for p in free_local_ports(3)]
  if chief_job:
    spec = {chief_job: [first], 'worker': [second], 'ps': [ps]}
    trainers = [(chief_job, 0), ('worker', 0)]
  else:
    spec = {'worker': [first, second], 'ps': [ps]}
    trainers = [('worker', 0), ('worker', 1)]
  evaluator = subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'cifar10_eval.py'),
       '--data_dir=' + data_dir, '--checkpoint_dir=' + train_dir,
       '--eval_dir=' + train_dir + '_eval', '--nodownload', '--batch_size=16',
       '--num_examples=50', '--eval_interval_secs=1'],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env=_managed(spec, 'evaluator'))
  cluster.processes.append(evaluator)
  tasks = [cluster.start(job, index, env=_managed(spec, job, index),
                         cluster_flags=False)
           for job, index in trainers + [('ps', 0)]]
  outs = [cluster.finish(task) for task in tasks]
  assert _steps(outs[0])[-1] == 10 and 'ps task 0: 2 of 2 workers done.' in (
      outs[-1])
  assert tf.train.latest_checkpoint(train_dir).endswith('model.ckpt-10')
  out = cluster.finish(evaluator)
  assert out.startswith(
      'TF_CONFIG makes this task the evaluator: evaluating each new '
      'checkpoint in --checkpoint_dir, until the run\'s last one.\n'
      'No checkpoint in %s yet; waiting for one.\n' % train_dir), out
  assert re.search(r'\[model.ckpt-10, step 10; ', out), out
  assert out.rstrip().endswith(
      "Evaluated the run's last checkpoint (step 10); done."), out


def test_a_manager_starting_the_trainer_as_evaluator_is_one_line(tmp_path):
  result = subprocess.run(
      [sys.executable, SCRIPT, '--train_dir=%s' % (tmp_path / 'train')],
      cwd=ROOT, capture_output=True, text=True, timeout=60,
      env=dict(env_without_tensorflow(tmp_path), TF_CONFIG=_managed(
          {'chief': ['a:1'], 'ps': ['b:1']}, 'evaluator')['TF_CONFIG']))
  _one_line_error(result, r'TF_CONFIG makes this task the evaluator, which '
                  r'does not train: run cifar10_eval.py '
                  r'--checkpoint_dir=TRAIN_DIR on it')
  assert not os.path.exists(str(tmp_path / 'train'))


def _wait_for_step(process, seconds=180):
  """Returns once `process` printed a training line (fails after
  `seconds`)."""
  assert _first_line_with(process, ': step ', seconds), process.poll()


def test_a_managers_chief_killed_and_restarted_resumes(data_dir, tmp_path,
                                                       cluster_factory):
  train_dir = str(tmp_path / 'train')
  cluster = cluster_factory(data_dir, train_dir, '--max_steps=40',
                            '--save_checkpoint_steps=5')
  ps, chief, worker = ['127.0.0.1:%d' % p for p in free_local_ports(3)]
  spec = {'chief': [chief], 'worker': [worker], 'ps': [ps]}

  def start(job, index=0):
    return cluster.start(job, index, env=_managed(spec, job, index),
                         cluster_flags=False)
  tasks = [start('ps'), start('worker')]
  first_chief = start('chief')
  _wait_for_step(first_chief)
  while not tf.train.latest_checkpoint(train_dir):
    time.sleep(0.5)
  first_chief.send_signal(signal.SIGKILL)
  first_chief.communicate()
  second_chief = start('chief')
  out = cluster.finish(second_chief)
  for task in tasks:
    cluster.finish(task)
  assert re.search(r'Resuming from \S+model.ckpt-(\d+) at step \1\.', out)
  assert tf.train.latest_checkpoint(train_dir).endswith('model.ckpt-40')


def test_a_killed_ps_stops_every_worker_with_one_line(data_dir, tmp_path,
                                                      cluster_factory):
  cluster = cluster_factory(data_dir, str(tmp_path / 'train'),
                            '--max_steps=100000', '--cluster_timeout_secs=5')
  ps = cluster.start('ps', 0)
  workers = [cluster.start('worker', i) for i in range(2)]
  _wait_for_step(workers[0])
  ps.send_signal(signal.SIGKILL)
  ps.communicate()
  address = cluster.hosts[0].split('=')[1]
  for process in workers:
    out, err = process.communicate(timeout=120)
    result = subprocess.CompletedProcess(process.args, process.returncode,
                                         out, err)
    _one_line_error(result, r"^ERROR: the cluster's ps 0 \(%s\) stayed "
                    r'unreachable for 5 s \(.*\): restart it, or the whole '
                    r'job; training resumes from the newest checkpoint$' %
                    re.escape(address))
    assert result.returncode == 2
    assert out.count("Waiting for the cluster's ps 0 (%s), which does not "
                     'answer' % address) == 1, out


def test_airbench_trains_on_a_synchronous_cluster(data_dir, tmp_path,
                                                  cluster_factory):
  """airbench96_faster (airbench94's lookahead and optimizer, and a proxy
  that trains every 4th global step): the lookahead runs within the
  chief's update of each global step; at the run's last step every weight
  of the network, not of the proxy, takes its running average."""
  model, kernels = 'airbench96_faster', 10
  train_dir = str(tmp_path / 'train')
  # The recipe counts CIFAR-10's 50,000 examples: 0.01 epochs are 15
  # global steps of 2 x 16.
  cluster = cluster_factory(data_dir, train_dir, '--model=' + model,
                            '--batch_size=16', '--epochs=0.01')
  ps = cluster.start('ps', 0)
  w0, w1 = cluster.start('worker', 0), cluster.start('worker', 1)
  out0 = cluster.finish(w0)
  cluster.finish(w1)
  cluster.finish(ps)
  last = re.search(r'Training %s for (\d+) steps' % model, out0).group(1)
  checkpoint = tf.train.latest_checkpoint(train_dir)
  assert checkpoint.endswith('model.ckpt-' + last)
  reader = tf.train.load_checkpoint(checkpoint)
  names = reader.get_variable_to_shape_map()
  weights = [name for name in names if name.endswith('/weights') and
             not name.startswith(('whiten', 'proxy/'))]
  assert len(weights) == kernels
  for name in weights:
    np.testing.assert_array_equal(reader.get_tensor(name),
                                  reader.get_tensor(name + '/Lookahead'))
  assert not [name for name in names if name.startswith('proxy/') and
              name.endswith('/Lookahead')]
  result = _eval(data_dir, train_dir)
  _assert_ok(result)
  assert PRECISION_LINE.search(result.stdout)


def test_airbench94_is_refused_asynchronous_updates(data_dir, tmp_path,
                                                    cluster_factory):
  cluster = cluster_factory(data_dir, str(tmp_path / 'train'),
                            '--model=airbench94', '--batch_size=16',
                            '--nosync_replicas')
  cluster.start('ps', 0)
  worker = cluster.start('worker', 0)
  out, err = worker.communicate(timeout=120)
  _one_line_error(subprocess.CompletedProcess(worker.args, worker.returncode,
                                              out, err),
                  r"this recipe's lookahead needs synchronous updates, one "
                  r'per global step: drop --nosync_replicas')
