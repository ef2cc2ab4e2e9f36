"""python -m tfgvae train|evaluate [--flag=value ...]: the library's programs (``tfgvae.commands``),
the same as bin/train.py and bin/evaluate.py.

train: train a Graph VAE (or a baseline) from flags, e.g. --flagfile=configs/mnist.cfg.
evaluate: Table 1 for one model (--workdir=RUN or --saved_model=DIR --dataset=NAME).
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROGRAMS = ("train", "evaluate")


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in PROGRAMS:
        sys.exit(f"usage: python -m tfgvae {{{'|'.join(PROGRAMS)}}} [--flag=value ...] (--help: the flags)")
    program = sys.argv.pop(1)
    sys.argv[0] = f"{program}.py"
    from tfgvae import cli
    cli.quiet_tensorflow()
    from tfgvae import commands
    commands.run(program)


if __name__ == "__main__":
    main()
