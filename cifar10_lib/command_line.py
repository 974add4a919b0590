"""Every flag of the scripts, declared once, and read before TensorFlow loads.

A script declares the groups of flags it takes (`define`) and adopts this
module's flags as its key flags, so `--help` shows them and a flag of
another script is an unknown flag, as in the tutorial. Then, first of all,
it parses its command line with absl's own parser (`parse`) and checks its
paths and its training folder (the `check_*_from_flags` functions): a
mistake is one line at once, not after TensorFlow's 5-20 s start, and
before anything is written. absl.app.run later takes these parsed flags
as they are (cli.run).

Flags whose default depends on the model (--batch_size, --max_steps,
--model) default to None, and their help says what None means; the loop's
options.py turns them into arguments. This module imports no TensorFlow.
"""

import os
import sys

from absl import app
from absl import flags

from cifar10_lib import cluster_place
from cifar10_lib import folder_lock
from cifar10_lib import paths
from cifar10_lib.errors import fail
from cifar10_lib.errors import UserError

FLAGS = flags.FLAGS

# The groups of flags a script can take.
DATA = 'data'
DEVICES = 'devices'
MODEL = 'model'
TRAINING = 'training'
CLUSTER = 'cluster'
TOWERS = 'towers'
EVAL = 'eval'
PREDICT = 'predict'
INFERENCE = 'inference'

# The flags that make a trainer a task of a cluster (cifar10_train.py
# refuses them).
CLUSTER_FLAGS = ('ps_hosts', 'worker_hosts', 'job_name')


def _define_data():
  """The flags of the tutorial's cifar10.py: data, batch, checkpoints."""
  flags.DEFINE_integer('batch_size', None, 'Number of images to process in a '
                       'batch (per tower). Default: the recipe\'s when '
                       'training: 128 for the tutorial, 1024 for airbench94; '
                       '128 when evaluating.', lower_bound=1)
  flags.DEFINE_string('data_dir', paths.PATH_FLAGS['data_dir'][1],
                      'Path to the data directory: CIFAR-10\'s binary files '
                      'are read from DATA_DIR/cifar-10-batches-bin/, '
                      'CIFAR-100\'s from DATA_DIR/cifar-100-binary/.')
  flags.DEFINE_string('dataset', None, 'The data set: cifar10, cifar100 '
                      '(100 classes), cifar100_coarse (its 20 superclasses), '
                      'folder (your images: DATA_DIR/train/CLASS/* and '
                      'optionally DATA_DIR/test/CLASS/*). Default: the one '
                      'a --train_dir or --checkpoint_dir recorded; else '
                      'cifar10.')
  flags.DEFINE_integer('image_size', 32, '--dataset=folder: the images\' '
                       'height and width once converted (the shorter side '
                       'resized, the centre cropped), 8 to 512.')
  flags.DEFINE_float('test_fraction', 0.1, '--dataset=folder without a '
                     'test/ folder: the share of each class held out for '
                     'evaluation.')
  flags.DEFINE_string('cache_dir', None, '--dataset=folder: where the '
                      'converted images are kept. Default: '
                      '$XDG_CACHE_HOME/cifar10-tf or ~/.cache/cifar10-tf.')
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
  flags.DEFINE_string('data_url', None, 'Where to download the data set\'s '
                      'binary archive (cifar-10-binary.tar.gz) from '
                      '(default: the official CIFAR site); any URL urllib '
                      'opens, e.g. a mirror or a file:// path.')


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
  flags.DEFINE_string('model', None,
                      'Which network to train, evaluate or use: tutorial '
                      'or one of the zoo (README.md lists them). Default: '
                      'the one the folder holds; in a new folder, tutorial.')
  flags.DEFINE_float('epochs', None, 'Train this many epochs (default: the '
                     'model\'s recipe; the tutorial\'s model uses '
                     '--max_steps).')
  flags.DEFINE_float('learning_rate', None, 'The peak learning rate of a '
                     'zoo model\'s recipe. Default: the recipe\'s.')
  for name in ('epochs', 'learning_rate'):
    flags.register_validator(name, lambda value: value is None or value > 0,
                             message='--%s must be above 0' % name)
  flags.DEFINE_float('weight_decay', None, 'The L2 weight decay of a zoo '
                     'model\'s recipe. Default: the recipe\'s.',
                     lower_bound=0.0)
  flags.DEFINE_float('label_smoothing', None, 'The share of each training '
                     'target that a zoo model\'s recipe spreads over all '
                     'classes (0: none). Default: the recipe\'s.',
                     lower_bound=0.0, upper_bound=0.5)


