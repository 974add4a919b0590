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
    (docs/MEASUREMENTS.md has the runs).
  * a one-cycle learning rate (Smith 2018): a linear warm-up from a tenth
    of the peak, then a linear decay to zero at the last epoch. It needs
    the run's length, which is the recipe's epochs, so it gets the most
    out of a short run; that short runs matter is the point of the zoo.
  * VGG16 alone adds label smoothing 0.1 and doubles the weight decay to
    1e-3: with the shared recipe it stopped at 0.874-0.876 after 10
    epochs in two seeds, below its 0.88 target, and with both changes it
    reached 0.881 and 0.882 (docs/MEASUREMENTS.md has every recipe tried).
  * no moving average of the weights for eval: with batch norm, the moving
    statistics belong to the weights that produced them, and the averaged
    weights of a fast-changing run would not match them.

airbench94 brings airbench94's own recipe (AIRBENCH94), made of elements
here and in cifar10_input that any model can use: its SGD, the triangle
schedule, the lookahead, the summed loss, its preprocessing and test-time views.
"""

import collections
import functools
import json
import math

import tensorflow as tf

import cifar10
from cifar10_lib import summaries
from cifar10_lib.cli import UserError
import cifar10_input
from cifar10_models import layers
from cifar10_models import selection as selections

# How the input is prepared (cifar10_input.PREPROCESSING).
TUTORIAL_PREPROCESSING = cifar10_input.TUTORIAL_PREPROCESSING
PADDED_CROP_PREPROCESSING = cifar10_input.PADDED_CROP_PREPROCESSING
FLIP_PREPROCESSING = cifar10_input.FLIP_PREPROCESSING

MOMENTUM = 0.9
# airbench's optimizer and schedule (KellerJordan/cifar10-airbench,
# legacy/airbench94.py): Nesterov momentum, the rate's factor on batch
# norm's offsets, and the triangle: from START to 1 at PEAK of the steps
# (airbench94's warmup_fraction), then to END.
AIRBENCH_MOMENTUM = 0.85
OFFSET_RATE_SCALE = 64.0
TRIANGLE_START = 0.2
TRIANGLE_PEAK = 0.23
TRIANGLE_END = 0.07
# airbench94_muon's optimizers (airbench94_muon.py): Muon's momentum and
# Newton-Schulz iteration (quintic coefficients, steps, the norm's
# epsilon); the SGD's momentum and its rates.
MUON_MOMENTUM = 0.6
NEWTON_SCHULZ = (3.4445, -4.7750, 2.0315)
NEWTON_SCHULZ_STEPS = 3
NEWTON_SCHULZ_EPSILON = 1e-7
MUON_SGD_MOMENTUM = 0.85
MUON_BIAS_RATE = 0.053
MUON_HEAD_RATE = 0.67
# The lookahead (`lookahead`): every PERIOD steps the weights and batch
# norm's statistics move toward their running average, whose decay is
# BASE x (step / steps) ** POWER, and are copied from it.
LOOKAHEAD_PERIOD = 5
LOOKAHEAD_BASE = 0.95 ** 5
LOOKAHEAD_POWER = 3
# A one-cycle schedule starts its warm-up at this share of the peak rate,
# and the zoo's warm-up takes this share of the run.
WARMUP_START = 0.1
WARMUP_FRACTION = 0.15


class Recipe(collections.namedtuple('Recipe', [
    'preprocessing', 'optimizer', 'schedule', 'learning_rate',
    'warmup_fraction',
    'epochs', 'weight_decay', 'batch_size', 'moving_average_decay',
    'label_smoothing', 'loss_reduction', 'lookahead', 'tta',
    'train_examples', 'selection'],
    defaults=[0.0, 'mean', False, None, None, None])):
  """A training recipe.

  Attributes:
    preprocessing: how the input is prepared (cifar10_input.
      PREPROCESSING): TUTORIAL_PREPROCESSING (24x24 crops and the
      tutorial's distortions), PADDED_CROP_PREPROCESSING or
      FLIP_PREPROCESSING (32x32).
    optimizer: a name in OPTIMIZERS: 'sgd', 'nesterov' (momentum
      MOMENTUM) or 'adam'.
    schedule: a name in SCHEDULES: 'tutorial' (cifar10.learning_rate) or
      'one_cycle'.
    learning_rate: the initial (tutorial) or peak (one-cycle) rate.
    warmup_fraction: the warm-up's share of the run (one-cycle, triangle).
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
    loss_reduction: 'mean' (the tutorial's) or 'sum' (airbench's) of the
      cross entropy over a batch.
    lookahead: whether the weights and batch norm's statistics are pulled
      toward their running average every LOOKAHEAD_PERIOD steps
      (`lookahead`), as airbench does.
    tta: None, or the test-time augmentation (cifar10_input.
      TEST_TIME_VIEWS) that eval, predict and the SavedModel apply.
    train_examples: the training records an epoch goes through: those of
      the data the run started on, recorded with the recipe so that a
      resumed run keeps its schedule; None (a recipe not yet bound to
      data): CIFAR-10's 50,000.
    selection: None, or the name of a selection.SELECTIONS entry: each
      step trains on the part of its batch that a proxy network picks.
  """

  def steps(self, examples_per_step):
    """Global steps that make `epochs` epochs, or None if it has none.

    An epoch is the preprocessing's batches of batch_size (one of whole
    batches drops the last partial one), taken examples_per_step at a
    time.
    """
    if self.epochs is None:
      return None
    return int(math.ceil(self.epochs * self.epoch_examples() /
                         examples_per_step))

  def epoch_examples(self):
    """The examples an epoch trains on (cifar10_input.examples_per_epoch)."""
    return cifar10_input.examples_per_epoch(
        self.preprocessing, self.records(), self.batch_size)

  def records(self):
    """The training records the recipe's epochs are made of."""
    return self.train_examples or cifar10_input.NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN

  def warmup_epochs(self):
    return self.warmup_fraction * (self.epochs or 0)


