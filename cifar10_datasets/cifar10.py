"""CIFAR-10 (Krizhevsky 2009): 60,000 32x32 colour images in 10 classes.

The tutorial's data set: 50,000 training images in five binary files of
records with one label byte, 10,000 test images in a sixth
(https://www.cs.toronto.edu/~kriz/cifar.html); or its Python version.
"""

from cifar10_lib import records

CLASS_NAMES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog',
               'horse', 'ship', 'truck')
TRAIN_FILES = tuple('data_batch_%d.bin' % i for i in range(1, 6))
TEST_FILES = ('test_batch.bin',)

FILES = records.CifarFiles(
    binary_dir='cifar-10-batches-bin', train_files=TRAIN_FILES,
    test_files=TEST_FILES, archive='cifar-10-binary.tar.gz',
    md5='c32a1d4ab5d03f1284b67883e8d87530',
    url='https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
    python_dir='cifar-10-batches-py',
    python_train_files=tuple(name[:-len('.bin')] for name in TRAIN_FILES),
    python_test_files=tuple(name[:-len('.bin')] for name in TEST_FILES),
    python_label_keys=(b'labels',), python_archive='cifar-10-python.tar.gz',
    python_md5='c58f30108f718f92721af3b95e74349a')

# The training set's per-channel pixel mean and standard deviation (R, G, B).
CIFAR10 = records.Dataset(
    name='cifar10', title='CIFAR-10', class_names=CLASS_NAMES, image_size=32,
    train_examples=50000, test_examples=10000,
    channel_mean=(125.307, 122.950, 113.865),
    channel_std=(62.993, 62.089, 66.705), label_bytes=1, label_offset=0,
    files=FILES)
