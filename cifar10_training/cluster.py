"""Training across machines with TensorFlow's own distributed runtime (TF1).

Parameter-server (ps) tasks hold the variables; worker tasks run the model,
each with its own towers, and reach the variables over gRPC through
`tf.compat.v1.train.replica_device_setter`. Synchronous training (the
default) aggregates the gradients of all workers before each update with
`SyncReplicasOptimizer`; --nosync_replicas lets every worker update on its
own. Worker 0 is the chief: it initializes or restores the variables,
saves checkpoints and writes summaries.

The cluster comes from --ps_hosts, --worker_hosts, --job_name and
--task_index, or from the TF_CONFIG environment variable that cluster
managers set (tf_config.py; cluster_place.py chooses and checks). A
`Cluster` is the task's role in the training loop (training.LocalRole is
the single machine's): who initializes, how a task waits for the others,
retrying while one is unreachable, and (watchdog.py) ending the task when
one it needs stays gone.

A plain TF1 ps task serves forever. Here every ps task holds a "done"
queue; each worker, when it reaches --max_steps, puts a token into every
ps task's queue, and a ps task exits once it has one token per worker.
"""

import contextlib
import re
import socket
import threading
import time

from cifar10_lib import cluster_place
from cifar10_lib import devices
from cifar10_lib import watchdog
import tensorflow as tf

from cifar10_training import towers
from cifar10_lib.cli import UserError

# How often a waiting task looks again (for the chief's initialization).
POLL_SECS = 1.0

# Room for a token from every worker, restarted ones included.
_QUEUE_CAPACITY = 10000


def free_local_ports(count):
  """`count` TCP ports free on this machine now, to try a cluster locally.

  The tests and benchmarks start every task on 127.0.0.1 with these.
  """
  sockets = [socket.socket() for _ in range(count)]
  try:
    for s in sockets:
      s.bind(('127.0.0.1', 0))
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


