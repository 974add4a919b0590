"""What everything else stands on, one module per role: the machine, the
command line, checkpoints and summaries, and the data files.

  errors       the error a user can fix (UserError) and its one line
  paths        the path flags and their checks, run before TensorFlow
  command_line every flag, declared once; absl's parse and the scripts'
               first checks, before TensorFlow
  folder_lock  one trainer per training folder: its lock, taken before
               TensorFlow
  tf_config    a task's place, as cluster managers write it in TF_CONFIG
  watchdog     the line a task ends with when another stays unreachable
  devices      how TensorFlow uses the machine: oneDNN on before TensorFlow
               loads (set_tensorflow_options), session options, what the
               CPU has, bfloat16
  precision    what --bf16 and --use_fp16 do here, measured at start
  cli          command-line plumbing: TensorFlow's errors as one line,
               exit statuses
  checkpoints  atomic saves, finding, checking and restoring checkpoints
  summaries    TensorBoard summaries with the tutorial's tags
  figures      the pictures of an evaluation
  step         the one builder of a training step (towers, gradients, the
               update and its averages)
  records      a data set's records and files (Dataset): formats, places,
               checks
  download     fetching and extracting the data set, checked

The modules down to devices import no TensorFlow when imported. Nothing
here imports the data sets (cifar10_datasets), the data pipeline
(cifar10_input), the networks (cifar10,
cifar10_models) or the loop (cifar10_training).
"""