# The tutorial's recipe, from cifar10.py's constants.
TUTORIAL = Recipe(
    preprocessing=TUTORIAL_PREPROCESSING, optimizer='sgd', schedule='tutorial',
    learning_rate=cifar10.INITIAL_LEARNING_RATE, warmup_fraction=0.0,
    epochs=None, weight_decay=cifar10.WEIGHT_DECAY, batch_size=128,
    moving_average_decay=cifar10.MOVING_AVERAGE_DECAY)


# airbench94's recipe (legacy/airbench94.py): batch 1024 (the last partial
# batch of an epoch dropped), 9.9 epochs, its SGD at 11.5 and weight decay
# 0.0153 per 1,024 examples, label smoothing 0.2 with the loss summed over
# the batch, the triangle schedule and the lookahead; eval reads the
# weights (the lookahead's final copy) and batch norm's statistics.
AIRBENCH94 = Recipe(
    preprocessing=cifar10_input.TRANSLATE_PREPROCESSING,
    optimizer='airbench_sgd',
    schedule='triangle', learning_rate=11.5, warmup_fraction=TRIANGLE_PEAK,
    epochs=9.9, weight_decay=0.0153, batch_size=1024,
    moving_average_decay=None, label_smoothing=0.2, loss_reduction='sum',
    lookahead=True, tta=cifar10_input.MIRROR_TRANSLATE_TTA)

# airbench94_muon's recipe (airbench94_muon.py): batches of 2000 for 8
# epochs, Muon at 0.24 on the kernels (the recipe's rate) and SGD on the
# rest (Muon), weight decay 2e-6 per example of a batch, linearly to 0;
# airbench94's preprocessing, label smoothing, summed loss and views; no
# lookahead.
AIRBENCH94_MUON = AIRBENCH94._replace(
    optimizer='muon', schedule='linear', learning_rate=0.24,
    warmup_fraction=0.0, epochs=8, weight_decay=2e-6, batch_size=2000,
    lookahead=False)

# airbench95's recipe (legacy/airbench95.py): airbench94's with a rate of
# 10.0 instead of 11.5 for its wider network, and 15 epochs instead of 9.9.
AIRBENCH95 = AIRBENCH94._replace(learning_rate=10.0, epochs=15)

# airbench96's recipe (legacy/airbench96.py): airbench94's with translations
# by up to 4 pixels and a 12x12 cutout, a rate of 9.0 and weight decay 0.012
# per 1,024 examples, the triangle's peak at 10% of the steps and its end
# at 0, 37 epochs.
AIRBENCH96 = AIRBENCH94._replace(
    preprocessing=cifar10_input.TRANSLATE_CUTOUT_PREPROCESSING,
    schedule='triangle_to_zero', learning_rate=9.0, warmup_fraction=0.1,
    epochs=37, weight_decay=0.012)

