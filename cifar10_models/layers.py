"""The layers the zoo's networks are built from, TF1-style.

Every variable comes from tf.compat.v1.get_variable under the layer's
variable scope, as in cifar10.py, so that towers share them and
checkpoints name them plainly ('conv1/weights', 'conv1/bn/moving_mean').

Batch norm and dropout behave differently in training and in inference; a
`Net` is built for one or the other (`training`), so each graph has one
behaviour: training graphs normalize with the batch's statistics and
update the moving ones, eval, predict and the SavedModel use the moving
statistics and no dropout.
"""

import tensorflow as tf

import cifar10_input
from cifar10_lib import step
from cifar10_lib import summaries
from cifar10_models import tuned_ops

# Batch norm: the moving statistics move this much toward each batch's
# (torch's momentum 0.1), and this epsilon is added to the variance.
BN_DECAY = 0.9
BN_EPSILON = 1e-3

# Initializers: He et al.'s for layers followed by a ReLU, Glorot's
# (Keras' default) for the others.
HE_INIT = tf.compat.v1.variance_scaling_initializer(
    2.0, mode='fan_in', distribution='truncated_normal')
GLOROT_INIT = tf.compat.v1.glorot_uniform_initializer()

ACTIVATIONS = {'relu': tf.nn.relu, 'sigmoid': tf.nn.sigmoid,
               'gelu': tuned_ops.gelu, None: None}
# A graph whose PORTABLE collection is not empty is built for TensorFlow
# Lite (cifar10_deploy/tflite.py): it takes PORTABLE_ACTIVATIONS, GELU as
# tf.nn.gelu's exact form, which the converter turns into its GELU op; it
# cannot convert the tuned form's erf, which TensorFlow runs 1.7-1.9x
# faster (a forward pass over 33M values on the AVX2 EPYC).
PORTABLE = 'portable_ops'
PORTABLE_ACTIVATIONS = dict(
    ACTIVATIONS, gelu=lambda x: tf.nn.gelu(x, approximate=False))

# Graph collections of what a recipe treats apart: batch norm's offsets
# (OFFSETS: a recipe may give them a larger learning rate) and moving
# statistics (STATISTICS: airbench's lookahead averages them), variables that
# train for their first N epochs only (the collection EPOCH_LIMIT % N), and
# variables set from the first N training images when a run starts fresh
# (DATA_INITIALIZED; feed the images to a placeholder of DATA_IMAGES % N and
# run the op of DATA_INITIALIZERS % N in the same place).
OFFSETS = 'batch_norm_offsets'
STATISTICS = 'batch_norm_statistics'
EPOCH_LIMIT = 'trained_for_epochs/%d'
DATA_INITIALIZED = 'data_initialized_variables'
# The epoch a training step is in (an int64 scalar), put here by an
# optimizer that knows it (recipe.AirbenchSGD) before it builds the
# gradients; in_first_epochs reads it.
TRAINING_EPOCH = 'training_epoch'
DATA_IMAGES = 'data_initializer_images/%d'
DATA_INITIALIZERS = 'data_initializers/%d'


def torch_uniform(shape, dtype=tf.float32, partition_info=None):
  """PyTorch's default initializer of Conv2d and Linear weights:
  U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with a = sqrt(5))."""
  del partition_info
  fan_in = 1
  for size in shape[:-1]:
    fan_in *= int(size)
  bound = fan_in ** -0.5
  return tf.random.uniform(shape, -bound, bound, dtype)


def unit_std(shape, dtype=tf.float32, partition_info=None):
  """torch_uniform's draw divided by its own standard deviation:
  airbench94_muon's head (`w *= 1 / w.std()`)."""
  weights = torch_uniform(shape, dtype, partition_info)
  return weights / tf.math.reduce_std(weights)


