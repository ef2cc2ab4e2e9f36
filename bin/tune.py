"""Search node factorizations with keras-tuner: python bin/tune.py --flagfile=configs/tune_mnist.cfg"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags, logging  # noqa: E402

from tfgvae import cli  # noqa: E402

cli.quiet_tensorflow()
from tfgvae.training import config, tuning  # noqa: E402

config.define_flags()
flags.mark_flag_as_required("workdir")
flags.DEFINE_enum("tuner", "bayesian", tuning.TUNERS, "Search algorithm.")
flags.DEFINE_integer("max_trials", 10, "Trials for random and Bayesian search.")
flags.DEFINE_list("latent_dims", ["80"], "Values of M to search.")
flags.DEFINE_list("node_dims", None, "Values of N' allowed (default: every divisor of each M).")
flags.DEFINE_list("structures", ["graph"], "Structures to search (graph, fc, ladder).")
flags.DEFINE_list("temperature_decays", None, "Optional values of the per-epoch tau decay to search.")
flags.DEFINE_list("learning_rates", None, "Optional learning rates to search.")
FLAGS = flags.FLAGS


def _numbers(values, kind):
    try:
        return None if values is None else tuple(kind(v) for v in values)
    except ValueError:
        raise ValueError(f"expected a comma-separated list of {kind.__name__}s, got {','.join(values)}")


def main(argv):
    del argv  # stray arguments are refused by cli.run
    logging.set_verbosity(logging.WARNING)  # no INFO lines from checkpoint and SavedModel writers
    try:
        space = tuning.SearchSpace(
            latent_dims=_numbers(FLAGS.latent_dims, int), node_dims=_numbers(FLAGS.node_dims, int),
            structures=tuple(FLAGS.structures),
            temperature_decays=_numbers(FLAGS.temperature_decays, float),
            learning_rates=_numbers(FLAGS.learning_rates, float))
        rows, _, best, exported = tuning.search(
            config.config_from_flags(), space, FLAGS.workdir, FLAGS.tuner, FLAGS.max_trials,
            FLAGS.export_dir)
    except ValueError as e:
        sys.exit(f"tune.py: error: {e}")
    print(tuning.format_table(rows))
    print(f"best: M={best.latent_dim} N={best.num_nodes} N'={best.latent_dim // best.num_nodes} "
          f"structure={best.structure}; SavedModel: {exported}")
    print(f"plot: {os.path.join(FLAGS.workdir, 'factorizations.png')}")


if __name__ == "__main__":
    cli.run(main)
