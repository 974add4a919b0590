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
This module also fetches the data set (`maybe_download_and_extract`).
"""

import contextlib
import hashlib
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request

from absl import flags
import cifar10_lib  # Before TensorFlow: it sets TensorFlow's CPU options.
import numpy as np
import tensorflow as tf

import cifar10_input
from cifar10_lib.cli import UserError

# Flags that both training and evaluation read.
flags.DEFINE_integer('batch_size', 128, 'Number of images to process in a '
                     'batch.', lower_bound=1)
flags.DEFINE_string('data_dir', '/tmp/cifar10_data',
                    'Path to the CIFAR-10 data directory: the binary files '
                    'are read from DATA_DIR/cifar-10-batches-bin/.')
flags.DEFINE_boolean('download', True, 'Download and extract the data set '
                     'into --data_dir when it is not there yet.')
flags.DEFINE_string('checkpoint_dir', '/tmp/cifar10_train',
                    'Directory where to read model checkpoints (evaluation '
                    'and prediction).')
flags.DEFINE_boolean('use_fp16', False, 'Train the model using fp16: '
                     'variables and activations in float16, as in the '
                     'tutorial. CPUs have no float16 arithmetic, so it is '
                     'slower there (README.md has the figures); evaluate and '
                     'predict with the same flag.')
flags.DEFINE_string('data_url', None, 'Where to download '
                    'cifar-10-binary.tar.gz from (default: the official '
                    'CIFAR-10 site); any URL urllib opens, e.g. a mirror or '
                    'a file:// path.')

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
LOSS_AVERAGE_DECAY = 0.9          # The decay of the loss summaries' averages.
WEIGHT_DECAY = 0.004              # L2 weight decay of local3 and local4.

# Multi-tower training names each tower's ops with this prefix; summaries
# drop it so that all towers report under the same tags.
TOWER_NAME = 'tower'

# The collection that holds the loss terms the total loss sums up.
LOSSES_COLLECTION = 'losses'

# Local response normalization, as in the tutorial.
LRN_DEPTH_RADIUS = 4
LRN_BIAS = 1.0
LRN_ALPHA = 0.001 / 9.0
LRN_BETA = 0.75

DATA_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz'
DATA_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530'
DATA_ARCHIVE = 'cifar-10-binary.tar.gz'
# The official Python version, read when a user has it instead; never
# downloaded (the binary version is what --download fetches).
PYTHON_DATA_MD5 = 'c58f30108f718f92721af3b95e74349a'
PYTHON_DATA_ARCHIVE = 'cifar-10-python.tar.gz'


# Buckets of the histogram summaries, as many as TF2's tf.summary.histogram.
HISTOGRAM_BUCKETS = 30

# The name scope of the ops that only summaries need, so that a profile
# (bench/profile_step.py) and the graph tab can tell them apart.
SUMMARY_SCOPE = 'summary'
# Where summary ops run: some have only CPU kernels (PNG encoding, string
# formatting, the summary protos), and they run one step in a hundred, so a
# GPU is best left to the model.
SUMMARY_DEVICE = '/cpu:0'


def summary_tag(name):
  """Removes the `tower_N/` prefix so that all towers share one tag."""
  return re.sub(r'^%s_[0-9]+/' % TOWER_NAME, '', name)


def _add_summary(summary):
  tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.SUMMARIES, summary)
  return summary


@contextlib.contextmanager
def _summary_ops():
  """Builds the ops inside in SUMMARY_SCOPE, on SUMMARY_DEVICE."""
  with tf.name_scope(SUMMARY_SCOPE), tf.device(SUMMARY_DEVICE):
    yield


# The summary helpers below write exactly the tag they are given.
# tf.compat.v1.summary.* prefix the current name scope (tower_0/...) and
# rewrite tags with spaces or parentheses ('cross_entropy (raw)' becomes
# 'cross_entropy__raw_'); the raw ops keep the tags the tutorial's users know.


def scalar_summary(tag, value):
  """Adds a scalar summary tagged exactly `tag`."""
  with tf.device(SUMMARY_DEVICE):
    return _add_summary(tf.raw_ops.ScalarSummary(tags=tag, values=value))


def histogram_summary(tag, values):
  """Adds a histogram summary tagged exactly `tag`.

  It is written in the format of TF2's tf.summary.histogram, which
  TensorBoard's histogram and distribution tabs read like the legacy one:
  HISTOGRAM_BUCKETS equal buckets from the minimum to the maximum, counted
  by one vectorized op. The legacy HistogramSummary op looks up each value
  among 1,500 bucket edges: 0.24 s for conv1's 4.7M activations alone, and
  all histograms together cost about 5% of training at one summary step
  in 100; these cost a tenth of that.
  """
  with _summary_ops():
    values = tf.cast(tf.reshape(values, [-1]), tf.float32)
    low, high = tf.reduce_min(values), tf.reduce_max(values)
    # All values equal (zero biases, say): one bucket of width 1 around them.
    flat = tf.equal(low, high)
    low = tf.where(flat, low - 0.5, low)
    high = tf.where(flat, high + 0.5, high)
    counts = tf.histogram_fixed_width(values, [low, high],
                                      nbins=HISTOGRAM_BUCKETS)
    low, high = tf.cast(low, tf.float64), tf.cast(high, tf.float64)
    # (tf.linspace would do, but takes 17 ms per call to build.)
    fractions = tf.range(1, HISTOGRAM_BUCKETS, dtype=tf.float64) / float(
        HISTOGRAM_BUCKETS)
    edges = tf.concat([[low], low + (high - low) * fractions, [high]], 0)
    tensor = tf.stack([edges[:-1], edges[1:], tf.cast(counts, tf.float64)],
                      axis=1)
    return _add_summary(_plugin_summary(tag, tensor, 'histograms'))


def _plugin_summary(tag, tensor, plugin_name):
  """A summary op that writes `tensor` for TensorBoard's `plugin_name`."""
  metadata = tf.compat.v1.SummaryMetadata(
      plugin_data=tf.compat.v1.SummaryMetadata.PluginData(
          plugin_name=plugin_name))
  return tf.raw_ops.TensorSummaryV2(
      tag=tag, tensor=tensor,
      serialized_summary_metadata=metadata.SerializeToString())


