"""The data sets the scripts read, by name (--dataset).

A data set is a records.Dataset: its classes, image size, statistics, the
layout of its records and where its files are. One module per data set (or
per family sharing files) defines it; adding one is a module and a line in
DATASETS. Everything downstream (the input pipeline, the models' class
count, eval's classes, predict's names) reads it from the entry.
"""

import collections

from cifar10_datasets import cifar10
from cifar10_datasets import cifar100
from cifar10_lib.cli import UserError

DEFAULT_DATASET = 'cifar10'

DATASETS = collections.OrderedDict((dataset.name, dataset) for dataset in [
    cifar10.CIFAR10,
    cifar100.CIFAR100,
    cifar100.CIFAR100_COARSE,
])


def get(name):
  """The Dataset registered as `name`.

  Raises:
    UserError: no data set has that name.
  """
  if name not in DATASETS:
    raise UserError('unknown dataset %r: the datasets are %s' %
                    (name, ', '.join(DATASETS)))
  return DATASETS[name]
