"""The omniglot_alphabets split: train = the 30 background alphabets, test = the 20 evaluation
alphabets (characters training never sees). Decoding as in tfgvae.data.omniglot."""

from tfgvae.data.omniglot import alphabet_part as read

__all__ = ["read"]