def image_summary(tag, images, max_images=3):
  """Adds the first `max_images` float images as one summary tagged `tag`.

  The legacy ImageSummary op would tag them '<tag>/image/0', ...; this
  writes TensorBoard's image format (width, height, then PNGs), each image
  stretched from its own minimum to maximum so that standardized inputs are
  visible.
  """
  with _summary_ops():
    shown = images[:max_images]
    low = tf.reduce_min(shown, axis=[1, 2, 3], keepdims=True)
    high = tf.reduce_max(shown, axis=[1, 2, 3], keepdims=True)
    pixels = tf.cast(255.0 * (shown - low) / tf.maximum(high - low, 1e-6),
                     tf.uint8)
    pngs = tf.map_fn(tf.image.encode_png, pixels,
                     fn_output_signature=tf.string)
    shape = tf.shape(pixels)
    tensor = tf.concat(
        [tf.strings.as_string([shape[2], shape[1]]), pngs], axis=0)
    return _add_summary(_plugin_summary(tag, tensor, 'images'))


def activation_summary(x, layer):
  """Adds a histogram and the fraction of zeros of a layer's activations.

  A layer whose ReLUs are nearly all zero has stopped learning; these two
  summaries show it, tagged '<layer>/activations' and '<layer>/sparsity'.
  """
  histogram_summary(layer + '/activations', x)
  with _summary_ops():
    scalar_summary(layer + '/sparsity', tf.nn.zero_fraction(x))


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
    tf.compat.v1.add_to_collection(LOSSES_COLLECTION, weight_decay)
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
  activation_summary(activation, scope)
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
  activation_summary(activation, scope)
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


def inference(images, use_fp16=False):
  """Builds the CIFAR-10 model and returns its logits.

  Args:
    images: float32 [batch, 24, 24, 3]; any batch size.
    use_fp16: make the variables and activations float16 (the tutorial's
      --use_fp16); each layer takes its variables' type from its input.

  Returns:
    Logits, float32 [batch, NUM_CLASSES] in either case: the softmax and
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
                            wd=WEIGHT_DECAY, scope='local3')
  local4 = _fully_connected(local3, 384, 192, stddev=0.04, bias=0.1,
                            wd=WEIGHT_DECAY, scope='local4')
  logits = _fully_connected(local4, 192, NUM_CLASSES, stddev=1 / 192.0,
                            bias=0.0, wd=None, scope='softmax_linear',
                            relu=False)
  return tf.cast(logits, tf.float32)


def loss(logits, labels, label_smoothing=0.0):
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
  """
  if label_smoothing:
    targets = (tf.one_hot(labels, NUM_CLASSES) * (1.0 - label_smoothing) +
               label_smoothing / NUM_CLASSES)
    cross_entropy = tf.nn.softmax_cross_entropy_with_logits(
        labels=targets, logits=logits, name='cross_entropy_per_example')
  else:
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int64), logits=logits,
        name='cross_entropy_per_example')
  cross_entropy_mean = tf.reduce_mean(cross_entropy, name='cross_entropy')
  tf.compat.v1.add_to_collection(LOSSES_COLLECTION, cross_entropy_mean)
  return tf.add_n(loss_terms(), name='total_loss')


