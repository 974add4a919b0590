"""CIFAR-100 (Krizhevsky 2009): 60,000 32x32 colour images in 100 classes,
grouped in 20 superclasses.

Its binary records start with two label bytes, the coarse class
(superclass) and the fine one, then the image's 3,072 bytes, as
CIFAR-10's: `train.bin` (50,000) and `test.bin` (10,000) in
`cifar-100-binary/`; its Python version has `train` and `test` with
b'coarse_labels' and b'fine_labels'. `cifar100` classifies the fine
classes, `cifar100_coarse` the superclasses: one set of files, two data
sets.
"""

from cifar10_lib import records

# The classes, in label order (the official files' fine_label_names and
# coarse_label_names).
FINE_NAMES = (
    'apple', 'aquarium_fish', 'baby', 'bear', 'beaver', 'bed', 'bee',
    'beetle', 'bicycle', 'bottle', 'bowl', 'boy', 'bridge', 'bus',
    'butterfly', 'camel', 'can', 'castle', 'caterpillar', 'cattle', 'chair',
    'chimpanzee', 'clock', 'cloud', 'cockroach', 'couch', 'crab', 'crocodile',
    'cup', 'dinosaur', 'dolphin', 'elephant', 'flatfish', 'forest', 'fox',
    'girl', 'hamster', 'house', 'kangaroo', 'keyboard', 'lamp', 'lawn_mower',
    'leopard', 'lion', 'lizard', 'lobster', 'man', 'maple_tree', 'motorcycle',
    'mountain', 'mouse', 'mushroom', 'oak_tree', 'orange', 'orchid', 'otter',
    'palm_tree', 'pear', 'pickup_truck', 'pine_tree', 'plain', 'plate',
    'poppy', 'porcupine', 'possum', 'rabbit', 'raccoon', 'ray', 'road',
    'rocket', 'rose', 'sea', 'seal', 'shark', 'shrew', 'skunk', 'skyscraper',
    'snail', 'snake', 'spider', 'squirrel', 'streetcar', 'sunflower',
    'sweet_pepper', 'table', 'tank', 'telephone', 'television', 'tiger',
    'tractor', 'train', 'trout', 'tulip', 'turtle', 'wardrobe', 'whale',
    'willow_tree', 'wolf', 'woman', 'worm')
COARSE_NAMES = (
    'aquatic_mammals', 'fish', 'flowers', 'food_containers',
    'fruit_and_vegetables', 'household_electrical_devices',
    'household_furniture', 'insects', 'large_carnivores',
    'large_man-made_outdoor_things', 'large_natural_outdoor_scenes',
    'large_omnivores_and_herbivores', 'medium_mammals',
    'non-insect_invertebrates', 'people', 'reptiles', 'small_mammals',
    'trees', 'vehicles_1', 'vehicles_2')

FILES = records.CifarFiles(
    binary_dir='cifar-100-binary', train_files=('train.bin',),
    test_files=('test.bin',), archive='cifar-100-binary.tar.gz',
    md5='03b5dce01913d631647c71ecec9e9cb8',
    url='https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz',
    python_dir='cifar-100-python', python_train_files=('train',),
    python_test_files=('test',),
    python_label_keys=(b'coarse_labels', b'fine_labels'),
    python_archive='cifar-100-python.tar.gz',
    python_md5='eb9058c3a382ffc7106e4002c42a8d85')

# Which of a record's two label bytes each data set reads.
COARSE_LABEL, FINE_LABEL = 0, 1

# The training set's per-channel pixel mean and standard deviation (R, G,
# B): 255 x (0.5071, 0.4865, 0.4409) and 255 x (0.2673, 0.2564, 0.2762).
_COMMON = dict(
    image_size=32, train_examples=50000, test_examples=10000,
    channel_mean=(129.304, 124.070, 112.434),
    channel_std=(68.170, 65.392, 70.418), label_bytes=2, files=FILES)

CIFAR100 = records.Dataset(
    name='cifar100', title='CIFAR-100', class_names=FINE_NAMES,
    label_offset=FINE_LABEL, **_COMMON)
CIFAR100_COARSE = records.Dataset(
    name='cifar100_coarse', title='CIFAR-100 (superclasses)',
    class_names=COARSE_NAMES, label_offset=COARSE_LABEL, **_COMMON)
