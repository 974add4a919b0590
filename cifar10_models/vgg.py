"""VGG16 with batch norm for 32x32 inputs, as in the Keras comparison."""


# Channels of the 13 convolutions, group by group; each group ends with a
# 2x2 max-pool, so 32x32 becomes 1x1 after the fifth (which is global on
# other sizes: Net.last_pool).
VGG16_GROUPS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512),
                (512, 512, 512))
DROPOUT = 0.2


def vgg16(images, net):
  """13 3x3 convolutions (bias, batch norm, ReLU), 2 dense 512: 15,262,026."""
  x = images
  for group, depths in enumerate(VGG16_GROUPS, 1):
    for layer, depth in enumerate(depths, 1):
      x = net.conv(x, depth, 3, 'conv%d_%d' % (group, layer), batch_norm=True)
    pool = net.last_pool if group == len(VGG16_GROUPS) else net.max_pool
    x = net.dropout(pool(x, 2, 2), DROPOUT)
  x = net.dropout(net.dense(x, 512, 'dense1'), DROPOUT)
  x = net.dropout(net.dense(x, 512, 'dense2'), DROPOUT)
  return net.dense(x, net.num_classes, 'logits', activation=None)