def loss_terms():
  """The LOSSES_COLLECTION terms created in the current name scope."""
  scope = tf.compat.v1.get_default_graph().get_name_scope()
  return tf.compat.v1.get_collection(LOSSES_COLLECTION,
                                     scope + '/' if scope else None)


def learning_rate(global_step, examples_per_step):
  """The learning rate: INITIAL_LEARNING_RATE, decayed in steps.

  It drops by LEARNING_RATE_DECAY_FACTOR every NUM_EPOCHS_PER_DECAY epochs,
  counted in global steps of `examples_per_step` examples.
  """
  batches_per_epoch = NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN / examples_per_step
  decay_steps = int(batches_per_epoch * NUM_EPOCHS_PER_DECAY)
  lr = tf.compat.v1.train.exponential_decay(
      INITIAL_LEARNING_RATE, global_step, decay_steps,
      LEARNING_RATE_DECAY_FACTOR, staircase=True)
  scalar_summary('learning_rate', lr)
  return lr


def add_loss_summaries(losses, global_step):
  """Keeps 0.9 moving averages of the losses and summarizes raw and average.

  A single batch's loss is noisy; the average shows the trend. Raw values
  are tagged '<name> (raw)', averages '<name>'.

  The averages start at zero, so after t updates they hold only
  1 - 0.9 ** t of the losses' weight (the tutorial's curves started at
  0.0). The summaries show them divided by that (Adam's bias correction):
  at step 1 the averaged loss is the loss itself, and from about step 50
  on the correction is below 1%. The averages' variables, and so the
  checkpoints, stay the tutorial's.

  Args:
    losses: the loss terms and the total loss, named as `loss()` names them
      outside any tower: the averages' variables take their names, and
      checkpoints must not depend on the number of towers.
    global_step: the global step variable. The returned op reads it, and
      the training step must apply its update after that op, so that it
      is read before this step increments it.

  Returns:
    The op that updates the averages; run it with each training step,
    before the optimizer's update.
  """
  averages = tf.compat.v1.train.ExponentialMovingAverage(
      LOSS_AVERAGE_DECAY, name='avg')
  update = averages.apply(losses)
  updates_made = tf.cast(global_step.read_value(), tf.float32) + 1.0
  with tf.control_dependencies([update]), _summary_ops():
    weight = 1.0 - tf.pow(LOSS_AVERAGE_DECAY, updates_made)
    for l in losses:
      tag = summary_tag(l.op.name)
      scalar_summary(tag + ' (raw)', l)
      scalar_summary(tag, averages.average(l) / weight)
  return tf.group(update, updates_made)


def add_weight_and_gradient_summaries(grads_and_vars):
  """Adds histograms of every trainable variable and of its gradient."""
  for var in tf.compat.v1.trainable_variables():
    histogram_summary(var.op.name, var)
  for grad, var in grads_and_vars:
    if grad is not None:
      histogram_summary(var.op.name + '/gradients', grad)


def variable_averages(global_step, decay=MOVING_AVERAGE_DECAY):
  """The `decay` moving averages of the variables that eval reads.

  num_updates makes the decay min(decay, (1 + step) / (10 + step)), so the
  averages follow the weights closely early in training.
  """
  return tf.compat.v1.train.ExponentialMovingAverage(
      decay, num_updates=global_step)


