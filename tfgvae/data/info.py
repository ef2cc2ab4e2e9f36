"""Static description of each supported dataset (shapes, likelihood, split sizes)."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is; split sizes are those of the full local copies.

    `binarization` is 'dynamic' (grey intensities resampled as Bernoulli each
    epoch), 'fixed' (the data are already binary) or None (continuous data).
    """

    name: str
    image_shape: tuple
    input_dim: int
    likelihood: str
    binarization: str | None
    num_train: int
    num_valid: int
    num_test: int
    note: str


DATASETS = {
    "mnist": DatasetInfo(
        "mnist", (28, 28, 1), 784, "bernoulli", "dynamic", 50_000, 10_000, 10_000,
        "MNIST grey intensities; valid = last 10,000 of the official 60,000 training "
        "images; dynamic binarization on train, one fixed binarization on valid/test",
    ),
    "binarized_mnist": DatasetInfo(
        "binarized_mnist", (28, 28, 1), 784, "bernoulli", "fixed", 50_000, 10_000, 10_000,
        "Larochelle & Murray (2011) fixed binarization with its own splits; no labels "
        "(load_split returns -1s); the test split is ordered by digit class",
    ),
    "omniglot": DatasetInfo(
        "omniglot", (28, 28, 1), 784, "bernoulli", "dynamic", 21_911, 2_434, 8_115,
        "28x28 area (BOX) downsample of the 105x105 Omniglot set, all 1,623 characters of "
        "the 50 alphabets; train/valid = drawers 0-14 of every character (fixed-seed 10% "
        "hold-out); test = drawers 15-19 of every character (new drawings of characters "
        "seen in training, as in Burda et al.'s split, not their 24,345/8,070 chardata.mat)",
    ),
    "omniglot_alphabets": DatasetInfo(
        "omniglot_alphabets", (28, 28, 1), 784, "bernoulli", "dynamic", 17_352, 1_928, 13_180,
        "28x28 area (BOX) downsample of the 105x105 Omniglot set; train/valid = "
        "background set (fixed-seed 10% hold-out), test = evaluation set (the 20 alphabets "
        "training never sees: a harder, out-of-alphabet test); not Burda et al.'s split",
    ),
    "cifar10": DatasetInfo(
        "cifar10", (32, 32, 3), 3072, "gaussian", None, 45_000, 5_000, 10_000,
        "approximate JPEG q75 copy: bits/dim not comparable with published CIFAR-10 "
        "figures; valid = fixed-seed 10% hold-out of the training set",
    ),
}

SPLITS = ("train", "valid", "test")


def get_info(name):
    """Returns DATASETS[name], or raises ValueError listing the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}") from None


def check_split(split):
    """Raises ValueError unless split is 'train', 'valid' or 'test'."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
