"""This training task's place in a cluster, from the flags or TF_CONFIG.

--ps_hosts, --worker_hosts, --job_name and --task_index place a task of a
plain TF1 cluster; cluster managers set TF_CONFIG instead (tf_config.py).
`from_flags` takes whichever is given and checks it, and the trainer
scripts call it before TensorFlow loads: a mistyped host or task index is
one line at once, not after the 5-20 s that importing TensorFlow takes on
a small CPU. cluster.Cluster, the task's role in training, is made from
the Place it returns.

This module imports nothing that imports TensorFlow.
"""

from cifar10_lib import tf_config
from cifar10_lib.errors import UserError

# The jobs that train: tf_config.read maps every manager's names to these.
JOBS = ('ps', 'worker')


def _parse_hosts(flag_name, value):
  """Splits 'host:port,host:port' (the value of --`flag_name`) into a
  checked list."""
  hosts = [h.strip() for h in (value or '').split(',') if h.strip()]
  if not hosts:
    raise UserError('--%s is empty: give host:port,host:port,...' % flag_name)
  for host in hosts:
    name, _, port = host.rpartition(':')
    if not name or not port.isdigit() or not 0 < int(port) < 65536:
      raise UserError('--%s: %r is not host:port (for example '
                      'localhost:2222)' % (flag_name, host))
  return hosts


def check_task(ps_hosts, worker_hosts, job_name, task_index):
  """Raises UserError unless task `task_index` of `job_name` is in the
  cluster of these hosts."""
  if job_name not in JOBS:
    raise UserError('unknown job %r: it must be ps or worker' % job_name)
  hosts = ps_hosts if job_name == 'ps' else worker_hosts
  if task_index >= len(hosts):
    raise UserError('--task_index=%d but the %s job has %d tasks (0..%d)' %
                    (task_index, job_name, len(hosts), len(hosts) - 1))


def from_flags(ps_hosts, worker_hosts, job_name, task_index, environ=None):
  """The tf_config.Place of this training task; None on one machine.

  Args:
    ps_hosts, worker_hosts, job_name, task_index: the flags' values.
    environ: where TF_CONFIG is read (default: os.environ).

  Raises:
    UserError: the flags or TF_CONFIG are incomplete or wrong, both are
      given, or TF_CONFIG makes this task one that does not train (the
      evaluator) or leaves out the ps tasks that hold the variables.
  """
  place = tf_config.from_environment(environ)
  if ps_hosts or worker_hosts or job_name:
    if place is not None:
      raise UserError('both %s and --ps_hosts, --worker_hosts or --job_name '
                      'describe the cluster: unset %s, or leave the flags '
                      'out' % (tf_config.VARIABLE, tf_config.VARIABLE))
    if not job_name:
      raise UserError('--job_name=ps or --job_name=worker is needed with '
                      '--ps_hosts and --worker_hosts')
    ps_hosts = _parse_hosts('ps_hosts', ps_hosts)
    worker_hosts = _parse_hosts('worker_hosts', worker_hosts)
    check_task(ps_hosts, worker_hosts, job_name, task_index)
    return tf_config.Place(ps_hosts, worker_hosts, job_name, task_index,
                           '%s %d' % (job_name, task_index), None)
  if place is None:
    return None
  if place.job_name == tf_config.EVALUATOR:
    raise UserError('%s makes this task the evaluator, which does not train: '
                    'run cifar10_eval.py --checkpoint_dir=TRAIN_DIR on it, '
                    'TRAIN_DIR the chief\'s --train_dir' % tf_config.VARIABLE)
  if not place.ps_hosts:
    raise UserError('%s has no ps task: cifar10_multi_gpu_train.py keeps the '
                    'variables on ps tasks; add one (a TFJob PS replica, a '
                    'Vertex AI parameter-server pool)' % tf_config.VARIABLE)
  return place
