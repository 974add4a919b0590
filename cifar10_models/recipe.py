"""How a model is trained: its input, optimizer, schedule and their numbers.

Each model of the zoo brings a recipe that trains it well, used by default
when the model is selected; flags can change its numbers. The tutorial's
model keeps the tutorial's recipe, which cifar10.py's constants define.

The zoo's recipes follow what the field converged on for CIFAR-10:

  * input: the whole 32x32 image, normalized per channel with the training
    set's mean and standard deviation; training crops it at random from
    the image padded by 4 pixels and flips it at random (He et al. 2016).
  * SGD with Nesterov momentum 0.9 and L2 weight decay: on CIFAR-10 it
    reaches higher precision than Adam for these networks (Wilson et al.
    2017), at the same cost. LeNet-5's sigmoids are the exception: plain
    SGD barely moves them in 10 epochs, so its recipe uses Adam, and
    flips only: random crops leave so small a network underfitting
    (README.md has the runs).
  * a one-cycle learning rate (Smith 2018): a linear warm-up from a tenth
    of the peak, then a linear decay to zero at the last epoch. It needs
    the run's length, which is the recipe's epochs, so it gets the most
    out of a short run; that short runs matter is the point of the zoo.
  * VGG16 alone adds label smoothing 0.1 and doubles the weight decay to
    1e-3: with the shared recipe it stopped at 0.874-0.876 after 10
    epochs in two seeds, below its 0.88 target, and with both changes it
    reached 0.881 and 0.882 (README.md has every recipe tried).
  * no moving average of the weights for eval: with batch norm, the moving
    statistics belong to the weights that produced them, and the averaged
    weights of a fast-changing run would not match them.
"""

import collections
import math

import cifar10_lib  # Before TensorFlow: it sets TensorFlow's CPU options.
import tensorflow as tf

import cifar10
from cifar10_lib import summaries
import cifar10_input

# Views of the input (cifar10_input.VIEWS).
TUTORIAL_VIEW = cifar10_input.TUTORIAL_VIEW
PADDED_CROP_VIEW = cifar10_input.PADDED_CROP_VIEW
FLIP_VIEW = cifar10_input.FLIP_VIEW

MOMENTUM = 0.9
# A one-cycle schedule starts its warm-up at this share of the peak rate,
# and the zoo's warm-up takes this share of the run.
WARMUP_START = 0.1
WARMUP_FRACTION = 0.15


class Recipe(collections.namedtuple('Recipe', [
    'view', 'optimizer', 'schedule', 'learning_rate', 'warmup_fraction',
    'epochs', 'weight_decay', 'batch_size', 'moving_average_decay',
    'label_smoothing'], defaults=[0.0])):
  """A training recipe.

  Attributes:
    view: the input view (cifar10_input.VIEWS): TUTORIAL_VIEW (24x24
      crops and the tutorial's distortions), PADDED_CROP_VIEW or FLIP_VIEW
      (32x32).
    optimizer: a name in OPTIMIZERS: 'sgd', 'nesterov' (momentum
      MOMENTUM) or 'adam'.
    schedule: a name in SCHEDULES: 'tutorial' (cifar10.learning_rate) or
      'one_cycle'.
    learning_rate: the initial (tutorial) or peak (one-cycle) rate.
    warmup_fraction: the one-cycle warm-up's share of the run's epochs.
    epochs: the run's default length; None: the tutorial's --max_steps.
    weight_decay: L2 factor of the weights the model decays (the
      tutorial's: local3 and local4; the zoo's: all but biases and batch
      norm's vectors).
    batch_size: examples per step (per tower).
    moving_average_decay: decay of the weights' moving average that eval
      reads; None: eval reads the weights themselves.
    label_smoothing: the share of each training target spread over all
      classes (cifar10.loss); 0, the default, in folders recorded before
      it existed.
  """

  def steps(self, examples_per_step):
    """Global steps that make `epochs` epochs, or None if it has none."""
    if self.epochs is None:
      return None
    return int(math.ceil(self.epochs *
                         cifar10_input.NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN /
                         examples_per_step))

  def warmup_epochs(self):
    return self.warmup_fraction * (self.epochs or 0)


# The tutorial's recipe, from cifar10.py's constants.
TUTORIAL = Recipe(
    view=TUTORIAL_VIEW, optimizer='sgd', schedule='tutorial',
    learning_rate=cifar10.INITIAL_LEARNING_RATE, warmup_fraction=0.0,
    epochs=None, weight_decay=cifar10.WEIGHT_DECAY, batch_size=128,
    moving_average_decay=cifar10.MOVING_AVERAGE_DECAY)


