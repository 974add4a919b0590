"""A small GoogLeNet-style network of inception blocks for 32x32 inputs."""

import tensorflow as tf


# Two groups of two blocks; the first block of each group halves the image.
GROUPS = ((16, 2), (32, 2))


def _block(x, net, depth, stride, scope):
  """Four branches side by side, concatenated: 4 x `depth` channels.

  1x1; 1x1 then 3x3; 1x1 then 5x5; 3x3 max-pool then 1x1. Each branch's
  last layer applies the stride. Every convolution: BN, ReLU, no bias.
  """
  def conv(y, size, name, step=1):
    return net.conv(y, depth, size, name, stride=step, batch_norm=True,
                    bias=False)
  with tf.compat.v1.variable_scope(scope):
    branches = [
        conv(x, 1, '1x1', stride),
        conv(conv(x, 1, '3x3_reduce'), 3, '3x3', stride),
        conv(conv(x, 1, '5x5_reduce'), 5, '5x5', stride),
        conv(tf.nn.max_pool2d(x, 3, stride, 'SAME'), 1, 'pool_proj'),
    ]
    return tf.concat(branches, axis=3)


def inception(images, net):
  """A 3x3 stem, 2 groups of 2 inception blocks, global average pooling."""
  x = net.conv(images, 16, 3, 'conv1', batch_norm=True, bias=False)
  for group, (depth, blocks) in enumerate(GROUPS, 1):
    for block in range(blocks):
      x = _block(x, net, depth, 2 if block == 0 else 1,
                 'group%d/block%d' % (group, block + 1))
  return net.dense(net.global_average_pool(x), net.num_classes,
                   'logits', activation=None)
