"""AlexNet scaled to 32x32 inputs (3x3 kernels), as in the Keras comparison."""


def alexnet(images, net):
  """Five convolutions and two 2048-wide hidden layers: 9,639,178 parameters.

  The first two convolutions are valid, with batch norm, each followed by
  a 3x3/2 max-pool; three same convolutions and a last pool bring the
  image to 2x2x256 (to 1x1x256 on other sizes than 32x32: Net.last_pool);
  dropout 0.5 after each hidden layer.
  """
  x = net.conv(images, 96, 3, 'conv1', padding='VALID', batch_norm=True)
  x = net.max_pool(x, 3, 2)
  x = net.conv(x, 256, 3, 'conv2', padding='VALID', batch_norm=True)
  x = net.max_pool(x, 3, 2)
  x = net.conv(x, 384, 3, 'conv3')
  x = net.conv(x, 384, 3, 'conv4')
  x = net.conv(x, 256, 3, 'conv5')
  x = net.last_pool(x, 3, 2)
  x = net.dropout(net.dense(x, 2048, 'dense1'), 0.5)
  x = net.dropout(net.dense(x, 2048, 'dense2'), 0.5)
  return net.dense(x, net.num_classes, 'logits', activation=None)