# airbench96_faster.py's: airbench96's for 45 epochs, each step on the
# hardest half of its batch by a proxy network ('hardest_half').
AIRBENCH96_FASTER = AIRBENCH96._replace(epochs=45, selection='hardest_half')


def zoo_recipe(learning_rate, epochs, weight_decay=5e-4, optimizer='nesterov',
               preprocessing=PADDED_CROP_PREPROCESSING, label_smoothing=0.0):
  """A recipe of the zoo's kind: 32x32 input, one-cycle schedule, batch 128.

  The warm-up takes WARMUP_FRACTION of the run, however long it is made.
  """
  return Recipe(
      preprocessing=preprocessing, optimizer=optimizer, schedule='one_cycle',
      learning_rate=learning_rate, warmup_fraction=WARMUP_FRACTION,
      epochs=epochs, weight_decay=weight_decay, batch_size=128,
      moving_average_decay=None, label_smoothing=label_smoothing)


class Schedule(collections.namedtuple('Schedule', 'rate describe')):
  """A learning-rate schedule, a recipe element any model can use.

  rate(recipe, global_step, examples_per_step) builds the rate (with its
  'learning_rate' summary); describe(recipe) says it in the run's first
  line.
  """


def _step_decay_rate(recipe, global_step, examples_per_step):
  return cifar10.learning_rate(global_step, examples_per_step,
                               recipe.learning_rate, recipe.records())


def _step_decay_description(recipe):
  return '%g, x%g every %g epochs' % (recipe.learning_rate,
                                      cifar10.LEARNING_RATE_DECAY_FACTOR,
                                      cifar10.NUM_EPOCHS_PER_DECAY)


def _one_cycle_rate(recipe, global_step, examples_per_step):
  """A linear warm-up from WARMUP_START x the peak, then linearly to 0."""
  epoch = (tf.cast(global_step, tf.float32) * examples_per_step /
           recipe.records())
  peak = recipe.learning_rate
  warmup = max(recipe.warmup_epochs(), 1e-6)
  rising = peak * (WARMUP_START + (1 - WARMUP_START) * epoch / warmup)
  falling = peak * tf.maximum(
      0.0, (recipe.epochs - epoch) / max(recipe.epochs - warmup, 1e-6))
  lr = tf.where(epoch < warmup, rising, falling, name='learning_rate')
  summaries.scalar_summary('learning_rate', lr)
  return lr


def _one_cycle_description(recipe):
  return ('one-cycle: %g -> %g in %g epochs, then linearly to 0 at epoch %g' %
          (recipe.learning_rate * WARMUP_START, recipe.learning_rate,
           recipe.warmup_epochs(), recipe.epochs))


def _triangle_rate(recipe, global_step, examples_per_step,
                   end=TRIANGLE_END):
  """airbench's schedule, in steps: TRIANGLE_START -> 1 at the recipe's
  warmup_fraction of the run -> `end` at its end, linearly both ways,
  times the rate."""
  total = recipe.steps(examples_per_step)
  peak = int(total * recipe.warmup_fraction)
  step = tf.cast(global_step, tf.float32)
  rising = TRIANGLE_START + (1 - TRIANGLE_START) * step / max(peak, 1)
  falling = 1 + (end - 1) * (step - peak) / max(total - peak, 1)
  lr = tf.multiply(recipe.learning_rate, tf.where(step < peak, rising,
                                                  falling),
                   name='learning_rate')
  summaries.scalar_summary('learning_rate', lr)
  return lr


def _triangle_description(recipe, end=TRIANGLE_END):
  return ('%g x (%g -> 1 at %g%% of the steps -> %g, linearly)' %
          (recipe.learning_rate, TRIANGLE_START,
           100 * recipe.warmup_fraction, end))


def _linear_rate(recipe, global_step, examples_per_step):
  """airbench94_muon's schedule: the rate x (1 - step / steps), to 0 at
  the run's last step."""
  total = recipe.steps(examples_per_step)
  lr = tf.multiply(recipe.learning_rate, tf.maximum(
      0.0, 1.0 - tf.cast(global_step, tf.float32) / total),
                   name='learning_rate')
  summaries.scalar_summary('learning_rate', lr)
  return lr


def _linear_description(recipe):
  """The linear schedule in words."""
  return '%g, linearly to 0 at the last step' % recipe.learning_rate


