"""Data sets as registry entries (--dataset): CIFAR-10, CIFAR-100 and its
superclasses, through the reader, the download and every script."""

import hashlib
import json
import os
import re
import tarfile
import tokenize

import numpy as np
import pytest
import tensorflow as tf

import cifar10_datasets
import cifar10_input
import cifar10_models
from cifar10_datasets import cifar100
from cifar10_datasets.synthetic import make_data_dir
from cifar10_lib import download
from cifar10_lib import records
from cifar10_lib.cli import UserError
from cifar10_models import model_file
from conftest import ROOT, project_sources, run_script, to_python_version
from test_layers import DATA, layer_of, _module_name
from test_scripts import _assert_ok, _one_line_error

CIFAR100 = cifar100.CIFAR100
COARSE = cifar100.CIFAR100_COARSE


def test_the_registry_holds_the_cifar_data_sets():
  assert list(cifar10_datasets.DATASETS) == ['cifar10', 'cifar100',
                                             'cifar100_coarse']
  assert cifar10_datasets.DEFAULT_DATASET == 'cifar10'
  for name, dataset in cifar10_datasets.DATASETS.items():
    assert dataset.name == name
    assert len(set(dataset.class_names)) == dataset.num_classes
    assert dataset.record_bytes == dataset.label_bytes + 32 * 32 * 3
  assert (CIFAR100.num_classes, COARSE.num_classes) == (100, 20)
  # The official files list both name lists in alphabetical order.
  assert list(CIFAR100.class_names) == sorted(CIFAR100.class_names)
  assert list(COARSE.class_names) == sorted(COARSE.class_names)


def test_an_unknown_data_set_is_one_line():
  with pytest.raises(UserError) as raised:
    cifar10_datasets.get('cifar1000')
  assert str(raised.value) == ("unknown dataset 'cifar1000': the datasets "
                               "are cifar10, cifar100, cifar100_coarse, "
                               "folder")


def _labels_and_images(dataset, data_dir, eval_data):
  """Every record of eval_data as the input pipeline gives it."""
  labels, images = [], []
  for batch_images, batch_labels in cifar10_input.eval_dataset(
      eval_data, data_dir, 64, preprocessing=cifar10_input.FLIP_PREPROCESSING,
      dataset=dataset):
    labels.append(batch_labels.numpy())
    images.append(batch_images.numpy())
  return np.concatenate(labels), np.concatenate(images)


@pytest.mark.parametrize('dataset,label_byte', [(CIFAR100, 1), (COARSE, 0)])
def test_cifar100_records_give_their_fine_or_coarse_label(tmp_path, dataset,
                                                          label_byte):
  data_dir = make_data_dir(tmp_path, train_per_file=30, dataset=dataset)
  path = os.path.join(records.batches_dir(dataset, data_dir), 'test.bin')
  rows = np.fromfile(path, np.uint8).reshape(-1, 2 + 3072)
  labels, images = _labels_and_images(dataset, data_dir, 'test')
  np.testing.assert_array_equal(labels, rows[:, label_byte])
  # The image starts after both label bytes: normalized back, its pixels.
  pixels = images[0] * dataset.channel_std + dataset.channel_mean
  np.testing.assert_allclose(
      pixels, rows[0, 2:].reshape(3, 32, 32).transpose(1, 2, 0), atol=1e-3)
  assert records.num_examples_in(dataset, records.data_files(
      dataset, data_dir)) == 30


@pytest.mark.parametrize('dataset', [CIFAR100, COARSE])
def test_cifar100s_python_version_reads_as_its_binary_files(tmp_path,
                                                           dataset):
  data_dir = make_data_dir(tmp_path / 'bin', dataset=dataset)
  python_dir = to_python_version(data_dir, tmp_path / 'py', dataset)
  assert sorted(os.listdir(os.path.join(python_dir, 'cifar-100-python'))) == [
      'test', 'train']
  for eval_data in ('test', 'train_eval'):
    got = _labels_and_images(dataset, python_dir, eval_data)
    expected = _labels_and_images(dataset, data_dir, eval_data)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