def _define_training():
  flags.DEFINE_string('train_dir', paths.PATH_FLAGS['train_dir'][1],
                      'Directory where to write event logs and checkpoints; '
                      'training resumes from the newest checkpoint there.')
  flags.DEFINE_integer('max_steps', None,
                       'Number of batches to run. Default: the recipe\'s '
                       'epochs in steps: 476 for airbench94; 1000000 for '
                       'the tutorial, whose recipe has no epochs.',
                       lower_bound=1)
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
                      'the parameter-server tasks. Unset: one machine, or '
                      'the cluster TF_CONFIG describes.')
  flags.DEFINE_string('worker_hosts', None, 'Comma-separated host:port list '
                      'of the worker tasks. Unset: one machine, or the '
                      'cluster TF_CONFIG describes.')
  flags.DEFINE_enum('job_name', None, ['ps', 'worker'],
                    'This task\'s job: ps or worker. Unset: one machine, or '
                    'the task TF_CONFIG describes.')
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


def _define_towers():
  flags.DEFINE_integer('num_gpus', 1, 'How many GPUs (towers) to use.',
                       lower_bound=1)


def _define_eval():
  flags.DEFINE_string('eval_dir', paths.PATH_FLAGS['eval_dir'][1],
                      'Directory where to write event logs.')
  flags.DEFINE_enum('eval_data', 'test', ['test', 'train_eval'],
                    "Which data to evaluate: 'test' (test_batch.bin) or "
                    "'train_eval' (the training files).")
  flags.DEFINE_integer('eval_interval_secs', 300,
                       'How often to look for a new checkpoint, in seconds.',
                       lower_bound=0)
  flags.DEFINE_integer('num_examples', None, 'Number of examples to run. '
                       'Default: all of --eval_data (10000 for CIFAR-10\'s '
                       'test set, the tutorial\'s).', lower_bound=1)
  flags.DEFINE_boolean('run_once', False,
                       'Whether to run eval only once.')
  flags.DEFINE_boolean('per_class', True,
                       'After the precision line, print the precision of each '
                       'class and the confusion matrix; --noper_class prints '
                       'the tutorial\'s single line.')
  flags.DEFINE_string('results_file', None,
                      'Also write each evaluation\'s results (checkpoint, '
                      'step, precision, per class, confusion matrix) to this '
                      'JSON file, replaced atomically. Unset: no file.')


def _define_inference():
  """The flags of eval and predict: the test-time views, a .tflite."""
  flags.DEFINE_boolean('tta', True,
                       'For a model whose recipe has test-time views '
                       '(airbench94): classify each image by their weighted '
                       'logits, and report the plain view too; --notta: the '
                       'plain view alone.')
  flags.DEFINE_string('tflite', None, 'A TensorFlow Lite file. Eval: '
                      'evaluate it instead of a checkpoint. Predict: with '
                      'image files, classify them with it; without, write '
                      'the newest checkpoint\'s model into this new file '
                      '(and FILE.json beside it). Unset: checkpoints.')


def _define_predict():
  flags.DEFINE_integer('top_k', 3, 'How many classes to print for each file '
                       '(at most the number of classes).', lower_bound=1)
  flags.DEFINE_string('export_dir', None, 'Write a SavedModel for serving into '
                      'this new folder. Unset: no SavedModel.')
  flags.DEFINE_enum('quantize', 'none', ['none', 'float16', 'int8'],
                    'How --tflite stores the model: float32, float16 '
                    'weights, or full-integer int8 (uint8 input).')
  flags.DEFINE_integer('calibration_images', 500, '--quantize=int8: how '
                       'many training images calibrate the quantization.')


_DEFINERS = {DATA: _define_data, DEVICES: _define_devices,
             MODEL: _define_model, TRAINING: _define_training,
             CLUSTER: _define_cluster, TOWERS: _define_towers,
             EVAL: _define_eval, PREDICT: _define_predict,
             INFERENCE: _define_inference}
_defined = set()