# Recipe.schedule names one of these: the tutorial's step decay
# (cifar10.learning_rate), the zoo's one-cycle, airbench's triangle (and
# airbench96's, which ends at 0), airbench94_muon's linear decay.
SCHEDULES = {
    'linear': Schedule(_linear_rate, _linear_description),
    'tutorial': Schedule(_step_decay_rate, _step_decay_description),
    'one_cycle': Schedule(_one_cycle_rate, _one_cycle_description),
    'triangle': Schedule(_triangle_rate, _triangle_description),
    'triangle_to_zero': Schedule(
        functools.partial(_triangle_rate, end=0.0),
        functools.partial(_triangle_description, end=0.0)),
}


class GatedUpdates(object):
  """An optimizer's part that skips a variable's whole update (momentum,
  decay and all) on the steps its recipe leaves it out: past its first
  epochs (layers.EPOCH_LIMIT, airbench's whitening biases) or between its
  periods (selection.UPDATE_PERIOD, a proxy network's). Skipping the
  gradient alone would still move the momentum and apply the decay.
  """

  def _set_gates(self, global_step, epoch):
    """Reads the variables' limits and periods from the graph; `epoch`
    (the step's, int64) also goes to layers.TRAINING_EPOCH, so that the
    layers above limited variables skip the gradients they no longer
    need."""
    graph = tf.compat.v1.get_default_graph()
    self._epoch = epoch
    self._step_number = tf.cast(global_step, tf.int64)
    self._limits = layers.epoch_limits(graph)
    self._periods = selections.update_periods(graph)
    tf.compat.v1.add_to_collection(layers.TRAINING_EPOCH, epoch)

  def _gate(self, var):
    """Whether `var` updates at this step (a bool tensor), or None for
    always."""
    conditions = []
    if var.ref() in self._limits:
      conditions.append(self._epoch < self._limits[var.ref()])
    if var.ref() in self._periods:
      conditions.append(tf.equal(
          self._step_number % self._periods[var.ref()], 0))
    return tf.reduce_all(conditions) if conditions else None

  def _gated(self, apply, grad, var):
    """`apply(grad, var)`, the update, on the steps `var` updates at."""
    gate = self._gate(var)
    if gate is None:
      return apply(grad, var)
    return tf.cond(gate, lambda: tf.group(apply(grad, var)), tf.no_op)


class AirbenchSGD(GatedUpdates, tf.compat.v1.train.MomentumOptimizer):
  """airbench's SGD: Nesterov momentum AIRBENCH_MOMENTUM, its numbers
  "per 1,024 examples" converted as airbench converts them.

  airbench states the rate and the weight decay decoupled from the
  momentum (and the decay from the rate), and hands PyTorch's SGD
  lr = rate / (1024 (1 + 1 / (1 - momentum))) and a coupled weight decay
  (added to each gradient) of weight_decay x batch / rate per unit of
  lr, which stays as the rate is scheduled. Batch norm's offsets
  (layers.OFFSETS) get OFFSET_RATE_SCALE x the rate and the same decay
  per step: their decay-carrying gradient is scaled instead, the same
  update through momentum. Variables of layers.epoch_limits are updated
  only in their first epochs, as airbench stops their gradients, and a
  proxy network's on its period's steps (GatedUpdates).
  """

  def __init__(self, learning_rate, recipe, global_step, examples_per_step):
    super(AirbenchSGD, self).__init__(
        learning_rate / (1024.0 * (1 + 1 / (1 - AIRBENCH_MOMENTUM))),
        AIRBENCH_MOMENTUM, use_nesterov=True)
    self._decay = recipe.weight_decay * recipe.batch_size / recipe.learning_rate
    self._set_gates(global_step, training_epoch(recipe, global_step,
                                                examples_per_step))

  def compute_gradients(self, loss, *args, **kwargs):
    """The gradients with the weight decay in, the offsets' scaled."""
    offsets = {v.ref() for v in tf.compat.v1.get_collection(layers.OFFSETS)}
    grads = []
    for grad, var in super(AirbenchSGD, self).compute_gradients(
        loss, *args, **kwargs):
      if grad is not None:
        if var.ref() in offsets:
          grad = OFFSET_RATE_SCALE * grad + self._decay * var
        else:
          grad = grad + self._decay * var
      grads.append((grad, var))
    return grads

  def _resource_apply_dense(self, grad, var):
    return self._gated(super(AirbenchSGD, self)._resource_apply_dense, grad,
                       var)


