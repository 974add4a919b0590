"""The command line's edge: the shared flags, and what they mean in arguments.

Each flag is declared once, here or (a script's own) in its script, and
validated by absl. A script declares the groups it takes (`define`) and
adopts them as its key flags, so `--help` shows them and a flag of another
script is an unknown flag, as in the tutorial. The `*_from_flags`
functions below and the scripts' `main` functions are the only code that
reads FLAGS: every library function takes arguments, so the library runs
from Python (a notebook, a test, another program) without a command line.
"""


from absl import flags

import cifar10_models
from cifar10_lib import paths
from cifar10_lib import tf_config
from cifar10_training import cluster
from cifar10_lib import devices
from cifar10_training import training
from cifar10_lib.cli import UserError

FLAGS = flags.FLAGS

# The groups of flags a script can take.
DATA = 'data'
DEVICES = 'devices'
MODEL = 'model'
TRAINING = 'training'
CLUSTER = 'cluster'

# The zoo's recipe fields that flags of the same name override.
OVERRIDE_FLAGS = ('epochs', 'learning_rate', 'weight_decay', 'label_smoothing')


def _define_data():
  """The flags of the tutorial's cifar10.py: data, batch, checkpoints."""
  flags.DEFINE_integer('batch_size', 128, 'Number of images to process in a '
                       'batch.', lower_bound=1)
  flags.DEFINE_string('data_dir', paths.PATH_FLAGS['data_dir'][1],
                      'Path to the CIFAR-10 data directory: the binary files '
                      'are read from DATA_DIR/cifar-10-batches-bin/.')
  flags.DEFINE_boolean('download', True, 'Download and extract the data set '
                       'into --data_dir when it is not there yet.')
  flags.DEFINE_string('checkpoint_dir', paths.PATH_FLAGS['checkpoint_dir'][1],
                      'Directory where to read model checkpoints (evaluation '
                      'and prediction).')
  flags.DEFINE_boolean('use_fp16', False, 'Train the model using fp16: '
                       'variables and activations in float16, as in the '
                       'tutorial. CPUs have no float16 arithmetic, so it is '
                       'slower there (README.md has the figures); evaluate '
                       'and predict with the same flag.')
  flags.DEFINE_string('data_url', None, 'Where to download '
                      'cifar-10-binary.tar.gz from (default: the official '
                      'CIFAR-10 site); any URL urllib opens, e.g. a mirror '
                      'or a file:// path.')


def _define_devices():
  flags.DEFINE_float('gpu_memory_fraction', None, 'At most this fraction '
                     '(0 < f <= 1) of each GPU\'s memory for this process. '
                     'Unset: memory is taken as needed, without a cap.')
  flags.register_validator(
      'gpu_memory_fraction', lambda f: f is None or 0 < f <= 1,
      message='--gpu_memory_fraction must be above 0 and at most 1')
  flags.DEFINE_boolean('use_gpu', True, 'Whether to use GPUs at all; '
                       '--nouse_gpu keeps the whole run on the CPU, e.g. '
                       'evaluation beside training on a full GPU.')


def _define_model():
  flags.DEFINE_enum('model', cifar10_models.DEFAULT_MODEL,
                    list(cifar10_models.MODELS),
                    'Which network to train, evaluate or use: the '
                    'tutorial\'s or one of the zoo (README.md lists them). '
                    'Eval and predict read it from the checkpoint folder '
                    'when unset.')
  flags.DEFINE_float('epochs', None, 'Train this many epochs (default: the '
                     'model\'s recipe; the tutorial\'s model uses '
                     '--max_steps).')
  flags.DEFINE_float('learning_rate', None, 'The peak learning rate of a '
                     'zoo model\'s recipe.')
  for name in ('epochs', 'learning_rate'):
    flags.register_validator(name, lambda value: value is None or value > 0,
                             message='--%s must be above 0' % name)
  flags.DEFINE_float('weight_decay', None, 'The L2 weight decay of a zoo '
                     'model\'s recipe.', lower_bound=0.0)
  flags.DEFINE_float('label_smoothing', None, 'The share of each training '
                     'target that a zoo model\'s recipe spreads over all '
                     'classes (0: none).', lower_bound=0.0, upper_bound=0.5)


def _define_training():
  flags.DEFINE_string('train_dir', paths.PATH_FLAGS['train_dir'][1],
                      'Directory where to write event logs and checkpoints; '
                      'training resumes from the newest checkpoint there.')
  flags.DEFINE_integer('max_steps', training.DEFAULT_MAX_STEPS,
                       'Number of batches to run.', lower_bound=1)
  flags.DEFINE_boolean('log_device_placement', False,
                       'Whether to log device placement.')
  flags.DEFINE_integer('log_frequency', 10,
                       'How often (in steps) to log results to the console.',
                       lower_bound=1)
  flags.DEFINE_integer('save_checkpoint_secs', 600,
                       'Save a checkpoint every this many seconds; 0: never '
                       'by time.', lower_bound=0)
  flags.DEFINE_integer('save_checkpoint_steps', 0,
                       'Save a checkpoint every this many steps; 0: never by '
                       'step count.', lower_bound=0)
  flags.DEFINE_integer('keep_checkpoint_max', 5,
                       'How many of the newest checkpoints to keep.',
                       lower_bound=1)
  flags.DEFINE_integer('summary_steps', 100,
                       'Write summaries every this many steps; 0: never.',
                       lower_bound=0)
  flags.DEFINE_boolean('bf16', False,
                       'Mixed precision on CPUs: let oneDNN run convolutions '
                       'and matrix products in bfloat16, variables staying '
                       'float32. About 1.8x faster where the CPU has '
                       'AVX512_BF16 or AMX, slower where it has not; changes '
                       'results slightly (README.md has the figures).')
  flags.DEFINE_integer('seed', None,
                       'Seed of the initial weights, the shuffling and the '
                       'distortions: the same seed gives the same loss curve '
                       'on one device. Unset: a new seed each run, printed '
                       'at the start.', lower_bound=0,
                       upper_bound=2 ** 31 - 1)