def zoo_recipe(learning_rate, epochs, weight_decay=5e-4, optimizer='nesterov',
               view=PADDED_CROP_VIEW, label_smoothing=0.0):
  """A recipe of the zoo's kind: 32x32 input, one-cycle schedule, batch 128.

  The warm-up takes WARMUP_FRACTION of the run, however long it is made.
  """
  return Recipe(
      view=view, optimizer=optimizer, schedule='one_cycle',
      learning_rate=learning_rate, warmup_fraction=WARMUP_FRACTION,
      epochs=epochs, weight_decay=weight_decay, batch_size=128,
      moving_average_decay=None, label_smoothing=label_smoothing)


class Schedule(collections.namedtuple('Schedule', 'rate words')):
  """A learning-rate schedule, a recipe element any model can use.

  rate(recipe, global_step, examples_per_step) builds the rate (with its
  'learning_rate' summary); words(recipe) says it in the run's first line.
  """


def _step_decay_rate(recipe, global_step, examples_per_step):
  return cifar10.learning_rate(global_step, examples_per_step,
                               recipe.learning_rate)


def _step_decay_words(recipe):
  return '%g, x%g every %g epochs' % (recipe.learning_rate,
                                      cifar10.LEARNING_RATE_DECAY_FACTOR,
                                      cifar10.NUM_EPOCHS_PER_DECAY)


def _one_cycle_rate(recipe, global_step, examples_per_step):
  """A linear warm-up from WARMUP_START x the peak, then linearly to 0."""
  epoch = (tf.cast(global_step, tf.float32) * examples_per_step /
           cifar10_input.NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN)
  peak = recipe.learning_rate
  warmup = max(recipe.warmup_epochs(), 1e-6)
  rising = peak * (WARMUP_START + (1 - WARMUP_START) * epoch / warmup)
  falling = peak * tf.maximum(
      0.0, (recipe.epochs - epoch) / max(recipe.epochs - warmup, 1e-6))
  lr = tf.where(epoch < warmup, rising, falling, name='learning_rate')
  summaries.scalar_summary('learning_rate', lr)
  return lr


def _one_cycle_words(recipe):
  return ('one-cycle: %g -> %g in %g epochs, then linearly to 0 at epoch %g' %
          (recipe.learning_rate * WARMUP_START, recipe.learning_rate,
           recipe.warmup_epochs(), recipe.epochs))


# Recipe.schedule names one of these: the tutorial's step decay
# (cifar10.learning_rate) or the zoo's one-cycle.
SCHEDULES = {
    'tutorial': Schedule(_step_decay_rate, _step_decay_words),
    'one_cycle': Schedule(_one_cycle_rate, _one_cycle_words),
}


class Optimizer(collections.namedtuple('Optimizer', 'make words')):
  """An optimizer, a recipe element: make(learning_rate) -> a TF1
  optimizer; words: what the run's first line calls it."""


OPTIMIZERS = {
    'sgd': Optimizer(tf.compat.v1.train.GradientDescentOptimizer, 'SGD'),
    'nesterov': Optimizer(
        lambda lr: tf.compat.v1.train.MomentumOptimizer(
            lr, MOMENTUM, use_nesterov=True),
        'SGD + Nesterov momentum %g' % MOMENTUM),
    'adam': Optimizer(tf.compat.v1.train.AdamOptimizer, 'Adam'),
}


def learning_rate(recipe, global_step, examples_per_step):
  """The recipe's learning rate at `global_step`, with its summary."""
  return SCHEDULES[recipe.schedule].rate(recipe, global_step,
                                         examples_per_step)


def optimizer(recipe, global_step, examples_per_step):
  """The recipe's optimizer, its learning rate the recipe's at `global_step`.

  `examples_per_step` (all towers' and workers' batches of one update) turns
  steps into the epochs the schedule is written in.
  """
  return OPTIMIZERS[recipe.optimizer].make(
      learning_rate(recipe, global_step, examples_per_step))


def describe(recipe, decay):
  """What `recipe` does, for the start of a run; `decay` says its weight
  decay in words (the model knows which weights it applies to)."""
  averages = ('eval reads the weights\' moving average (decay %g)' %
              recipe.moving_average_decay if recipe.moving_average_decay
              else 'eval reads the weights themselves')
  smoothing = ('; label smoothing %g' % recipe.label_smoothing
               if recipe.label_smoothing else '')
  return 'input %s; %s; learning rate %s; weight decay %s%s; %s' % (
      cifar10_input.VIEWS[recipe.view].description,
      OPTIMIZERS[recipe.optimizer].words,
      SCHEDULES[recipe.schedule].words(recipe), decay, smoothing, averages)
