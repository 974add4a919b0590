"""The training folder's record of its model (MODEL_FILE), and which model
and data set a run in a folder uses.

A trainer writes {"model": name, "recipe": {...}, "max_steps": N,
"dataset": {"name": ..., "class_names": [...], ...}} into its folder once
it knows the checkpoints are that model's, so that eval, predict and a
resumed run use the same model, recipe and data set without being told,
and refuse, in one line, a --model or --dataset that is not the folder's.
The file may be edited by hand, so each field is checked as a flag would
be: a wrong one is one line naming the field. A record without "dataset"
(written before data sets were recorded) is CIFAR-10's.
"""

import json
import os
import tempfile

import cifar10_datasets
import cifar10_models
from cifar10_datasets import folder
from cifar10_lib import checkpoints
from cifar10_lib.cli import UserError
from cifar10_models import recipe as recipes

MODEL_FILE = 'model.json'

# Recipe fields under the names that older folders recorded them with.
RENAMED_FIELDS = {'view': 'preprocessing'}

# How a wrong value is put right, by the use the folder is read for.
_OTHER_FOLDER = {
    True: 'pass a new --train_dir to train another model',
    False: 'pass the --checkpoint_dir of a {name} model',
}


def _field_error(path, field, problem):
  return UserError('%s: "%s" %s: correct it, restore the file, or train '
                   'into a new folder' % (path, field, problem))


def _parse(path, record):
  """(Model, Recipe, max_steps or None) from `record`, each field checked.

  Raises:
    UserError: naming the first field that is missing or wrong.
  """
  if not isinstance(record, dict):
    raise _field_error(path, 'model', 'is missing: the file holds no object')
  name = record.get('model')
  if name not in cifar10_models.MODELS:
    raise _field_error(path, 'model', 'is %s; it must be one of %s' % (
        json.dumps(name), ', '.join(cifar10_models.MODELS)))
  fields = record.get('recipe')
  if not isinstance(fields, dict):
    raise _field_error(path, 'recipe', 'is %s; it must be an object' %
                       json.dumps(fields))
  fields = {RENAMED_FIELDS.get(name, name): value
            for name, value in fields.items()}
  for field in recipes.Recipe._fields[:-len(recipes.Recipe._field_defaults)]:
    if field not in fields:
      raise _field_error(path, 'recipe.' + field, 'is missing')
  for field, value in fields.items():
    problem = recipes.field_problem(field, value)
    if problem:
      raise _field_error(path, 'recipe.' + field, problem)
  max_steps = record.get('max_steps')
  if max_steps is not None and not (isinstance(max_steps, int) and
                                    not isinstance(max_steps, bool) and
                                    max_steps >= 1):
    raise _field_error(path, 'max_steps', 'is %s; it must be a whole number '
                       'of at least 1' % json.dumps(max_steps))
  return cifar10_models.MODELS[name], recipes.Recipe(**fields), max_steps


def read(directory):
  """(Model, Recipe, max_steps) recorded in `directory`, or None if it has
  no record; max_steps None if the trainer recorded none.

  Raises:
    UserError: the file cannot be read, is not JSON, or a field is wrong.
  """
  path = os.path.join(directory, MODEL_FILE)
  try:
    with open(path, 'rb') as f:
      text = f.read()
  except FileNotFoundError:
    return None
  except OSError as e:
    raise UserError('%s cannot be read (%s): restore it, or train into a new '
                    'folder' % (path, e.strerror or e))
  try:
    record = json.loads(text.decode('utf-8'))
  except ValueError as e:
    raise UserError('%s is not a JSON file of this project (%s): restore it, '
                    'or train into a new folder' % (path, e))
  return _parse(path, record)


