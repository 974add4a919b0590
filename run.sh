#!/usr/bin/env bash
# Sets up and runs: makes .venv with requirements.txt the first time, then
# runs a script in it (cifar10_train.py unless the first argument names
# another .py file, or is tensorboard), with the other arguments as its
# flags.
#   ./run.sh --data_dir=/tmp/cifar10_data --train_dir=/tmp/cifar10_train
#   ./run.sh cifar10_eval.py --checkpoint_dir=/tmp/cifar10_train --run_once
#   ./run.sh tensorboard --logdir_spec=train:/tmp/cifar10_train
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ] || [ requirements.txt -nt .venv/.installed ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -r requirements.txt
  touch .venv/.installed
fi
if [ $# -gt 0 ] && [ "$1" = tensorboard ]; then
  shift
  exec .venv/bin/tensorboard "$@"
fi
script=cifar10_train.py
if [ $# -gt 0 ] && [[ "$1" == *.py ]]; then
  script=$1
  shift
fi
exec .venv/bin/python "$script" "$@"
