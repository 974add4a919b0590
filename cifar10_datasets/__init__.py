"""The data sets the scripts read, by name (--dataset).

A data set is a records.Dataset: its classes, image size, statistics, the
layout of its records and where its files are. One module per data set (or
per family sharing files) defines it; adding one is a module and a line in
DATASETS. `folder` is the user's own images (folder.py): its Dataset is
made from --data_dir when a run starts, converted into records once.
Everything downstream (the input pipeline, the models' class count,
eval's classes, predict's names) reads it from the Dataset.
"""

import collections

from cifar10_datasets import cifar10
from cifar10_datasets import cifar100
from cifar10_datasets import folder
from cifar10_lib.cli import UserError

DEFAULT_DATASET = 'cifar10'

DATASETS = collections.OrderedDict((dataset.name, dataset) for dataset in [
    cifar10.CIFAR10,
    cifar100.CIFAR100,
    cifar100.CIFAR100_COARSE,
])
# Every --dataset name: the registered data sets and the image folder.
NAMES = tuple(DATASETS) + (folder.NAME,)


def check_name(name):
  """Raises UserError unless `name` is a --dataset name."""
  if name not in NAMES:
    raise UserError('unknown dataset %r: the datasets are %s' %
                    (name, ', '.join(NAMES)))


def get(name):
  """The Dataset registered as `name` (not the image folder, which load()
  makes from its files).

  Raises:
    UserError: no data set has that name.
  """
  check_name(name)
  if name == folder.NAME:
    raise UserError('the folder data set is made from --data_dir: load it '
                    'with cifar10_datasets.load')
  return DATASETS[name]


def load(name, data_dir, folder_settings=folder.Settings()):
  """The Dataset `name`: a registered one, or, for `folder`, the images of
  `data_dir` converted (or found in the cache) with `folder_settings`.

  Raises:
    UserError: an unknown name, or as folder.load.
  """
  check_name(name)
  if name == folder.NAME:
    return folder.load(data_dir, folder_settings)
  return DATASETS[name]
