"""Tests of cifar10_lib.devices and precision: oneDNN on before TensorFlow
loads (off for --use_fp16), the user's word kept, GPU memory taken as
needed, what --bf16 and --use_fp16 measure and say."""

import os
import re
import subprocess
import sys

import pytest
import tensorflow as tf

from cifar10_lib import devices
from cifar10_lib import precision
from conftest import ROOT

# Runs a script until it makes its session, then prints the value the
# variable had when the script first imported TensorFlow, whether that
# TensorFlow uses oneDNN, and the session's configuration, and ends the
# process. Session is replaced right after the script's own import of
# TensorFlow, so that this wrapper imports nothing before the script does.
_RUN_TO_SESSION = r'''
import importlib.abc, importlib.util, os, runpy, sys

class Watch(importlib.abc.MetaPathFinder):
  def find_spec(self, name, path=None, target=None):
    if name != 'tensorflow':
      return None
    sys.meta_path.remove(self)
    at_import = os.environ.get('TF_ENABLE_ONEDNN_OPTS')
    spec = importlib.util.find_spec(name)
    load = spec.loader.exec_module
    def load_then_watch_sessions(module):
      load(module)
      from tensorflow.python.util import _pywrap_util_port
      def report(self, target='', graph=None, config=None):
        print('AT-IMPORT=%s ONEDNN=%s CONFIG=%s' % (
            at_import, _pywrap_util_port.IsMklEnabled(),
            config.SerializeToString().hex()), flush=True)
        os._exit(0)
      module.compat.v1.Session.__init__ = report
    spec.loader.exec_module = load_then_watch_sessions
    return spec

sys.meta_path.insert(0, Watch())
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(sys.argv[0]))
runpy.run_path(sys.argv[0], run_name='__main__')
'''


def _run_to_session(script, onednn_variable, *flags):
  """(variable at TensorFlow's import, oneDNN on?, session ConfigProto)."""
  env = dict(os.environ)
  env.pop(devices.ONEDNN_VARIABLE, None)
  if onednn_variable is not None:
    env[devices.ONEDNN_VARIABLE] = onednn_variable
  result = subprocess.run(
      [sys.executable, '-c', _RUN_TO_SESSION, os.path.join(ROOT, script)] +
      list(flags), cwd=ROOT, env=env, capture_output=True, text=True,
      timeout=120, check=False)
  match = re.search(r'^AT-IMPORT=(\S+) ONEDNN=(True|False) '
                    r'CONFIG=([0-9a-f]*)$', result.stdout, re.M)
  assert match, result.stdout + result.stderr
  return (match.group(1), match.group(2) == 'True',
          tf.compat.v1.ConfigProto.FromString(bytes.fromhex(match.group(3))))


def _script_flags(script, data_dir, tmp_path):
  """Flags with which `script` gets as far as making its session."""
  checkpoints = tmp_path / 'train'
  checkpoints.mkdir()
  (checkpoints / 'model.ckpt-1.index').write_bytes(b'')  # found, not read
  own = {
      'cifar10_train.py': ['--train_dir=%s' % checkpoints],
      'cifar10_multi_gpu_train.py': ['--train_dir=%s' % checkpoints],
      'cifar10_eval.py': ['--checkpoint_dir=%s' % checkpoints,
                          '--eval_dir=%s' % (tmp_path / 'eval'),
                          '--num_examples=50'],
      'cifar10_predict.py': ['--checkpoint_dir=%s' % checkpoints, 'x.png'],
  }[script]
  return ['--data_dir=' + data_dir, '--nodownload'] + own


@pytest.mark.slow
@pytest.mark.parametrize('script,flags,fraction,gpus', [
    ('cifar10_train.py', ['--gpu_memory_fraction=0.25'], 0.25, None),
    ('cifar10_multi_gpu_train.py', ['--num_gpus=2'], 0.0, None),
    ('cifar10_eval.py', ['--gpu_memory_fraction=0.4', '--nouse_gpu'], 0.4,
     0),
    ('cifar10_predict.py', [], 0.0, None),
])
def test_every_script_turns_onednn_on_and_takes_gpu_memory_as_needed(
    data_dir, tmp_path, script, flags, fraction, gpus):
  at_import, onednn, config = _run_to_session(
      script, None, *(_script_flags(script, data_dir, tmp_path) + flags))
  # oneDNN: on before the script imported TensorFlow, and so in use.
  assert (at_import, onednn) == ('1', True)
  # GPU memory: as needed, capped where asked; no GPU where asked.
  assert config.gpu_options.allow_growth
  assert config.gpu_options.per_process_gpu_memory_fraction == pytest.approx(
      fraction)
  assert config.device_count.get('GPU') == gpus
  assert config.allow_soft_placement


@pytest.mark.slow
def test_the_users_own_onednn_setting_is_kept(data_dir, tmp_path):
  script = 'cifar10_train.py'
  at_import, onednn, _ = _run_to_session(
      script, '0', *_script_flags(script, data_dir, tmp_path))
  assert (at_import, onednn) == ('0', False)


@pytest.mark.slow
@pytest.mark.parametrize('script', ['cifar10_train.py', 'cifar10_eval.py'])
@pytest.mark.parametrize('users,expected', [(None, ('0', False)),
                                             ('1', ('1', True))])
def test_use_fp16_turns_onednn_off_unless_the_user_chose(
    data_dir, tmp_path, script, users, expected):
  """oneDNN's float16 kernels are the slow ones on a CPU."""
  at_import, onednn, _ = _run_to_session(
      script, users, *_script_flags(script, data_dir, tmp_path) +
      ['--use_fp16'])
  assert (at_import, onednn) == expected


@pytest.mark.parametrize('ratio,expected', [
    (None, r'^--bf16 has no effect: oneDNN is off'),
    (1.8, r'^--bf16: convolutions and matrix products in bfloat16: a '
     r'convolution and its gradients ran 1\.8x faster than float32 in '
     r'bfloat16 on this CPU \(.*\), measured now$'),
    (0.65, r'^WARNING: --bf16 does not pay here: a convolution and its '
     r'gradients ran 1\.5x slower than float32 in bfloat16 .*; drop --bf16 '
     r'on this machine'),
    (1.04, r'^WARNING: --bf16 does not pay here: .* ran about as fast as '
     r'float32'),
])
def test_bf16_says_what_it_measured(ratio, expected):
  assert re.search(expected, precision.bf16_plan(ratio))


def test_use_fp16_says_what_it_measured():
  line = precision.fp16_plan(0.05)
  assert line.startswith('WARNING: --use_fp16 on a CPU: a convolution and '
                         'its gradients ran 20.0x slower than float32 in '
                         'float16 on this CPU (%s)' % devices.cpu_model())


@pytest.mark.parametrize('precision_name', ['bfloat16', 'float16'])
def test_the_probe_measures_a_speed(precision_name):
  ratio = precision.speed_ratio(precision_name)
  assert 0 < ratio < float('inf')


def test_describe_names_the_cpu_and_the_settings():
  line = devices.describe()
  assert devices.cpu_model() in line
  assert re.search(r'oneDNN (on|off) \(TF_ENABLE_ONEDNN_OPTS=', line)
  assert 'intra-op threads' in line and 'inter-op threads' in line
