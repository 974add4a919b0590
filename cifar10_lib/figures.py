"""Draws evaluation results as pictures for TensorBoard's images tab.

Two pictures show where a model fails, which one number cannot:

  * the confusion matrix as a heat map: a row per true class, a column per
    predicted class, each cell shaded by the share of its row and labelled
    with its count;
  * a grid of misclassified test images, each labelled "true -> predicted".

Text needs a font; Pillow (which TensorBoard itself depends on) brings one,
so the pictures are drawn with Pillow and written as PNG summaries.
"""

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont
import tensorflow as tf

# The heat map's layout, in pixels: wide enough cells for 'automobile'.
CELL_WIDTH = 64
CELL_HEIGHT = 22
MARGIN = 8
LABEL_WIDTH = 74
TITLE_HEIGHT = 34
FONT_SIZE = 11
# Cells darker than this share get white text.
DARK_SHARE = 0.5

# The grid of mistakes: at most this many, this many per row, each image
# scaled up by a whole factor to at least this size.
MAX_MISTAKES = 24
MISTAKES_PER_ROW = 6
MISTAKE_IMAGE_SIZE = 72
MISTAKE_LABEL_HEIGHT = 16
# Wide enough for 'automobile -> airplane'.
MISTAKE_LABEL_WIDTH = 136

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
# The shade of a full row: a dark blue; empty cells stay white.
FULL_SHADE = np.array([8, 48, 107])


def _font():
  return ImageFont.load_default(FONT_SIZE)


def _shade(share):
  """White for 0, FULL_SHADE for 1, linear in between."""
  white = np.array(WHITE)
  return tuple(int(c) for c in np.round(white + (FULL_SHADE - white) * share))


def _centered(draw, box, text, font, fill):
  """Draws `text` centered in the (left, top, right, bottom) `box`."""
  left, top, right, bottom = box
  draw.text(((left + right) / 2.0, (top + bottom) / 2.0), text, fill=fill,
            font=font, anchor='mm')


def confusion_heat_map(confusion, class_names):
  """The confusion matrix as an RGB picture, uint8 [height, width, 3].

  Each cell's shade is its count over its row's total (the share of that
  true class predicted as the column's class), so that a diagonal of dark
  cells is a good model whatever the class sizes; its text is the count.

  Args:
    confusion: int [classes, classes], rows true classes, columns predicted.
    class_names: the name of each class.
  """
  confusion = np.asarray(confusion)
  classes = len(class_names)
  width = MARGIN * 2 + LABEL_WIDTH + CELL_WIDTH * classes
  height = MARGIN * 2 + TITLE_HEIGHT + CELL_HEIGHT * (classes + 1)
  picture = Image.new('RGB', (width, height), WHITE)
  draw = ImageDraw.Draw(picture)
  font = _font()
  draw.text((MARGIN, MARGIN), 'Confusion matrix: rows true class, columns '
            'predicted class; shade = share of the row', fill=BLACK, font=font)
  left = MARGIN + LABEL_WIDTH
  top = MARGIN + TITLE_HEIGHT
  for column, name in enumerate(class_names):
    x = left + column * CELL_WIDTH
    _centered(draw, (x, top, x + CELL_WIDTH, top + CELL_HEIGHT), name, font,
              BLACK)
  totals = confusion.sum(axis=1)
  for row, name in enumerate(class_names):
    y = top + (row + 1) * CELL_HEIGHT
    draw.text((MARGIN, y + CELL_HEIGHT / 2.0), name, fill=BLACK, font=font,
              anchor='lm')
    for column in range(classes):
      x = left + column * CELL_WIDTH
      share = confusion[row, column] / float(totals[row]) if totals[row] else 0
      box = (x, y, x + CELL_WIDTH - 1, y + CELL_HEIGHT - 1)
      draw.rectangle(box, fill=_shade(share))
      _centered(draw, box, str(int(confusion[row, column])), font,
                WHITE if share > DARK_SHARE else BLACK)
  return np.asarray(picture)


def _visible(image):
  """A float image (standardized, any range) as uint8, stretched per image."""
  image = np.asarray(image, np.float64)
  low, high = image.min(), image.max()
  return np.uint8(np.round(255.0 * (image - low) / max(high - low, 1e-6)))


def mistakes_grid(images, labels, predictions, class_names):
  """Misclassified images in a grid, each labelled 'true -> predicted'.

  Args:
    images: float [n, h, w, 3], as the network saw them (n may be 0).
    labels, predictions: int [n], the true and the predicted classes.
    class_names: the name of each class.

  Returns:
    uint8 [height, width, 3].
  """
  font = _font()
  n = len(images)
  size = images.shape[1] if n else MISTAKE_IMAGE_SIZE
  scale = max(1, -(-MISTAKE_IMAGE_SIZE // size))  # Rounded up.
  cell_width = max(size * scale, MISTAKE_LABEL_WIDTH) + MARGIN
  cell_height = size * scale + MISTAKE_LABEL_HEIGHT + MARGIN
  columns = max(1, min(n, MISTAKES_PER_ROW))
  rows = max(1, -(-n // MISTAKES_PER_ROW))
  picture = Image.new('RGB', (columns * cell_width + MARGIN,
                              rows * cell_height + MARGIN), WHITE)
  draw = ImageDraw.Draw(picture)
  if not n:
    draw.text((MARGIN, MARGIN), 'no mistakes', fill=BLACK, font=font)
  for i in range(n):
    x = MARGIN + (i % MISTAKES_PER_ROW) * cell_width
    y = MARGIN + (i // MISTAKES_PER_ROW) * cell_height
    shown = Image.fromarray(_visible(images[i])).resize(
        (size * scale, size * scale), Image.NEAREST)
    picture.paste(shown, (x + (cell_width - MARGIN - size * scale) // 2, y))
    _centered(draw, (x, y + size * scale, x + cell_width - MARGIN,
                     y + size * scale + MISTAKE_LABEL_HEIGHT),
              '%s -> %s' % (class_names[labels[i]],
                            class_names[predictions[i]]), font, BLACK)
  return np.asarray(picture)


def image_summary_value(tag, pixels):
  """A tf.compat.v1.Summary.Value holding RGB `pixels` as a PNG, tagged `tag`."""
  encoded = io.BytesIO()
  Image.fromarray(pixels).save(encoded, format='PNG')
  height, width = pixels.shape[:2]
  return tf.compat.v1.Summary.Value(tag=tag, image=tf.compat.v1.Summary.Image(
      height=height, width=width, colorspace=3,
      encoded_image_string=encoded.getvalue()))