def apply_gradients(optimizer, grads_and_vars, global_step,
                    moving_average_decay=MOVING_AVERAGE_DECAY, update_ops=()):
  """Applies the gradients, then updates the variables' moving averages.

  Evaluation reads the averages (see `variables_to_restore`), which are less
  noisy than the last step's weights.

  Args:
    optimizer, grads_and_vars, global_step: as Optimizer.apply_gradients.
    moving_average_decay: the averages' decay; None: no averages.
    update_ops: other ops the step runs, such as batch norm's updates of
      its moving statistics (the zoo's models).

  Returns:
    The training op: one step of SGD plus the averages' update.
  """
  apply_op = optimizer.apply_gradients(grads_and_vars, global_step=global_step)
  add_weight_and_gradient_summaries(grads_and_vars)
  with tf.control_dependencies([apply_op]):
    if moving_average_decay:
      step = variable_averages(global_step, moving_average_decay).apply(
          tf.compat.v1.trainable_variables())
    else:
      step = tf.no_op()
  return tf.group(step, *update_ops) if update_ops else step


def train(total_loss, global_step, batch_size):
  """Builds one training step on a single device.

  Args:
    total_loss: from loss().
    global_step: the global step variable; the step increments it by one.
    batch_size: examples per step, for the learning-rate schedule.

  Returns:
    The training op.
  """
  optimizer = tf.compat.v1.train.GradientDescentOptimizer(
      learning_rate(global_step, batch_size))
  return train_step(total_loss, global_step, optimizer)


def train_step(total_loss, global_step, optimizer,
               moving_average_decay=MOVING_AVERAGE_DECAY, update_ops=()):
  """One training step with `optimizer`, on a single device.

  The loss averages are updated before the gradients are applied (see
  add_loss_summaries); the other arguments are apply_gradients'.
  """
  loss_averages_op = add_loss_summaries(loss_terms() + [total_loss],
                                       global_step)
  with tf.control_dependencies([loss_averages_op]):
    grads = optimizer.compute_gradients(total_loss)
  return apply_gradients(optimizer, grads, global_step, moving_average_decay,
                         update_ops)


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


def prepare_data(eval_data=None):
  """What the scripts call first: fetches the data as the flags say, checks it.

  It runs before a script writes anything, so that a wrong --data_dir ends
  the run with one line and leaves no folder or file behind.

  Args:
    eval_data: which files the script reads, as cifar10_input.data_files
      takes it: None for training.
  """
  if flags.FLAGS.download:
    maybe_download_and_extract(flags.FLAGS.data_dir, flags.FLAGS.data_url)
  cifar10_input.data_files(flags.FLAGS.data_dir, eval_data)


def maybe_download_and_extract(data_dir, url=None, md5=DATA_MD5,
                               python_md5=PYTHON_DATA_MD5):
  """Makes sure DATA_DIR holds CIFAR-10, downloading the binary one if need be.

  Either version's folder is enough. Otherwise an archive the user put in
  DATA_DIR is used: the binary one, or else the Python one
  (cifar-10-python.tar.gz); with neither, the binary archive is
  downloaded. The archive is downloaded to a temporary name, its MD5
  checked, and its members checked before anything is extracted;
  extraction goes to a temporary folder that is renamed into place only
  when complete. An interrupted run thus never leaves files that a later
  run would take for good data.

  Args:
    data_dir: the data folder; created if missing, and removed again if
      the download into it fails.
    url: where to fetch the archive; DATA_URL if None.
    md5: the binary archive's expected MD5 hex digest.
    python_md5: the Python archive's expected MD5 hex digest.

  Raises:
    UserError: the download failed, the archive is corrupt or unsafe, or
      data_dir is not a folder.
  """
  if (os.path.isdir(cifar10_input.batches_dir(data_dir)) or
      os.path.isdir(cifar10_input.python_batches_dir(data_dir))):
    return
  python_archive = os.path.join(data_dir, PYTHON_DATA_ARCHIVE)
  if (os.path.exists(python_archive) and
      not os.path.exists(os.path.join(data_dir, DATA_ARCHIVE))):
    _extract_users_archive(python_archive, python_md5, data_dir,
                           cifar10_input.PYTHON_BATCHES_DIR)
    return
  if os.path.exists(data_dir) and not os.path.isdir(data_dir):
    raise cifar10_input.DataError(
        'data_dir %s is a file, not a folder: pass --data_dir=DIR where '
        'DIR/%s holds the CIFAR-10 binary files' %
        (data_dir, cifar10_input.BATCHES_DIR))
  created = _missing_ancestor(data_dir)
  if created:
    # Said first: a mistyped --data_dir looks like this.
    print('data_dir %s does not exist: creating it and downloading CIFAR-10 '
          'into it.' % data_dir, flush=True)
  try:
    os.makedirs(data_dir, exist_ok=True)
    archive = os.path.join(data_dir, DATA_ARCHIVE)
    if os.path.exists(archive):
      _extract_users_archive(archive, md5, data_dir,
                             cifar10_input.BATCHES_DIR)
    else:
      _download(url or DATA_URL, archive, md5)
      _safe_extract(archive, data_dir, cifar10_input.BATCHES_DIR)
  except UserError as e:
    if not created:
      raise
    shutil.rmtree(created, ignore_errors=True)
    raise UserError('data_dir %s did not exist (check it for a typo) and '
                    'the download into it failed, so it was removed again: '
                    '%s' % (data_dir, e)) from e


