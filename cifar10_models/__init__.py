"""The model zoo: every network the scripts train, by name (--model).

The registry maps a name to a `Model`: its builder and its recipe
(recipe.py). One module per family holds the builders, the tutorial's own
network included (tutorial.py, an entry like every other); adding a
network is a function there, a line in MODELS and its parameter count in
tests/test_zoo.py's table. Nothing in the training loop, eval or predict
depends on which model it is: what a model does differently is said by its
entry and its recipe's elements (preprocessing, optimizer, schedule, weight
averages, weight decay).

Which model a training folder holds, and its record, are model_file.py's;
parameter and multiply-add counts are counting.py's.
"""

import collections

import tensorflow as tf

import cifar10_input
from cifar10_datasets import folder
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

# How TensorFlow's shape inference says that a valid convolution or pool
# is wider than the map it gets: the images are too small for the network.
TOO_SMALL = 'Negative dimension size'


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

  def logits(self, images, training, recipe, use_fp16=False,
             dataset=cifar10_input.DATASET):
    """Builds the network on `images`; returns float32 logits.

    Args:
      images: float32 [batch, size, size, 3], the recipe's input preprocessing.
      training: build the training behaviour (batch statistics, dropout).
      recipe: its weight decay is added to the loss terms (unless its
        optimizer applies it itself).
      use_fp16: variables and activations in float16 (float16 models).
      dataset: the records.Dataset classified: one logit per class.
    """
    decays_itself = recipes.OPTIMIZERS[recipe.optimizer].decays
    net = layers.Net(training, 0.0 if decays_itself else recipe.weight_decay,
                     use_fp16, dataset)
    try:
      logits = self.build(images, net)
    except ValueError as error:
      if TOO_SMALL not in str(error):
        raise
      raise UserError(
          '--model=%s cannot take images of %dx%d: its pools and valid '
          'convolutions leave nothing of them; pass --image_size=%s' %
          (self.name, dataset.image_size, dataset.image_size,
           self._smallest_size(recipe, dataset))) from None
    net.add_weight_decay()
    return logits

  def _smallest_size(self, recipe, dataset):
    """'N or more': the smallest image size above dataset.image_size that
    the network builds on (each tried in a graph of its own; a refusal's
    cost only), or the largest size allowed if none is."""
    preprocessing = cifar10_input.PREPROCESSING[recipe.preprocessing]
    for size in range(dataset.image_size + 1, folder.MAX_IMAGE_SIZE + 1):
      side = preprocessing.size(size)
      with tf.Graph().as_default():
        try:
          self.build(tf.zeros([1, side, side, 3]),
                     layers.Net(False, dataset=dataset._replace(
                         image_size=size)))
        except ValueError:
          continue
      return '%d or more' % size
    return 'up to %d' % folder.MAX_IMAGE_SIZE

  def eval_logits(self, images, recipe, use_fp16=False, tta=True,
                  dataset=cifar10_input.DATASET):
    """The inference network's logits on `images` (in the recipe's eval
    preprocessing),
    weighted over the recipe's test-time views if it has them and `tta`.

    The views go through the network as one batch; its variables are
    those of a network built before in the graph, if any.
    """
    if not (tta and recipe.tta):
      return self.logits(images, False, recipe, use_fp16, dataset)
    with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(),
                                     reuse=tf.compat.v1.AUTO_REUSE):
      return cifar10_input.over_test_time_views(
          recipe.tta, images,
          lambda views: self.logits(views, False, recipe, use_fp16, dataset))

  def describe(self, recipe, image_size=cifar10_input.DATASET.image_size):
    """What training this model with `recipe` on images of `image_size`
    does, for a run's first line."""
    decay = ('%g' % recipe.weight_decay if self.decayed is None else
             'the %s\'s (%g on %s)' % (self.name, recipe.weight_decay,
                                       self.decayed))
    return recipes.describe(recipe, decay, image_size)


_zoo = recipes.zoo_recipe
MODELS = collections.OrderedDict((model.name, model) for model in [
    Model(TUTORIAL, tutorial.tutorial, recipes.TUTORIAL,
          decayed=tutorial.DECAYED, float16=True, tunable=False),
    Model('baseline', simple.baseline, _zoo(0.05, epochs=10)),
    Model('lenet5', simple.lenet5,
          _zoo(0.01, epochs=10, weight_decay=0.0, optimizer='adam',
               preprocessing=recipes.FLIP_PREPROCESSING)),
    Model('alexnet', alexnet.alexnet, _zoo(0.05, epochs=10)),
    Model('vgg16', vgg.vgg16,
          _zoo(0.1, epochs=10, weight_decay=1e-3, label_smoothing=0.1)),
    Model('resnet18', resnet.resnet18, _zoo(0.1, epochs=10)),
    Model('inception', inception.inception, _zoo(0.1, epochs=10)),
    Model('resnet20', resnet.cifar_resnet(3), _zoo(0.1, epochs=30)),
    Model('resnet32', resnet.cifar_resnet(5), _zoo(0.1, epochs=30)),
    Model('resnet56', resnet.cifar_resnet(9), _zoo(0.1, epochs=30)),
    Model('airbench94', airbench.airbench94, recipes.AIRBENCH94),
    Model('airbench95', airbench.airbench95, recipes.AIRBENCH95),
    Model('airbench96', airbench.airbench96, recipes.AIRBENCH96),
    Model('airbench94_muon', airbench.airbench94_muon,
          recipes.AIRBENCH94_MUON),
    Model('airbench96_faster', airbench.airbench96_faster,
          recipes.AIRBENCH96_FASTER),
])


def get(name):
  """The Model registered as `name`.

  Raises:
    UserError: no model has that name.
  """
  if name not in MODELS:
    raise UserError('unknown model %r: the models are %s' %
                    (name, ', '.join(MODELS)))
  return MODELS[name]
