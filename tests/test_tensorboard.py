"""TensorBoard serves everything training and evaluation write: a real server.

Runs a short training and an evaluation, starts the `tensorboard` program on
a free localhost port, and reads back every promised tag through its HTTP
data API.
"""

import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest

import cifar10_eval
from cifar10_lib import figures
import cifar10_input
from test_scripts import _assert_ok, _eval, _train

NAMES = cifar10_input.CLASS_NAMES
LAYERS = ('conv1', 'conv2', 'local3', 'local4', 'softmax_linear')
LOSSES = ('cross_entropy', 'local3/weight_loss', 'local4/weight_loss',
          'total_loss')


def _free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


class _TensorBoard(object):
  """The `tensorboard` program on a localhost port, stopped on exit."""

  def __init__(self, logdir):
    self.port = _free_port()
    tensorboard = os.path.join(os.path.dirname(sys.executable), 'tensorboard')
    self.process = subprocess.Popen(
        [tensorboard, '--logdir=' + logdir, '--host=127.0.0.1',
         '--port=%d' % self.port, '--reload_interval=1'],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

  def __enter__(self):
    return self

  def __exit__(self, *unused):
    self.process.terminate()
    try:
      self.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
      self.process.kill()
      self.process.wait()

  def get_bytes(self, route, **params):
    url = 'http://127.0.0.1:%d/data/%s' % (self.port, route)
    if params:
      url += '?' + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as response:
      return response.read()

  def get(self, route, **params):
    return json.loads(self.get_bytes(route, **params).decode('utf-8'))

  def wait_for(self, route, ready, timeout=90):
    """Polls `route` until ready(answer) holds; returns the answer."""
    deadline = time.time() + timeout
    answer = None
    while time.time() < deadline:
      assert self.process.poll() is None, self.process.stderr.read()
      try:
        answer = self.get(route)
        if ready(answer):
          return answer
      except (urllib.error.URLError, ConnectionError):
        pass
      time.sleep(0.5)
    raise AssertionError('%s never became ready: %r' % (route, answer))


@pytest.mark.slow
def test_tensorboard_serves_all_training_and_eval_data(data_dir, tmp_path):
  logdir = tmp_path / 'logs'
  train_dir = str(logdir / 'train')
  _assert_ok(_train(data_dir, train_dir, '--max_steps=20',
                    '--summary_steps=10'))
  # run_eval writes to train_dir + '_eval'; keep both under one logdir.
  evaluation = _eval(data_dir, train_dir)
  _assert_ok(evaluation)
  right, examples = map(int, re.search(
      r'precision @ 1 = [\d.]+ \((\d+)/(\d+)\)', evaluation.stdout).groups())

  with _TensorBoard(str(logdir)) as board:
    scalars = board.wait_for(
        'plugin/scalars/tags',
        lambda tags: 'Precision @ 1' in tags.get('train_eval', {}) and
        'total_loss' in tags.get('train', {}))
    train_tags = set(scalars['train'])
    expected = {'learning_rate'}
    expected |= {loss for loss in LOSSES}
    expected |= {loss + ' (raw)' for loss in LOSSES}
    expected |= {layer + '/sparsity' for layer in LAYERS}
    assert expected <= train_tags, expected - train_tags

    total = board.get('plugin/scalars/scalars', run='train', tag='total_loss')
    assert [point[1] for point in total] == [1, 10, 20]
    rate = board.get('plugin/scalars/scalars', run='train',
                     tag='learning_rate')
    assert all(abs(point[2] - 0.1) < 1e-7 for point in rate)
    precision = board.get('plugin/scalars/scalars', run='train_eval',
                          tag='Precision @ 1')
    assert [point[1] for point in precision] == [20]
    assert 0.0 <= precision[0][2] <= 1.0
    # One scalar per class beside it (the test file has every class).
    eval_tags = set(scalars['train_eval'])
    per_class = {'Precision @ 1/' + name
                 for name in NAMES}
    assert per_class <= eval_tags, per_class - eval_tags
    shares = [board.get('plugin/scalars/scalars', run='train_eval',
                        tag=tag)[0] for tag in sorted(per_class)]
    assert all(step == 20 and 0.0 <= value <= 1.0
               for _, step, value in shares)

    histograms = set(board.get('plugin/histograms/tags')['train'])
    for layer in LAYERS:
      assert layer + '/activations' in histograms
      for var in ('weights', 'biases'):
        assert '%s/%s' % (layer, var) in histograms
        assert '%s/%s/gradients' % (layer, var) in histograms
    assert not any(tag.startswith('tower') for tag in histograms | train_tags)
    # Each histogram counts every value: conv1's 5x5x3x64 weights.
    weights = board.get('plugin/histograms/histograms', run='train',
                        tag='conv1/weights')
    assert [entry[1] for entry in weights] == [1, 10, 20]
    buckets = weights[0][2]
    assert len(buckets) == 30
    assert sum(count for _, _, count in buckets) == 5 * 5 * 3 * 64
    assert buckets[0][0] < 0 < buckets[-1][1] <= 0.1  # 2 stddevs of 0.05

    assert board.get('plugin/images/tags')['train']['images']['samples'] == 3
    entries = board.get('plugin/images/images', run='train', tag='images',
                        sample=2)
    assert [entry['step'] for entry in entries] == [1, 10, 20]
    png = board.get_bytes('plugin/images/individualImage?' +
                          entries[0]['query'])
    assert png[:8] == b'\x89PNG\r\n\x1a\n'
    # The PNG header's width and height: the 24x24 training crops.
    assert png[16:24] == b'\0\0\0\x18\0\0\0\x18'
    # The eval's two pictures, at the checkpoint's step.
    eval_images = board.get('plugin/images/tags')['train_eval']
    sizes = {}
    for tag in (cifar10_eval.CONFUSION_TAG, cifar10_eval.MISTAKES_TAG):
      assert tag in eval_images, eval_images
      entries = board.get('plugin/images/images', run='train_eval', tag=tag)
      assert [entry['step'] for entry in entries] == [20]
      png = board.get_bytes('plugin/images/individualImage?' +
                            entries[0]['query'])
      assert png[:8] == b'\x89PNG\r\n\x1a\n'
      sizes[tag] = struct.unpack('>II', png[16:24])
    heat_map = figures.confusion_heat_map(np.eye(10), NAMES)
    assert sizes[cifar10_eval.CONFUSION_TAG] == heat_map.shape[1::-1]
    # The grid holds the eval's mistakes (as many as it printed, up to the
    # limit): its size is that of a grid of that many eval-sized images.
    shown = min(examples - right, figures.MAX_MISTAKES)
    size = cifar10_input.IMAGE_SIZE
    grid = figures.mistakes_grid(
        np.zeros([shown, size, size, 3]), [0] * shown, [1] * shown, NAMES)
    assert sizes[cifar10_eval.MISTAKES_TAG] == grid.shape[1::-1]
    graphs = board.get('plugin/graphs/info')
    for run in ('train', 'train_eval'):
      assert graphs[run]['run_graph'], graphs
