"""Every flag declared once, parsed once by absl, described truly."""

import ast
import os
import re
import subprocess
import sys

import pytest

import cifar10_eval
from cifar10_training import training
from conftest import ROOT, env_without_tensorflow, project_sources

SCRIPTS = ['cifar10_train.py', 'cifar10_multi_gpu_train.py',
           'cifar10_eval.py', 'cifar10_predict.py']


def _help(script, tmp_path):
  """The --help text of `script`, which it prints before TensorFlow
  loads (a TensorFlow that fails to import proves it)."""
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, script), '--help'],
      capture_output=True, text=True, env=env_without_tensorflow(tmp_path),
      timeout=60)
  assert 'TensorFlow was imported' not in result.stderr, result.stderr
  return result.stdout


def _flag_help(text, name):
  """The help of flag --name in absl's help text, on one line."""
  match = re.search(r'^\s+--(?:\[no\])?%s: (.*?)(?=^\s+--|\Z)' % name, text,
                    re.S | re.M)
  assert match, name
  return ' '.join(match.group(1).split())


def test_help_gives_the_defaults_that_runs_use(tmp_path):
  text = _help('cifar10_train.py', tmp_path)
  batch = _flag_help(text, 'batch_size')
  steps = _flag_help(text, 'max_steps')
  for name, words in (('tutorial', 'the tutorial'),
                      ('airbench94', 'airbench94')):
    plan = training.make_plan(str(tmp_path / name), name)
    assert '%d for %s' % (plan.batch_size, words) in batch
    assert '%d for %s' % (plan.max_steps, words) in steps
  assert '%d when evaluating' % cifar10_eval.EVAL_BATCH_SIZE in batch
  model = _flag_help(text, 'model')
  assert 'in a new folder, tutorial' in model
  assert training.make_plan(str(tmp_path / 'new')).model.name == 'tutorial'


@pytest.mark.parametrize('script', SCRIPTS)
def test_every_flag_without_a_default_says_what_unset_means(script,
                                                            tmp_path):
  """absl prints '(default: ...)' for the others."""
  text = _help(script, tmp_path)
  shown = re.findall(r'^  --(?:\[no\])?(\w+): ', text, re.M)
  assert 'data_dir' in shown
  for name in shown:
    words = _flag_help(text, name)
    if '(default: ' not in words:
      assert re.search(r'\b(Default|default|Unset|unset)\b', words), (
          name, words)


def _argv_reads(path):
  """Lines of `path` that name sys.argv outside the script's __main__
  block."""
  with open(path) as f:
    tree = ast.parse(f.read())
  main_blocks = [node for node in tree.body if isinstance(node, ast.If) and
                 'main' in ast.dump(node.test)]
  inside = {id(n) for block in main_blocks for n in ast.walk(block)}
  return [node.lineno for node in ast.walk(tree)
          if isinstance(node, ast.Attribute) and node.attr == 'argv' and
          getattr(node.value, 'id', None) == 'sys' and id(node) not in inside]


def test_only_the_scripts_main_blocks_read_the_command_line(tmp_path):
  reads = {os.path.relpath(p, ROOT): _argv_reads(p) for p in project_sources()}
  assert not {path: lines for path, lines in reads.items() if lines}
  # Not vacuous: a read outside the block is seen, one inside is not.
  module = tmp_path / 'module.py'
  module.write_text('import sys\nNAME = sys.argv[0]\n'
                    'if __name__ == "__main__":\n  print(sys.argv)\n')
  assert _argv_reads(str(module)) == [2]
