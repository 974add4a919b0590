"""TF_CONFIG in every shape cluster managers write, read as this project's
cluster (no processes: test_distributed.py starts real ones)."""

import json

import pytest

from cifar10_lib import tf_config
from cifar10_lib.errors import UserError

# Kubeflow's TFJob and Vertex AI: a chief, workers, ps, an evaluator that
# is in no cluster list.
MANAGED = {'chief': ['chief-0:2222'], 'worker': ['w-0:2222', 'w-1:2222'],
           'ps': ['ps-0:2222']}


def _read(cluster, task_type, index=0):
  return tf_config.read(json.dumps(
      {'cluster': cluster, 'task': {'type': task_type, 'index': index}}))


@pytest.mark.parametrize('chief_job', ['chief', 'master'])
def test_the_chief_is_worker_0_and_the_workers_follow(chief_job):
  cluster = dict(MANAGED)
  cluster[chief_job] = cluster.pop('chief')
  chief = _read(cluster, chief_job)
  assert (chief.job_name, chief.task_index, chief.name) == (
      'worker', 0, chief_job)
  assert chief.worker_hosts == ['chief-0:2222', 'w-0:2222', 'w-1:2222']
  assert chief.worker_names == [chief_job, 'worker 0', 'worker 1']
  assert chief.ps_hosts == ['ps-0:2222']
  second = _read(cluster, 'worker', 1)
  assert (second.job_name, second.task_index, second.name) == (
      'worker', 2, 'worker 1')
  assert _read(cluster, 'ps', 0)[2:5] == ('ps', 0, 'ps 0')


def test_the_plain_shape_is_unchanged():
  cluster = {'worker': ['w-0:1', 'w-1:1'], 'ps': ['p:1']}
  place = _read(cluster, 'worker', 1)
  assert (place.worker_hosts, place.job_name, place.task_index) == (
      ['w-0:1', 'w-1:1'], 'worker', 1)
  assert place.worker_names == ['worker 0', 'worker 1']


@pytest.mark.parametrize('cluster', [
    MANAGED, dict(MANAGED, evaluator=['eval-0:2222'])])
def test_the_evaluator_in_or_out_of_the_cluster_lists(cluster):
  place = _read(cluster, 'evaluator')
  assert (place.job_name, place.name) == ('evaluator', 'evaluator')
  assert tf_config.describe(place, 'cifar10_eval.py', watching=True) == (
      "TF_CONFIG makes this task the evaluator: evaluating each new "
      "checkpoint in --checkpoint_dir, until the run's last one.")
  assert tf_config.describe(place, 'cifar10_predict.py').startswith(
      'TF_CONFIG makes this task evaluator of a training cluster; '
      'cifar10_predict.py does here what it does on any machine')


@pytest.mark.parametrize('text,said', [
    ('{"cluster": ', 'is not JSON'),
    ('[1, 2]', 'is not a JSON object'),
    ('{"task": {"type": "ps", "index": 0}}', 'has no "cluster" object'),
    ('{"cluster": {"boss": ["a:1"]}, "task": {"type": "ps", "index": 0}}',
     "names the job 'boss', which is not one of chief, master, worker, ps, "
     'evaluator'),
    ('{"cluster": {"ps": ["a"]}, "task": {"type": "ps", "index": 0}}',
     "gives job 'ps' ['a'], not a list of \"host:port\""),
    ('{"cluster": {"chief": ["a:1"], "master": ["b:1"]}, '
     '"task": {"type": "chief", "index": 0}}',
     'has more than one chief (chief: 1, master: 1)'),
    ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "trainer", "index": 0}}',
     "has task {'type': 'trainer', 'index': 0}, whose \"type\" is not one of"),
    ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 1}}',
     'places this task at ps 1, but its cluster has 1 ps task(s)'),
    ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": -1}}',
     'has task index -1, not a whole number from 0'),
])
def test_malformed_tf_config_is_one_line_naming_it(text, said):
  with pytest.raises(UserError) as error:
    tf_config.read(text)
  message = str(error.value)
  assert message.startswith('TF_CONFIG ' + said)
  assert ': expected {"cluster": {"chief": ["host:port"]' in message
  assert '\n' not in message


def test_unset_or_empty_is_no_cluster():
  assert tf_config.from_environment({}) is None
  assert tf_config.from_environment({'TF_CONFIG': ''}) is None
