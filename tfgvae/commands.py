"""The programs ``train`` and ``evaluate``: ``python -m tfgvae train|evaluate [--flags]``, which
``bin/train.py`` and ``bin/evaluate.py`` run, and ``reproduce`` runs in separate processes.

Import this module after ``cli.quiet_tensorflow()``: it imports TensorFlow.
"""
import os
import sys

from absl import flags, logging

from tfgvae import atomic
from tfgvae.experiments import evaluation, reports
from tfgvae.training import config, train

FLAGS = flags.FLAGS


def define_train_flags():
    """bin/train.py's flags: one per TrainConfig field, and --workdir (required)."""
    config.define_flags()
    flags.mark_flag_as_required("workdir")


def train_main(argv):
    """Train from flags (``train.train_and_evaluate``); bad settings or data exit 1 with one line."""
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


def define_evaluate_flags():
    """bin/evaluate.py's flags."""
    flags.DEFINE_string("workdir", None, "Training run to evaluate (config.json + checkpoints/).")
    flags.DEFINE_string("saved_model", None, "SavedModel with log_likelihood and elbo signatures.")
    flags.DEFINE_string("dataset", None, "Dataset (required with --saved_model; a run knows its own): a "
                        "registered name or an .npz file of train/valid/test arrays.")
    flags.DEFINE_string("data_dir", None, "Dataset root (default: the run's, else $TFGVAE_DATA_DIR).")
    flags.DEFINE_enum("split", "test", ["train", "valid", "test"], "Split to evaluate.")
    flags.DEFINE_integer("num_importance_samples", evaluation.DEFAULT_NUM_SAMPLES, "k, samples per example.")
    flags.DEFINE_integer("chunk_size", evaluation.DEFAULT_CHUNK_SIZE, "Samples per example per step.")
    flags.DEFINE_integer("batch_size", evaluation.DEFAULT_BATCH_SIZE, "Examples per step.")
    flags.DEFINE_integer("limit", None, "Evaluate only the first n examples of the split.")
    flags.DEFINE_integer("seed", 0, "Seed of the importance samples (and of CIFAR-10's dequantization).")
    flags.DEFINE_bool("jit_compile", evaluation.DEFAULT_JIT_COMPILE, "Compile the estimator with XLA.")
    flags.DEFINE_bool("write_structure", True, "With --workdir: write the structure files into the run.")
    flags.DEFINE_string("output", None, "Write the summary here as JSON.")
    flags.DEFINE_string("per_example_output", None, "Write per-example values here (.npz).")


def _evaluate():
    if (FLAGS.workdir is None) == (FLAGS.saved_model is None):
        raise ValueError("give exactly one of --workdir and --saved_model")
    for name in ("num_importance_samples", "chunk_size", "batch_size", "limit"):
        if FLAGS[name].value is not None and FLAGS[name].value < 1:
            raise ValueError(f"--{name} must be >= 1, got {FLAGS[name].value}")
    common = dict(split=FLAGS.split, data_dir=FLAGS.data_dir, num_samples=FLAGS.num_importance_samples,
                  batch_size=FLAGS.batch_size, limit=FLAGS.limit, seed=FLAGS.seed)
    if FLAGS.workdir is not None:
        if FLAGS.dataset is not None:
            raise ValueError("--dataset goes with --saved_model: a run evaluates on its own dataset")
        return evaluation.evaluate_workdir(FLAGS.workdir, write_artifacts=FLAGS.write_structure,
                                           chunk_size=FLAGS.chunk_size,
                                           jit_compile=FLAGS.jit_compile, **common)
    if FLAGS.dataset is None:
        raise ValueError("--saved_model needs --dataset")
    return evaluation.evaluate_saved_model(FLAGS.saved_model, FLAGS.dataset, **common)


def evaluate_main(argv):
    """Evaluate a run or a SavedModel from flags and print Table 1's row; errors exit 1 with one line."""
    del argv  # stray arguments are refused by cli.run
    logging.set_verbosity(logging.WARNING)  # no INFO lines from checkpoint and SavedModel writers
    try:
        summary, per_example = _evaluate()
        if FLAGS.output:
            atomic.write_json(FLAGS.output, summary)
        if FLAGS.per_example_output:
            reports.save_per_example(FLAGS.per_example_output, per_example)
    except ValueError as e:  # bad flags, run, SavedModel or data (DataError is a ValueError)
        sys.exit(f"evaluate.py: error: {e}")
    print(reports.format_table(summary))
    if summary.get("artifacts"):
        print(f"wrote into {FLAGS.workdir}: {', '.join(os.path.basename(p) for p in summary['artifacts'])} "
              "(--nowrite_structure to leave the run as it is)")


PROGRAMS = {"train": (define_train_flags, train_main), "evaluate": (define_evaluate_flags, evaluate_main)}


def run(program):
    """Define ``program``'s flags and run it (``cli.run``: --help, one-line errors)."""
    from tfgvae import cli
    define, main = PROGRAMS[program]
    define()
    cli.run(main)
