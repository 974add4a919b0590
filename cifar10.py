"""Builds the CIFAR-10 network, its loss and its training ops.

Summary of the functions:

  # Input images and labels for training (see cifar10_input.py).
  images, labels = cifar10_input.distorted_inputs(data_dir, batch_size)

  # The model's logits.
  logits = inference(images)

  # The total loss: cross entropy plus weight decay.
  loss = loss(logits, labels)

  # One step of SGD, with the moving averages that summaries and eval use.
  train_op = train(loss, global_step, batch_size)

The graph is built with tf.compat.v1 (graph mode) on TensorFlow 2.x. All
variables come from `tf.compat.v1.get_variable` under a variable scope per
layer, so that several towers (cifar10_multi_gpu_train.py) can share them.
`train` builds the step every trainer builds (cifar10_lib/step.py), on one
device. Summaries are cifar10_lib.summaries'; the download is
cifar10_lib.download's (`maybe_download_and_extract` here fetches CIFAR-10
as in the tutorial).
"""

import numpy as np
import tensorflow as tf

import cifar10_input
from cifar10_lib import download
from cifar10_lib import step
from cifar10_lib import summaries

# The data set, as cifar10_input describes it.
IMAGE_SIZE = cifar10_input.IMAGE_SIZE
NUM_CLASSES = cifar10_input.NUM_CLASSES
NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN = cifar10_input.NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN
NUM_EXAMPLES_PER_EPOCH_FOR_EVAL = cifar10_input.NUM_EXAMPLES_PER_EPOCH_FOR_EVAL

# Constants describing the training process.
MOVING_AVERAGE_DECAY = 0.9999     # The decay to use for the moving average.
NUM_EPOCHS_PER_DECAY = 350.0      # Epochs after which learning rate decays.
LEARNING_RATE_DECAY_FACTOR = 0.1  # Learning rate decay factor.
INITIAL_LEARNING_RATE = 0.1       # Initial learning rate.
WEIGHT_DECAY = 0.004              # L2 weight decay of local3 and local4.

# Multi-tower training names each tower's ops with this prefix; summaries
# drop it so that all towers report under the same tags.
TOWER_NAME = summaries.TOWER_NAME

# Local response normalization, as in the tutorial.
LRN_DEPTH_RADIUS = 4
LRN_BIAS = 1.0
LRN_ALPHA = 0.001 / 9.0
LRN_BETA = 0.75


def _variable(name, shape, stddev, dtype, wd=None):
  """Creates or reuses a truncated-normal initialized variable.

  Args:
    name: name of the variable within the current variable scope.
    shape: list of ints.
    stddev: standard deviation of the truncated normal initializer.
    dtype: the variable's type, that of the layer's input.
    wd: if not None, adds wd * l2_loss(variable) to LOSSES_COLLECTION, which
      `loss()` sums into the total loss. The sum of squares is taken in
      float32 whatever `dtype` is: in float16, local3's 885K squares would
      be summed with 3 significant digits.
  """
  var = tf.compat.v1.get_variable(
      name, shape, dtype=dtype,
      initializer=tf.compat.v1.truncated_normal_initializer(stddev=stddev))
  if wd is not None:
    weight_decay = tf.multiply(tf.nn.l2_loss(tf.cast(var, tf.float32)), wd,
                               name='weight_loss')
    tf.compat.v1.add_to_collection(step.LOSSES_COLLECTION, weight_decay)
  return var


def _biases(shape, value, dtype):
  return tf.compat.v1.get_variable(
      'biases', shape, dtype=dtype,
      initializer=tf.compat.v1.constant_initializer(value))


def _conv(images, in_depth, out_depth, bias, scope):
  """A 5x5, stride-1, SAME convolution with biases and a ReLU.

  Returns:
    (conv, biases, activation): the convolution without its biases, the
    biases, and relu(conv + biases), whose summaries it adds.
  """
  with tf.compat.v1.variable_scope(scope) as var_scope:
    kernel = _variable('weights', [5, 5, in_depth, out_depth], stddev=5e-2,
                       dtype=images.dtype)
    conv = tf.nn.conv2d(images, kernel, [1, 1, 1, 1], padding='SAME')
    biases = _biases([out_depth], bias, images.dtype)
    activation = tf.nn.relu(tf.nn.bias_add(conv, biases), name=var_scope.name)
  summaries.activation_summary(activation, scope)
  return conv, biases, activation


