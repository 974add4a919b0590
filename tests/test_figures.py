"""The eval's pictures: the confusion heat map and the grid of mistakes."""

import numpy as np

import cifar10_eval
from cifar10_lib import figures
import cifar10_input

NAMES = cifar10_input.CLASS_NAMES


def _cell_corner(row, column):
  """A pixel inside cell (row, column) of the heat map, away from its text."""
  x = figures.MARGIN + figures.LABEL_WIDTH + column * figures.CELL_WIDTH + 2
  y = (figures.MARGIN + figures.TITLE_HEIGHT +
       (row + 1) * figures.CELL_HEIGHT + 2)
  return y, x


def test_heat_map_shades_each_cell_by_its_share_of_the_row():
  rng = np.random.default_rng(0)
  confusion = rng.integers(0, 30, (10, 10))
  confusion[3] = 0  # A class with no examples stays white.
  confusion[5] = [0] * 5 + [7] + [0] * 4  # All right: the darkest shade.
  pixels = figures.confusion_heat_map(confusion, NAMES)
  assert pixels.dtype == np.uint8 and pixels.shape[2] == 3
  for row in range(10):
    for column in range(10):
      total = confusion[row].sum()
      share = confusion[row, column] / total if total else 0.0
      expected = figures._shade(share)  # pylint: disable=protected-access
      assert tuple(pixels[_cell_corner(row, column)]) == expected
  assert tuple(pixels[_cell_corner(5, 5)]) == tuple(figures.FULL_SHADE)
  assert tuple(pixels[_cell_corner(3, 0)]) == figures.WHITE


def test_mistakes_grid_shows_each_image_scaled_and_stretched():
  rng = np.random.default_rng(1)
  images = rng.normal(size=(8, 24, 24, 3)).astype(np.float32)
  labels, predictions = np.arange(8), (np.arange(8) + 1) % 10
  pixels = figures.mistakes_grid(images, labels, predictions, NAMES)
  scale = 3  # 24 -> 72 pixels.
  cell_width = figures.MISTAKE_LABEL_WIDTH + figures.MARGIN
  cell_height = 24 * scale + figures.MISTAKE_LABEL_HEIGHT + figures.MARGIN
  assert pixels.shape == (2 * cell_height + figures.MARGIN,
                          6 * cell_width + figures.MARGIN, 3)
  for i in (0, 7):
    x = (figures.MARGIN + (i % 6) * cell_width +
         (figures.MISTAKE_LABEL_WIDTH - 24 * scale) // 2)
    y = figures.MARGIN + (i // 6) * cell_height
    shown = pixels[y:y + 24 * scale:scale, x:x + 24 * scale:scale]
    image = images[i]
    stretched = np.round(255 * (image - image.min()) /
                         (image.max() - image.min()))
    np.testing.assert_array_equal(shown, stretched.astype(np.uint8))
  empty = figures.mistakes_grid(np.zeros([0, 1, 1, 3]), [], [], NAMES)
  assert empty.shape[0] > 0 and empty.shape[1] > 0


def test_eval_keeps_the_first_mistakes_in_order():
  mistakes = cifar10_eval._Mistakes(limit=3)  # pylint: disable=protected-access
  images = np.arange(5, dtype=np.float32).reshape(5, 1, 1, 1) * np.ones(
      [1, 2, 2, 3], np.float32)
  mistakes.add(np.array([0, 1, 2, 3, 4]), np.array([0, 2, 2, 4, 4]), images)
  assert mistakes.wanted()
  mistakes.add(np.array([5, 6]), np.array([5, 6]), images[:2])
  assert mistakes.wanted()
  mistakes.add(np.array([7, 8]), np.array([1, 1]), images[:2])
  assert not mistakes.wanted()
  kept_images, kept_labels, kept_predictions = mistakes.arrays()
  np.testing.assert_array_equal(kept_labels, [1, 3, 7])
  np.testing.assert_array_equal(kept_predictions, [2, 4, 1])
  np.testing.assert_array_equal(kept_images[:, 0, 0, 0], [1, 3, 0])
