"""The omniglot_alphabets split: train = the 30 background alphabets, test = the 20 evaluation
alphabets (characters training never sees). Decoding (and tfds' copy,
its splits as they are) as in tfgvae.data.omniglot."""

from tfgvae.data.omniglot import alphabet_part as read
from tfgvae.data.omniglot import FILES, from_tfds

__all__ = ["FILES", "from_tfds", "read"]
