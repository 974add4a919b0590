"""The small classic networks: the Keras comparison's baseline and LeNet-5."""


def baseline(images, net):
  """One convolution and one hidden layer: 198,506 parameters.

  conv 6@5x5 same, batch norm, ReLU, max-pool 2x2/2, dropout 0.2, dense
  128 ReLU, dropout 0.2, dense 10.
  """
  x = net.conv(images, 6, 5, 'conv1', batch_norm=True)
  x = net.dropout(net.max_pool(x, 2, 2, 'SAME'), 0.2)
  x = net.dropout(net.dense(x, 128, 'dense1'), 0.2)
  return net.dense(x, net.num_classes, 'logits', activation=None)


def lenet5(images, net):
  """LeCun et al.'s LeNet-5 on 32x32 colour images: 62,006 parameters.

  Sigmoid activations as in the original, valid convolutions, 2x2 max-pools.
  """
  x = net.conv(images, 6, 5, 'conv1', padding='VALID', activation='sigmoid')
  x = net.max_pool(x, 2, 2)
  x = net.conv(x, 16, 5, 'conv2', padding='VALID', activation='sigmoid')
  x = net.max_pool(x, 2, 2)
  x = net.dense(x, 120, 'dense1', activation='sigmoid')
  x = net.dense(x, 84, 'dense2', activation='sigmoid')
  return net.dense(x, net.num_classes, 'logits', activation=None)