def _conv_relu_pool(images, in_depth, out_depth, bias, scope, pool_name):
  """`_max_pool` of `_conv`'s activation, with the bias and ReLU after it.

  Max-pooling commutes with adding a per-channel bias and with the ReLU
  (both never reorder values), so the result is the same, but the bias,
  the ReLU and their gradients run on the 4x smaller pooled tensor: about
  4% of a training step on a CPU. The full-size activation is still
  built, for its summaries only, which run only when summaries are
  written.
  """
  conv, biases, _ = _conv(images, in_depth, out_depth, bias, scope)
  with tf.name_scope(pool_name) as pool_scope:
    pooled = _max_pool(conv, 'max')
    return tf.nn.relu(tf.nn.bias_add(pooled, biases), name=pool_scope)


def _fully_connected(x, in_size, out_size, stddev, bias, wd, scope,
                     relu=True):
  """A fully connected layer (x @ weights + biases), ReLU unless told not."""
  with tf.compat.v1.variable_scope(scope) as var_scope:
    weights = _variable('weights', [in_size, out_size], stddev=stddev,
                        dtype=x.dtype, wd=wd)
    pre_activation = tf.matmul(x, weights) + _biases([out_size], bias,
                                                     x.dtype)
    if relu:
      activation = tf.nn.relu(pre_activation, name=var_scope.name)
    else:
      activation = tf.identity(pre_activation, name=var_scope.name)
  summaries.activation_summary(activation, scope)
  return activation


def _max_pool(x, name):
  return tf.nn.max_pool2d(x, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1],
                          padding='SAME', name=name)


def local_response_normalization(x, name):
  """tf.nn.lrn with the tutorial's settings, computed with a matrix product.

  Each activation is divided by (bias + alpha * sum of the squares of the
  activations of the 2 * LRN_DEPTH_RADIUS + 1 nearest channels) ** beta.
  The windowed sum is a product with a band matrix (alpha folded in, the
  bias added by the same fused op), and the gradient is written out, so
  that both run on the fast matrix-multiply and element-wise kernels with
  few passes over the activations: training is about 17% faster on a CPU
  than with tf.nn.lrn's kernels (bench/lrn.py), and the results are the
  same to float rounding (tests/test_model.py checks both passes).
  """
  with tf.name_scope(name) as scope:
    return tf.identity(_band_lrn(x), name=scope)


def _band_lrn(x):
  """The body of local_response_normalization."""
  depth = x.shape[-1]
  channel = np.arange(depth)
  band = np.abs(channel[:, None] - channel[None, :]) <= LRN_DEPTH_RADIUS
  shape = tf.shape(x)

  def window_sum(v, weight):
    """weight * the sum of v over each channel's window: [-1, depth]."""
    return tf.matmul(tf.reshape(v, [-1, depth]),
                     tf.constant(band * weight, dtype=x.dtype))

  @tf.custom_gradient
  def normalize(x):
    divisor = tf.reshape(
        tf.nn.bias_add(window_sum(tf.square(x), LRN_ALPHA),
                       tf.constant(np.full([depth], LRN_BIAS), x.dtype)),
        shape)
    if LRN_BETA == 0.75:
      scale = tf.math.rsqrt(divisor)
      scale *= tf.sqrt(scale)  # divisor ** -0.75, cheaper than tf.pow.
    else:
      scale = tf.pow(divisor, -LRN_BETA)
    y = x * scale

    def grad(dy):
      # d/dx of x * divisor**-beta, through every window x appears in; the
      # band matrix is symmetric, so the same window sum serves.
      return dy * scale - x * tf.reshape(
          window_sum(dy * y / divisor, 2 * LRN_ALPHA * LRN_BETA), shape)
    return y, grad

  return normalize(x)


def maybe_download_and_extract(data_dir, url=None):
  """The tutorial's: fetches CIFAR-10 into `data_dir` unless it is there
  (cifar10_lib.download, checked and extracted all or nothing)."""
  download.maybe_download_and_extract(cifar10_input.DATASET, data_dir, url)


def inference(images, use_fp16=False, weight_decay=WEIGHT_DECAY,
              num_classes=NUM_CLASSES):
  """Builds the CIFAR-10 model and returns its logits.

  Args:
    images: float32 [batch, 24, 24, 3]; any batch size.
    use_fp16: make the variables and activations float16 (the tutorial's
      --use_fp16); each layer takes its variables' type from its input.
    weight_decay: the L2 factor of local3's and local4's weights (the
      recipe's; the tutorial's WEIGHT_DECAY).
    num_classes: the classes softmax_linear scores (the data set's).

  Returns:
    Logits, float32 [batch, num_classes] in either case: the softmax and
    the cross entropy that follow are where float16 would lose the most.
    The softmax is left to the loss, which computes it more stably together
    with the cross entropy.
  """
  images = tf.cast(images, tf.float16 if use_fp16 else tf.float32)
  pool1 = _conv_relu_pool(images, 3, 64, bias=0.0, scope='conv1',
                          pool_name='pool1')
  norm1 = local_response_normalization(pool1, 'norm1')
  _, _, conv2 = _conv(norm1, 64, 64, bias=0.1, scope='conv2')
  norm2 = local_response_normalization(conv2, 'norm2')
  pool2 = _max_pool(norm2, 'pool2')
  # Flatten what is left of the image: 6x6 positions of 64 channels.
  dim = pool2.shape[1] * pool2.shape[2] * pool2.shape[3]
  flat = tf.reshape(pool2, [-1, dim])
  local3 = _fully_connected(flat, dim, 384, stddev=0.04, bias=0.1,
                            wd=weight_decay, scope='local3')
  local4 = _fully_connected(local3, 384, 192, stddev=0.04, bias=0.1,
                            wd=weight_decay, scope='local4')
  logits = _fully_connected(local4, 192, num_classes, stddev=1 / 192.0,
                            bias=0.0, wd=None, scope='softmax_linear',
                            relu=False)
  return tf.cast(logits, tf.float32)


