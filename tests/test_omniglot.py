"""The two Omniglot splits: `omniglot` (every character on both sides, drawers 0-14 / 15-19, as
in the VAE literature) and `omniglot_alphabets` (background / evaluation alphabets)."""

import hashlib
import os
import pathlib

import numpy as np
import pytest

import data_fixtures
from tfgvae.data import DATASETS, DataError, load_pixels, splits
from tfgvae.data import cache, omniglot, tfds_fallback

REPO = pathlib.Path(__file__).resolve().parents[1]
REAL_DATA_DIR = pathlib.Path(os.environ.get("TFGVAE_DATA_DIR") or REPO.parent / "shared" / "data")
REAL_FILES = [REAL_DATA_DIR / rel for rel in omniglot.FILES.values()]
CHARACTERS, DRAWERS = 1623, 20
# sha256 over (pixels, labels) of train, valid and test, in that order, from load_pixels on the
# real files: computed once; the alphabets digest is also what the code before the rename gave
# for the split then called `omniglot`.
DIGESTS = {"omniglot": "f1326a50e782e2b909a2785bc2f4b4c076b60451ca64908be88a51f609ed570c",
           "omniglot_alphabets": "708a1b03d6081b66f40f48cb6bafa8df70d6db1ce33221b881528af38dc8a00a"}
needs_real_data = pytest.mark.skipif(not all(p.is_file() for p in REAL_FILES),
                                     reason=f"real Omniglot files not found under {REAL_DATA_DIR}")


def split_pairs(num_characters):
    """{split: set of (character, drawer)} of the omniglot split, valid held out as load_pixels does."""
    source = omniglot.drawer_index(num_characters, "train")
    train, valid = splits.holdout_indices("omniglot", len(source))
    pairs = {"train": source[train], "valid": source[valid],
             "test": omniglot.drawer_index(num_characters, "test")}
    return {split: set(map(tuple, p.tolist())) for split, p in pairs.items()}, pairs


def test_every_character_in_train_and_test_and_no_drawing_in_two_splits():
    sets, pairs = split_pairs(CHARACTERS)
    counts = {split: len(p) for split, p in pairs.items()}
    assert counts == {"train": 21_911, "valid": 2_434, "test": 8_115}
    assert counts == {s: getattr(DATASETS["omniglot"], f"num_{s}") for s in counts}
    assert sum(len(s) for s in sets.values()) == CHARACTERS * DRAWERS == 32_460  # no repeats
    assert not (sets["train"] & sets["valid"] or sets["train"] & sets["test"]
                or sets["valid"] & sets["test"])
    assert set().union(*sets.values()) == {(c, d) for c in range(CHARACTERS) for d in range(DRAWERS)}
    for split in ("train", "test"):
        assert set(pairs[split][:, 0]) == set(range(CHARACTERS))
    assert {d for _, d in sets["test"]} == set(range(15, 20))  # the held-out drawers
    assert {d for _, d in sets["train"] | sets["valid"]} == set(range(15))


def test_each_split_holds_the_drawings_of_its_characters_and_drawers(tmp_path, monkeypatch):
    """Against the tiny files read directly: image (character, drawer) of the index is the
    file's image [character, drawer], resized, and its label is the character's id."""
    monkeypatch.setenv("TFGVAE_CACHE_DIR", str(tmp_path / "cache"))
    root = data_fixtures.write_tiny_data_dir(tmp_path / "data", 60, 40)
    raw = [np.load(root / rel)["images"] for rel in (omniglot.FILES["train"], omniglot.FILES["test"])]
    pages = np.concatenate(raw)  # (characters, 20, 105, 105): background, then evaluation
    ids = np.concatenate([np.arange(len(raw[0])), 964 + np.arange(len(raw[1]))])
    _, pairs = split_pairs(len(pages))
    for split in ("train", "valid", "test"):
        x, y = load_pixels("omniglot", split, root)
        chars, drawers = pairs[split].T
        np.testing.assert_array_equal(x, omniglot.resize_to_28(pages[chars, drawers]))
        np.testing.assert_array_equal(y, ids[chars])
    cache.clear_memo()


