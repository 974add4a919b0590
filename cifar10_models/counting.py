"""How big a network is: its parameters and its multiply-adds.

    python -c "from cifar10_models import counting; print(counting.network_size('resnet20'))"

prints a registered network's (parameters, multiply-adds per image), the
numbers tests/test_zoo.py's table and README's zoo table hold.
"""

import tensorflow as tf

import cifar10_input
import cifar10_models


def network_size(name):
  """(parameters, multiply-adds per image) of the registered network
  `name`, built for training (batch norm's moving statistics counted) on
  one image of its recipe's size."""
  model = cifar10_models.get(name)
  size = cifar10_input.preprocessed_size(model.recipe.preprocessing)
  with tf.Graph().as_default() as graph:
    model.logits(tf.zeros([1, size, size, 3]), True, model.recipe)
    return (parameter_count(tf.compat.v1.global_variables()),
            multiply_adds(graph))


def parameter_count(variables):
  """The number of values in `variables`: Keras' model.summary() total."""
  return sum(v.shape.num_elements() for v in variables)


def multiply_adds(graph):
  """Multiply-adds of the convolutions and dense layers in `graph`.

  Counts Conv2D ops and the MatMul ops whose second input is not a
  constant (the tutorial's LRN layers are band-matrix products); per
  example when the graph was built for a batch of 1.
  """
  total = 0
  for op in graph.get_operations():
    if op.type == 'Conv2D':
      out = op.outputs[0].shape.as_list()
      kernel = op.inputs[1].shape.as_list()
      total += out[1] * out[2] * out[3] * kernel[0] * kernel[1] * kernel[2]
    elif op.type == 'MatMul' and op.inputs[1].op.type != 'Const':
      total += (op.inputs[0].shape.as_list()[1] *
                op.outputs[0].shape.as_list()[1])
  return total
