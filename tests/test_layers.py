"""Imports point one way: down the layers, with no cycle between packages.

Each module of the project has a layer; a module imports only modules of
its own layer or below. Read from the source's import statements (those
inside functions too), so a new module must be given its layer here.
"""

import ast
import os

import pytest

from conftest import PACKAGES, ROOT, project_sources

BASE, RUNTIME, DATA, NETWORKS, LOOP, SCRIPTS = range(6)
LAYER_NAMES = ['base (no TensorFlow)', 'runtime', 'data', 'networks', 'loop',
               'scripts']

# Every module's layer; a package's modules share it unless named.
LAYERS = {
    'cifar10_lib': BASE,
    'cifar10_lib.errors': BASE,
    'cifar10_lib.paths': BASE,
    'cifar10_lib.folder_lock': BASE,
    'cifar10_lib.tf_config': BASE,
    'cifar10_lib.watchdog': BASE,
    'cifar10_lib.devices': BASE,
    'cifar10_lib.cli': RUNTIME,
    'cifar10_lib.precision': RUNTIME,
    'cifar10_lib.checkpoints': RUNTIME,
    'cifar10_lib.summaries': RUNTIME,
    'cifar10_lib.figures': RUNTIME,
    'cifar10_lib.step': RUNTIME,
    'cifar10_lib.records': DATA,
    'cifar10_lib.download': DATA,
    'cifar10_datasets': DATA,
    'cifar10_input': DATA,
    'cifar10': NETWORKS,
    'cifar10_models': NETWORKS,
    'cifar10_training': LOOP,
    'cifar10_train': SCRIPTS,
    'cifar10_multi_gpu_train': SCRIPTS,
    'cifar10_eval': SCRIPTS,
    'cifar10_predict': SCRIPTS,
    'cifar10_deploy': LOOP,
}
SCRIPT_MODULES = [m for m, layer in LAYERS.items() if layer == SCRIPTS]


def _module_name(path):
  relative = os.path.relpath(path, ROOT)[:-len('.py')].replace(os.sep, '.')
  return relative[:-len('.__init__')] if relative.endswith(
      '.__init__') else relative


# {module name: path} of every module but tests and benchmarks.
MODULES = {_module_name(p): p for p in project_sources()}


def layer_of(module):
  """The layer of `module`, or of its package; None: not the project's."""
  while module:
    if module in LAYERS:
      return LAYERS[module]
    if module not in MODULES and '.' not in module:
      return None
    module = module.rpartition('.')[0]
  return None


def imports_of(path, top_level_only=False):
  """The project modules that `path` imports (`from P import M` counts as
  P.M when that is a module)."""
  with open(path) as f:
    tree = ast.parse(f.read())
  nodes = tree.body if top_level_only else ast.walk(tree)
  found = set()
  for node in nodes:
    if isinstance(node, ast.Import):
      found.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      for alias in node.names:
        candidate = node.module + '.' + alias.name
        found.add(candidate if candidate in MODULES else node.module)
  return {m for m in found if m.split('.')[0] in MODULES or
          m.split('.')[0] in PACKAGES}


def test_every_module_has_a_layer():
  assert not [m for m in MODULES if layer_of(m) is None]


@pytest.mark.parametrize('module', sorted(MODULES))
def test_imports_point_down(module):
  own = layer_of(module)
  upward = ['%s (%s)' % (m, LAYER_NAMES[layer_of(m)])
            for m in sorted(imports_of(MODULES[module]))
            if layer_of(m) > own]
  assert not upward, '%s (%s) imports %s' % (module, LAYER_NAMES[own],
                                               ', '.join(upward))


def test_the_check_sees_an_upward_import(tmp_path):
  """Not a vacuous pass: the step builder importing a network is upward."""
  path = tmp_path / 'step.py'
  path.write_text('import cifar10\nfrom cifar10_training import towers\n')
  found = imports_of(str(path))
  assert found == {'cifar10', 'cifar10_training.towers'}
  assert {layer_of(m) for m in found} == {NETWORKS, LOOP}


def _package(module):
  return module.split('.')[0]


def test_packages_import_each_other_without_a_cycle():
  edges = {}
  for module, path in MODULES.items():
    for imported in imports_of(path):
      if _package(imported) != _package(module):
        edges.setdefault(_package(module), set()).add(_package(imported))
  done, visiting = set(), []

  def visit(package):
    assert package not in visiting, 'cycle: ' + ' -> '.join(
        visiting[visiting.index(package):] + [package])
    if package in done:
      return
    visiting.append(package)
    for other in sorted(edges.get(package, ())):
      visit(other)
    visiting.pop()
    done.add(package)
  for package in sorted(edges):
    visit(package)
  assert 'cifar10_models' in edges['cifar10_training']  # Edges are seen.


def test_no_script_imports_another():
  for script in SCRIPT_MODULES:
    assert not imports_of(MODULES[script]) & set(SCRIPT_MODULES), script


def test_the_base_layer_loads_no_tensorflow_at_import():
  """What runs before TensorFlow loads (the path checks, the training
  folder's lock) must not load it."""
  for module, path in MODULES.items():
    if layer_of(module) == BASE:
      with open(path) as f:
        tree = ast.parse(f.read())
      top = [n for n in tree.body if isinstance(n, (ast.Import,
                                                     ast.ImportFrom))]
      names = {a.name for n in top if isinstance(n, ast.Import)
               for a in n.names}
      names |= {n.module for n in top if isinstance(n, ast.ImportFrom)}
      assert not {n for n in names if n and n.startswith('tensorflow')}, module
      assert all(layer_of(m) == BASE
                 for m in imports_of(path, top_level_only=True)), module
