"""examples/tfjob.json run as Kubeflow's training operator runs it.

The operator starts each replica's container with TF_CONFIG: the cluster
from the replica specs (every type but the evaluator, lower-cased, each
task at NAME-TYPE-INDEX.NAMESPACE.svc:PORT), the task from the replica's
type and index. This test renders that for every replica of the example
job, checks it against the TF_CONFIG docs/CLUSTERS.md shows, then starts
every replica's own command on loopback (host names mapped to free ports,
the shared volume to a folder) and runs the job to its end.
"""

import json
import os
import re
import subprocess
import sys

import pytest
import tensorflow as tf

from cifar10_training.cluster import free_local_ports
from conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(name='cluster')]

MANIFEST = os.path.join(ROOT, 'examples', 'tfjob.json')
# The training operator's defaults: its port, and the type it leaves out
# of the cluster.
OPERATOR_PORT = 2222
EVALUATOR = 'Evaluator'
# What the test adds to each replica's arguments: a tiny run.
TINY = ['--max_steps=4', '--batch_size=8', '--model=baseline',
        '--num_examples=40', '--eval_interval_secs=1']


def _load():
  with open(MANIFEST) as f:
    return json.load(f)


def render_tf_configs(job):
  """{(replica type, index): TF_CONFIG dict} as the operator writes it."""
  name, namespace = job['metadata']['name'], job['metadata']['namespace']
  replicas = job['spec']['tfReplicaSpecs']
  cluster = {
      kind.lower(): ['%s-%s-%d.%s.svc:%d' % (name, kind.lower(), i, namespace,
                                             OPERATOR_PORT)
                     for i in range(spec['replicas'])]
      for kind, spec in replicas.items() if kind != EVALUATOR}
  return {(kind, i): {'cluster': cluster,
                      'task': {'type': kind.lower(), 'index': i},
                      'environment': 'cloud'}
          for kind, spec in replicas.items() for i in range(spec['replicas'])}


def test_the_manifest_is_the_job_docs_describe():
  job = _load()
  replicas = job['spec']['tfReplicaSpecs']
  assert {k: v['replicas'] for k, v in replicas.items()} == {
      'Chief': 1, 'Worker': 2, 'PS': 1, 'Evaluator': 1}
  for spec in replicas.values():
    container = spec['template']['spec']['containers'][0]
    # The operator sets TF_CONFIG in the container named 'tensorflow'.
    assert container['name'] == 'tensorflow'
    assert container['volumeMounts'] == [{'name': 'shared',
                                          'mountPath': '/shared'}]
  configs = render_tf_configs(job)
  with open(os.path.join(ROOT, 'docs', 'CLUSTERS.md')) as f:
    docs = f.read()
  for (kind, index), config in configs.items():
    assert json.dumps(config) in docs, (kind, index)


def _command(spec, replacements):
  """The replica's command and arguments, paths and hosts replaced."""
  container = spec['template']['spec']['containers'][0]
  words = container['command'] + container['args']
  assert words[0] == 'python'
  words = [sys.executable, os.path.join(ROOT, words[1])] + words[2:]
  for old, new in replacements.items():
    words = [w.replace(old, new) for w in words]
  return words


def test_the_example_job_runs_to_its_end_on_loopback(data_dir, tmp_path):
  job = _load()
  configs = render_tf_configs(job)
  hosts = sorted({h for c in configs.values()
                  for hs in c['cluster'].values() for h in hs})
  loopback = dict(zip(hosts, ['127.0.0.1:%d' % p
                              for p in free_local_ports(len(hosts))]))
  shared = tmp_path / 'shared'
  shared.mkdir()
  os.symlink(data_dir, str(shared / 'cifar10_data'))
  processes = {}
  try:
    for (kind, index), config in sorted(configs.items(),
                                        key=lambda kv: kv[0] != (EVALUATOR, 0)):
      text = json.dumps(config)
      for host, address in loopback.items():
        text = text.replace(host, address)
      spec = job['spec']['tfReplicaSpecs'][kind]
      processes[(kind, index)] = subprocess.Popen(
          _command(spec, {'/shared': str(shared)}) + _for(spec, TINY),
          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
          text=True, env=dict(os.environ, TF_CONFIG=text))
    outputs = {}
    for key, process in processes.items():
      out, err = process.communicate(timeout=300)
      assert process.returncode == 0, (key, out, err[-3000:])
      outputs[key] = out
  finally:
    for process in processes.values():
      if process.poll() is None:
        process.kill()
        process.communicate()
  train_dir = str(shared / 'train')
  assert tf.train.latest_checkpoint(train_dir).endswith('model.ckpt-4')
  assert 'ps task 0: 3 of 3 workers done.' in outputs[('PS', 0)]
  assert re.search(r'\[model.ckpt-4, step 4; ', outputs[(EVALUATOR, 0)])
  with open(str(shared / 'eval' / 'results.json')) as f:
    assert json.load(f)['global_step'] == 4


def _for(spec, flags):
  """The flags of `flags` that the replica's script takes."""
  script = spec['template']['spec']['containers'][0]['command'][1]
  evaluation_only = ('--num_examples', '--eval_interval_secs')
  training_only = ('--max_steps',)
  skip = training_only if script == 'cifar10_eval.py' else evaluation_only
  return [f for f in flags if not f.startswith(skip)]
