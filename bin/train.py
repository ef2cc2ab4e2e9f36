"""Train a Graph VAE (or a baseline) from flags: python bin/train.py --flagfile=configs/mnist.cfg"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfgvae import cli  # noqa: E402

cli.quiet_tensorflow()
from tfgvae import commands  # noqa: E402

if __name__ == "__main__":
    commands.run("train")
