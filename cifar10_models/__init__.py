"""The model zoo: every network the scripts train, by name (--model).

The registry maps a name to a `Model`: its builder and its recipe
(recipe.py). One module per family holds the builders, the tutorial's own
network included (tutorial.py, an entry like every other); adding a
network is a function there, a line in MODELS and its parameter count in
tests/test_zoo.py's table. Nothing in the training loop, eval or predict
depends on which model it is: what a model does differently is said by its
entry and its recipe's elements (view, optimizer, schedule, weight
averages, weight decay).

A training folder records its model and recipe (MODEL_FILE), so that eval,
predict and a resumed run use them without being told, and refuse, in one
line, a --model that is not the one the checkpoints hold.
"""

import collections
import json
import os
import tempfile

import tensorflow as tf

import cifar10_input
from cifar10_lib import checkpoints
from cifar10_lib.cli import UserError
from cifar10_models import airbench
from cifar10_models import alexnet
from cifar10_models import inception
from cifar10_models import layers
from cifar10_models import recipe as recipes
from cifar10_models import resnet
from cifar10_models import simple
from cifar10_models import tutorial
from cifar10_models import vgg

# The tutorial's network, the default.
TUTORIAL = 'tutorial'
DEFAULT_MODEL = TUTORIAL
# Written into --train_dir: {"model": name, "recipe": {...}}.
MODEL_FILE = 'model.json'


class Model(collections.namedtuple(
    'Model', 'name build recipe decayed float16 tunable',
    defaults=[None, False, True])):
  """A network and its default recipe.

  Attributes:
    build: `build(images, net)` builds the network's layers with a
      layers.Net and returns its logits.
    recipe: the recipe.Recipe it trains with by default.
    decayed: which weights its builder decays, for the recipe's
      description; None: every weight the Net built, in one term.
    float16: whether it can be built in float16 (--use_fp16).
    tunable: whether flags may change its recipe's numbers (--epochs,
      --learning_rate, --weight_decay, --label_smoothing).
  """

  def logits(self, images, training, recipe, use_fp16=False):
    """Builds the network on `images`; returns float32 logits.

    Args:
      images: float32 [batch, size, size, 3], the recipe's input view.
      training: build the training behaviour (batch statistics, dropout).
      recipe: its weight decay is added to the loss terms (unless its
        optimizer applies it itself).
      use_fp16: variables and activations in float16 (float16 models).
    """
    decays_itself = recipes.OPTIMIZERS[recipe.optimizer].decays
    net = layers.Net(training, 0.0 if decays_itself else recipe.weight_decay,
                     use_fp16)
    logits = self.build(images, net)
    net.add_weight_decay()
    return logits

  def eval_logits(self, images, recipe, use_fp16=False, tta=True):
    """The inference network's logits on `images` (the recipe's eval view),
    weighted over the recipe's test-time views if it has them and `tta`.

    The views go through the network as one batch; its variables are
    those of a network built before in the graph, if any.
    """
    if not (tta and recipe.tta):
      return self.logits(images, False, recipe, use_fp16)
    weights, views = zip(*cifar10_input.TEST_TIME_VIEWS[recipe.tta](images))
    with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(),
                                     reuse=tf.compat.v1.AUTO_REUSE):
      logits = self.logits(tf.concat(views, 0), False, recipe, use_fp16)
    per_view = tf.reshape(logits, [len(views), -1, logits.shape[-1]])
    return tf.tensordot(tf.constant(weights, tf.float32), per_view, 1)

  def describe(self, recipe):
    """What training this model with `recipe` does, for a run's first line."""
    decay = ('%g' % recipe.weight_decay if self.decayed is None else
             'the %s\'s (%g on %s)' % (self.name, recipe.weight_decay,
                                       self.decayed))
    return recipes.describe(recipe, decay)


_zoo = recipes.zoo_recipe
MODELS = collections.OrderedDict((model.name, model) for model in [
    Model(TUTORIAL, tutorial.tutorial, recipes.TUTORIAL,
          decayed=tutorial.DECAYED, float16=True, tunable=False),
    Model('baseline', simple.baseline, _zoo(0.05, epochs=10)),
    Model('lenet5', simple.lenet5,
          _zoo(0.01, epochs=10, weight_decay=0.0, optimizer='adam',
               view=recipes.FLIP_VIEW)),
    Model('alexnet', alexnet.alexnet, _zoo(0.05, epochs=10)),
    Model('vgg16', vgg.vgg16,
          _zoo(0.1, epochs=10, weight_decay=1e-3, label_smoothing=0.1)),
    Model('resnet18', resnet.resnet18, _zoo(0.1, epochs=10)),
    Model('inception', inception.inception, _zoo(0.1, epochs=10)),
    Model('resnet20', resnet.cifar_resnet(3), _zoo(0.1, epochs=30)),
    Model('resnet32', resnet.cifar_resnet(5), _zoo(0.1, epochs=30)),
    Model('resnet56', resnet.cifar_resnet(9), _zoo(0.1, epochs=30)),
    Model('airbench94', airbench.airbench94, recipes.AIRBENCH94),
])


def get(name):
  """The Model registered as `name`."""
  return MODELS[name]


def or_default(model=None, recipe=None):
  """(model, recipe), each defaulting: DEFAULT_MODEL, the model's recipe.

  For graph builders whose callers from before the zoo pass neither.
  """
  model = model or get(DEFAULT_MODEL)
  return model, recipe or model.recipe


