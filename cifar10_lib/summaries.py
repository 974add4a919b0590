"""TensorBoard summaries of the training graph, with the tutorial's tags.

The helpers write exactly the tag they are given: tf.compat.v1.summary.*
prefix the current name scope (tower_0/...) and rewrite tags with spaces or
parentheses ('cross_entropy (raw)' becomes 'cross_entropy__raw_'); the raw
ops keep the tags the tutorial's users know. Every summary op is built in
SUMMARY_SCOPE on SUMMARY_DEVICE and added to the SUMMARIES collection,
which the training loop merges and runs one step in --summary_steps.
"""

import contextlib
import re

import tensorflow as tf

# Multi-tower training names each tower's ops with this prefix; summaries
# drop it so that all towers report under the same tags.
TOWER_NAME = 'tower'

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
def summary_ops():
  """Builds the ops inside in SUMMARY_SCOPE, on SUMMARY_DEVICE."""
  with tf.name_scope(SUMMARY_SCOPE), tf.device(SUMMARY_DEVICE):
    yield


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
  with summary_ops():
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
  with summary_ops():
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
  with summary_ops():
    scalar_summary(layer + '/sparsity', tf.nn.zero_fraction(x))

