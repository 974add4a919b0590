"""The training folder's record (model.json): written, read, and checked
field by field as a flag would be."""

import json
import os

import pytest

import cifar10_models
from cifar10_lib.cli import UserError
from cifar10_models import model_file
from conftest import tree_snapshot
from test_scripts import _eval, _one_line_error, _train

AIRBENCH = cifar10_models.get('airbench94')

# For each field of a record: a value of the wrong type and a wrong value
# of the right type.
WRONG = {
    'model': (7, 'resnet21'),
    'recipe.preprocessing': (3, 'no_such_preprocessing'),
    'recipe.optimizer': (None, 'sgd2'),
    'recipe.schedule': ([], 'cosine'),
    'recipe.learning_rate': ('0.1', -0.1),
    'recipe.warmup_fraction': (True, 1.0),
    'recipe.epochs': ('ten', 0),
    'recipe.weight_decay': ({}, -1e-4),
    'recipe.batch_size': (128.5, 0),
    'recipe.moving_average_decay': ('0.99', 1.5),
    'recipe.label_smoothing': (False, 0.9),
    'recipe.loss_reduction': (1, 'max'),
    'recipe.lookahead': ('yes', 1),
    'recipe.tta': (6, 'five_crop'),
    'recipe.train_examples': ('50000', 0),
    'recipe.selection': (1, 'hardest_third'),
    'max_steps': ('100', 0),
}


def _record(**changes):
  """airbench94's record (every recipe field set), with `changes` made:
  {'recipe.batch_size': 0} changes the recipe's field."""
  record = {'model': AIRBENCH.name, 'recipe': AIRBENCH.recipe._asdict(),
            'max_steps': 476}
  for field, value in changes.items():
    part, _, name = field.partition('.')
    if name:
      record[part][name] = value
    else:
      record[part] = value
  return record


def _write(folder, record):
  with open(os.path.join(folder, model_file.MODEL_FILE), 'w') as f:
    json.dump(record, f)


def test_a_record_reads_back_as_written(tmp_path):
  model_file.write(str(tmp_path), AIRBENCH, AIRBENCH.recipe, 476)
  assert model_file.read(str(tmp_path)) == (AIRBENCH, AIRBENCH.recipe, 476)
  assert model_file.recorded_max_steps(str(tmp_path)) == 476
  assert model_file.read(str(tmp_path / 'none')) is None


@pytest.mark.parametrize('field,value', [
    (field, value) for field, values in sorted(WRONG.items())
    for value in values])
def test_each_wrong_field_is_named(tmp_path, field, value):
  _write(str(tmp_path), _record(**{field: value}))
  with pytest.raises(UserError) as raised:
    model_file.read(str(tmp_path))
  line = str(raised.value)
  assert '"%s" is %s; it must be ' % (field, json.dumps(value)) in line
  assert '\n' not in line


def test_every_field_of_a_recipe_is_checked():
  fields = {f for f in WRONG if f.startswith('recipe.')}
  assert fields == {'recipe.' + f for f in AIRBENCH.recipe._fields}


@pytest.mark.parametrize('record,says', [
    ([1, 2], '"model" is missing'),
    (_record(recipe='sgd'), '"recipe" is "sgd"; it must be an object'),
    (_record(**{'recipe.colour': 'red'}), '"recipe.colour" is not a field'),
])
def test_a_record_of_another_shape_is_named(tmp_path, record, says):
  _write(str(tmp_path), record)
  with pytest.raises(UserError, match=says):
    model_file.read(str(tmp_path))


def test_a_field_under_its_older_name_is_read(tmp_path):
  record = _record()
  record['recipe']['view'] = record['recipe'].pop('preprocessing')
  _write(str(tmp_path), record)
  assert model_file.read(str(tmp_path))[1] == AIRBENCH.recipe


def test_a_missing_recipe_field_is_named(tmp_path):
  record = _record()
  del record['recipe']['batch_size']
  _write(str(tmp_path), record)
  with pytest.raises(UserError, match='"recipe.batch_size" is missing'):
    model_file.read(str(tmp_path))


def test_a_file_that_is_not_json_is_one_line(tmp_path):
  (tmp_path / model_file.MODEL_FILE).write_bytes(b'{"model": \xff')
  with pytest.raises(UserError, match='is not a JSON file of this project'):
    model_file.read(str(tmp_path))


def test_one_resolver_for_training_and_evaluation(tmp_path):
  folder = str(tmp_path)
  model_file.write(folder, AIRBENCH, AIRBENCH.recipe)
  for training in (True, False):
    assert model_file.resolve(folder, training=training) == (
        AIRBENCH, AIRBENCH.recipe)
  with pytest.raises(UserError, match='pass a new --train_dir'):
    model_file.resolve(folder, 'resnet20', training=True)
  with pytest.raises(UserError, match='pass the --checkpoint_dir of a '
                     'resnet20 model'):
    model_file.resolve(folder, 'resnet20')
  with pytest.raises(UserError, match="unknown model 'resnet21'"):
    model_file.resolve(str(tmp_path / 'new'), 'resnet21')


@pytest.mark.slow
@pytest.mark.parametrize('run', [_train, _eval])
def test_a_hand_edited_record_stops_the_scripts_in_one_line(
    data_dir, tmp_path, run):
  train_dir = tmp_path / 'train'
  train_dir.mkdir()
  _write(str(train_dir), _record(**{'recipe.batch_size': 0}))
  before = tree_snapshot(str(tmp_path))
  result = run(data_dir, str(train_dir))
  _one_line_error(result, r'model.json: "recipe.batch_size" is 0; it must '
                  r'be a whole number of at least 1')
  assert result.returncode == 2
  assert tree_snapshot(str(tmp_path)) == before
