"""--dataset=folder: a folder of the user's images, converted once into
records, cached, and read by the same reader as CIFAR."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import cifar10_input
import cifar10_models
from cifar10_datasets import folder
from cifar10_lib import records
from cifar10_lib.cli import UserError
from cifar10_models import model_file
from conftest import ROOT, run_script
from test_reliability import _limit_file_size, _small_disk
from test_scripts import _assert_ok, _one_line_error

COLOURS = {'red': (220, 30, 30), 'green': (30, 200, 40), 'blue': (30, 40, 210)}


def _picture(path, colour, size=(40, 30), mode='RGB', rng=None):
  """Writes a noisy picture of `colour` at `path` (the format from its
  extension)."""
  rng = rng or np.random.RandomState(len(path))
  pixels = np.clip(np.array(colour) + rng.normal(0, 10, size[::-1] + (3,)),
                   0, 255).astype(np.uint8)
  image = Image.fromarray(pixels, 'RGB')
  if mode == 'L':
    image = image.convert('L')
  elif mode == 'RGBA':
    image = image.convert('RGBA')
  elif mode == 'I;16':
    image = Image.fromarray(
        np.asarray(image.convert('L'), np.uint16) * 257)
  image.save(path)


def make_folder(root, per_class=10, test=False, extensions=('png',)):
  """A folder data set of COLOURS' classes below `root`; returns it."""
  for split, count in (('train', per_class),) + (
      (('test', 4),) if test else ()):
    for name, colour in COLOURS.items():
      os.makedirs(root / split / name)
      for i in range(count):
        _picture(str(root / split / name / ('%d.%s' % (
            i, extensions[i % len(extensions)]))), colour)
  return root


def _settings(tmp_path, **changes):
  return folder.Settings(cache_dir=str(tmp_path / 'cache'))._replace(
      **changes)


def _records(dataset, split):
  name = dataset.files.train_files[0] if split == 'train' else (
      dataset.files.test_files[0])
  path = os.path.join(dataset.files.binary_dir, name)
  return np.fromfile(path, np.uint8).reshape(-1, dataset.record_bytes)


def test_a_folder_converts_into_records_of_its_classes(tmp_path, capsys):
  root = make_folder(tmp_path / 'pictures', per_class=10,
                     extensions=('png', 'jpg', 'bmp', 'gif', 'webp'))
  before = sorted(p for p in root.rglob('*'))
  stamps = {p: p.stat().st_mtime_ns for p in before}
  dataset = folder.load(str(root), _settings(tmp_path))
  assert dataset.class_names == ('blue', 'green', 'red')
  # A stratified tenth held out: one of each class's ten.
  assert (dataset.train_examples, dataset.test_examples) == (27, 3)
  train, test = _records(dataset, 'train'), _records(dataset, 'test')
  assert sorted(np.bincount(test[:, 0])) == [1, 1, 1]
  # Each record is its class's colour.
  for rows in (train, test):
    images = rows[:, 1:].reshape(-1, 3, 32, 32).mean(axis=(2, 3))
    for label, image in zip(rows[:, 0], images):
      colour = COLOURS[dataset.class_names[label]]
      assert np.abs(image - colour).max() < 20, (label, image)
  mean = train[:, 1:].reshape(-1, 3, 1024).transpose(1, 0, 2).reshape(3, -1)
  np.testing.assert_allclose(dataset.channel_mean, mean.mean(1), atol=0.01)
  assert 'Converting %s: 30/30 images' % root in capsys.readouterr().out
  # The user's folder is only read.
  assert sorted(root.rglob('*')) == before
  assert all(p.stat().st_mtime_ns == stamps[p] for p in before)


def test_the_cache_is_reused_until_the_folder_changes(tmp_path, capsys):
  root = make_folder(tmp_path / 'pictures')
  first = folder.load(str(root), _settings(tmp_path))
  capsys.readouterr()
  again = folder.load(str(root), _settings(tmp_path))
  assert again == first
  assert 'Converting' not in capsys.readouterr().out
  _picture(str(root / 'train' / 'red' / 'new.png'), COLOURS['red'])
  changed = folder.load(str(root), _settings(tmp_path))
  assert 'Converting' in capsys.readouterr().out
  assert changed.files.binary_dir != first.files.binary_dir
  assert changed.train_examples + changed.test_examples == 31