def _define_cluster():
  flags.DEFINE_string('ps_hosts', None, 'Comma-separated host:port list of '
                      'the parameter-server tasks.')
  flags.DEFINE_string('worker_hosts', None, 'Comma-separated host:port list '
                      'of the worker tasks.')
  flags.DEFINE_enum('job_name', None, ['ps', 'worker'],
                    'This task\'s job: ps or worker.')
  flags.DEFINE_integer('task_index', 0, 'This task\'s index within its job.',
                       lower_bound=0)
  flags.DEFINE_boolean('sync_replicas', True, 'Aggregate the gradients of all '
                       'workers before each update (synchronous training); '
                       'with --nosync_replicas each worker updates on its '
                       'own.')
  flags.DEFINE_integer('worker_warning_secs', 60, 'The chief warns when a '
                       'worker made no step for this long.', lower_bound=1)
  flags.DEFINE_integer('cluster_timeout_secs', 120, 'A task stops, with a '
                       'line naming the task it cannot reach, once another '
                       'task stayed unreachable this long.', lower_bound=1)


_DEFINERS = {DATA: _define_data, DEVICES: _define_devices,
             MODEL: _define_model, TRAINING: _define_training,
             CLUSTER: _define_cluster}
_defined = set()


def define(*groups):
  """Declares the flags of `groups` (once per process, however often asked)
  and makes them key flags of this module, which scripts adopt."""
  for group in groups:
    if group not in _defined:
      _DEFINERS[group]()
      _defined.add(group)


def session_config_from_flags(cpu_devices=1):
  """devices.session_config as --gpu_memory_fraction and --use_gpu set it."""
  return devices.session_config(FLAGS.gpu_memory_fraction, FLAGS.use_gpu,
                                cpu_devices)


def training_session_config_from_flags(cpu_devices=1):
  """The trainers' session options: devices, --log_device_placement, --bf16.

  --bf16 first says what it will do on this CPU.
  """
  config = devices.session_config(
      FLAGS.gpu_memory_fraction, FLAGS.use_gpu, cpu_devices,
      FLAGS.log_device_placement)
  if FLAGS.bf16:
    print(devices.bf16_plan(), flush=True)
    devices.use_bf16(config)
  fp16_plan = devices.fp16_plan(FLAGS.use_gpu) if FLAGS.use_fp16 else None
  if fp16_plan:
    print(fp16_plan, flush=True)
  return config


def model_from_flags():
  """What the flags ask for: (--model if given, else None; the recipe
  fields that flags given explicitly set)."""
  name = FLAGS.model if FLAGS['model'].present else None
  return name, {field: FLAGS[field].value for field in OVERRIDE_FLAGS
                if FLAGS[field].present}


def plan_from_flags(towers=1, workers_per_update=1):
  """The training.Plan that the flags and --train_dir ask for.

  --batch_size and --max_steps count only when given explicitly: otherwise
  the recipe's (see training.make_plan).
  """
  name, overrides = model_from_flags()
  return training.make_plan(
      FLAGS.train_dir, name, overrides, FLAGS.use_fp16,
      batch_size=FLAGS.batch_size if FLAGS['batch_size'].present else None,
      max_steps=FLAGS.max_steps if FLAGS['max_steps'].present else None,
      towers=towers, workers_per_update=workers_per_update)


def loop_options_from_flags():
  """The training.LoopOptions of the training flags."""
  return training.LoopOptions(
      train_dir=FLAGS.train_dir, data_dir=FLAGS.data_dir, seed=FLAGS.seed,
      log_frequency=FLAGS.log_frequency, summary_steps=FLAGS.summary_steps,
      save_checkpoint_secs=FLAGS.save_checkpoint_secs,
      save_checkpoint_steps=FLAGS.save_checkpoint_steps,
      keep_checkpoint_max=FLAGS.keep_checkpoint_max)


def cluster_from_flags():
  """The cluster.Cluster the flags or TF_CONFIG describe; None: one machine.

  Raises:
    UserError: the flags or TF_CONFIG are incomplete, or TF_CONFIG makes
      this task one that does not train (the evaluator).
  """
  kwargs = dict(sync=FLAGS.sync_replicas,
                worker_warning_secs=FLAGS.worker_warning_secs,
                timeout_secs=FLAGS.cluster_timeout_secs)
  if FLAGS.ps_hosts or FLAGS.worker_hosts or FLAGS.job_name:
    if not FLAGS.job_name:
      raise UserError('--job_name=ps or --job_name=worker is needed with '
                      '--ps_hosts and --worker_hosts')
    return cluster.Cluster.from_host_lists(
        FLAGS.ps_hosts, FLAGS.worker_hosts, FLAGS.job_name, FLAGS.task_index,
        **kwargs)
  place = tf_config.from_environment()
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
  return cluster.Cluster(place.ps_hosts, place.worker_hosts, place.job_name,
                         place.task_index, worker_names=place.worker_names,
                         **kwargs)
