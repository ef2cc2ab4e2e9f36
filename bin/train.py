"""Train a Graph VAE (or a baseline) from flags: python bin/train.py --flagfile=configs/mnist.cfg"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags, logging  # noqa: E402

from tfgvae import cli  # noqa: E402

cli.quiet_tensorflow()
from tfgvae import config, train  # noqa: E402

config.define_flags()
flags.mark_flag_as_required("workdir")
FLAGS = flags.FLAGS


def main(argv):
    del argv  # stray arguments are refused by cli.run
    logging.set_verbosity(logging.WARNING)  # no INFO lines from checkpoint and SavedModel writers
    try:
        run = config.config_from_flags()
        train.train_and_evaluate(run, FLAGS.workdir)
    except ValueError as e:  # bad settings or data (DataError is a ValueError): one line, exit 1
        sys.exit(f"train.py: error: {e}")
    if run.verbose:
        saved = (run.export_dir or train.default_export_dir(FLAGS.workdir)) if run.export else (
            f"not written (--noexport); python bin/export.py --workdir={FLAGS.workdir}")
        print(f"SavedModel: {saved}\n"
              f"results: {os.path.join(FLAGS.workdir, 'results.json')}\n"
              f"figures: {os.path.join(FLAGS.workdir, 'structure.png')}, "
              f"{os.path.join(FLAGS.workdir, 'gate_history.png')}\n"
              f"TensorBoard: tensorboard --logdir={os.path.join(FLAGS.workdir, 'logs')}")


if __name__ == "__main__":
    cli.run(main)