@pytest.mark.parametrize('damage', ['truncate', 'delete', 'meta'])
def test_a_damaged_cache_is_rebuilt(tmp_path, damage, capsys):
  root = make_folder(tmp_path / 'pictures')
  dataset = folder.load(str(root), _settings(tmp_path))
  train = os.path.join(dataset.files.binary_dir, folder.TRAIN_FILE)
  if damage == 'truncate':
    with open(train, 'r+b') as f:
      f.truncate(100)
  elif damage == 'delete':
    os.remove(train)
  else:
    with open(os.path.join(dataset.files.binary_dir, folder.META_FILE),
              'w') as f:
      f.write('{')
  capsys.readouterr()
  assert folder.load(str(root), _settings(tmp_path)) == dataset
  assert 'Converting' in capsys.readouterr().out
  assert os.path.getsize(train) == 27 * dataset.record_bytes


def test_hidden_files_are_left_out(tmp_path):
  root = make_folder(tmp_path / 'pictures')
  (root / 'train' / '.DS_Store').write_bytes(b'finder')
  (root / 'train' / 'red' / '.DS_Store').write_bytes(b'finder')
  (root / 'train' / 'red' / '.thumbnails').mkdir()
  dataset = folder.load(str(root), _settings(tmp_path))
  assert dataset.class_names == ('blue', 'green', 'red')
  assert dataset.train_examples + dataset.test_examples == 30


def test_a_test_folder_is_the_test_split(tmp_path):
  root = make_folder(tmp_path / 'pictures', test=True)
  dataset = folder.load(str(root), _settings(tmp_path))
  assert (dataset.train_examples, dataset.test_examples) == (30, 12)


def test_the_held_out_share_is_stratified_and_repeatable(tmp_path):
  root = make_folder(tmp_path / 'pictures', per_class=20)
  listing = folder.scan(str(root))
  train, test = folder.hold_out(listing, 0.25, seed=3)
  assert sorted(np.bincount([label for _, label in test])) == [5, 5, 5]
  assert folder.hold_out(listing, 0.25, seed=3) == (train, test)
  assert folder.hold_out(listing, 0.25, seed=4) != (train, test)
  assert not set(train) & set(test)


@pytest.mark.parametrize('mode', ['L', 'RGBA', 'I;16'])
def test_gray_alpha_and_16_bit_images_become_rgb(tmp_path, mode):
  path = str(tmp_path / 'picture.png')
  _picture(path, (200, 200, 200), size=(64, 48), mode=mode)
  image = folder.decode(path, 16)
  assert image.shape == (16, 16, 3) and image.dtype == np.uint8
  assert abs(float(image.mean()) - 200) < 15, image.mean()


def test_the_shorter_side_is_resized_and_the_centre_cropped(tmp_path):
  pixels = np.zeros((20, 60, 3), np.uint8)
  pixels[:, 20:40] = 255  # a white middle third
  path = str(tmp_path / 'wide.png')
  Image.fromarray(pixels).save(path)
  image = folder.decode(path, 10)
  # 20x60 -> 10x30; the centre 10x10 is the white third.
  assert image.shape == (10, 10, 3) and image.min() > 200


def test_a_jpegs_exif_rotation_is_applied(tmp_path):
  pixels = np.zeros((20, 40, 3), np.uint8)
  pixels[:, :20] = 255  # white left half
  image = Image.fromarray(pixels)
  exif = image.getexif()
  exif[0x0112] = 6  # rotate 90 degrees clockwise to display
  path = str(tmp_path / 'rotated.jpg')
  image.save(path, exif=exif, quality=95)
  decoded = folder.decode(path, 20)
  # Displayed upright the picture is 20 wide, 40 tall: white on top.
  assert decoded[:5].mean() > 200 and decoded[-5:].mean() < 50


