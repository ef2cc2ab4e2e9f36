"""The dataset registry: one record per dataset, everything the library knows about it.

A record names its reader (a module with ``read(data_dir, part, verify)``, and optionally
``from_tfds(images)`` for tensorflow-datasets' copy, or ``read_tfds(read_part, part)`` where its
parts are built from tfds' parts), its files and their SHA-256, how its
validation split is held out, its likelihood and split sizes, and the paper's epochs for it.
Adding a dataset is a reader plus one ``register(DatasetInfo(...))`` below (and its configs).
"""

import dataclasses
import math
import types

from tfgvae.data import binarized_mnist, checksums, cifar10, mnist, omniglot, omniglot_alphabets


@dataclasses.dataclass(frozen=True)
class HoldOut:
    """k = max(1, min(cap, n // divisor)) examples held out; permuted with HOLDOUT_SEED if permute."""

    divisor: int
    cap: int | None
    permute: bool


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is; split sizes are those of the full local copies.

    `binarization` is 'dynamic' (grey intensities resampled as Bernoulli each
    epoch), 'fixed' (the data are already binary) or None (continuous data).
    `holdout` None: the source has its own 'valid' part.
    """

    name: str
    image_shape: tuple
    likelihood: str
    binarization: str | None
    num_train: int
    num_valid: int
    num_test: int
    note: str
    reader: types.ModuleType | None = None
    sha256: dict = dataclasses.field(default_factory=dict)  # file relative to the data dir -> sha256
    holdout: HoldOut | None = None
    paper_epochs: int | None = None  # training length in the paper (App. B.2)
    tfds_name: str | None = None
    configs: str | None = None  # trained with configs/<configs>*.cfg (None: its own name's)

    @property
    def input_dim(self):
        """D, the values of one example."""
        return math.prod(self.image_shape)


DATASETS = {}
"""The dataset registry: name -> ``DatasetInfo`` of every dataset ``load_split`` reads (``register`` adds one)."""


def register(info):
    """Add ``info`` to DATASETS under its name, and its files' sha256 to the checksums' table;
    returns it."""
    if info.name in DATASETS:
        raise ValueError(f"dataset {info.name!r} is already registered")
    DATASETS[info.name] = info
    checksums.register_sha256(info.sha256)
    return info


register(DatasetInfo(
    name="mnist", image_shape=(28, 28, 1), likelihood="bernoulli", binarization="dynamic",
    num_train=50_000, num_valid=10_000, num_test=10_000,
    note="MNIST grey intensities; valid = last 10,000 of the official 60,000 training "
         "images; dynamic binarization on train, one fixed binarization on valid/test",
    reader=mnist, holdout=HoldOut(divisor=6, cap=10_000, permute=False), paper_epochs=2000,
    tfds_name="mnist", sha256={
        "mnist/t10k-images-idx3-ubyte.gz": "fcf7e4af8f1e882009359cf74aeeaa8c1b43f02b7c973ec57b96376115ffe4f6",
        "mnist/t10k-labels-idx1-ubyte.gz": "c2574f46ae1408987136265c9fbad0793976cab12c01931202e0b6de48ff7c65",
        "mnist/train-images-idx3-ubyte.gz": "7e6bc32f6ff941846b1171066ad33f383483d6aa811fb508ccf36e992f0b1fee",
        "mnist/train-labels-idx1-ubyte.gz": "af60b5fb27d6414ba9a095ce529b446dd670993d3df1c191c90420bd0b19e263",
    }))

register(DatasetInfo(
    name="binarized_mnist", image_shape=(28, 28, 1), likelihood="bernoulli", binarization="fixed",
    num_train=50_000, num_valid=10_000, num_test=10_000,
    note="Larochelle & Murray (2011) fixed binarization with its own splits; no labels "
         "(load_split returns -1s); the test split is ordered by digit class",
    reader=binarized_mnist, paper_epochs=2000, tfds_name="binarized_mnist", sha256={
        "binarized_mnist/binarized_mnist_uint8.npz":
            "350243cb824d66d022e0c3e87cac231231668817ff03f5f6d7b6533017d56b4b",
    }))

OMNIGLOT_COMMON = dict(  # the two splits of the same Omniglot files
    image_shape=(28, 28, 1), likelihood="bernoulli", binarization="dynamic",
    holdout=HoldOut(divisor=10, cap=None, permute=True), paper_epochs=2000, tfds_name="omniglot",
    sha256={
        "omniglot/images_background.npz": "8bf84167413cd00beacdce3fe582f780ab538d8dbef043a6d688f2527bbce199",
        "omniglot/images_evaluation.npz": "0b84c7ffd94c4841c0040e529c86a82eaaccb986d8eadad5673f7991b7475276",
    })

register(DatasetInfo(
    name="omniglot", num_train=21_911, num_valid=2_434, num_test=8_115, reader=omniglot,
    note="28x28 area (BOX) downsample of the 105x105 Omniglot set, all 1,623 characters of "
         "the 50 alphabets; train/valid = drawers 0-14 of every character (fixed-seed 10% "
         "hold-out); test = drawers 15-19 of every character (new drawings of characters "
         "seen in training, as in Burda et al.'s split, not their 24,345/8,070 chardata.mat)",
    **OMNIGLOT_COMMON))

register(DatasetInfo(
    name="omniglot_alphabets", num_train=17_352, num_valid=1_928, num_test=13_180,
    reader=omniglot_alphabets, configs="omniglot",
    note="28x28 area (BOX) downsample of the 105x105 Omniglot set; train/valid = "
         "background set (fixed-seed 10% hold-out), test = evaluation set (the 20 alphabets "
         "training never sees: a harder, out-of-alphabet test); not Burda et al.'s split",
    **OMNIGLOT_COMMON))

register(DatasetInfo(
    name="cifar10", image_shape=(32, 32, 3), likelihood="gaussian", binarization=None,
    num_train=45_000, num_valid=5_000, num_test=10_000,
    note="approximate JPEG q75 copy: bits/dim not comparable with published CIFAR-10 "
         "figures; valid = fixed-seed 10% hold-out of the training set",
    reader=cifar10, holdout=HoldOut(divisor=10, cap=None, permute=True), paper_epochs=3000,
    tfds_name="cifar10", sha256={
        "cifar10/cifar10_jpeg_q75.tar.gz": "d34c68f61cca57aa9144c8f25bda427abb9921bd642d5857a2fc1a6b4416f965",
    }))

SPLITS = ("train", "valid", "test")
TRAINING_SPLITS = ("train", "train+valid")  # what a run may train on: "train+valid" is the whole source


def get_info(name):
    """Returns DATASETS[name], or raises ValueError listing the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}") from None


def known_sha256():
    """{file relative to the data dir: sha256} of every registered dataset's files."""
    return {rel: sha for info in DATASETS.values() for rel, sha in info.sha256.items()}


def check_split(split):
    """Raises ValueError unless split is 'train', 'valid', 'test' or 'train+valid' (both)."""
    if split not in SPLITS + TRAINING_SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS + TRAINING_SPLITS[1:]}")


def split_size(info, split):
    """Examples in a split of a registered dataset ('train+valid': both)."""
    return sum(getattr(info, f"num_{part}") for part in split.split("+"))
