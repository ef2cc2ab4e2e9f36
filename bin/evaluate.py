"""Table 1 for one model: importance-sampled test log-likelihood, KL, ELBO and active units.

python bin/evaluate.py --workdir=runs/mnist [--num_importance_samples=5000] [--output=results.json]
python bin/evaluate.py --saved_model=SavedModels/mnist --dataset=mnist
With --workdir, the run's learned structure (structure.json/.dot/.png, gate_history.png) is
also written into the run directory. See docs/evaluation.md.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags, logging  # noqa: E402

from tfgvae import cli  # noqa: E402

cli.quiet_tensorflow()
from tfgvae import evaluation  # noqa: E402
from tfgvae import atomic  # noqa: E402

flags.DEFINE_string("workdir", None, "Training run to evaluate (config.json + checkpoints/).")
flags.DEFINE_string("saved_model", None, "SavedModel with log_likelihood and elbo signatures.")
flags.DEFINE_string("dataset", None, "Dataset (required with --saved_model; a run knows its own).")
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
FLAGS = flags.FLAGS


def evaluate():
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


def main(argv):
    del argv  # stray arguments are refused by cli.run
    logging.set_verbosity(logging.WARNING)  # no INFO lines from checkpoint and SavedModel writers
    try:
        summary, per_example = evaluate()
        if FLAGS.output:
            atomic.write_json(FLAGS.output, summary)
        if FLAGS.per_example_output:
            evaluation.save_per_example(FLAGS.per_example_output, per_example)
    except ValueError as e:  # bad flags, run, SavedModel or data (DataError is a ValueError)
        sys.exit(f"evaluate.py: error: {e}")
    print(evaluation.format_table(summary))
    if summary.get("artifacts"):
        print(f"wrote into {FLAGS.workdir}: {', '.join(os.path.basename(p) for p in summary['artifacts'])} "
              "(--nowrite_structure to leave the run as it is)")


if __name__ == "__main__":
    cli.run(main)