class Cluster(object):
  """This task's place in the cluster, and what it must do there."""

  def __init__(self, ps_hosts, worker_hosts, job_name, task_index, sync=True,
               worker_warning_secs=60, worker_names=None, timeout_secs=120):
    """Args as the flags of the same names (timeout_secs:
    --cluster_timeout_secs); worker_names: what the lines call each
    worker (default 'worker N'; a cluster manager's 'chief')."""
    cluster_place.check_task(ps_hosts, worker_hosts, job_name, task_index)
    hosts = ps_hosts if job_name == 'ps' else worker_hosts
    self.spec = tf.train.ClusterSpec({'ps': ps_hosts, 'worker': worker_hosts})
    self.job_name = job_name
    self.task_index = task_index
    self.address = hosts[task_index]
    self.num_ps = len(ps_hosts)
    self.num_workers = len(worker_hosts)
    self.sync = sync
    self.worker_warning_secs = worker_warning_secs
    self.timeout_secs = timeout_secs
    self.worker_names = worker_names or [
        'worker %d' % i for i in range(len(worker_hosts))]
    self.is_chief = job_name == 'worker' and task_index == 0
    self.worker_device = '/job:worker/task:%d' % task_index
    self._sync_optimizer = None
    self._start_ops = None
    self._release_op = None
    self._done_ops = None
    self._others_finished = None
    self._stopping = threading.Event()
    self._updater = None
    self._watchdog = None
    self._step_counts = None
    self._count_op = None
    self._not_ready = None

  def start_server(self, config):
    """Starts this task's gRPC server; a port in use is one clear line.

    Args:
      config: the devices' options (devices.session_config): the
        server owns the devices, so its options decide GPU memory.
    """
    host, _, port = self.address.rpartition(':')
    with socket.socket() as probe:
      # As a server would: connections closing (TIME_WAIT) do not count.
      probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
      try:
        probe.bind(('127.0.0.1' if host == 'localhost' else host, int(port)))
      except OSError as e:
        raise UserError('cannot serve %s (%s/%d): %s; pick another port or '
                        'stop what uses it' %
                        (self.address, self.job_name, self.task_index,
                         e.strerror))
    config.experimental.coordination_config.force_disable = True
    return tf.distribute.Server(self.spec, job_name=self.job_name,
                                task_index=self.task_index, config=config)

  def session_config(self, config):
    """Lets a worker depend on the ps tasks and itself, not on other workers.

    TensorFlow's coordination service would also tie every task's fate to
    every other's (a killed worker cancels the chief's steps); TF1 training
    tolerates workers coming and going, so it is turned off.
    """
    config.device_filters.extend(['/job:ps', self.worker_device])
    config.experimental.coordination_config.force_disable = True
    return config

  def device_scope(self):
    """Places variables on the ps tasks, everything else on this worker."""
    return tf.compat.v1.device(tf.compat.v1.train.replica_device_setter(
        worker_device=self.worker_device, cluster=self.spec))

  def tower_device_fn(self, device):
    """A tower's device function: variables to the ps tasks."""
    return tf.compat.v1.train.replica_device_setter(worker_device=device,
                                                    cluster=self.spec)

  def deployment(self, devices):
    """The towers.Deployment of this worker's towers on `devices`."""
    return towers.Deployment(
        devices=tuple(self.worker_device + d for d in devices),
        device_function=self.tower_device_fn,
        variable_device=towers.VARIABLE_DEVICE,
        workers_per_update=self.num_workers if self.sync else 1,
        sync_replicas=self if self.sync else None)

  def sync_optimizer(self, optimizer, averages):
    """`optimizer` made synchronous: step.apply_gradients' sync_replicas.

    SyncReplicasOptimizer sums up the gradients of every worker, applies
    them once on the chief, and updates the weight averages (`averages`,
    or None) after that update, so that they advance once per global step
    as on one machine.
    """
    if averages is not None:
      averages = dict(variable_averages=averages,
                      variables_to_average=tf.compat.v1.trainable_variables())
    self._sync_optimizer = tf.compat.v1.train.SyncReplicasOptimizer(
        optimizer, replicas_to_aggregate=self.num_workers,
        total_num_replicas=self.num_workers, **(averages or {}))
    return self._sync_optimizer

  def _count_step(self):
    """Counts this worker's steps in a vector on ps task 0.

    The chief watches the counts to report workers that stopped. The
    vector is a local variable: checkpoints stay those of one machine.
    """
    with tf.device('/job:ps/task:0'):
      self._step_counts = tf.compat.v1.get_variable(
          'worker_step_counts', [self.num_workers], tf.int64,
          initializer=tf.compat.v1.zeros_initializer(), trainable=False,
          collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES])
      return tf.compat.v1.scatter_add(self._step_counts, [self.task_index],
                                      [1])

  def build_coordination_ops(self):
    """Builds the start-up and shut-down ops and the step counter; call
    before finalizing."""
    self._count_op = self._count_step()
    if self._sync_optimizer is not None:
      optimizer = self._sync_optimizer
      # Built for MonitoredTrainingSession, which this loop does not use.
      optimizer.ready_for_local_init_op.mark_used()
      if self.is_chief:
        self._start_ops = (optimizer.chief_init_op,
                           optimizer.get_init_tokens_op())
        # Spare tokens let a worker that waits for another update finish.
        self._release_op = optimizer.get_init_tokens_op(self.num_workers)
      else:
        self._start_ops = (optimizer.local_step_init_op,)
    self._done_ops = [_shared_queue('done_queue', i).enqueue(1)
                      for i in range(self.num_ps)]
    finished = _shared_queue('finished_workers', 0)
    if not self.is_chief:
      self._done_ops.append(finished.enqueue(1))
    elif self._release_op is not None:
      self._others_finished = finished.dequeue_many(self.num_workers - 1)
    if not self.is_chief:
      self._not_ready = tf.compat.v1.report_uninitialized_variables(
          tf.compat.v1.global_variables() + [self._step_counts])

  def start(self, sess):
    """Runs the synchronous optimizer's start-up on this worker."""
    if self.is_chief:
      sess.run(self._step_counts.initializer)
    if self._start_ops:
      sess.run(self._start_ops)
    if self._sync_optimizer is not None and self.is_chief:
      update = self._sync_optimizer.get_chief_queue_runner().enqueue_ops[0]
      self._updater = threading.Thread(target=self._run_updates,
                                       args=(sess, update), daemon=True)
      self._updater.start()

  def _run_updates(self, sess, update):
    """The chief's synchronous updates, one per aggregated step.

    SyncReplicasOptimizer's own QueueRunner closes the token queue at the
    first error, which stops training for good; a task that is briefly
    unreachable must not.
    """
    while not self._stopping.is_set():
      try:
        sess.run(update)
      except tf.errors.UnavailableError:
        time.sleep(POLL_SECS)
      except (tf.errors.CancelledError, tf.errors.OutOfRangeError,
              tf.errors.AbortedError, RuntimeError):
        return  # The session is closing.

  def finish(self, sess):
    """Releases waiting workers and tells every ps task this worker is done.

    In synchronous training the chief stays until the others are done: the
    last step of a worker still reaches into the chief's update, and would
    fail if the chief were gone.
    """
    if self._release_op is not None:
      sess.run(self._release_op)
      print('Waiting for the other workers to finish.', flush=True)
      sess.run(self._others_finished)
    self._stopping.set()
    self._stop_watchdog()  # The ps tasks may end now: no longer a fault.
    sess.run(self._done_ops)

  def _stop_watchdog(self):
    if self._watchdog is not None:
      self._watchdog.stop()

  def join(self):
    """Waits for the update thread, once the session is closed.

    A thread still inside a session run when the process exits aborts it.
    """
    self._stopping.set()
    self._stop_watchdog()
    if self._updater is not None:
      self._updater.join()

  def prepare_session(self, sess, restore, read_step):
    """The chief restores or initializes; the others wait for it.

    Returns:
      The global step training continues from.
    """
    self._start_watchdog()
    if self.is_chief:
      return self._retry(restore)
    self._retry(lambda: self._wait_for_chief(sess))
    return read_step()

  def run_step(self, sess, fetches, restart_input):
    """Runs one step and counts it, again while another task is briefly
    unreachable."""
    return self._retry(lambda: sess.run([fetches, self._count_op])[0],
                       restart_input)

  def _retry(self, run, recover=None):
    """retry_while_unavailable for this cluster's tasks."""
    return retry_while_unavailable(run, recover, self.timeout_secs,
                                   self.task_named_in)

  def task_named_in(self, message):
    """'ps 0 (host:port)': the task an error message of TensorFlow's
    names, by its device (/job:ps/replica:0/task:0) or its address;
    'a task' where it names none."""
    match = re.search(r'/job:(ps|worker)/replica:\d+/task:(\d+)', message)
    tasks = [(job, i) for job in ('ps', 'worker')
             for i in range(self.spec.num_tasks(job))]
    if match and (match.group(1), int(match.group(2))) in tasks:
      return self.task_name(match.group(1), int(match.group(2)))
    for job, i in tasks:
      if self.spec.task_address(job, i) in message:
        return self.task_name(job, i)
    return 'a task'

  def task_name(self, job, index):
    """'ps 0 (host:port)', 'chief (host:port)': a task in words."""
    name = self.worker_names[index] if job == 'worker' else 'ps %d' % index
    return '%s (%s)' % (name, self.spec.task_address(job, index))

  def _start_watchdog(self):
    """Watches the tasks this one cannot go on without: the ps tasks and,
    for the other workers, the chief (which makes every synchronous
    update)."""
    needed = [('ps', i) for i in range(self.num_ps)]
    if not self.is_chief:
      needed.append(('worker', 0))
    self._watchdog = watchdog.Watchdog(
        {self.task_name(job, i): self.spec.task_address(job, i)
         for job, i in needed}, self.timeout_secs, self._say_waiting)
    self._watchdog.start()

  def _say_waiting(self, task):
    print('Waiting for the cluster\'s %s, which does not answer; trying for '
          'up to %d s.' % (task, self.timeout_secs), flush=True)

  def _wait_for_chief(self, sess):
    """Blocks until the chief has initialized or restored every variable."""
    said = False
    while len(sess.run(self._not_ready)):
      if not said:
        print('Waiting for the chief (%s) to initialize the model.' %
              self.worker_names[0], flush=True)
        said = True
      time.sleep(POLL_SECS)

  @contextlib.contextmanager
  def watching(self, sess):
    """On the chief, reports workers that made no step for a while.

    In synchronous training the other workers' gradients fill the missing
    worker's place in each update, so training goes on; without this,
    nobody would notice.
    """
    if not self.is_chief:
      yield
      return
    stopped = threading.Event()
    seconds = self.worker_warning_secs

    def watch():
      last = sess.run(self._step_counts)
      while not stopped.wait(seconds):
        counts = sess.run(self._step_counts)
        for i in range(self.num_workers):
          if counts[i] == last[i]:
            print('WARNING: %s (%s) made no step in the last %d s; is it '
                  'running?' % (self.worker_names[i],
                                self.spec.task_address('worker', i), seconds),
                  flush=True)
        last = counts

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
      yield
    finally:
      stopped.set()
      thread.join()


