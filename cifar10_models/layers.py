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

import cifar10_lib  # Before TensorFlow: it sets TensorFlow's CPU options.
import tensorflow as tf

import cifar10
from cifar10_lib import summaries

# Batch norm: the moving statistics move this much toward each batch's
# (torch's momentum 0.1), and this epsilon is added to the variance.
BN_DECAY = 0.9
BN_EPSILON = 1e-3

# Initializers: He et al.'s for layers followed by a ReLU, Glorot's
# (Keras' default) for the others.
HE_INIT = tf.compat.v1.variance_scaling_initializer(
    2.0, mode='fan_in', distribution='truncated_normal')
GLOROT_INIT = tf.compat.v1.glorot_uniform_initializer()

ACTIVATIONS = {'relu': tf.nn.relu, 'sigmoid': tf.nn.sigmoid, None: None}


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
  """

  def __init__(self, training, weight_decay=0.0, use_fp16=False):
    self.training = training
    self.weight_decay = weight_decay
    self.use_fp16 = use_fp16
    self.weights = []

  def _weights(self, shape, activation):
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
           activation='relu', batch_norm=False, bias=True):
    """A size x size convolution, [biases,] [batch norm,] activation.

    Biases before batch norm are redundant (its offset does their job),
    but Keras' Conv2D has them by default and its reference networks count
    them, so each network says whether its convolutions have them.
    """
    with tf.compat.v1.variable_scope(scope) as var_scope:
      kernel = self._weights([size, size, x.shape[-1], depth], activation)
      y = tf.nn.conv2d(x, kernel, stride, padding)
      if bias:
        y = tf.nn.bias_add(y, self._biases(depth))
      if batch_norm:
        y = self.batch_norm(y)
      y = self._activate(y, activation)
    _summarize(y, var_scope)
    return y

  def dense(self, x, size, scope, activation='relu'):
    """A fully connected layer; flattens its input first."""
    x = tf.reshape(x, [-1, x.shape[1:].num_elements()])
    with tf.compat.v1.variable_scope(scope) as var_scope:
      y = tf.matmul(x, self._weights([x.shape[-1], size], activation))
      y = self._activate(tf.nn.bias_add(y, self._biases(size)), activation)
    _summarize(y, var_scope)
    return y

  @staticmethod
  def _activate(x, activation):
    function = ACTIVATIONS[activation]
    return function(x) if function else x

  def batch_norm(self, x, scope='bn'):
    """Batch normalization of NHWC `x` over batch, height and width.

    Training graphs normalize with the batch's mean and variance and add
    the updates of the moving mean and variance to UPDATE_OPS, which the
    training step runs; inference graphs normalize with the moving ones.
    All four per-channel vectors are variables, saved in checkpoints.
    """
    depth = x.shape[-1]
    with tf.compat.v1.variable_scope(scope):
      scale = tf.compat.v1.get_variable(
          'gamma', [depth], initializer=tf.compat.v1.ones_initializer())
      offset = tf.compat.v1.get_variable(
          'beta', [depth], initializer=tf.compat.v1.zeros_initializer())
      moving = [tf.compat.v1.get_variable(
          name, [depth], initializer=initializer, trainable=False)
                for name, initializer in (
                    ('moving_mean', tf.compat.v1.zeros_initializer()),
                    ('moving_variance', tf.compat.v1.ones_initializer()))]
      if not self.training:
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(
            x, scale, offset, moving[0], moving[1], BN_EPSILON,
            is_training=False)
        return y
      y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
          x, scale, offset, epsilon=BN_EPSILON, is_training=True)
      for variable, value in zip(moving, (mean, variance)):
        tf.compat.v1.add_to_collection(
            tf.compat.v1.GraphKeys.UPDATE_OPS,
            variable.assign_sub((variable - value) * (1.0 - BN_DECAY)))
      return y

  def dropout(self, x, rate):
    """Drops a `rate` share of x's values in training graphs only."""
    return tf.nn.dropout(x, rate=rate) if self.training else x

  @staticmethod
  def max_pool(x, size, stride, padding='VALID'):
    return tf.nn.max_pool2d(x, size, stride, padding)

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
        cifar10.LOSSES_COLLECTION,
        tf.multiply(total, weight_decay, name='weight_loss'))
