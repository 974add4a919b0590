"""Training on the part of each batch a proxy network finds hardest, a
recipe element any model can use (Recipe.selection).

airbench96_faster.py (KellerJordan/cifar10-airbench) trains airbench96's
network on only the 512 examples of each batch of 1,024 that a small
proxy network gets most wrong (the largest loss), and so reaches 96% with
3.1 PFLOP instead of 4.9. The proxy classifies every whole batch, and
every PERIOD steps trains on the loss of the part it picked, summed, with
the run's optimizer, rates and schedule; it is never evaluated. The source
trains the proxy first, recording its picks, then the network. The proxy
never reads the network and both see the same batches, so building both
into one training step picks the same examples, and checkpoints keep the
proxy with the network: a resumed run picks as the uninterrupted one.
The cost of that: the proxy's gradients are computed every step but
applied every PERIOD steps. By multiply-adds (17.1M an image for the
proxy, 452.0M for airbench96), the three backward passes in four that
the source skips are 1.9% of airbench96_faster's step.

The proxy's variables are in the collection SELECTORS (the lookahead
leaves them, eval never builds them) and its trainable ones in
UPDATE_PERIOD % PERIOD, whose updates the recipe's optimizer skips on the
other steps (recipe.GatedUpdates).
"""

import collections

import tensorflow as tf

import cifar10
from cifar10_lib import step
from cifar10_lib import summaries
from cifar10_models import airbench
from cifar10_models import layers

# The proxy's variable scope, and the graph collections of its variables.
PROXY_SCOPE = 'proxy'
SELECTORS = 'selector_variables'
UPDATE_PERIOD = 'updated_every/%d'


class Selection(collections.namedtuple('Selection',
                                       'proxy keep period description')):
  """A choice of each batch's training examples by a proxy network.

  Attributes:
    proxy: the proxy network's builder, `proxy(images, net)` -> logits.
    keep: the share of each batch kept, the examples of largest loss.
    period: the proxy trains on the steps whose number is a multiple.
    description: the proxy in words, for a run's first line.
  """

  def kept(self, batch_size):
    """How many of a batch of `batch_size` examples the network trains on."""
    return max(1, int(round(self.keep * batch_size)))


SELECTIONS = {
    # airbench96_faster.py's: the hardest 512 of 1,024 ('batch_size_masked'),
    # the proxy's backward pass every 4th step ('current_steps % 4 == 0').
    'hardest_half': Selection(
        airbench.airbench96_proxy, keep=0.5, period=4,
        description='airbench96_faster\'s proxy (blocks of %s channels)' %
        ', '.join(str(w) for w in airbench.WIDTHS_96_PROXY)),
}


def describe(name):
  """The selection `name` in words, for a run's first line."""
  selection = SELECTIONS[name]
  return ('trains on the %d%% of each batch of largest loss by %s, which '
          'trains every %d steps on that part' %
          (round(100 * selection.keep), selection.description,
           selection.period))


def update_periods(graph):
  """{variable reference: period} of the variables of `graph` that train
  on every period-th step only."""
  return {variable.ref(): period for period, variables in
          layers.numbered_collections(graph, UPDATE_PERIOD).items()
          for variable in variables}


def selector_variables(graph):
  """The references of `graph`'s selector variables (SELECTORS)."""
  return {v.ref() for v in graph.get_collection(SELECTORS)}


def _register(variables, period):
  """Puts the proxy's variables in SELECTORS and the trainable ones in
  UPDATE_PERIOD % period, once (each tower builds the proxy again)."""
  graph = tf.compat.v1.get_default_graph()
  known = selector_variables(graph)
  trainable = {v.ref() for v in tf.compat.v1.trainable_variables()}
  for variable in variables:
    if variable.ref() in known:
      continue
    tf.compat.v1.add_to_collection(SELECTORS, variable)
    if variable.ref() in trainable:
      tf.compat.v1.add_to_collection(UPDATE_PERIOD % period, variable)


def select(name, images, labels, label_smoothing, dataset):
  """The part of the batch (images, labels) the selection `name` keeps.

  Builds the proxy on the batch in PROXY_SCOPE and its training loss, the
  summed cross entropy (label smoothing `label_smoothing`) of the kept
  examples, which the training step adds to the loss it differentiates
  (step.SIDE_LOSSES), not to the loss it reports.

  Returns:
    (images, labels) of the kept examples, the largest loss first.
  """
  selection = SELECTIONS[name]
  with tf.compat.v1.variable_scope(PROXY_SCOPE) as scope:
    logits = selection.proxy(images, layers.Net(True, dataset=dataset))
  _register(tf.compat.v1.get_collection(
      tf.compat.v1.GraphKeys.GLOBAL_VARIABLES, scope.name + '/'),
            selection.period)
  losses = cifar10.cross_entropy_per_example(logits, labels, label_smoothing)
  indices = tf.math.top_k(tf.stop_gradient(losses),
                          selection.kept(images.shape[0])).indices
  proxy_loss = tf.reduce_sum(tf.gather(losses, indices), name='proxy_loss')
  tf.compat.v1.add_to_collection(step.SIDE_LOSSES, proxy_loss)
  summaries.scalar_summary('proxy_loss', proxy_loss)
  return tf.gather(images, indices), tf.gather(labels, indices)