def define(*groups):
  """Declares the flags of `groups`, once per process however often asked.

  The script then adopts this module's key flags
  (flags.adopt_module_key_flags), so that its --help shows them.
  """
  for group in groups:
    if group not in _defined:
      _DEFINERS[group]()
      _defined.add(group)


_arguments = []


def _flags_error(message):
  """Ends the process as absl.app.run does at a bad flag."""
  sys.stderr.write('FATAL Flags parsing error: %s\n' % message)
  sys.stderr.write('Pass --helpshort or --helpfull to see help on flags.\n')
  sys.exit(1)


def parse(argv, check, other_scripts_flags=None):
  """Parses `argv` with absl's parser, once, and makes the script's first
  checks: --help prints and exits, a bad flag is absl's one line (a flag of
  another script says whose it is), then `check` runs.

  Args:
    argv: the command line, sys.argv.
    check: the script's check_*_from_flags function, or None.
    other_scripts_flags: {flag name: script} of flags that other scripts
      take and users give this one by mistake.

  Returns:
    The arguments that are not flags, argv[0] first.
  """
  app.define_help_flags()
  try:
    _arguments[:] = FLAGS(argv)
  except flags.UnrecognizedFlagError as e:
    script = (other_scripts_flags or {}).get(e.flagname)
    if script:
      fail('--%s is a flag of %s, not of %s: run python %s %s with the '
           'other flags' % (e.flagname, script, os.path.basename(argv[0]),
                            script, e.flagvalue or '--' + e.flagname))
    _flags_error(e)
  except flags.Error as e:
    _flags_error(e)
  if check:
    check()
  return list(_arguments)


def parsed_arguments(argv):
  """The arguments `parse` left; parses `argv` if nothing was parsed yet.
  For absl.app.run's flags_parser."""
  return list(_arguments) if FLAGS.is_parsed() else parse(argv, None)


def onednn_from_flags():
  """Whether TensorFlow's oneDNN kernels should be on for this command
  line: yes unless it asks for float16 (--use_fp16), which they run far
  slower than TensorFlow's own kernels; yes if nothing was parsed (the
  library used from Python)."""
  return not (FLAGS.is_parsed() and 'use_fp16' in FLAGS and FLAGS.use_fp16)


def _check_paths(names, missing_ok=()):
  """Checks the path flags `names` as paths.check does, or exits with the
  one line of the first problem."""
  for name in names:
    paths.check_flag(name, FLAGS[name].value, name in missing_ok)


def check_trainer_from_flags():
  """cifar10_train.py's first checks: no cluster flags (it trains on one
  device), --data_dir and --train_dir, then its lock on --train_dir."""
  if any(FLAGS[name].value for name in CLUSTER_FLAGS):
    fail('cluster flags are for cifar10_multi_gpu_train.py; '
         'cifar10_train.py trains on one device')
  _check_trainer_paths()
  folder_lock.lock_existing(FLAGS.train_dir)


def check_multi_gpu_trainer_from_flags():
  """cifar10_multi_gpu_train.py's first checks: --data_dir and
  --train_dir; then, on a cluster, this task's place (it locks the folder
  once it knows it is the chief), else its lock on --train_dir."""
  _check_trainer_paths()
  try:
    place = cluster_place.from_flags(FLAGS.ps_hosts, FLAGS.worker_hosts,
                                     FLAGS.job_name, FLAGS.task_index)
  except UserError as e:
    fail(str(e))
  if place is None:
    folder_lock.lock_existing(FLAGS.train_dir)


def _check_trainer_paths():
  _check_paths(['data_dir', 'train_dir'],
               ['data_dir'] if FLAGS.download else [])


def check_eval_from_flags():
  """Evaluation's first checks: its data, checkpoint folder (which it may
  wait for, unless --run_once; none for a --tflite), event folder and
  results file."""
  _check_paths(['data_dir', 'eval_dir', 'results_file'] +
               ([] if FLAGS.tflite else ['checkpoint_dir']),
               (['data_dir'] if FLAGS.download else []) +
               ([] if FLAGS.run_once else ['checkpoint_dir']))


def check_predict_from_flags():
  """Prediction's first checks: its checkpoint folder (none to classify
  with a --tflite) and export folder."""
  classifies_with_tflite = FLAGS.tflite and len(_arguments) > 1
  _check_paths(['export_dir'] +
               ([] if classifies_with_tflite else ['checkpoint_dir']))
