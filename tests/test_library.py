"""The library runs from Python without a command line; flags stay at the edge."""

import ast
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

import cifar10_eval
import cifar10_predict
import cifar10_train
from cifar10_training import training
from conftest import ROOT, project_sources


def _functions_reading_flags(path):
  """(function name, line) of every use of FLAGS in `path`, module level
  included (as '<module>'), but for the line that binds it."""
  with open(path) as f:
    tree = ast.parse(f.read())
  found = []

  def visit(node, function):
    for child in ast.iter_child_nodes(node):
      name = function
      if isinstance(child, (ast.FunctionDef, ast.Lambda)):
        name = getattr(child, 'name', function)
      if isinstance(child, ast.Assign) and any(
          isinstance(t, ast.Name) and t.id == 'FLAGS' for t in child.targets):
        continue
      if isinstance(child, ast.Name) and child.id == 'FLAGS':
        found.append((function, child.lineno))
      visit(child, name)
  visit(tree, '<module>')
  return found


# The module that declares the flags and parses them.
FLAGS_MODULE = os.path.join(ROOT, 'cifar10_lib', 'command_line.py')


@pytest.mark.parametrize('path', [p for p in project_sources()
                                  if p != FLAGS_MODULE],
                         ids=lambda p: os.path.relpath(p, ROOT))
def test_only_main_and_the_from_flags_functions_read_flags(path):
  readers = _functions_reading_flags(path)
  misplaced = [(name, line) for name, line in readers
               if name != 'main' and not name.endswith('_from_flags')]
  assert not misplaced, misplaced


def test_the_edge_is_found():
  """The check above sees the uses it must allow (not a vacuous pass)."""
  readers = _functions_reading_flags(
      os.path.join(ROOT, 'cifar10_multi_gpu_train.py'))
  assert ('main', ) == tuple(sorted({name for name, _ in readers}))
  readers = _functions_reading_flags(
      os.path.join(ROOT, 'cifar10_training', 'options.py'))
  assert 'plan_from_flags' in {name for name, _ in readers}


# Calls that compute or apply a step's gradients.
_GRADIENT_CALLS = frozenset(['compute_gradients', 'apply_gradients',
                             'gradients'])


def _gradient_calls(path):
  """Lines of `path` that call a _GRADIENT_CALLS method or function, but
  for an optimizer method's call of its base class's (super().name)."""
  with open(path) as f:
    tree = ast.parse(f.read())
  return [node.lineno for node in ast.walk(tree)
          if isinstance(node, ast.Call) and
          isinstance(node.func, ast.Attribute) and
          node.func.attr in _GRADIENT_CALLS and not (
              isinstance(node.func.value, ast.Call) and
              getattr(node.func.value.func, 'id', None) == 'super')]


def test_one_place_computes_gradients_and_applies_them():
  """Every trainer, the tutorial's cifar10.train and the tests' steps are
  built by cifar10_lib/step.py: no other module takes or applies
  gradients."""
  step = os.path.join(ROOT, 'cifar10_lib', 'step.py')
  elsewhere = {os.path.relpath(path, ROOT): _gradient_calls(path)
               for path in project_sources() if path != step}
  assert not {path: lines for path, lines in elsewhere.items() if lines}
  assert len(_gradient_calls(step)) >= 3  # The check sees real calls.


@pytest.mark.slow
def test_train_evaluate_and_predict_from_python_without_flags(
    data_dir, tmp_path, capsys):
  assert not flags.FLAGS.is_parsed()
  train_dir, eval_dir = str(tmp_path / 'train'), str(tmp_path / 'eval')
  plan = training.make_plan(train_dir, 'baseline', batch_size=8, max_steps=3)
  status = cifar10_train.train(
      plan, training.LoopOptions(train_dir, data_dir, seed=1,
                                 log_frequency=1))
  assert status == 0
  assert tf.train.latest_checkpoint(train_dir).endswith('model.ckpt-3')
  # The folder is free for another trainer while this process lives on.
  subprocess.run([sys.executable, '-c', 'from cifar10_lib import folder_lock; '
                  'folder_lock.lock(%r)' % train_dir], cwd=ROOT, check=True)

  results = tmp_path / 'results.json'
  cifar10_eval.run_eval(cifar10_eval.Settings(
      train_dir, data_dir, eval_dir, num_examples=50,
      results_file=str(results)))
  assert '"total": 50' in results.read_text()

  picture = tmp_path / 'noise.png'
  picture.write_bytes(tf.io.encode_png(np.random.RandomState(0).randint(
      0, 256, [32, 32, 3]).astype(np.uint8)).numpy())
  assert cifar10_predict.predict(train_dir, [str(picture)], top_k=2) == 0
  out = capsys.readouterr().out
  assert 'Training baseline for 3 steps of 8 examples' in out
  assert ': step 3, loss = ' in out
  assert 'precision @ 1 = ' in out
  assert out.count('noise.png: ') == 1
  assert not flags.FLAGS.is_parsed()


@pytest.mark.slow
def test_from_python_prints_no_more_than_the_scripts(data_dir, tmp_path):
  """README's "From Python" snippet, run from another folder with the
  repository on PYTHONPATH: TensorFlow's Python logger says nothing (the
  deprecation warnings of the TF1 APIs among it), as in the scripts."""
  train_dir = str(tmp_path / 'train')
  snippet = (
      'import cifar10_train, cifar10_eval\n'
      'from cifar10_training import training\n'
      'plan = training.make_plan(%r, "baseline", batch_size=8, max_steps=2)\n'
      'cifar10_train.train(plan, training.LoopOptions(%r, %r, seed=1))\n'
      'cifar10_eval.run_eval(cifar10_eval.Settings(%r, %r, %r, '
      'num_examples=50, batch_size=16))\n' %
      (train_dir, train_dir, data_dir, train_dir, data_dir,
       str(tmp_path / 'eval')))
  result = subprocess.run(
      [sys.executable, '-c', snippet], cwd=str(tmp_path), capture_output=True,
      text=True, timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))
  assert result.returncode == 0, result.stderr
  assert 'precision @ 1 = ' in result.stdout
  assert 'WARNING:tensorflow' not in result.stderr, result.stderr
