"""A task's place in a cluster, as TF_CONFIG tells it.

Cluster managers start every task of a job and tell each its place in the
environment variable TF_CONFIG (JSON): {"cluster": {JOB: ["host:port", ...],
...}, "task": {"type": JOB, "index": N}}. They name the jobs differently:

- the plain TF1 shape, "worker" and "ps", worker 0 the chief;
- Kubeflow's TFJob and Vertex AI: "chief" (TFJob's older versions
  "master"), one task, then "worker" for the others, "ps", and
  "evaluator", a task outside the cluster (it is in no "cluster" list,
  or alone in its own) that evaluates the chief's checkpoints.

`read` turns every shape into this project's: the ps tasks and one list of
workers, the chief first, so that the chief is worker 0 whatever the
manager called it. Each task keeps the name its manager gave it, for the
lines that speak of it.

This module imports nothing that imports TensorFlow.
"""

import collections
import json
import os

from cifar10_lib.errors import UserError

VARIABLE = 'TF_CONFIG'
CHIEF_JOBS = ('chief', 'master')
JOBS = CHIEF_JOBS + ('worker', 'ps', 'evaluator')
EVALUATOR = 'evaluator'

_SHAPE = ('{"cluster": {"chief": ["host:port"], "worker": [...], "ps": '
          '[...]}, "task": {"type": "worker", "index": 0}}')


class Place(collections.namedtuple(
    'Place', 'ps_hosts worker_hosts job_name task_index name worker_names')):
  """A task's place, in this project's terms.

  ps_hosts, worker_hosts: lists of 'host:port', the chief first among the
  workers; job_name: 'ps', 'worker' or 'evaluator'; task_index: within
  the job; name: the task as its manager calls it ('chief', 'worker 1');
  worker_names: the workers' names in the same order as worker_hosts.
  """


def _fail(what):
  return UserError('%s %s: expected %s' % (VARIABLE, what, _SHAPE))


def _host_lists(cluster):
  """{job: [host, ...]} of `cluster`, checked."""
  if not isinstance(cluster, dict):
    raise _fail('has no "cluster" object')
  for job, hosts in cluster.items():
    if job not in JOBS:
      raise _fail('names the job %r, which is not one of %s' %
                  (job, ', '.join(JOBS)))
    if (not isinstance(hosts, list) or not hosts or
        not all(isinstance(h, str) and h.rpartition(':')[0] and
                h.rpartition(':')[2].isdigit() for h in hosts)):
      raise _fail('gives job %r %r, not a list of "host:port"' % (job, hosts))
  chiefs = [job for job in CHIEF_JOBS if job in cluster]
  if len(chiefs) > 1 or any(len(cluster[job]) > 1 for job in chiefs):
    raise _fail('has more than one chief (%s)' % ', '.join(
        '%s: %d' % (job, len(cluster[job])) for job in chiefs))
  return cluster


def read(text):
  """The Place that TF_CONFIG's JSON `text` gives.

  Raises:
    UserError: `text` is not one of the shapes above, or its task is not in
      its cluster; the line names TF_CONFIG and the shape expected.
  """
  try:
    config = json.loads(text)
  except ValueError as e:
    raise _fail('is not JSON (%s)' % e)
  if not isinstance(config, dict):
    raise _fail('is not a JSON object')
  cluster = _host_lists(config.get('cluster'))
  task = config.get('task')
  if not isinstance(task, dict) or task.get('type') not in JOBS:
    raise _fail('has task %r, whose "type" is not one of %s' %
                (task, ', '.join(JOBS)))
  job, index = task['type'], task.get('index', 0)
  if not isinstance(index, int) or isinstance(index, bool) or index < 0:
    raise _fail('has task index %r, not a whole number from 0' % (index,))
  if job != EVALUATOR and index >= len(cluster.get(job, [])):
    raise _fail('places this task at %s %d, but its cluster has %d %s '
                'task(s)' % (job, index, len(cluster.get(job, [])), job))
  chief = [(job_name, host) for job_name in CHIEF_JOBS
           for host in cluster.get(job_name, [])]
  others = [('worker', host) for host in cluster.get('worker', [])]
  worker_names = ([job_name for job_name, _ in chief] +
                  ['worker %d' % i for i in range(len(others))])
  name = job if job in CHIEF_JOBS + (EVALUATOR,) else '%s %d' % (job, index)
  if job in CHIEF_JOBS:
    job, index = 'worker', 0
  elif job == 'worker':
    index += len(chief)
  return Place(cluster.get('ps', []), [h for _, h in chief + others], job,
               index, name, worker_names)


def from_environment(environ=None):
  """The Place that TF_CONFIG in `environ` (default: os.environ) gives;
  None where it is unset or empty. Raises UserError as `read`."""
  text = (os.environ if environ is None else environ).get(VARIABLE)
  return read(text) if text else None


def describe(place, script, watching=False):
  """The line that `script`, which does not train in the cluster (eval,
  predict), prints when a manager started it as `place`; `watching`: it
  evaluates each new checkpoint (eval without --run_once)."""
  if watching and place.job_name == EVALUATOR:
    return ('%s makes this task the %s: evaluating each new checkpoint in '
            '--checkpoint_dir, until the run\'s last one.' %
            (VARIABLE, place.name))
  return ('%s makes this task %s of a training cluster; %s does here what '
          'it does on any machine (cifar10_multi_gpu_train.py is the script '
          'that trains in the cluster).' % (VARIABLE, place.name, script))
