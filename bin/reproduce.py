"""Reproduce Table 1 and Figs. 3, 5, 6 for one dataset: python bin/reproduce.py --dataset=mnist

Trains every structure for every seed (bin/train.py), evaluates each on the test split
(bin/evaluate.py), and writes <results_dir>/<dataset>.md and .json and the figures.
Re-running skips finished runs and resumes unfinished ones. See docs/results.md.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

from tfgvae import data  # noqa: E402
from tfgvae.data import sources  # noqa: E402
from tfgvae.experiments import reproduce  # noqa: E402

flags.DEFINE_string("dataset", None, f"Dataset of the table: {', '.join(data.DATASETS)}, or an .npz file "
                    "of train/valid/test arrays in [0, 1] (trained with the configs of "
                    f"{' or '.join(reproduce.TEMPLATES.values())}).")
flags.register_validator("dataset", lambda v: v is None or sources.is_dataset_name(v),
                         message=sources.unknown_dataset_message())
flags.DEFINE_list("structures", list(reproduce.STRUCTURE_ORDER), "Structures (rows of Table 1).")
flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4"], "Seeds: one run per structure and seed.")
flags.DEFINE_integer("budget", None, "Epochs per run (default: the paper's full schedule, 2,000 epochs, "
                     "3,000 for CIFAR-10), on the schedule of --schedule.")
flags.DEFINE_enum("schedule", reproduce.DEFAULT_SCHEDULE, list(reproduce.SCHEDULES), "With --budget=E: "
                  "'truncated' runs the paper's first E epochs (lr x0.75 every 200 epochs, tau = "
                  "0.99^epoch); 'compressed' fits the paper's schedule into E epochs (lr steps and "
                  "temperature decay at the same fractions of training). The KL warm-up is the same "
                  "fraction of the run in both. Truncated is the default: the better proxy for longer "
                  "runs in paired runs on MNIST and Omniglot (docs/results.md).")
flags.DEFINE_integer("num_importance_samples", 5000, "k of the test log-likelihood (the paper: 5,000).")
flags.DEFINE_string("workdir", "runs/reproduce", "Root of the runs: <workdir>/<dataset>/<structure>_seed<k>.")
flags.DEFINE_string("results_dir", None, "Where the table and figures go (default <workdir>/results).")
flags.DEFINE_string("data_dir", None, "Dataset root (default $TFGVAE_DATA_DIR).")
flags.DEFINE_integer("parallel", 1, "Runs trained at the same time.")
flags.DEFINE_integer("threads_per_run", 0, "CPU threads of each run's TensorFlow (0: its default).")
flags.DEFINE_bool("match_vae_parameters", True, "Widen the VAE's bottom-up head to at least the "
                  "parameter count of Table 1's other structures, trained in this call or not (the paper's "
                  "footnote 2).")
flags.DEFINE_multi_string("train_flag", [], "Extra bin/train.py flag for every run, e.g. "
                          "--train_flag=gate_lr_multiplier=10 (repeatable).")
flags.DEFINE_integer("eval_limit", None, "Evaluate on the first n test images only (default: all).")
flags.DEFINE_integer("tsne_examples", 2000, "Test images in the t-SNE figure (0: no figure).")
flags.mark_flag_as_required("dataset")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    try:
        seeds = [int(s) for s in FLAGS.seeds]
        extra = {}
        for item in FLAGS.train_flag:
            key, sep, value = item.lstrip("-").partition("=")
            if not sep:
                raise ValueError(f"--train_flag={item!r} is not NAME=VALUE")
            extra[key] = reproduce._parse_value(value)
        for name in ("parallel", "num_importance_samples", "eval_limit"):
            if FLAGS[name].value is not None and FLAGS[name].value < 1:
                raise ValueError(f"--{name} must be >= 1, got {FLAGS[name].value}")
        _, _, failed = reproduce.reproduce(
            FLAGS.dataset, FLAGS.structures, seeds, FLAGS.workdir, FLAGS.results_dir, FLAGS.budget,
            FLAGS.num_importance_samples, FLAGS.parallel, FLAGS.threads_per_run, FLAGS.data_dir,
            FLAGS.match_vae_parameters, extra, FLAGS.tsne_examples, eval_limit=FLAGS.eval_limit,
            schedule_kind=FLAGS.schedule)
    except ValueError as e:
        sys.exit(f"reproduce.py: error: {e}")
    if failed:
        sys.exit(f"reproduce.py: error: {len(failed)} runs failed: {', '.join(failed)}")


if __name__ == "__main__":
    app.run(main)
