"""Arguments checked like flags: the Python API's, and values that only a
run can check (the data's size, the cluster's two descriptions)."""

import os

import pytest

import cifar10_eval
import cifar10_train
from cifar10_lib import download
from cifar10_lib import records
from cifar10_lib.cli import UserError
from cifar10_training import training
from conftest import TRAINING_EXAMPLES, run_script
from test_scripts import _one_line_error
from cifar10_datasets.cifar10 import CIFAR10


@pytest.mark.parametrize('arguments,says', [
    (dict(batch_size=0), r'batch_size=0: it must be a whole number of at '
     r'least 1 \(--batch_size\)'),
    (dict(max_steps=-5), r'max_steps=-5: it must be a whole number'),
    (dict(batch_size=2.5), r'batch_size=2.5: it must be a whole number'),
    (dict(name='resnet21'), r"unknown model 'resnet21': the models are "
     r'tutorial, '),
])
def test_a_plan_refuses_what_the_flags_refuse(tmp_path, arguments, says):
  with pytest.raises(UserError, match=says):
    training.make_plan(str(tmp_path / 'train'), **arguments)
  assert not os.path.exists(str(tmp_path / 'train'))


@pytest.mark.parametrize('field,value', [('num_examples', 0),
                                         ('batch_size', -1)])
def test_an_evaluation_refuses_counts_below_one(tmp_path, data_dir, field,
                                                value):
  settings = cifar10_eval.Settings(str(tmp_path), data_dir,
                                   str(tmp_path / 'eval'))
  with pytest.raises(UserError, match='%s=%d: it must be' % (field, value)):
    cifar10_eval.run_eval(settings._replace(**{field: value}))


def test_a_batch_larger_than_the_training_set_is_refused_first(tmp_path,
                                                               data_dir):
  train_dir = str(tmp_path / 'train')
  plan = training.make_plan(train_dir, 'baseline', max_steps=1,
                            batch_size=TRAINING_EXAMPLES + 1)
  with pytest.raises(UserError, match=(
      r'--batch_size=201 is more than the 200 training examples in \S+: '
      r'pass at most --batch_size=200')):
    cifar10_train.train(plan, training.LoopOptions(train_dir, data_dir))
  assert not os.path.exists(train_dir)


def test_a_watch_with_no_interval_still_waits_a_second(tmp_path, data_dir,
                                                      monkeypatch):
  waits = []

  def sleep(seconds):
    waits.append(seconds)
    raise KeyboardInterrupt  # Ends the watch after its first wait.
  monkeypatch.setattr(cifar10_eval.time, 'sleep', sleep)
  empty = tmp_path / 'empty'
  empty.mkdir()
  with pytest.raises(KeyboardInterrupt):
    cifar10_eval.run_eval(cifar10_eval.Settings(
        str(empty), data_dir, str(tmp_path / 'eval'), run_once=False,
        eval_interval_secs=0))
  assert waits == [cifar10_eval.MIN_INTERVAL_SECS] and waits[0] >= 1


def test_the_batches_folder_as_data_dir_names_its_parent(data_dir):
  folder = records.batches_dir(CIFAR10, data_dir)
  before = sorted(os.listdir(folder))
  with pytest.raises(records.DataError, match=(
      r'data_dir %s holds the batch files themselves: pass its parent, '
      r'--data_dir=%s$' % (folder, data_dir))):
    download.prepare_data(CIFAR10, folder)
  assert sorted(os.listdir(folder)) == before


def test_the_closing_line_evaluates_as_the_run_trained():
  options = training.LoopOptions('/runs/a', '/data')
  plan = training.make_plan('/runs/a', 'tutorial', use_fp16=True)
  line = training._end_line(9, options, plan)  # pylint: disable=protected-access
  assert line.endswith('--checkpoint_dir=/runs/a --run_once --use_fp16')
  assert '--use_fp16' not in training._end_line(  # pylint: disable=protected-access
      9, options, plan._replace(use_fp16=False))


@pytest.mark.slow
def test_tf_config_and_cluster_flags_together_are_one_line(data_dir,
                                                           tmp_path):
  result = run_script(
      'cifar10_multi_gpu_train.py', '--data_dir=' + data_dir,
      '--train_dir=%s' % (tmp_path / 'train'), '--nodownload',
      '--job_name=worker', '--ps_hosts=localhost:1',
      '--worker_hosts=localhost:2',
      env=dict(os.environ, TF_CONFIG='{"cluster": {"worker": ["h:1"], '
               '"ps": ["h:2"]}, "task": {"type": "worker", "index": 0}}'))
  _one_line_error(result, r'both TF_CONFIG and --ps_hosts, --worker_hosts or '
                  r'--job_name describe the cluster')
  assert not os.path.exists(str(tmp_path / 'train'))
