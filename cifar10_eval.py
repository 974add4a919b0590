"""Evaluates CIFAR-10 checkpoints: precision @ 1 with the averaged weights.

Usage:
  python cifar10_eval.py --checkpoint_dir=/tmp/cifar10_train --run_once

Restores the moving average of every weight (less noisy than the last
step's weights), classifies exactly --num_examples examples of
--eval_data, each once, and prints

  2026-11-22 15:04:05.123456: precision @ 1 = 0.8614 (8614/10000)

It also writes a 'Precision @ 1' summary at the checkpoint's global step into
--eval_dir. Without --run_once it watches --checkpoint_dir and evaluates each
new checkpoint once, checking every --eval_interval_secs seconds.
"""

import datetime
import os
import time

from absl import flags
import numpy as np
import tensorflow as tf

import cifar10
import cifar10_checkpoint
import cifar10_cli
import cifar10_input

FLAGS = flags.FLAGS

flags.DEFINE_string('eval_dir', '/tmp/cifar10_eval',
                    'Directory where to write event logs.')
flags.DEFINE_enum('eval_data', 'test', ['test', 'train_eval'],
                  "Which data to evaluate: 'test' (test_batch.bin) or "
                  "'train_eval' (the training files).")
flags.DEFINE_integer('eval_interval_secs', 300,
                     'How often to look for a new checkpoint, in seconds.',
                     lower_bound=0)
flags.DEFINE_integer('num_examples', 10000, 'Number of examples to run.',
                     lower_bound=1)
flags.DEFINE_boolean('run_once', False,
                     'Whether to run eval only once.')

PRECISION_TAG = 'Precision @ 1'


def build_eval_graph():
  """Builds the evaluation graph in the default graph.

  Returns:
    (correct, saver, var_map): `correct` is a bool [batch] tensor, true where
    the top prediction is the label; the saver restores the moving averages.
  """
  tf.compat.v1.train.get_or_create_global_step()
  with tf.device('/cpu:0'):
    images, labels = cifar10_input.inputs(FLAGS.eval_data, FLAGS.data_dir,
                                          FLAGS.batch_size, FLAGS.num_examples)
  logits = cifar10.inference(images)
  correct = tf.nn.in_top_k(predictions=logits, targets=labels, k=1)
  var_map = cifar10.variables_to_restore()
  return correct, tf.compat.v1.train.Saver(var_map), var_map


def evaluate(checkpoint, correct, saver, var_map, writer):
  """Evaluates one checkpoint; prints and records its precision @ 1.

  A new session starts the one-pass input from the beginning, so every
  example is counted exactly once.

  Returns:
    The precision @ 1.
  """
  with tf.compat.v1.Session() as sess:
    cifar10_checkpoint.restore(sess, saver, var_map, checkpoint)
    step = sess.run(tf.compat.v1.train.get_global_step())
    start = time.time()
    num_correct, total = 0, 0
    with cifar10_input.explain_data_errors():
      while True:
        try:
          batch = sess.run(correct)
        except tf.errors.OutOfRangeError:
          break
        num_correct += int(np.sum(batch))
        total += batch.size
    # Timed before the session closes: closing sometimes waits 0.8 s for
    # tf.data's autotuning thread, which is not evaluation.
    rate = total / (time.time() - start)
  precision = num_correct / float(total)
  print('%s: precision @ 1 = %.4f (%d/%d) [%s, step %d; %.0f images/sec]' %
        (datetime.datetime.now(), precision, num_correct, total,
         os.path.basename(checkpoint), step, rate), flush=True)
  summary = tf.compat.v1.Summary()
  summary.value.add(tag=PRECISION_TAG, simple_value=precision)
  writer.add_summary(summary, step)
  writer.flush()
  return precision


def _evaluate_or_skip(checkpoint, correct, saver, var_map, writer):
  """Evaluates; in watch mode, an unreadable checkpoint is reported, skipped.

  Training may delete an old checkpoint (keep-last-N) while it is being
  restored here; that, like a damaged file, must not end the watch.
  """
  try:
    evaluate(checkpoint, correct, saver, var_map, writer)
  except cifar10_checkpoint.UnreadableCheckpointError as e:
    if FLAGS.run_once:
      raise
    print('WARNING: %s; skipping it.' % e, flush=True)


def run_eval():
  """Evaluates the newest checkpoint once, or each new one as it comes."""
  with tf.Graph().as_default() as graph:
    correct, saver, var_map = build_eval_graph()
    writer = tf.compat.v1.summary.FileWriter(FLAGS.eval_dir, graph)
    graph.finalize()
    evaluated = None
    waiting_said = False
    while True:
      if FLAGS.run_once:
        checkpoint = cifar10_checkpoint.require_latest(FLAGS.checkpoint_dir)
      else:
        checkpoint = cifar10_checkpoint.latest(FLAGS.checkpoint_dir)
      if checkpoint is None and not waiting_said:
        print('No checkpoint in %s yet; waiting for one.' %
              FLAGS.checkpoint_dir, flush=True)
        waiting_said = True
      if checkpoint is not None and checkpoint != evaluated:
        _evaluate_or_skip(checkpoint, correct, saver, var_map, writer)
        evaluated = checkpoint
      if FLAGS.run_once:
        break
      time.sleep(FLAGS.eval_interval_secs)
    writer.close()


def main(unused_argv):
  cifar10.prepare_data()
  try:
    run_eval()
  except KeyboardInterrupt:
    print('Stopped.')
    return 130
  return 0


if __name__ == '__main__':
  cifar10_cli.run(main)