def _bad_folder(tmp_path, problem):
  root = make_folder(tmp_path / 'pictures', per_class=3)
  train = root / 'train'
  if problem == 'empty class':
    for path in (train / 'red').iterdir():
      path.unlink()
  elif problem == 'one class':
    for name in ('green', 'blue'):
      for path in (train / name).iterdir():
        path.unlink()
      (train / name).rmdir()
  elif problem == 'unknown test class':
    (root / 'test' / 'purple').mkdir(parents=True)
    _picture(str(root / 'test' / 'purple' / '0.png'), (120, 0, 120))
  elif problem == 'not images':
    (train / 'red' / 'notes.txt').write_text('not a picture')
  elif problem == 'broken image':
    (train / 'red' / 'broken.png').write_bytes(b'\x89PNG not really')
  elif problem == 'nested':
    (train / 'red' / 'more').mkdir()
  elif problem == 'loop':
    os.symlink(str(train / 'red' / 'loop'), str(train / 'red' / 'loop'))
  elif problem == 'no train':
    os.rename(train, root / 'training')
  elif problem == 'stray file':
    (train / 'README').write_text('classes below')
  return root


@pytest.mark.parametrize('problem,says', [
    ('no train', r'pictures/train is not a folder: --dataset=folder reads '
                 r'DATA_DIR/train/CLASS/\*'),
    ('empty class', r'train/red holds no images \(PNG, JPEG, BMP, GIF or '
                    r'WebP\): add some or remove the class folder'),
    ('one class', r'holds one class folder: a classifier needs at least two'),
    ('unknown test class', r'test/purple is a class that .*train lacks'),
    ('not images', r'train/red: 1 of its 4 files are not images '
                   r'\(.*notes.txt, \.\.\.\)'),
    ('broken image', r'train/red: 1 of its 4 images could not be read '
                     r'\(.*broken.png: '),
    ('nested', r'train/red/more is a folder inside the class folder'),
    ('loop', r'train/red/loop is not a file \(a link that loops'),
    ('stray file', r'train holds .*README, which is not a class folder'),
])
def test_a_bad_folder_is_one_line_and_left_as_it_was(tmp_path, problem,
                                                     says):
  root = _bad_folder(tmp_path, problem)
  before = sorted(root.rglob('*'), key=str)
  with pytest.raises(UserError) as raised:
    folder.load(str(root), _settings(tmp_path))
  assert re.search(says, str(raised.value)), str(raised.value)
  assert '\n' not in str(raised.value)
  assert sorted(root.rglob('*'), key=str) == before
  cache = tmp_path / 'cache'
  assert not cache.exists() or not any(
      p.name.startswith('pictures-') for p in cache.iterdir())


def test_a_few_files_that_are_not_images_are_skipped_saying_so(tmp_path,
                                                               capsys):
  root = make_folder(tmp_path / 'pictures', per_class=120)
  (root / 'train' / 'red' / 'notes.txt').write_text('not a picture')
  dataset = folder.load(str(root), _settings(tmp_path))
  assert dataset.train_examples + dataset.test_examples == 360
  assert re.search(r'Skipping 1 files that are not images .* the first '
                   r'.*notes.txt', capsys.readouterr().out)


@pytest.mark.parametrize('changes,says', [
    (dict(image_size=4), r'--image_size=4: it must be from 8 to 512'),
    (dict(test_fraction=1.0), r'--test_fraction=1: it must be above 0'),
])
def test_settings_out_of_range_are_one_line(tmp_path, changes, says):
  root = make_folder(tmp_path / 'pictures', per_class=2)
  with pytest.raises(UserError) as raised:
    folder.load(str(root), _settings(tmp_path, **changes))
  assert re.search(says, str(raised.value))


def test_a_cache_that_cannot_be_written_is_one_line(tmp_path):
  root = make_folder(tmp_path / 'pictures', per_class=2)
  (tmp_path / 'cache').write_text('a file where the cache folder belongs')
  with pytest.raises(UserError) as raised:
    folder.load(str(root), _settings(tmp_path))
  assert re.search(r'could not write the converted images into .*cache '
                   r'\(.*\): free some space there or pass another '
                   r'--cache_dir', str(raised.value))


