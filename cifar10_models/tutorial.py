"""The tutorial's network as an entry of the zoo: cifar10.inference.

Its weight decay is the tutorial's own: a term for local3 and one for
local4, each named '<layer>/weight_loss', at the recipe's factor.
"""

import cifar10

# The weights the tutorial's weight decay applies to (for the recipe's
# description).
DECAYED = 'local3, local4'


def tutorial(images, net):
  """The tutorial's conv1 ... softmax_linear: 1,068,298 parameters."""
  return cifar10.inference(images, net.use_fp16, net.weight_decay,
                           net.num_classes)