def test_a_cifar100_label_beyond_its_classes_is_named(tmp_path):
  data_dir = make_data_dir(tmp_path, dataset=COARSE)
  path = os.path.join(records.batches_dir(COARSE, data_dir), 'test.bin')
  rows = np.fromfile(path, np.uint8).reshape(-1, 2 + 3072)
  rows[3, 0] = 20  # a coarse label: 0..19
  rows.tofile(path)
  with pytest.raises(records.DataError) as raised:
    with records.explain_data_errors(COARSE):
      _labels_and_images(COARSE, data_dir, 'test')
  assert re.fullmatch(r'.*test\.bin has a record with label byte 20, not '
                      r'0\.\.19: the file is not CIFAR-100 \(superclasses\) '
                      r'data; re-download it', str(raised.value))


def test_cifar100_is_extracted_from_its_own_archive(tmp_path):
  source = make_data_dir(tmp_path / 'source', dataset=CIFAR100)
  archive = tmp_path / 'served' / CIFAR100.files.archive
  archive.parent.mkdir()
  with tarfile.open(archive, 'w:gz') as tar:
    tar.add(records.batches_dir(CIFAR100, source), arcname='cifar-100-binary')
  md5 = hashlib.md5(archive.read_bytes()).hexdigest()
  dataset = CIFAR100._replace(files=CIFAR100.files._replace(md5=md5))
  data_dir = tmp_path / 'data'
  download.maybe_download_and_extract(dataset, str(data_dir),
                                      archive.as_uri())
  assert sorted(os.listdir(data_dir / 'cifar-100-binary')) == [
      'test.bin', 'train.bin']
  # The official archive's MD5 is CIFAR-100's, not this one's.
  with pytest.raises(UserError) as raised:
    download.maybe_download_and_extract(CIFAR100, str(tmp_path / 'other'),
                                        archive.as_uri())
  assert 'is not the CIFAR-100 binary archive' in str(raised.value)


def test_the_model_file_records_the_data_set(tmp_path):
  model = cifar10_models.get('baseline')
  model_file.write(str(tmp_path), model, model.recipe, 10, COARSE)
  with open(tmp_path / model_file.MODEL_FILE) as f:
    record = json.load(f)
  assert record['dataset']['name'] == 'cifar100_coarse'
  assert record['dataset']['class_names'] == list(COARSE.class_names)
  assert model_file.resolve_dataset(str(tmp_path)) == COARSE
  with pytest.raises(UserError) as raised:
    model_file.resolve_dataset(str(tmp_path), 'cifar10')
  assert str(raised.value).startswith(
      '%s holds a model trained on cifar100_coarse (20 classes), not '
      '--dataset=cifar10' % tmp_path)
  # A hand-edited record is one line naming the field.
  record['dataset']['class_names'][0] = 'whales'
  with open(tmp_path / model_file.MODEL_FILE, 'w') as f:
    json.dump(record, f)
  with pytest.raises(UserError) as raised:
    model_file.resolve_dataset(str(tmp_path))
  assert '"dataset.class_names" is ["whales", ' in str(raised.value)
  record['dataset'] = {'name': 'cifar11'}
  with open(tmp_path / model_file.MODEL_FILE, 'w') as f:
    json.dump(record, f)
  with pytest.raises(UserError) as raised:
    model_file.resolve_dataset(str(tmp_path))
  assert '"dataset.name" is "cifar11"; it must be one of cifar10' in str(
      raised.value)


def test_a_record_without_a_data_set_is_cifar10s(tmp_path):
  model = cifar10_models.get('baseline')
  model_file.write(str(tmp_path), model, model.recipe, 10)
  with open(tmp_path / model_file.MODEL_FILE) as f:
    record = json.load(f)
  del record['dataset']
  with open(tmp_path / model_file.MODEL_FILE, 'w') as f:
    json.dump(record, f)
  assert model_file.resolve_dataset(str(tmp_path)).name == 'cifar10'


