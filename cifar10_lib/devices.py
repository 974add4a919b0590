"""How TensorFlow uses this machine's devices.

CPUs: oneDNN on. GPUs: memory taken as needed, so that evaluation and
prediction can run beside training on one GPU.

TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512;
on AVX2-only CPUs (AMD EPYCs among them) it leaves them off, and this
model then trains about 1.5x slower (docs/MEASUREMENTS.md).
TensorFlow reads the setting once, when it is imported, so every entry
point (the scripts, bench/'s programs, the tests' conftest) calls
`set_tensorflow_options` before anything imports TensorFlow; this module
imports no TensorFlow at its top. A value the user has set,
TF_ENABLE_ONEDNN_OPTS=0 or 1, is kept as it is.

It also tells what the CPU has, for the start lines of --bf16 and
--use_fp16 (precision.py) and for bench/speed.py.

On a GPU, TensorFlow's default is to take all of its memory for the first
process that asks, and a second one (evaluation beside training) then
fails with out-of-memory errors (tensorflow/tensorflow#3852). Every
script's session is made with `session_config`, which lets each process
take memory as it needs it, up to --gpu_memory_fraction if given.
"""

import logging
import os
import platform

ONEDNN_VARIABLE = 'TF_ENABLE_ONEDNN_OPTS'

# The instruction sets that decide this model's speed: (name, the flag of
# /proc/cpuinfo that shows it).
INSTRUCTION_SETS = (('AVX2', 'avx2'), ('AVX-512', 'avx512f'),
                    ('AVX512_BF16', 'avx512_bf16'), ('AMX', 'amx_bf16'))
# Either of these runs bfloat16 arithmetic natively.
BFLOAT16_SETS = ('AVX512_BF16', 'AMX')


def set_tensorflow_options(onednn=True):
  """Turns TensorFlow's oneDNN kernels on (off if not `onednn`) unless the
  user chose, and keeps only the errors of TensorFlow's Python logger.

  Call it before TensorFlow is imported: TensorFlow reads the oneDNN
  setting then, once. Off is for float16 (--use_fp16): oneDNN's float16
  kernels are far slower on CPUs than TensorFlow's own
  (docs/MEASUREMENTS.md). The logger repeats what the project's own lines
  say ("Restoring parameters from ...") and warns that the TF1 APIs this
  tutorial teaches are deprecated; a filter, unlike a level, stays when
  TensorFlow sets the logger up in an interactive session.
  """
  os.environ.setdefault(ONEDNN_VARIABLE, '1' if onednn else '0')
  logging.getLogger('tensorflow').addFilter(_errors_only)


def _errors_only(record):
  return record.levelno >= logging.ERROR


def _cpuinfo():
  """(model name, set of flags) of the first CPU in /proc/cpuinfo.

  Off Linux: platform's processor name and no flags.
  """
  model, flags = platform.processor() or 'unknown CPU', set()
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        key, _, value = line.partition(':')
        key = key.strip()
        if key == 'model name':
          model = value.strip()
        elif key == 'flags':
          flags = set(value.split())
          break
  except OSError:
    pass
  return model, flags


def cpu_model():
  """The CPU's model name, as lscpu shows it."""
  return _cpuinfo()[0]


def instruction_sets():
  """The names of INSTRUCTION_SETS that this CPU has, in that order."""
  flags = _cpuinfo()[1]
  return [name for name, flag in INSTRUCTION_SETS if flag in flags]


def has_native_bfloat16():
  """Whether the CPU computes in bfloat16 itself (AVX512_BF16 or AMX)."""
  return any(name in BFLOAT16_SETS for name in instruction_sets())


def onednn_enabled():
  """Whether the TensorFlow imported in this process uses oneDNN."""
  from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-import-not-at-top
  return bool(_pywrap_util_port.IsMklEnabled())


def gpus():
  """How many GPUs TensorFlow sees."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return len(tf.config.list_physical_devices('GPU'))


def session_config(gpu_memory_fraction=None, use_gpu=True, cpu_devices=1,
                   log_device_placement=False):
  """The session options every script starts from.

  Args:
    gpu_memory_fraction: None, or the cap (0 < f <= 1) on each GPU's
      memory for this process.
    use_gpu: False to see no GPU at all.
    cpu_devices: how many logical CPU devices to create, for towers on a
      machine without enough GPUs.
    log_device_placement: log the device of every op.

  Returns:
    A tf.compat.v1.ConfigProto. Ops without a kernel on the device they
    ask for (soft placement) run on the CPU.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  device_count = {'CPU': cpu_devices}
  if not use_gpu:
    device_count['GPU'] = 0
  config = tf.compat.v1.ConfigProto(
      allow_soft_placement=True, log_device_placement=log_device_placement,
      device_count=device_count)
  config.gpu_options.allow_growth = True
  if gpu_memory_fraction is not None:
    config.gpu_options.per_process_gpu_memory_fraction = gpu_memory_fraction
  return config


def use_bf16(config):
  """Turns on TensorFlow's oneDNN bfloat16 rewrite in session `config`.

  The rewrite runs convolutions, matrix products and the ops between them
  in bfloat16 and keeps variables, their updates and the loss in float32;
  bfloat16 has float32's range, so unlike float16 it needs no loss scaling.
  """
  # pylint: disable=g-import-not-at-top
  from tensorflow.core.protobuf import rewriter_config_pb2
  config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = (
      rewriter_config_pb2.RewriterConfig.ON)


def describe():
  """One line about the CPU and TensorFlow's CPU settings, for benchmarks."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return ('CPU: %s, %d logical cores; %s; oneDNN %s (%s=%s); TensorFlow %s, '
          'intra-op threads %s, inter-op threads %s' % (
              cpu_model(), os.cpu_count(),
              ', '.join(instruction_sets()) or 'no AVX2',
              'on' if onednn_enabled() else 'off', ONEDNN_VARIABLE,
              os.environ.get(ONEDNN_VARIABLE), tf.__version__,
              tf.config.threading.get_intra_op_parallelism_threads() or
              'default (all cores)',
              tf.config.threading.get_inter_op_parallelism_threads() or
              'default (all cores)'))