def dirac(shape, dtype=tf.float32, partition_info=None):
  """torch_uniform, with the first in-channels of the output channels a
  partial identity (torch.nn.init.dirac_): a 3x3 kernel [h, w, in, out]
  whose output channel k < min(in, out) copies input channel k."""
  del partition_info
  height, width, depth_in, depth_out = [int(d) for d in shape]
  identity = tf.reshape(tf.one_hot(
      (height // 2) * width + width // 2, height * width, dtype=dtype),
                        [height, width, 1, 1]) * tf.eye(
                            depth_in, depth_out, dtype=dtype)
  keep = tf.cast(tf.range(depth_out) >= min(depth_in, depth_out), dtype)
  return torch_uniform(shape, dtype) * keep + identity


# The image size the zoo's networks were designed for (CIFAR's): at it, a
# network's last pool leaves the map its source's head was sized for; at
# any other, that pool is global (Net.last_pool).
DESIGNED_SIZE = 32

# The whitening layer's patches come from this many training images.
WHITENING_IMAGES = 5000


def numbered_collections(graph, pattern):
  """{N: the collection named pattern % N} of `graph`."""
  prefix = pattern.split('%')[0]
  return {int(key[len(prefix):]): graph.get_collection(key)
          for key in graph.get_all_collection_keys() if key.startswith(prefix)}


def epoch_limits(graph):
  """{variable reference: epochs} of the variables of `graph` that train
  for their first epochs only."""
  return {variable.ref(): epochs for epochs, variables in
          numbered_collections(graph, EPOCH_LIMIT).items()
          for variable in variables}


def in_first_epochs(epochs):
  """A tuned_ops.conv2d input_gradient_while: a function that returns
  whether the step is in the first `epochs` epochs (None, for always, if no
  optimizer put the epoch in TRAINING_EPOCH)."""
  def predicate():
    epoch = tf.compat.v1.get_collection(TRAINING_EPOCH)
    return epoch[-1] < epochs if epoch else None
  return predicate


def data_initializers(graph):
  """[(N, images placeholder, assign op)]: the ops of `graph` that set a
  variable from the first N training images when a run starts fresh."""
  assigns = numbered_collections(graph, DATA_INITIALIZERS)
  return [(count, images, assign) for count, placeholders in
          numbered_collections(graph, DATA_IMAGES).items()
          for images, assign in zip(placeholders, assigns[count])]


def whitening_weights(images, size, epsilon):
  """The whitening kernel [size, size, 3, 2 x 3 x size^2] of float images
  [n, h, w, 3] (see Net.whitening_conv), computed in float64."""
  depth = images.shape[-1]
  patches = tf.image.extract_patches(
      images, [1, size, size, 1], [1, 1, 1, 1], [1, 1, 1, 1], 'VALID')
  flat = tf.cast(tf.reshape(patches, [-1, size * size * depth]), tf.float64)
  covariance = tf.matmul(flat, flat, transpose_a=True) / tf.cast(
      tf.shape(flat)[0], tf.float64)
  eigenvalues, eigenvectors = tf.linalg.eigh(covariance)
  # Largest first: eigh gives them in increasing order, one per column.
  scaled = tf.reverse(eigenvectors / tf.sqrt(eigenvalues + epsilon), [1])
  kernel = tf.reshape(scaled, [size, size, depth, size * size * depth])
  return tf.cast(tf.concat([kernel, -kernel], axis=3), tf.float32)


def _register_whitening(kernel, epsilon, dataset):
  """Adds the DataInitializer that sets `kernel` from `dataset`'s images,
  once per variable."""
  if kernel in tf.compat.v1.get_collection(DATA_INITIALIZED):
    return
  size = dataset.image_size
  images = tf.compat.v1.placeholder(tf.uint8, [None, size, size, 3])
  value = whitening_weights(cifar10_input.normalize(images, dataset),
                            int(kernel.shape[0]), epsilon)
  tf.compat.v1.add_to_collection(DATA_INITIALIZED, kernel)
  tf.compat.v1.add_to_collection(DATA_IMAGES % WHITENING_IMAGES, images)
  tf.compat.v1.add_to_collection(DATA_INITIALIZERS % WHITENING_IMAGES,
                                 tf.compat.v1.assign(kernel, value))


def _summarize(activation, var_scope):
  """The tutorial's activation summaries, tagged by the layer's full scope."""
  summaries.activation_summary(activation, var_scope.name)


class Net(object):
  """Builds one network's layers in the default graph.

  Attributes:
    training: whether this is a training graph (batch statistics, moving
      statistics updated, dropout on).
    weight_decay: the recipe's L2 factor, which add_weight_decay applies
      to `weights` (a builder that decays its own weights reads it).
    use_fp16: whether the network is built in float16 (--use_fp16; a
      builder that can reads it, the others are refused it).
    weights: the weights built (or reused) so far, for weight decay.
    dataset: the records.Dataset the network classifies: its class count
      sizes the logits, its statistics normalize what a layer set from
      the data sees.
  """

  def __init__(self, training, weight_decay=0.0, use_fp16=False,
               dataset=cifar10_input.DATASET):
    self.training = training
    self.weight_decay = weight_decay
    self.use_fp16 = use_fp16
    self.dataset = dataset
    self.weights = []

  @property
  def num_classes(self):
    return self.dataset.num_classes

  def _weights(self, shape, activation, initializer=None):
    if initializer is None:
      initializer = HE_INIT if activation == 'relu' else GLOROT_INIT
    weights = tf.compat.v1.get_variable('weights', shape, tf.float32,
                                        initializer=initializer)
    self.weights.append(weights)
    return weights

  @staticmethod
  def _biases(size):
    return tf.compat.v1.get_variable(
        'biases', [size], tf.float32,
        initializer=tf.compat.v1.zeros_initializer())

  def conv(self, x, depth, size, scope, stride=1, padding='SAME',
           activation='relu', batch_norm=False, bias=True, initializer=None,
           input_gradient_epochs=None):
    """A size x size convolution, [biases,] [batch norm,] activation.

    Biases before batch norm are redundant (its offset does their job),
    but Keras' Conv2D has them by default and its reference networks count
    them, so each network says whether its convolutions have them. The
    weights' initializer is He's before a ReLU, else Glorot's, unless
    given. `input_gradient_epochs`: for a layer whose input leads only to
    variables that train for their first N epochs (EPOCH_LIMIT), N: the
    input's gradient is skipped after them.
    """
    gate = (None if input_gradient_epochs is None else
            in_first_epochs(input_gradient_epochs))
    with tf.compat.v1.variable_scope(scope) as var_scope:
      kernel = self._weights([size, size, x.shape[-1], depth], activation,
                             initializer)
      y = tuned_ops.conv2d(x, kernel, stride, padding, gate)
      if bias:
        y = tf.nn.bias_add(y, self._biases(depth))
      if batch_norm:
        y = self.batch_norm(y)
      y = self.activate(y, activation)
    _summarize(y, var_scope)
    return y

  def dense(self, x, size, scope, activation='relu', bias=True,
            initializer=None):
    """A fully connected layer; flattens its input first."""
    x = tf.reshape(x, [-1, x.shape[1:].num_elements()])
    with tf.compat.v1.variable_scope(scope) as var_scope:
      y = tf.matmul(x, self._weights([x.shape[-1], size], activation,
                                     initializer))
      if bias:
        y = tf.nn.bias_add(y, self._biases(size))
      y = self.activate(y, activation)
    _summarize(y, var_scope)
    return y

  @staticmethod
  def activate(x, activation):
    """`x` through the activation named `activation` (None: as it is),
    in this graph's form (PORTABLE_ACTIVATIONS in a PORTABLE graph)."""
    function = (PORTABLE_ACTIVATIONS if tf.compat.v1.get_collection(PORTABLE)
                else ACTIVATIONS)[activation]
    return function(x) if function else x

  def batch_norm(self, x, scope='bn', decay=BN_DECAY, epsilon=BN_EPSILON,
                 scale=True):
    """Batch normalization of NHWC `x` over batch, height and width.

    Training graphs normalize with the batch's mean and variance and add
    the updates of the moving mean and variance (each moved by 1 - `decay`
    toward the batch's) to UPDATE_OPS, which the training step runs;
    inference graphs normalize with the moving ones. The per-channel
    vectors are variables, saved in checkpoints: the offset 'beta' (also in
    OFFSETS), the moving statistics and, unless `scale` is False (a scale
    fixed at 1), the scale 'gamma'.
    """
    depth = x.shape[-1]
    with tf.compat.v1.variable_scope(scope):
      if scale:
        gamma = tf.compat.v1.get_variable(
            'gamma', [depth], initializer=tf.compat.v1.ones_initializer())
      else:
        gamma = tf.ones([depth])
      offset = tf.compat.v1.get_variable(
          'beta', [depth], initializer=tf.compat.v1.zeros_initializer())
      if offset not in tf.compat.v1.get_collection(OFFSETS):
        tf.compat.v1.add_to_collection(OFFSETS, offset)
      moving = [tf.compat.v1.get_variable(
          name, [depth], initializer=initializer, trainable=False)
                for name, initializer in (
                    ('moving_mean', tf.compat.v1.zeros_initializer()),
                    ('moving_variance', tf.compat.v1.ones_initializer()))]
      for variable in moving:
        if variable not in tf.compat.v1.get_collection(STATISTICS):
          tf.compat.v1.add_to_collection(STATISTICS, variable)
      if not self.training:
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(
            x, gamma, offset, moving[0], moving[1], epsilon,
            is_training=False)
        return y
      y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
          x, gamma, offset, epsilon=epsilon, is_training=True)
      for variable, value in zip(moving, (mean, variance)):
        tf.compat.v1.add_to_collection(
            tf.compat.v1.GraphKeys.UPDATE_OPS,
            variable.assign_sub((variable - value) * (1.0 - decay)))
      return y

  def whitening_conv(self, x, scope, size=2, epsilon=5e-4, bias_epochs=None):
    """A frozen size x size convolution (no padding) that whitens patches.

    Its 2 x 3 x size^2 output channels are the eigenvectors of the
    (uncentred) covariance of the size x size patches of the first
    WHITENING_IMAGES training images, each divided by
    sqrt(eigenvalue + epsilon), largest eigenvalue first, then the same
    negated (Jordan 2024, airbench). A training graph registers the op
    that sets them when a run starts fresh (data_initializers); the
    checkpoint keeps them. The biases train, for `bias_epochs` epochs
    only if given (EPOCH_LIMIT).
    """
    depth = 2 * x.shape[-1] * size * size
    with tf.compat.v1.variable_scope(scope) as var_scope:
      kernel = tf.compat.v1.get_variable(
          'weights', [size, size, x.shape[-1], depth], tf.float32,
          initializer=tf.compat.v1.zeros_initializer(), trainable=False)
      biases = self._biases(depth)
      if self.training:
        _register_whitening(kernel, epsilon, self.dataset)
        if bias_epochs is not None and biases not in (
            tf.compat.v1.get_collection(EPOCH_LIMIT % bias_epochs)):
          tf.compat.v1.add_to_collection(EPOCH_LIMIT % bias_epochs, biases)
      y = tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, 'VALID'), biases)
    _summarize(y, var_scope)
    return y

  def dropout(self, x, rate):
    """Drops a `rate` share of x's values in training graphs only."""
    return tf.nn.dropout(x, rate=rate) if self.training else x

  @staticmethod
  def max_pool(x, size, stride, padding='VALID'):
    return tf.nn.max_pool2d(x, size, stride, padding)

  def max_pool_then_norm(self, x, size, stride, scope, decay, epsilon):
    """max_pool, then batch_norm with its scale fixed at 1.

    A PORTABLE inference graph normalizes first, to the same values: with
    moving statistics and no scale the norm is (x - mean) / sqrt(variance
    + epsilon) + offset, a positive factor and a shift per channel, which
    commute with the max. Next to the convolution before it, TensorFlow
    Lite's converter folds it into that convolution's weights and biases,
    so an int8 file rounds the normalized output to int8 once; after the
    pool it stays a multiply and an add, each rounding to int8 again.
    """
    if not self.training and tf.compat.v1.get_collection(PORTABLE):
      return self.max_pool(
          self.batch_norm(x, scope, decay, epsilon, scale=False), size,
          stride)
    return self.batch_norm(self.max_pool(x, size, stride), scope, decay,
                           epsilon, scale=False)

  def last_pool(self, x, size, stride):
    """The max-pool before a network's head: `size` / `stride` as its
    source has it on DESIGNED_SIZE images, global on images of any other
    size, so that the head's inputs do not grow with the images (and a map
    smaller than the source's window still pools)."""
    if self.dataset.image_size == DESIGNED_SIZE:
      return self.max_pool(x, size, stride)
    return tf.reduce_max(x, axis=[1, 2], keepdims=True)

  @staticmethod
  def global_average_pool(x):
    return tf.reduce_mean(x, axis=[1, 2])

  def add_weight_decay(self):
    """Adds weight_decay * sum of l2_loss(weights) as one loss term.

    One term for the whole network, named 'weight_loss', so that the loss
    summaries stay two lines whatever the depth; biases and batch norm's
    vectors are not decayed. Nothing if the factor is 0 or no weight was
    built with this Net (a builder with weight decay of its own).
    """
    weight_decay = self.weight_decay
    if not weight_decay or not self.weights:
      return
    total = tf.add_n([tf.nn.l2_loss(w) for w in self.weights])
    tf.compat.v1.add_to_collection(
        step.LOSSES_COLLECTION,
        tf.multiply(total, weight_decay, name='weight_loss'))