def retry_while_unavailable(run, recover=None, seconds=120, name_of=None):
  """Calls `run`, again while another task of the cluster is unreachable.

  Tasks start in any order and may be restarted; a server that is not
  listening (yet, or again) makes ops fail with UnavailableError rather than
  wait. (Saying that it waits is the watchdog's part.)

  Args:
    run: the function to call.
    recover: if given, called before each new try.
    seconds: how long to keep trying.
    name_of: function (error message) -> the unreachable task, in words
      ('ps 0 (host:port)'); by default 'another task'.

  Raises:
    UserError: the task stayed unreachable for `seconds`: one line that
      names it.
  """
  deadline = time.time() + seconds
  failed = False
  while True:
    try:
      if failed and recover:
        recover()
      return run()
    except tf.errors.UnavailableError as e:
      if time.time() > deadline:
        task = name_of(e.message) if name_of else 'another task'
        raise UserError(watchdog.unreachable_line(
            task, seconds, ' '.join(e.message.split())[:200]))
      failed = True
      time.sleep(1)


def _shared_queue(name, ps_index):
  """A queue of tokens on ps task `ps_index`, one for all tasks.

  Every task's graph builds it; the shared name makes them one queue in the
  ps task's server. Workers put a token into each ps task's 'done_queue'
  when they finish, so that the ps tasks know when to exit; non-chief
  workers also put one into 'finished_workers', which the chief of
  synchronous training waits for.
  """
  with tf.device('/job:ps/task:%d' % ps_index):
    return tf.queue.FIFOQueue(_QUEUE_CAPACITY, tf.int32, shapes=[[]],
                              shared_name='%s_%d' % (name, ps_index),
                              name='%s_%d' % (name, ps_index))


def run_ps(cluster):
  """Serves the variables until every worker has said it is done.

  Returns:
    The exit status, 0.
  """
  # The variables live on the CPU: a ps task that saw a GPU would only
  # take memory from the worker beside it.
  server = cluster.start_server(
      devices.session_config(use_gpu=False))
  print('ps task %d serving at %s; waiting for %d workers.' %
        (cluster.task_index, cluster.address, cluster.num_workers),
        flush=True)
  with tf.Graph().as_default():
    dequeue = _shared_queue('done_queue', cluster.task_index).dequeue()
    with tf.compat.v1.Session(server.target) as sess:
      for done in range(1, cluster.num_workers + 1):
        sess.run(dequeue)
        print('ps task %d: %d of %d workers done.' %
              (cluster.task_index, done, cluster.num_workers), flush=True)
  return 0
