"""A PNG grid of samples from a SavedModel: python bin/sample.py --saved_model=DIR --out=samples.png

The same program as ``tfgvae sample``, which ``pip install`` puts on the PATH (``tfgvae.cli``).
"""
import sys

from tfgvae import cli

if __name__ == "__main__":
    cli.main(["sample", *sys.argv[1:]])