def orthogonalized(matrix, steps=NEWTON_SCHULZ_STEPS):
  """Muon's Newton-Schulz iteration on a float32 matrix: about U V^T of
  its SVD U S V^T, each singular value brought into about [0.5, 1.5] (the
  quintic's coefficients favour speed over convergence; airbench94_muon
  runs it in bfloat16 on a GPU, this in float32)."""
  a, b, c = NEWTON_SCHULZ
  x = matrix / (tf.norm(matrix) + NEWTON_SCHULZ_EPSILON)
  tall = matrix.shape[0] > matrix.shape[1]
  if tall:
    x = tf.transpose(x)
  for _ in range(steps):
    gram = tf.matmul(x, x, transpose_b=True)
    x = a * x + tf.matmul(b * gram + c * tf.matmul(gram, gram), x)
  return tf.transpose(x) if tall else x


class Muon(GatedUpdates, tf.compat.v1.train.Optimizer):
  """airbench94_muon's optimizers, as one: Muon on the convolutions'
  kernels, Nesterov SGD (PyTorch's, weight decay added to the gradient)
  on the rest.

  Muon (Jordan et al. 2024): momentum MUON_MOMENTUM, Nesterov; each step
  the kernel is scaled to a norm of sqrt(output channels), then moves by
  the rate times its orthogonalized gradient (the kernel as a matrix of
  one row per output channel: PyTorch's len(p) is a TensorFlow kernel's
  last dimension). The SGD rates are MUON_BIAS_RATE (whitening biases,
  batch norm's offsets) and MUON_HEAD_RATE (the head), with weight decay
  weight_decay x batch / rate, on the same schedule as the recipe's rate
  (the whitening biases' own reaches 0 at their last epoch, when they
  stop training).
  """

  def __init__(self, learning_rate, recipe, global_step, examples_per_step):
    super(Muon, self).__init__(False, 'Muon')
    self._rate = learning_rate
    self._factor = learning_rate / recipe.learning_rate
    self._decay = recipe.weight_decay * recipe.batch_size
    self._step = tf.cast(global_step, tf.float32)
    self._steps_per_epoch = recipe.epoch_examples() / examples_per_step
    self._set_gates(global_step, training_epoch(recipe, global_step,
                                                examples_per_step))
    self._offsets = {v.ref() for v in tf.compat.v1.get_collection(
        layers.OFFSETS)}

  def _create_slots(self, var_list):
    """A momentum buffer per variable, zero at first (both optimizers')."""
    for var in var_list:
      self._zeros_slot(var, 'momentum', self._name)

  def _sgd_rate(self, var):
    """(rate, weight decay) of a variable SGD trains."""
    if var.ref() in self._limits:
      last = self._limits[var.ref()] * self._steps_per_epoch
      return (MUON_BIAS_RATE * tf.maximum(0.0, 1.0 - self._step / last),
              self._decay / MUON_BIAS_RATE)
    base = MUON_BIAS_RATE if var.ref() in self._offsets else MUON_HEAD_RATE
    return base * self._factor, self._decay / base

  def _muon_update(self, grad, unused_var, value, momentum):
    """(new momentum, new kernel) of one Muon step."""
    buffer = MUON_MOMENTUM * momentum + grad
    nesterov = grad + MUON_MOMENTUM * buffer
    outputs = value.shape[-1]
    scaled = value * (float(outputs) ** 0.5 / tf.norm(value))
    rows = tf.reshape(tf.transpose(nesterov, [3, 0, 1, 2]), [outputs, -1])
    update = tf.transpose(tf.reshape(
        orthogonalized(rows), [outputs] + value.shape[:-1].as_list()),
                          [1, 2, 3, 0])
    return buffer, scaled - self._rate * update

  def _sgd_update(self, grad, var, value, momentum):
    """(new momentum, new value) of one Nesterov SGD step, PyTorch's."""
    rate, decay = self._sgd_rate(var)
    decayed = grad + decay * value
    buffer = MUON_SGD_MOMENTUM * momentum + decayed
    return buffer, value - rate * (decayed + MUON_SGD_MOMENTUM * buffer)

  def _resource_apply_dense(self, grad, var):
    """One step of `var`'s optimizer, on the steps it updates at."""
    return self._gated(self._update, grad, var)

  def _update(self, grad, var):
    """One step of `var`'s optimizer: Muon for kernels, else SGD."""
    momentum = self.get_slot(var, 'momentum')
    update = self._muon_update if var.shape.rank == 4 else self._sgd_update
    buffer, value = update(grad, var, var.read_value(), momentum.read_value())
    return tf.group(momentum.assign(buffer), var.assign(value))

  def _apply_dense(self, grad, var):
    """The same for reference variables."""
    return self._resource_apply_dense(grad, var)