def test_tfds_fallback_gives_both_splits(tmp_path, monkeypatch):
    """Without a data dir: omniglot_alphabets = tfds' omniglot splits as they are; omniglot = both
    joined, each character's drawings in tfds order taken as its drawers 0..19."""
    monkeypatch.setenv("TFGVAE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TFGVAE_DATA_DIR", raising=False)
    pages = np.full((60, 105, 105, 3), 255, np.uint8)  # an all-white page has no ink ...
    for i in range(60):
        pages[i, :, i] = 0  # ... but for column i: every page's 28x28 version differs
    labels = np.repeat([0, 1, 964], 20)  # tfds ids: 2 background characters, 1 evaluation one
    shuffle = np.random.default_rng(0).permutation(40)
    tfds = {"train": {"image": pages[:40][shuffle], "label": labels[:40][shuffle]},
            "test": {"image": pages[40:], "label": labels[40:]}}
    monkeypatch.setattr(tfds_fallback, "_tfds_load", lambda name, split: tfds[split])
    resized = lambda index: omniglot.resize_to_28(pages[index, ..., 0] >= 128)  # noqa: E731
    x, y = load_pixels("omniglot_alphabets", "test")
    np.testing.assert_array_equal(x, resized(np.arange(40, 60)))
    assert (y == 964).all()
    drawers = np.concatenate([shuffle[tfds["train"]["label"] == c] for c in (0, 1)]
                             + [np.arange(40, 60)]).reshape(3, 20)  # pages in tfds order
    x, y = load_pixels("omniglot", "test")
    np.testing.assert_array_equal(x, resized(drawers[:, 15:].ravel()))
    np.testing.assert_array_equal(y, np.repeat([0, 1, 964], 5))
    train = np.concatenate([load_pixels("omniglot", s)[0] for s in ("train", "valid")])
    assert sorted(map(bytes, train)) == sorted(map(bytes, resized(drawers[:, :15].ravel())))
    cache.clear_memo()


def test_drawings_that_are_not_whole_characters_are_refused():
    labels = np.repeat([0, 1], [20, 19])
    with pytest.raises(DataError, match="not whole characters"):
        omniglot.by_drawer(np.zeros((39, 784), np.uint8), labels, "test")
    with pytest.raises(DataError, match="not whole characters"):
        omniglot.by_drawer(np.zeros((40, 784), np.uint8), np.repeat([0, 1, 0, 1], 10), "test")


@needs_real_data
@pytest.mark.parametrize("name", sorted(DIGESTS))
def test_real_splits_have_their_counts_and_the_same_bytes_every_run(name):
    digest, labels = hashlib.sha256(), {}
    for split in ("train", "valid", "test"):
        x, y = load_pixels(name, split, REAL_DATA_DIR)
        assert x.shape == (getattr(DATASETS[name], f"num_{split}"), 784) and x.dtype == np.uint8
        digest.update(x.tobytes())
        digest.update(y.tobytes())
        labels[split] = y
    assert digest.hexdigest() == DIGESTS[name]
    if name == "omniglot":  # 24,345 / 8,115: Burda et al.'s 24,345 / 8,070 within 45 images
        assert len(labels["train"]) + len(labels["valid"]) == 24_345 and len(labels["test"]) == 8_115
        chars = omniglot.drawer_index(CHARACTERS, "test")[:, 0]
        np.testing.assert_array_equal(labels["test"], chars)  # ids 0..1622 = index characters
        assert set(labels["train"]) == set(range(CHARACTERS))
    else:  # the split formerly called omniglot: 30 background alphabets / 20 evaluation ones
        assert [len(labels[s]) for s in ("train", "valid", "test")] == [17_352, 1_928, 13_180]
        assert set(labels["test"]) == set(range(964, 1623))
        assert set(labels["train"]) | set(labels["valid"]) == set(range(964))


def test_a_wrong_dataset_name_lists_the_names():
    with pytest.raises(ValueError) as excinfo:
        load_pixels("omniglot_chars", "test", REAL_DATA_DIR)
    message = str(excinfo.value)
    assert "\n" not in message and "'omniglot'" in message and "'omniglot_alphabets'" in message
