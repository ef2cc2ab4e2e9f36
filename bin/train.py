"""Train a Graph VAE (or a baseline) from flags: python bin/train.py --flagfile=configs/mnist.cfg

The same program as ``tfgvae train``, which ``pip install`` puts on the PATH (``tfgvae.cli``).
"""
import sys

from tfgvae import cli

if __name__ == "__main__":
    cli.main(["train", *sys.argv[1:]])