def write(directory, model, recipe, max_steps=None,
          dataset=cifar10_datasets.DATASETS[cifar10_datasets.DEFAULT_DATASET]):
  """Records `model`, `recipe` and `dataset` in `directory`, atomically,
  and the run's last step if given (for an evaluator that stops there)."""
  record = {'model': model.name, 'recipe': recipe._asdict()}
  if max_steps is not None:
    record['max_steps'] = max_steps
  record['dataset'] = {field: getattr(dataset, field)
                       for field in RECORDED_DATASET_FIELDS}
  if dataset.conversion is not None:
    record['dataset']['conversion'] = dataset.conversion
  handle, temporary = tempfile.mkstemp(prefix='.model-', dir=directory)
  with os.fdopen(handle, 'w') as f:
    json.dump(record, f, indent=1)
  os.replace(temporary, os.path.join(directory, MODEL_FILE))


# What model.json says of the data set: enough for eval, predict and the
# SavedModel to need nothing else (and, for an image folder, "conversion":
# its source, held-out share and seed).
RECORDED_DATASET_FIELDS = ('name', 'class_names', 'image_size',
                           'channel_mean', 'channel_std')


def _dataset(path, record):
  """The Dataset that `record` (a parsed model.json) names: a registered
  one, checked against what the record says of it, or an image folder's
  as recorded (without its files); CIFAR-10 where it names none.

  Raises:
    UserError: naming the field that is wrong.
  """
  fields = record.get('dataset')
  if fields is None:
    return cifar10_datasets.get(cifar10_datasets.DEFAULT_DATASET)
  if not isinstance(fields, dict):
    raise _field_error(path, 'dataset', 'is %s; it must be an object' %
                       json.dumps(fields))
  name = fields.get('name')
  if name not in cifar10_datasets.NAMES:
    raise _field_error(path, 'dataset.name', 'is %s; it must be one of %s' % (
        json.dumps(name), ', '.join(cifar10_datasets.NAMES)))
  if name == folder.NAME:
    problem = folder.record_problem(fields)
    if problem:
      raise _field_error(path, 'dataset.' + problem[0], problem[1])
    return folder.recorded(fields)
  dataset = cifar10_datasets.DATASETS[name]
  for field in RECORDED_DATASET_FIELDS[1:]:
    expected = getattr(dataset, field)
    if field in fields and fields[field] != json.loads(json.dumps(expected)):
      raise _field_error(path, 'dataset.' + field, 'is %s; the %s data set '
                         'has %s' % (_short(fields[field]), name,
                                     _short(expected)))
  return dataset


def _short(value):
  """`value` in JSON, cut to a length a message line can hold."""
  text = json.dumps(value)
  return text if len(text) <= 60 else text[:57] + '...'


def recorded_dataset(directory):
  """The Dataset of the run in `directory`: its record's (CIFAR-10 for a
  record that names none), or None where the folder has no record.

  Raises:
    UserError: as read(), or the "dataset" field is wrong.
  """
  if read(directory) is None:
    return None
  path = os.path.join(directory, MODEL_FILE)
  with open(path, 'rb') as f:
    return _dataset(path, json.loads(f.read().decode('utf-8')))


def _folder_dataset(directory):
  """The Dataset a folder's checkpoints were trained on: its record's;
  CIFAR-10 for checkpoints without one (the tutorial's); None if it has
  neither."""
  if not os.path.isdir(directory):
    return None
  found = recorded_dataset(directory)
  if found is None and checkpoints.latest(directory):
    found = cifar10_datasets.get(cifar10_datasets.DEFAULT_DATASET)
  return found


