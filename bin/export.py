"""Export a training run's latest checkpoint as a SavedModel: python bin/export.py --workdir=RUN

The same program as ``tfgvae export``, which ``pip install`` puts on the PATH (``tfgvae.cli``).
"""
import sys

from tfgvae import cli

if __name__ == "__main__":
    cli.main(["export", *sys.argv[1:]])