@pytest.mark.slow
def test_a_disk_that_fills_while_converting_leaves_no_half_cache(tmp_path):
  # 210 records of 64x64 (2.6 MB) fill a 1 MB tmpfs, or pass the 2 MB file
  # size cap used where no tmpfs can be mounted.
  root = make_folder(tmp_path / 'pictures', per_class=70)
  with _small_disk(tmp_path, 1) as (small, mounted):
    cache = os.path.join(small, 'cache')
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'cifar10_train.py'),
         '--dataset=folder', '--data_dir=%s' % root, '--image_size=64',
         '--cache_dir=' + cache, '--train_dir=%s' % (tmp_path / 'train'),
         '--max_steps=1'], cwd=ROOT, capture_output=True, text=True,
        timeout=300, preexec_fn=None if mounted else _limit_file_size)
    _one_line_error(result, r'could not write the converted images into '
                    r'\S+cache \(.+\): free some space there or pass '
                    r'another --cache_dir')
    assert os.listdir(cache) == []
  assert not (tmp_path / 'train' / 'model.json').exists()


def test_more_than_256_classes_take_two_label_bytes(tmp_path):
  root = tmp_path / 'pictures'
  rng = np.random.RandomState(0)
  for k in range(300):
    os.makedirs(root / 'train' / ('c%03d' % k))
    for i in range(2):
      _picture(str(root / 'train' / ('c%03d' % k) / ('%d.png' % i)),
               (k % 256, 0, 0), size=(8, 8), rng=rng)
  dataset = folder.load(str(root), _settings(tmp_path, image_size=8,
                                             test_fraction=0.5))
  assert (dataset.label_bytes, dataset.num_classes) == (2, 300)
  labels = []
  for _, batch_labels in cifar10_input.eval_dataset(
      'train_eval', str(root), 100,
      preprocessing=cifar10_input.FLIP_PREPROCESSING, dataset=dataset):
    labels += list(batch_labels.numpy())
  assert sorted(labels) == list(range(300))


def test_the_reader_reads_a_folder_as_any_data_set(tmp_path):
  root = make_folder(tmp_path / 'pictures', test=True)
  dataset = folder.load(str(root), _settings(tmp_path))
  paths = records.data_files(dataset, str(root), 'test')
  assert records.num_examples_in(dataset, paths) == 12


@pytest.mark.slow
def test_train_eval_and_predict_on_a_folder(tmp_path):
  root = make_folder(tmp_path / 'pictures', per_class=40, test=True)
  before = sorted(root.rglob('*'), key=str)
  cache = str(tmp_path / 'cache')
  train_dir = str(tmp_path / 'train')
  result = run_script('cifar10_train.py', '--data_dir=%s' % root,
                      '--train_dir=' + train_dir, '--dataset=folder',
                      '--cache_dir=' + cache, '--model=baseline',
                      '--batch_size=16', '--max_steps=30', '--seed=1',
                      '--log_frequency=10')
  _assert_ok(result)
  assert ('of the images of %s (3 classes, 120 training records; each '
          'image\'s shorter side resized to 32, the centre cropped)' % root
          in result.stdout), result.stdout
  assert result.stdout.rstrip().endswith(' --cache_dir=' + cache)
  with open(os.path.join(train_dir, 'model.json')) as f:
    record = json.load(f)['dataset']
  assert record['name'] == 'folder'
  assert record['class_names'] == ['blue', 'green', 'red']
  assert record['conversion'] == {'source': str(root), 'seed': 0,
                                  'test_fraction': None}
  result = run_script('cifar10_eval.py', '--data_dir=%s' % root,
                      '--checkpoint_dir=' + train_dir, '--cache_dir=' + cache,
                      '--eval_dir=' + train_dir + '_eval', '--run_once')
  _assert_ok(result)
  assert re.search(r'precision @ 1 = [\d.]+ \(\d+/12\)', result.stdout)
  assert '  red ' in result.stdout
  picture = str(tmp_path / 'red.png')
  _picture(picture, COLOURS['red'], size=(64, 64))
  result = run_script('cifar10_predict.py', '--checkpoint_dir=' + train_dir,
                      picture)
  _assert_ok(result)
  assert re.search(r'red.png: (red|green|blue) [\d.]+', result.stdout)
  assert sorted(root.rglob('*'), key=str) == before


