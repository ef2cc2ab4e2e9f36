"""Table 1 for one model: python bin/evaluate.py --workdir=RUN, or --saved_model=DIR --dataset=NAME

The same program as ``tfgvae evaluate``, which ``pip install`` puts on the PATH (``tfgvae.cli``).
"""
import sys

from tfgvae import cli

if __name__ == "__main__":
    cli.main(["evaluate", *sys.argv[1:]])
