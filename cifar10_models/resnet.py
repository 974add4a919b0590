"""Residual networks: ResNet-18, and the CIFAR ResNets of He et al. (2016).

Both are made of basic blocks: two 3x3 convolutions with batch norm, whose
output is added to the block's input (the shortcut) before the last ReLU.
Convolutions have no biases (batch norm's offset does their job).
"""

import tensorflow as tf



def _basic_block(x, net, depth, stride, scope, projection):
  """conv-BN-ReLU, conv-BN, + shortcut, ReLU.

  Where the block changes size (stride 2, more channels) the shortcut is a
  1x1 convolution with batch norm if `projection` (ResNet-18), else the
  input subsampled and padded with zero channels (the CIFAR ResNets'
  parameter-free "option A").
  """
  with tf.compat.v1.variable_scope(scope):
    y = net.conv(x, depth, 3, 'conv1', stride=stride, batch_norm=True,
                 bias=False)
    y = net.conv(y, depth, 3, 'conv2', batch_norm=True, bias=False,
                 activation=None)
    shortcut = x
    if stride != 1 or x.shape[-1] != depth:
      if projection:
        shortcut = net.conv(x, depth, 1, 'shortcut', stride=stride,
                            batch_norm=True, bias=False, activation=None)
      else:
        extra = depth - x.shape[-1]
        shortcut = tf.pad(x[:, ::stride, ::stride, :],
                          [[0, 0], [0, 0], [0, 0],
                           [extra // 2, extra - extra // 2]])
    return tf.nn.relu(y + shortcut)


def _stages(x, net, depths, blocks, projection):
  """Stages of `blocks` basic blocks; each stage but the first halves the
  image with a stride-2 first block."""
  for stage, depth in enumerate(depths, 1):
    for block in range(blocks):
      stride = 2 if stage > 1 and block == 0 else 1
      x = _basic_block(x, net, depth, stride,
                       'stage%d/block%d' % (stage, block + 1), projection)
  return x


def resnet18(images, net):
  """ResNet-18 for 32x32 inputs (3x3 stem, no pooling): 11,183,562."""
  x = net.conv(images, 64, 3, 'conv1', batch_norm=True, bias=False)
  x = _stages(x, net, (64, 128, 256, 512), 2, projection=True)
  return net.dense(net.global_average_pool(x), net.num_classes,
                   'logits', activation=None)


def cifar_resnet(n):
  """He et al.'s CIFAR ResNet with 6n + 2 layers: 16, 32, 64 channels."""
  def build(images, net):
    x = net.conv(images, 16, 3, 'conv1', batch_norm=True, bias=False)
    x = _stages(x, net, (16, 32, 64), n, projection=False)
    return net.dense(net.global_average_pool(x), net.num_classes,
                     'logits', activation=None)
  build.__doc__ = cifar_resnet.__doc__.replace('6n + 2', str(6 * n + 2))
  return build