def resolve_dataset(directory, name=None, training=False, data_dir=None,
                    folder_settings=folder.Settings()):
  """The Dataset that a run in `directory` reads.

  A folder whose record names a data set keeps it (checkpoints without a
  record are CIFAR-10's, as the tutorial's); else the data set `name`
  (--dataset; default cifar10_datasets.DEFAULT_DATASET). An image folder
  (`folder`) is made from `data_dir` with `folder_settings` (a recorded
  one with its recorded size, share and seed), its classes checked against
  the record; without `data_dir` it is the record's alone (for predict).

  Raises:
    UserError: `name` is unknown or differs from the folder's, or the
      images of `data_dir` are not the recorded classes.
  """
  if name is not None:
    cifar10_datasets.check_name(name)
  found = _folder_dataset(directory)
  if found is None:
    return cifar10_datasets.load(name or cifar10_datasets.DEFAULT_DATASET,
                                 data_dir, folder_settings)
  if name is not None and name != found.name:
    action = ('pass a new --train_dir to train on %s' % name if training else
              'evaluate it on --dataset=%s' % found.name)
    raise UserError('%s holds a model trained on %s (%d classes), not '
                    '--dataset=%s: %s, or leave --dataset out' %
                    (directory, found.name, found.num_classes, name, action))
  if found.name != folder.NAME or data_dir is None:
    return found
  return _same_classes(directory, found, folder.load(
      data_dir, folder.recorded_settings(found, folder_settings.cache_dir)))


def _same_classes(directory, found, loaded):
  """`loaded`, if its classes are those `found` records."""
  if loaded.class_names != found.class_names:
    raise UserError('%s holds a model of the classes %s, not %s\'s %s: pass '
                    'the --data_dir it was trained on (%s)' %
                    (directory, _short(list(found.class_names)),
                     loaded.conversion['source'],
                     _short(list(loaded.class_names)),
                     found.conversion['source']))
  return loaded


def recorded_max_steps(directory):
  """The last step of the run training into `directory`, as its trainer
  recorded it when it started; None if it did not."""
  found = read(directory)
  return found[2] if found else None


def _folder_model(directory):
  """(Model, Recipe) of the checkpoints in `directory`, or None if none.

  Checkpoints without a record are the tutorial's model with its recipe:
  the model of every folder written before records were kept.
  """
  found = read(directory) if os.path.isdir(directory) else None
  if found:
    return found[:2]
  if checkpoints.latest(directory):
    model = cifar10_models.get(cifar10_models.TUTORIAL)
    return model, model.recipe
  return None


def resolve(directory, name=None, use_fp16=False, overrides=None,
            training=False):
  """(Model, Recipe) that a run in `directory` uses.

  A folder that holds a model keeps it, with its recorded recipe; else the
  model `name` (default: cifar10_models.DEFAULT_MODEL) with its own. For
  training, `overrides` then change the recipe's numbers.

  Args:
    directory: the training folder (it may not exist yet).
    name: the model asked for (--model), or None.
    use_fp16: --use_fp16, which only float16 models have.
    overrides: {recipe field: value}, from flags given explicitly.
    training: whether the run trains into the folder (else it reads its
      checkpoints), for what the line of a mismatch advises.

  Raises:
    UserError: `name` differs from the folder's model, an override was
      given for a model that is not tunable, or use_fp16 for a model
      without float16.
  """
  found = _folder_model(directory)
  if found:
    model, recipe = found
    if name is not None and name != model.name:
      raise UserError('%s holds a %s model, not --model=%s: %s, or leave '
                      '--model out to use %s' % (
                          directory, model.name, name,
                          _OTHER_FOLDER[training].format(name=name),
                          model.name))
  else:
    model = cifar10_models.get(name or cifar10_models.DEFAULT_MODEL)
    recipe = model.recipe
  if overrides and not model.tunable:
    raise UserError('--%s applies to the zoo\'s recipes; the %s\'s model '
                    'keeps the %s\'s (--max_steps sets its length)' %
                    (sorted(overrides)[0], model.name, model.name))
  if use_fp16 and not model.float16:
    raise UserError('--use_fp16 is for the %s model; %s runs in float32 '
                    '(train it with --bf16 on a CPU that has bfloat16)' %
                    (' and '.join('%s\'s' % m.name for m in
                                  cifar10_models.MODELS.values()
                                  if m.float16), model.name))
  return model, recipe._replace(**(overrides or {}))