def _extract_users_archive(archive, md5, data_dir, folder):
  """Checks the MD5 of an archive the user put in data_dir, then extracts it.

  A wrong one is reported and never deleted: it is the user's.
  """
  digest = _md5(archive)
  if digest != md5:
    raise UserError('%s has MD5 %s, not %s: it is damaged or not the official '
                    'CIFAR-10 archive; delete it and run again' %
                    (archive, digest, md5))
  _safe_extract(archive, data_dir, folder)


def _missing_ancestor(path):
  """The outermost folder of `path` that does not exist yet, or None.

  What a failed download must remove to leave the disk as it found it.
  """
  path = os.path.abspath(path)
  missing = None
  while not os.path.exists(path):
    missing, path = path, os.path.dirname(path)
  return missing


def _download(url, archive, md5):
  """Downloads `url` to `archive`, showing progress, via a temporary file.

  A downloaded file whose MD5 is wrong is removed here: it was never the
  user's.
  """
  partial = archive + '.part'

  def progress(count, block_size, total_size):
    if total_size > 0:
      done = min(100.0, 100.0 * count * block_size / total_size)
      sys.stdout.write('\r>> Downloading %s %.1f%%' % (DATA_ARCHIVE, done))
      sys.stdout.flush()

  try:
    urllib.request.urlretrieve(url, partial, progress)
  except (urllib.error.URLError, OSError, ValueError) as e:
    _remove_quietly(partial)
    raise UserError(
        'could not download %s (%s): download %s yourself and put it in %s, '
        'or extract it there so that %s exists, then run again' %
        (url, getattr(e, 'reason', e), DATA_ARCHIVE, os.path.dirname(archive),
         cifar10_input.BATCHES_DIR))
  sys.stdout.write('\n')
  digest = _md5(partial)
  if digest != md5:
    _remove_quietly(partial)
    raise UserError('the file downloaded from %s has MD5 %s, not %s: it is '
                    'not the CIFAR-10 binary archive; check --data_url' %
                    (url, digest, md5))
  os.replace(partial, archive)
  print('Downloaded %s, %d bytes.' % (archive, os.path.getsize(archive)))


def _remove_quietly(path):
  try:
    os.remove(path)
  except OSError:
    pass


def _md5(path):
  digest = hashlib.md5()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def _safe_extract(archive, data_dir, folder):
  """Extracts `folder` from `archive` into `data_dir`, all or nothing.

  Refuses archives with absolute paths, '..' components, links or special
  files, any of which could write outside data_dir.
  """
  staging = tempfile.mkdtemp(prefix='.extract-', dir=data_dir)
  try:
    with tarfile.open(archive, 'r:gz') as tar:
      members = tar.getmembers()
      for member in members:
        _check_member(member, archive)
      # Python's 'data' filter (3.11.4+) is a second guard beside ours.
      extra = {'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}
      tar.extractall(staging, members=members, **extra)
    extracted = os.path.join(staging, folder)
    if not os.path.isdir(extracted):
      raise UserError('%s has no %s folder: it is not the official CIFAR-10 '
                      'archive' % (archive, folder))
    os.rename(extracted, os.path.join(data_dir, folder))
  except (tarfile.TarError, EOFError, OSError) as e:
    raise UserError('could not extract %s (%s): delete it and run again' %
                    (archive, e))
  finally:
    shutil.rmtree(staging, ignore_errors=True)


def _check_member(member, archive):
  """Raises UserError if a tar member could land outside the target folder."""
  parts = member.name.replace('\\', '/').split('/')
  if (os.path.isabs(member.name) or member.name.startswith('/')
      or '..' in parts):
    raise UserError('%s has a member %r outside its folder; refusing to '
                    'extract it' % (archive, member.name))
  if not (member.isfile() or member.isdir()):
    raise UserError('%s has a link or special file %r; refusing to extract '
                    'it' % (archive, member.name))