class Optimizer(collections.namedtuple(
    'Optimizer', 'make description decays gates', defaults=[False, False])):
  """An optimizer, a recipe element.

  make(learning_rate, recipe, global_step, examples_per_step) -> a TF1
  optimizer; description: what the run's first line calls it; decays: whether
  it applies the recipe's weight decay itself (else the model's loss
  carries it); gates: whether it skips the updates a recipe leaves out
  (GatedUpdates), which a selection's proxy needs.
  """


OPTIMIZERS = {
    'sgd': Optimizer(
        lambda lr, *unused: tf.compat.v1.train.GradientDescentOptimizer(lr),
        'SGD'),
    'nesterov': Optimizer(
        lambda lr, *unused: tf.compat.v1.train.MomentumOptimizer(
            lr, MOMENTUM, use_nesterov=True),
        'SGD + Nesterov momentum %g' % MOMENTUM),
    'adam': Optimizer(lambda lr, *unused: tf.compat.v1.train.AdamOptimizer(lr),
                      'Adam'),
    'airbench_sgd': Optimizer(
        AirbenchSGD, 'airbench\'s SGD + Nesterov momentum %g (rate and weight '
        'decay per 1,024 examples; %gx the rate on batch norm offsets)' %
        (AIRBENCH_MOMENTUM, OFFSET_RATE_SCALE), decays=True, gates=True),
    'muon': Optimizer(
        Muon, 'Muon (momentum %g) on the kernels; SGD + Nesterov momentum %g '
        'on the rest, rates %g (biases) and %g (head)' %
        (MUON_MOMENTUM, MUON_SGD_MOMENTUM, MUON_BIAS_RATE, MUON_HEAD_RATE),
        decays=True, gates=True),
}


def _is_number(value):
  """A JSON number (not a boolean), finite."""
  return (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value))


def _one_of(names):
  return lambda value: isinstance(value, str) and value in names, (
      'one of ' + ', '.join(sorted(names)))


# What each field of a Recipe may hold, as a hand-edited model.json is
# checked: (test of the value, what it must be in words).
FIELD_RULES = {
    'preprocessing': _one_of(cifar10_input.PREPROCESSING),
    'optimizer': _one_of(OPTIMIZERS),
    'schedule': _one_of(SCHEDULES),
    'learning_rate': (lambda v: _is_number(v) and v > 0, 'a number above 0'),
    'warmup_fraction': (lambda v: _is_number(v) and 0 <= v < 1,
                        'a number from 0 up to (not including) 1'),
    'epochs': (lambda v: v is None or (_is_number(v) and v > 0),
               'null or a number above 0'),
    'weight_decay': (lambda v: _is_number(v) and v >= 0,
                     'a number of at least 0'),
    'batch_size': (lambda v: isinstance(v, int) and not isinstance(v, bool)
                   and v >= 1, 'a whole number of at least 1'),
    'moving_average_decay': (lambda v: v is None or (_is_number(v) and
                                                     0 < v < 1),
                             'null or a number between 0 and 1'),
    'label_smoothing': (lambda v: _is_number(v) and 0 <= v <= 0.5,
                        'a number from 0 to 0.5'),
    'loss_reduction': _one_of(('mean', 'sum')),
    'lookahead': (lambda v: isinstance(v, bool), 'true or false'),
    'tta': (lambda v: v is None or (isinstance(v, str) and
                                    v in cifar10_input.TEST_TIME_VIEWS),
            'null or one of ' + ', '.join(sorted(
                cifar10_input.TEST_TIME_VIEWS))),
    'train_examples': (lambda v: v is None or (
        isinstance(v, int) and not isinstance(v, bool) and v >= 1),
                       'null or a whole number of at least 1'),
    'selection': (lambda v: v is None or (isinstance(v, str) and
                                          v in selections.SELECTIONS),
                  'null or one of ' + ', '.join(sorted(
                      selections.SELECTIONS))),
}


