"""airbench94, airbench95 and airbench96 (Jordan 2024, arXiv 2404.00498):
94% on CIFAR-10 in 10 epochs, 95% in 15, 96% in 37.

The networks of KellerJordan/cifar10-airbench's legacy/airbench94.py,
legacy/airbench95.py and legacy/airbench96.py, number for number: a frozen
2x2 whitening convolution (24 channels) with trained biases, GELU, three
blocks of widths 64, 256, 256 (conv 3x3 -> max-pool 2 -> batch norm ->
GELU -> conv 3x3 -> batch norm -> GELU), max-pool 3 (global on images
other than 32x32: Net.last_pool), a dense layer 256 -> 10 without biases,
logits scaled by 1/9. Convolutions have no biases and start as a partial
identity (Dirac) on their first in-channels; batch norm has epsilon
1e-12, moving statistics moved 40% toward the batch's each step
(airbench's momentum 0.6), a scale fixed at 1 and a trained offset.
airbench94: 1,973,944 parameters, batch norm's moving statistics and the
frozen whitening weights included (1,971,352 trained). airbench95 is the
same network with blocks of widths 128, 384, 384: 4,608,312 parameters.
airbench96 has blocks of 128, 384, 512, each with a third convolution and
batch norm whose output is added to the first GELU's before a last GELU,
and batch norm at PyTorch's default momentum (10%): 9,921,848 parameters.
airbench96_faster (airbench96_faster.py) is airbench96's network with its
whitening biases trained to the end, and its proxy (selection.py) the same
with blocks of 32, 64, 64 of two convolutions and fixed whitening biases.
airbench94_muon (airbench94_muon.py) is airbench94's network with another
head scale and initialization.
"""

from cifar10_models import layers

WIDTHS_94 = (64, 256, 256)
WIDTHS_95 = (128, 384, 384)
WIDTHS_96 = (128, 384, 512)
WIDTHS_96_PROXY = (32, 64, 64)
# The whitening biases train for this many epochs, then stay.
WHITEN_BIAS_EPOCHS = 3
BN_DECAY = 0.6
# airbench96's BatchNorm keeps PyTorch's default momentum, 0.1.
BN_DECAY_96 = 0.9
BN_EPSILON = 1e-12
LOGIT_SCALE = 1.0 / 9.0


def _block(x, width, scope, net, input_gradient_epochs=None, depth=2,
           bn_decay=BN_DECAY):
  """conv 3x3 -> max-pool 2 -> batch norm -> GELU -> conv 3x3 -> batch
  norm -> GELU (Net.conv for `input_gradient_epochs`); with `depth` 3,
  airbench96's: then conv 3x3 -> batch norm, plus the first GELU's output,
  -> GELU."""
  x = net.conv(x, width, 3, scope + '/conv1', activation=None, bias=False,
               initializer=layers.dirac,
               input_gradient_epochs=input_gradient_epochs)
  x = net.activate(net.max_pool_then_norm(
      x, 2, 2, scope + '/norm1', bn_decay, BN_EPSILON), 'gelu')
  shortcut = x
  x = net.conv(x, width, 3, scope + '/conv2', activation=None, bias=False,
               initializer=layers.dirac)
  x = _norm(x, scope + '/norm2', net, bn_decay)
  if depth == 2:
    return x
  x = net.conv(x, width, 3, scope + '/conv3', activation=None, bias=False,
               initializer=layers.dirac)
  return net.activate(
      _batch_norm(x, scope + '/norm3', net, bn_decay) + shortcut, 'gelu')


def _batch_norm(x, scope, net, decay):
  """airbench's batch norm: epsilon BN_EPSILON, a scale fixed at 1."""
  return net.batch_norm(x, scope, decay=decay, epsilon=BN_EPSILON,
                        scale=False)


def _norm(x, scope, net, decay=BN_DECAY):
  """airbench's batch norm, then GELU."""
  return net.activate(_batch_norm(x, scope, net, decay), 'gelu')


def _network(images, net, widths, logit_scale=LOGIT_SCALE,
             head_initializer=layers.torch_uniform, depth=2,
             bn_decay=BN_DECAY, whiten_bias_epochs=WHITEN_BIAS_EPOCHS):
  """The airbench network with blocks of `widths` (of `depth`
  convolutions) on normalized 32x32 images, its logits times
  `logit_scale`; its whitening biases train for `whiten_bias_epochs`
  epochs (None: to the end)."""
  x = net.whitening_conv(images, 'whiten', bias_epochs=whiten_bias_epochs)
  x = net.activate(x, 'gelu')
  for i, width in enumerate(widths):
    # Below the first block, only the whitening biases train, and only
    # for their epochs: after them the first convolution's input gradient
    # is skipped, as PyTorch skips it in airbench.
    x = _block(x, width, 'block%d' % (i + 1), net,
               None if i else whiten_bias_epochs, depth, bn_decay)
  x = net.last_pool(x, 3, 3)
  logits = net.dense(x, net.num_classes, 'logits', activation=None,
                     bias=False, initializer=head_initializer)
  return logits * logit_scale


def airbench94(images, net):
  """The airbench94 network (blocks of 64, 256, 256 channels)."""
  return _network(images, net, WIDTHS_94)


def airbench95(images, net):
  """The airbench95 network (blocks of 128, 384, 384 channels)."""
  return _network(images, net, WIDTHS_95)


def airbench94_muon(images, net):
  """airbench94_muon.py's network: airbench94's, its head drawn as
  PyTorch's Linear then scaled to a standard deviation of 1, and its
  logits divided by the head's width (256) instead of 9."""
  return _network(images, net, WIDTHS_94, 1.0 / WIDTHS_94[-1],
                  layers.unit_std)


def airbench96(images, net):
  """The airbench96 network: blocks of 128, 384, 512 channels, each of
  three convolutions with a residual over the last two, batch norm moving
  its statistics 10% toward the batch's."""
  return _network(images, net, WIDTHS_96, depth=3, bn_decay=BN_DECAY_96)


def airbench96_faster(images, net):
  """airbench96_faster.py's network: airbench96's, its whitening biases
  trained to the end of the run. (The source means to freeze them after
  3 epochs, but compares the epoch with 3 x the steps of an epoch, which
  it never reaches in 45 epochs: its 96.00% was reached with them
  training throughout.)"""
  return _network(images, net, WIDTHS_96, depth=3, bn_decay=BN_DECAY_96,
                  whiten_bias_epochs=None)


def airbench96_proxy(images, net):
  """airbench96_faster.py's proxy network: blocks of 32, 64, 64 channels
  of two convolutions, its whitening biases fixed at 0 (0 epochs)."""
  return _network(images, net, WIDTHS_96_PROXY, bn_decay=BN_DECAY_96,
                  whiten_bias_epochs=0)
