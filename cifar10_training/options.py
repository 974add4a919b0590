"""The command line's edge: what the flags mean in arguments.

The flags are declared in cifar10_lib/command_line.py, which imports no
TensorFlow, so that the scripts parse and check them before it loads. The
`*_from_flags` functions below and the scripts' `main` functions are the
only code that reads FLAGS: every library function takes arguments, so the
library runs from Python (a notebook, a test, another program) without a
command line.
"""

from absl import flags

import cifar10_models
from cifar10_datasets import folder
from cifar10_lib import cluster_place
from cifar10_lib import devices
from cifar10_lib import download
from cifar10_lib import precision
from cifar10_lib.cli import UserError
from cifar10_models import model_file
from cifar10_training import cluster
from cifar10_training import training

FLAGS = flags.FLAGS

# The zoo's recipe fields that flags of the same name override.
OVERRIDE_FLAGS = ('epochs', 'learning_rate', 'weight_decay', 'label_smoothing')


def session_config_from_flags(cpu_devices=1):
  """devices.session_config as --gpu_memory_fraction and --use_gpu set it."""
  return devices.session_config(FLAGS.gpu_memory_fraction, FLAGS.use_gpu,
                                cpu_devices)


def training_session_config_from_flags(cpu_devices=1):
  """The trainers' session options: devices, --log_device_placement, --bf16.

  --bf16, and --use_fp16 on a CPU, first say what they do on this CPU, as
  precision.py measures it.
  """
  config = devices.session_config(
      FLAGS.gpu_memory_fraction, FLAGS.use_gpu, cpu_devices,
      FLAGS.log_device_placement)
  if FLAGS.bf16:
    print(precision.bf16_plan(precision.speed_ratio('bfloat16')
                              if devices.onednn_enabled() else None),
          flush=True)
    devices.use_bf16(config)
  if FLAGS.use_fp16 and not (FLAGS.use_gpu and devices.gpus()):
    print(precision.fp16_plan(precision.speed_ratio('float16')), flush=True)
  return config


def model_from_flags():
  """What the flags ask for: (--model, or None for the folder's; the recipe
  fields that flags set).

  Raises:
    UserError: --model names no model.
  """
  if FLAGS.model is not None and FLAGS.model not in cifar10_models.MODELS:
    raise UserError('--model=%s: value should be one of <%s>' %
                    (FLAGS.model, '|'.join(cifar10_models.MODELS)))
  return FLAGS.model, {field: FLAGS[field].value for field in OVERRIDE_FLAGS
                       if FLAGS[field].value is not None}


def folder_settings_from_flags():
  """The image folder's conversion (--image_size, --test_fraction,
  --cache_dir)."""
  return folder.Settings(FLAGS.image_size, FLAGS.test_fraction,
                         folder.DEFAULT_SPLIT_SEED, FLAGS.cache_dir)


def dataset_from_flags(directory, training):
  """The records.Dataset of --dataset, or of the folder `directory` (see
  model_file.resolve_dataset), its files fetched (--download) and checked.
  """
  dataset = model_file.resolve_dataset(directory, FLAGS.dataset, training,
                                       FLAGS.data_dir,
                                       folder_settings_from_flags())
  download.prepare_data(dataset, FLAGS.data_dir,
                        None if training else FLAGS.eval_data,
                        FLAGS.download, FLAGS.data_url)
  return dataset


def plan_from_flags(towers=1, workers_per_update=1):
  """The training.Plan that the flags and --train_dir ask for, once the
  data set's files are there and checked.

  --batch_size and --max_steps default to the recipe's (see
  training.make_plan).
  """
  name, overrides = model_from_flags()
  dataset = dataset_from_flags(FLAGS.train_dir, training=True)
  return training.make_plan(
      FLAGS.train_dir, name, overrides, FLAGS.use_fp16,
      batch_size=FLAGS.batch_size, max_steps=FLAGS.max_steps, towers=towers,
      workers_per_update=workers_per_update, dataset=dataset,
      data_dir=FLAGS.data_dir)


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
    UserError: as cluster_place.from_flags.
  """
  place = cluster_place.from_flags(FLAGS.ps_hosts, FLAGS.worker_hosts,
                                   FLAGS.job_name, FLAGS.task_index)
  if place is None:
    return None
  return cluster.Cluster(place.ps_hosts, place.worker_hosts, place.job_name,
                         place.task_index, sync=FLAGS.sync_replicas,
                         worker_warning_secs=FLAGS.worker_warning_secs,
                         worker_names=place.worker_names,
                         timeout_secs=FLAGS.cluster_timeout_secs)
