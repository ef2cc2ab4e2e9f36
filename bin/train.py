"""Train a Graph VAE (or a baseline) from flags: python bin/train.py --flagfile=configs/mnist.cfg"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags, logging  # noqa: E402

from tfgvae import cli, config, train  # noqa: E402

config.define_flags()
flags.mark_flag_as_required("workdir")
FLAGS = flags.FLAGS


def main(argv):
    del argv  # stray arguments are refused by cli.run
    logging.set_verbosity(logging.WARNING)  # no INFO lines from checkpoint and SavedModel writers
    try:
        train.train_and_evaluate(config.config_from_flags(), FLAGS.workdir)
    except ValueError as e:  # bad settings or data (DataError is a ValueError): one line, exit 1
        sys.exit(f"train.py: error: {e}")


if __name__ == "__main__":
    cli.run(main)
