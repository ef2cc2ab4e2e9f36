"""Search node factorizations with keras-tuner: python bin/tune.py --flagfile=configs/tune_mnist.cfg

The same program as ``tfgvae tune``, which ``pip install`` puts on the PATH (``tfgvae.cli``).
"""
import sys

from tfgvae import cli

if __name__ == "__main__":
    cli.main(["tune", *sys.argv[1:]])