def field_problem(name, value):
  """What is wrong with `value` as the recipe field `name`, or None."""
  if name not in FIELD_RULES:
    return 'is not a field of a recipe (%s are)' % ', '.join(Recipe._fields)
  test, expected = FIELD_RULES[name]
  if test(value):
    return None
  return 'is %s; it must be %s' % (json.dumps(value), expected)


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
      learning_rate(recipe, global_step, examples_per_step), recipe,
      global_step, examples_per_step)


def training_epoch(recipe, global_step, examples_per_step):
  """The epoch a training step is in (an int64 scalar)."""
  return tf.math.floordiv(tf.cast(global_step, tf.int64) * examples_per_step,
                          recipe.epoch_examples())


def selected(recipe, images, labels, dataset):
  """The part of a training batch the recipe trains on: the whole batch,
  or what its selection keeps (selection.select).

  Raises:
    UserError: the recipe's optimizer cannot train the selection's proxy.
  """
  if recipe.selection is None:
    return images, labels
  if not OPTIMIZERS[recipe.optimizer].gates:
    raise UserError(
        'the recipe\'s selection %r trains its proxy every few steps, which '
        'the optimizer %r cannot do: use airbench_sgd or muon in the '
        'recipe of model.json' % (recipe.selection, recipe.optimizer))
  return selections.select(recipe.selection, images, labels,
                           recipe.label_smoothing, dataset)


def post_update(recipe, global_step, examples_per_step):
  """What a training step of `recipe` runs after its updates, as a
  function that builds it (step.apply_gradients' post_update), or None.
  """
  if not recipe.lookahead:
    return None
  return lambda after: lookahead(global_step,
                                 recipe.steps(examples_per_step), after)


def lookahead(global_step, total_steps, after):
  """airbench's lookahead, run after the op `after` (a step's updates).

  Every LOOKAHEAD_PERIOD global steps, each weight and each batch norm
  statistic (layers.STATISTICS) of the model (not a selection's proxy)
  moves its running average ('<name>/
  Lookahead', a variable: checkpoints keep it) toward itself by 1 - decay,
  decay = LOOKAHEAD_BASE x (step / total_steps) ** LOOKAHEAD_POWER, and is
  set to that average; at total_steps each is set to its average.
  """
  graph = tf.compat.v1.get_default_graph()
  selectors = selections.selector_variables(graph)
  variables = [v for v in (tf.compat.v1.trainable_variables() +
                           graph.get_collection(layers.STATISTICS))
               if v.ref() not in selectors]
  # Each average starts as its variable: the initializers of both read the
  # same initial value, which one session run evaluates once.
  averages = [tf.compat.v1.get_variable(
      v.op.name + '/Lookahead', initializer=v.initial_value,
      trainable=False) for v in variables]
  with tf.control_dependencies([after]):
    step = global_step.read_value()
  due = tf.equal(step % LOOKAHEAD_PERIOD, 0)
  decay = tf.where(due, LOOKAHEAD_BASE * tf.pow(
      tf.cast(step, tf.float32) / total_steps, LOOKAHEAD_POWER), 1.0)

  def pull():
    updates = []
    for variable, average in zip(variables, averages):
      moved = average + (1.0 - decay) * (variable - average)
      updates += [average.assign(moved), variable.assign(moved)]
    return tf.group(*updates)
  return tf.cond(due | (step >= total_steps), pull, tf.no_op,
                 name='lookahead')


def describe(recipe, decay, image_size=cifar10_input.DATASET.image_size):
  """What `recipe` does with images of `image_size`, for the start of a
  run; `decay` says its weight decay in words (the model knows which
  weights it applies to)."""
  averages = ('eval reads the weights\' moving average (decay %g)' %
              recipe.moving_average_decay if recipe.moving_average_decay
              else 'eval reads the weights themselves')
  smoothing = ('; label smoothing %g' % recipe.label_smoothing
               if recipe.label_smoothing else '')
  if recipe.loss_reduction != 'mean':
    smoothing += '; the loss summed over the batch'
  if recipe.lookahead:
    smoothing += ('; lookahead every %d steps' % LOOKAHEAD_PERIOD)
  if recipe.selection:
    smoothing += '; ' + selections.describe(recipe.selection)
  return 'input %s; %s; learning rate %s; weight decay %s%s; %s' % (
      cifar10_input.PREPROCESSING[recipe.preprocessing].describe(image_size),
      OPTIMIZERS[recipe.optimizer].description,
      SCHEDULES[recipe.schedule].describe(recipe), decay, smoothing, averages)