def loss(logits, labels, label_smoothing=0.0, reduction='mean'):
  """Returns the total loss: mean cross entropy plus the weight decay terms.

  The terms are also kept in LOSSES_COLLECTION for the loss summaries. Only
  the terms created under the current name scope count, so that each tower
  of a multi-tower model adds up its own.

  Args:
    logits: from inference().
    labels: int32 [batch], class numbers.
    label_smoothing: the target's share spread evenly over all classes
      (Szegedy et al. 2016; a zoo recipe's option); 0 is the tutorial's
      cross entropy with the true class alone.
    reduction: 'mean' (the tutorial's) or 'sum' of the cross entropy over
      the batch (a recipe's option: airbench's).
  """
  cross_entropy = cross_entropy_per_example(logits, labels, label_smoothing)
  reduce = tf.reduce_sum if reduction == 'sum' else tf.reduce_mean
  cross_entropy_mean = reduce(cross_entropy, name='cross_entropy')
  tf.compat.v1.add_to_collection(step.LOSSES_COLLECTION, cross_entropy_mean)
  return tf.add_n(step.loss_terms(), name='total_loss')


def cross_entropy_per_example(logits, labels, label_smoothing=0.0):
  """The cross entropy of each example's logits with its label (smoothed
  by `label_smoothing`, see loss()): float32 [batch]."""
  if label_smoothing:
    classes = logits.shape[-1]
    targets = (tf.one_hot(labels, classes) * (1.0 - label_smoothing) +
               label_smoothing / classes)
    return tf.nn.softmax_cross_entropy_with_logits(
        labels=targets, logits=logits, name='cross_entropy_per_example')
  return tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=tf.cast(labels, tf.int64), logits=logits,
      name='cross_entropy_per_example')


def learning_rate(global_step, examples_per_step,
                  initial=INITIAL_LEARNING_RATE,
                  train_examples=NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN):
  """The learning rate: `initial` (the tutorial's INITIAL_LEARNING_RATE),
  decayed in steps.

  It drops by LEARNING_RATE_DECAY_FACTOR every NUM_EPOCHS_PER_DECAY epochs
  of `train_examples`, counted in global steps of `examples_per_step`
  examples.
  """
  batches_per_epoch = train_examples / examples_per_step
  decay_steps = int(batches_per_epoch * NUM_EPOCHS_PER_DECAY)
  lr = tf.compat.v1.train.exponential_decay(
      initial, global_step, decay_steps,
      LEARNING_RATE_DECAY_FACTOR, staircase=True)
  summaries.scalar_summary('learning_rate', lr)
  return lr


def train(total_loss, global_step, batch_size):
  """Builds one training step on a single device.

  Args:
    total_loss: from loss().
    global_step: the global step variable; the step increments it by one.
    batch_size: examples per step, for the learning-rate schedule.

  Returns:
    The training op: one step of SGD plus the loss and weight averages'
    updates (step.build's, the step every trainer builds).
  """
  train_op, _ = step.build(
      lambda: total_loss, global_step,
      lambda: tf.compat.v1.train.GradientDescentOptimizer(
          learning_rate(global_step, batch_size)),
      moving_average_decay=MOVING_AVERAGE_DECAY)
  return train_op


def variables_to_restore(moving_average_decay=MOVING_AVERAGE_DECAY):
  """Maps checkpoint names to variables so that they load the averages.

  Every trainable variable is restored from its moving average; other
  variables (the global step, batch norm's moving statistics) from
  themselves. With moving_average_decay None (a recipe that keeps no
  averages), every variable from itself.
  """
  if not moving_average_decay:
    return {v.op.name: v for v in tf.compat.v1.global_variables()}
  averages = tf.compat.v1.train.ExponentialMovingAverage(moving_average_decay)
  return averages.variables_to_restore()


