"""Models taken out of the training folder for other runtimes: tflite.py
(TensorFlow Lite files for phones and small devices)."""