def test_an_unknown_folder_flag_value_is_one_line(tmp_path):
  result = run_script('cifar10_train.py', '--data_dir=' + str(tmp_path),
                      '--train_dir=' + str(tmp_path / 'train'),
                      '--dataset=folder', '--image_size=2000')
  _one_line_error(result, r'--image_size=2000: it must be from 8 to 512')
  assert not (tmp_path / 'train').exists()


def test_a_recorded_folder_is_read_back_and_checked(tmp_path):
  root = make_folder(tmp_path / 'pictures')
  dataset = folder.load(str(root), _settings(tmp_path))
  model = cifar10_models.get('baseline')
  train_dir = tmp_path / 'train'
  train_dir.mkdir()
  model_file.write(str(train_dir), model, model.recipe, 10, dataset)
  # Predict needs only the record: classes, size, statistics.
  recorded = model_file.resolve_dataset(str(train_dir))
  assert recorded.class_names == dataset.class_names
  assert recorded.channel_mean == dataset.channel_mean
  assert recorded.files is None
  # Eval makes it from --data_dir with the recorded conversion.
  assert model_file.resolve_dataset(
      str(train_dir), data_dir=str(root),
      folder_settings=_settings(tmp_path)) == dataset
  other = make_folder(tmp_path / 'other')
  os.rename(other / 'train' / 'blue', other / 'train' / 'navy')
  with pytest.raises(UserError) as raised:
    model_file.resolve_dataset(str(train_dir), data_dir=str(other),
                               folder_settings=_settings(tmp_path))
  assert str(raised.value) == (
      '%s holds a model of the classes ["blue", "green", "red"], not %s\'s '
      '["green", "navy", "red"]: pass the --data_dir it was trained on (%s)'
      % (train_dir, other, root))


@pytest.mark.parametrize('field,value,says', [
    ('class_names', ['one'], 'a list of two or more different class names'),
    ('image_size', 4, 'a whole number from 8 to 512'),
    ('channel_std', [1, 0, 1], 'a list of 3 numbers above 0'),
    ('conversion', {'source': 3}, 'an object with "source"'),
])
def test_a_hand_edited_folder_record_is_one_line(tmp_path, field, value,
                                                 says):
  root = make_folder(tmp_path / 'pictures', per_class=2)
  dataset = folder.load(str(root), _settings(tmp_path))
  model = cifar10_models.get('baseline')
  model_file.write(str(tmp_path), model, model.recipe, 10, dataset)
  path = tmp_path / model_file.MODEL_FILE
  record = json.loads(path.read_text())
  record['dataset'][field] = value
  path.write_text(json.dumps(record))
  with pytest.raises(UserError) as raised:
    model_file.resolve_dataset(str(tmp_path))
  assert '"dataset.%s" is %s; it must be %s' % (
      field, json.dumps(value), says) in str(raised.value)


def test_a_folder_changed_while_it_converts_is_one_line(tmp_path,
                                                        monkeypatch):
  root = make_folder(tmp_path / 'pictures', per_class=3)
  scan = folder.scan
  calls = []

  def scan_then_add(data_dir):
    listing = scan(data_dir)
    if not calls:  # Another program writes a picture meanwhile.
      _picture(str(root / 'train' / 'red' / 'late.png'), COLOURS['red'])
    calls.append(data_dir)
    return listing
  monkeypatch.setattr(folder, 'scan', scan_then_add)
  with pytest.raises(UserError) as raised:
    folder.load(str(root), _settings(tmp_path))
  assert str(raised.value) == ('%s changed while it was converted: run '
                               'again once nothing writes into it' % root)
  assert os.listdir(tmp_path / 'cache') == []


def test_an_image_over_the_pixel_limit_is_not_decoded(tmp_path,
                                                      monkeypatch):
  monkeypatch.setattr(folder, 'MAX_IMAGE_PIXELS', 40 * 30 - 1)
  path = str(tmp_path / 'big.png')
  _picture(path, COLOURS['red'])  # 40 x 30
  with pytest.raises(ValueError) as raised:
    folder.decode(path, 8)
  assert str(raised.value).startswith('40x30 pixels, more than the ')