@pytest.mark.slow
def test_train_eval_and_predict_on_cifar100(tmp_path):
  data_dir = make_data_dir(tmp_path / 'data', train_per_file=64,
                           test_examples=200, dataset=CIFAR100)
  train_dir = str(tmp_path / 'train')
  result = run_script('cifar10_train.py', '--data_dir=' + data_dir,
                      '--train_dir=' + train_dir, '--nodownload',
                      '--dataset=cifar100', '--model=baseline',
                      '--batch_size=16', '--max_steps=3', '--seed=1')
  _assert_ok(result)
  assert ('Training baseline for 3 steps of 16 examples of CIFAR-100 (100 '
          'classes, 64 training records)') in result.stdout
  with open(os.path.join(train_dir, model_file.MODEL_FILE)) as f:
    record = json.load(f)
  assert record['dataset']['name'] == 'cifar100'
  assert record['recipe']['train_examples'] == 64
  results_file = str(tmp_path / 'results.json')
  result = run_script('cifar10_eval.py', '--data_dir=' + data_dir,
                      '--checkpoint_dir=' + train_dir, '--nodownload',
                      '--eval_dir=' + train_dir + '_eval', '--run_once',
                      '--results_file=' + results_file)
  _assert_ok(result)
  out = result.stdout
  assert re.search(r'precision @ 1 = [\d.]+ \(\d+/200\)', out), out
  assert re.search(r'precision @ 5 = [\d.]+ \(\d+/200\)', out), out
  assert 'The 20 largest confusions' in out
  assert '  apple ' in out and 'worm' in out  # every class's line
  with open(results_file) as f:
    saved = json.load(f)
  assert len(saved['confusion_matrix']) == 100
  assert saved['class_names'] == list(CIFAR100.class_names)
  assert 0 <= saved['precision'] <= saved['precision_at_5'] <= 1
  # The folder is CIFAR-100's: another data set is one line.
  result = run_script('cifar10_eval.py', '--data_dir=' + data_dir,
                      '--checkpoint_dir=' + train_dir, '--nodownload',
                      '--run_once', '--dataset=cifar10')
  _one_line_error(result, r'holds a model trained on cifar100 \(100 '
                          r'classes\), not --dataset=cifar10: evaluate it '
                          r'on --dataset=cifar100')
  picture = tmp_path / 'picture.png'
  tf.io.write_file(str(picture), tf.io.encode_png(
      np.full((40, 40, 3), 128, np.uint8)))
  result = run_script('cifar10_predict.py', '--checkpoint_dir=' + train_dir,
                      '--top_k=4', str(picture))
  _assert_ok(result)
  line = [l for l in result.stdout.splitlines()
          if l.startswith(str(picture))][0]
  names = re.findall(r'(\S+) [\d.]+', line.split(': ', 1)[1])
  assert len(names) == 4 and set(names) <= set(CIFAR100.class_names)


def test_an_unknown_dataset_flag_is_one_line(tmp_path):
  result = run_script('cifar10_train.py', '--data_dir=' + str(tmp_path),
                      '--train_dir=' + str(tmp_path / 'train'),
                      '--nodownload', '--dataset=imagenet')
  _one_line_error(result, r"unknown dataset 'imagenet': the datasets are "
                          r"cifar10, cifar100, cifar100_coarse, folder")
  assert not (tmp_path / 'train').exists()


# CIFAR-10's own numbers and names, which only the data layer may hold
# (the tutorial's constants elsewhere refer to the data layer's by name).
CIFAR10_FACTS = re.compile(r"\b50,?000\b|\b10,?000\b|cifar-10-|'airplane'")
# Matches outside it that are not CIFAR-10 facts in code, and why.
ALLOWED = {
    # The flags' help, which names the default data set's files.
    'cifar10_lib/command_line.py': {'cifar-10-', '10000'},
    # A queue's capacity, not a count of examples.
    'cifar10_training/cluster.py': {'10000'},
}

def _code_tokens(path):
  """The source of `path` without its comments and docstrings."""
  with open(path, 'rb') as f:
    tokens = list(tokenize.tokenize(f.readline))
  kept, previous = [], tokenize.NEWLINE
  for token in tokens:
    if token.type == tokenize.COMMENT:
      continue
    is_docstring = (token.type == tokenize.STRING and previous in (
        tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT,
        tokenize.ENCODING))
    if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                          tokenize.DEDENT):
      previous = token.type
    elif token.type == tokenize.NEWLINE:
      previous = tokenize.NEWLINE
    if not is_docstring:
      kept.append(token.string)
  return ' '.join(kept)


def test_only_the_data_layer_names_cifar10s_numbers():
  found = []
  for path in project_sources():
    module = _module_name(path)
    if layer_of(module) == DATA:
      continue
    relative = os.path.relpath(path, ROOT)
    for match in CIFAR10_FACTS.finditer(_code_tokens(path)):
      if match.group(0) not in ALLOWED.get(relative, ()):
        found.append('%s: %s' % (relative, match.group(0)))
  assert not found, found


def test_the_grep_finds_a_planted_number(tmp_path):
  path = tmp_path / 'planted.py'
  path.write_text('"""Doc: 50000 here is fine."""\n# and 10000 here\n'
                  'EXAMPLES = 50000\n')
  assert CIFAR10_FACTS.findall(_code_tokens(str(path))) == ['50000']
