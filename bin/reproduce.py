"""Table 1 and Figs. 3, 5, 6 for one dataset: python bin/reproduce.py --dataset=mnist

The same program as ``tfgvae reproduce``, which ``pip install`` puts on the PATH (``tfgvae.cli``).
"""
import sys

from tfgvae import cli

if __name__ == "__main__":
    cli.main(["reproduce", *sys.argv[1:]])