def read_record(directory):
  """(Model, Recipe) recorded in `directory`, or None if none is.

  Raises:
    UserError: the record is damaged or names an unknown model.
  """
  path = os.path.join(directory, MODEL_FILE)
  try:
    with open(path) as f:
      record = json.load(f)
    model = MODELS[record['model']]
    return model, recipes.Recipe(**record['recipe'])
  except FileNotFoundError:
    return None
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise UserError('%s is damaged or from another version (%s: %s): '
                    'restore it, or train into a new folder' %
                    (path, type(e).__name__, e))


def write_record(directory, model, recipe, max_steps=None):
  """Records `model` and `recipe` in `directory`, atomically, and the
  run's last step if given (for an evaluator that stops there)."""
  record = {'model': model.name, 'recipe': recipe._asdict()}
  if max_steps is not None:
    record['max_steps'] = max_steps
  handle, temporary = tempfile.mkstemp(prefix='.model-', dir=directory)
  with os.fdopen(handle, 'w') as f:
    json.dump(record, f, indent=1)
  os.replace(temporary, os.path.join(directory, MODEL_FILE))


def recorded_max_steps(directory):
  """The last step of the run training into `directory`, as its trainer
  recorded it when it started; None if it did not (older folders)."""
  try:
    with open(os.path.join(directory, MODEL_FILE)) as f:
      value = json.load(f).get('max_steps')
  except (OSError, ValueError, AttributeError):
    return None
  return value if isinstance(value, int) else None


def _checkpoints_model(directory):
  """(Model, Recipe) of the checkpoints in `directory`, or None if none.

  Folders written before models were recorded hold the default model
  (the tutorial's: there was no other then) with its recipe.
  """
  record = read_record(directory) if os.path.isdir(directory) else None
  if record is None and checkpoints.latest(directory):
    model = MODELS[DEFAULT_MODEL]
    return model, model.recipe
  return record


def _check_matches(model, name, directory, what):
  if name is not None and name != model.name:
    raise UserError('%s holds a %s model, not --model=%s: %s, or leave '
                    '--model out to use %s' %
                    (directory, model.name, name, what, model.name))


def _check_fp16(model, use_fp16):
  if use_fp16 and not model.float16:
    raise UserError('--use_fp16 is for the %s model; %s runs in float32 '
                    '(train it with --bf16 on a CPU that has bfloat16)' %
                    (' and '.join('%s\'s' % m.name for m in MODELS.values()
                                  if m.float16), model.name))


def for_training(train_dir, name=None, overrides=None, use_fp16=False):
  """(Model, Recipe) to train into `train_dir`.

  A folder that holds a model resumes it with its recorded recipe; else
  the model `name` (default: DEFAULT_MODEL) with its own. `overrides`
  then change the recipe's numbers.

  Args:
    train_dir: the training folder (it may not exist yet).
    name: the model asked for (--model), or None.
    overrides: {recipe field: value}, from flags given explicitly.
    use_fp16: --use_fp16, which only float16 models have.

  Raises:
    UserError: `name` differs from the folder's model, an override was
      given for a model that is not tunable, or use_fp16 for a model
      without float16.
  """
  found = _checkpoints_model(train_dir)
  if found:
    _check_matches(found[0], name, train_dir,
                   'pass a new --train_dir to train another model')
    model, recipe = found
  else:
    model = MODELS[name or DEFAULT_MODEL]
    recipe = model.recipe
  overrides = overrides or {}
  if overrides and not model.tunable:
    raise UserError('--%s applies to the zoo\'s recipes; the %s\'s model '
                    'keeps the %s\'s (--max_steps sets its length)' %
                    (sorted(overrides)[0], model.name, model.name))
  _check_fp16(model, use_fp16)
  return model, recipe._replace(**overrides)


def for_checkpoints(checkpoint_dir, name=None, use_fp16=False):
  """(Model, Recipe) that the checkpoints in `checkpoint_dir` need.

  The folder's record; without one (a folder without checkpoints yet,
  for eval's watch mode), the model `name`, default DEFAULT_MODEL.
  Raises UserError as for_training does.
  """
  found = _checkpoints_model(checkpoint_dir)
  if found:
    _check_matches(found[0], name, checkpoint_dir,
                   'pass the --checkpoint_dir of a %s model' % name)
    model, recipe = found
  else:
    model = MODELS[name or DEFAULT_MODEL]
    recipe = model.recipe
  _check_fp16(model, use_fp16)
  return model, recipe


def parameter_count(variables):
  """The number of values in `variables`: Keras' model.summary() total."""
  return sum(v.shape.num_elements() for v in variables)


def multiply_adds(graph):
  """Multiply-adds of the convolutions and dense layers in `graph`.

  Counts Conv2D ops and the MatMul ops whose second input is not a
  constant (the tutorial's LRN layers are band-matrix products); per
  example when the graph was built for a batch of 1.
  """
  total = 0
  for op in graph.get_operations():
    if op.type == 'Conv2D':
      out = op.outputs[0].shape.as_list()
      kernel = op.inputs[1].shape.as_list()
      total += out[1] * out[2] * out[3] * kernel[0] * kernel[1] * kernel[2]
    elif op.type == 'MatMul' and op.inputs[1].op.type != 'Const':
      total += (op.inputs[0].shape.as_list()[1] *
                op.outputs[0].shape.as_list()[1])
  return total
