"""How big a network is: its parameters and its multiply-adds."""


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
