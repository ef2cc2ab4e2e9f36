"""The programs of the ``tfgvae`` command (``tfgvae.cli``) but ``sample``: train, evaluate, export,
tune and reproduce. Each is a function that defines its flags in a ``FlagValues`` and a ``main`` that
reads them; ``PROGRAMS`` names them. Bad flags, settings or data end a program with one line
``<program>.py: error: ...`` and exit status 1.

``tfgvae.cli`` imports this module after ``quiet_tensorflow()``: it imports TensorFlow.
"""
import functools
import os
import sys
import types

from absl import flags, logging

from tfgvae import atomic, data
from tfgvae.data import sources
from tfgvae.experiments import evaluation, reports, reproduce
from tfgvae.serving import export
from tfgvae.training import config, train, tuning
from tfgvae.training.runs import load_run

FLAGS = flags.FLAGS


def _definers(flag_values):
    """absl's DEFINE_* functions bound to ``flag_values`` (absl's FLAGS by default), by type."""
    fv = FLAGS if flag_values is None else flag_values
    kinds = ("string", "integer", "bool", "enum", "list", "multi_string")
    return types.SimpleNamespace(fv=fv, **{
        kind: functools.partial(getattr(flags, f"DEFINE_{kind}"), flag_values=fv) for kind in kinds})


def define_train_flags(flag_values=None):
    """bin/train.py's flags: one per TrainConfig field, and --workdir (required), in ``flag_values``
    (absl's FLAGS by default)."""
    fv = FLAGS if flag_values is None else flag_values
    config.define_flags(fv)
    flags.mark_flag_as_required("workdir", flag_values=fv)


def train_main(argv):
    """Train from flags (``train.train_and_evaluate``); bad settings or data exit 1 with one line."""
    del argv  # stray arguments are refused by tfgvae.cli
    logging.set_verbosity(logging.WARNING)  # no INFO lines from checkpoint and SavedModel writers
    try:
        run = config.config_from_flags()
        train.train_and_evaluate(run, FLAGS.workdir)
    except ValueError as e:  # bad settings or data (DataError is a ValueError): one line, exit 1
        sys.exit(f"train.py: error: {e}")
    if run.verbose:
        saved = (run.export_dir or train.default_export_dir(FLAGS.workdir)) if run.export else (
            f"not written (--noexport); tfgvae export --workdir={FLAGS.workdir}")
        print(f"SavedModel: {saved}\n"
              f"results: {os.path.join(FLAGS.workdir, 'results.json')}\n"
              f"figures: {os.path.join(FLAGS.workdir, 'structure.png')}, "
              f"{os.path.join(FLAGS.workdir, 'gate_history.png')}\n"
              f"TensorBoard: tensorboard --logdir={os.path.join(FLAGS.workdir, 'logs')}")


def define_evaluate_flags(flag_values=None):
    """bin/evaluate.py's flags, in ``flag_values`` (absl's FLAGS by default)."""
    d = _definers(flag_values)
    d.string("workdir", None, "Training run to evaluate (config.json + checkpoints/).")
    d.string("saved_model", None, "SavedModel with log_likelihood and elbo signatures.")
    d.string("dataset", None, "Dataset (required with --saved_model; a run knows its own): a "
             "registered name or an .npz file of train/valid/test arrays.")
    d.string("data_dir", None, "Dataset root (default: the run's, else $TFGVAE_DATA_DIR).")
    d.enum("split", "test", ["train", "valid", "test"], "Split to evaluate.")
    d.integer("num_importance_samples", evaluation.DEFAULT_NUM_SAMPLES, "k, samples per example.")
    d.integer("chunk_size", evaluation.DEFAULT_CHUNK_SIZE, "Samples per example per step.")
    d.integer("batch_size", evaluation.DEFAULT_BATCH_SIZE, "Examples per step.")
    d.integer("limit", None, "Evaluate only the first n examples of the split.")
    d.integer("seed", 0, "Seed of the importance samples (and of CIFAR-10's dequantization).")
    d.bool("jit_compile", evaluation.DEFAULT_JIT_COMPILE, "Compile the estimator with XLA.")
    d.enum("gates", "map", list(evaluation.GATE_READINGS), "The structure each importance "
           "sample is scored under: the MAP structure (map, log p(x | c_MAP)), or gates drawn "
           "per sample, marginalising them as trained: c ~ Bernoulli(mu) (sampled) or Eq. 9's "
           "relaxed gates at the run's final tau (relaxed). With --workdir.")
    d.bool("recalibrate_bn", False, "With --workdir: first recompute every batch norm's moving "
           "moments at the MAP structure over one epoch of the run's training data.")
    d.bool("write_structure", True, "With --workdir: write the structure files into the run.")
    d.string("output", None, "Write the summary here as JSON.")
    d.string("per_example_output", None, "Write per-example values here (.npz).")


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
                                           chunk_size=FLAGS.chunk_size, gates=FLAGS.gates,
                                           recalibrate_bn=FLAGS.recalibrate_bn,
                                           jit_compile=FLAGS.jit_compile, **common)
    if FLAGS.dataset is None:
        raise ValueError("--saved_model needs --dataset")
    if FLAGS.gates != "map" or FLAGS.recalibrate_bn:
        raise ValueError("--gates and --recalibrate_bn need --workdir: a SavedModel scores c_MAP")
    return evaluation.evaluate_saved_model(FLAGS.saved_model, FLAGS.dataset, **common)


def evaluate_main(argv):
    """Evaluate a run or a SavedModel from flags and print Table 1's row; errors exit 1 with one line."""
    del argv  # stray arguments are refused by tfgvae.cli
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


def define_export_flags(flag_values=None):
    """bin/export.py's flags."""
    d = _definers(flag_values)
    d.string("workdir", None, "Run directory written by bin/train.py (config.json, checkpoints/).")
    d.string("export_dir", None, "Where the SavedModel goes (default SavedModels/<run name>).")
    flags.mark_flag_as_required("workdir", flag_values=d.fv)


def export_main(argv):
    """Export a run's latest checkpoint as a SavedModel; a missing or unfit run exits 1 with one line."""
    del argv  # stray arguments are refused by tfgvae.cli
    logging.set_verbosity(logging.WARNING)  # no per-file INFO lines from the SavedModel writer
    try:
        model, _, info = load_run(FLAGS.workdir)
        path = export.export_saved_model(model, FLAGS.export_dir or train.default_export_dir(FLAGS.workdir),
                                         image_shape=info.image_shape)
    except ValueError as e:  # not a run, no checkpoint, or a checkpoint that does not fit: one line
        sys.exit(f"export.py: error: {e}")
    print(f"Exported {FLAGS.workdir} to {path}")


def define_tune_flags(flag_values=None):
    """bin/tune.py's flags: bin/train.py's (the settings the search does not vary) and the search's."""
    d = _definers(flag_values)
    define_train_flags(d.fv)
    d.enum("tuner", "bayesian", tuning.TUNERS, "Search algorithm.")
    d.integer("max_trials", 10, "Trials for random and Bayesian search.")
    d.list("latent_dims", ["80"], "Values of M to search.")
    d.list("node_dims", None, "Values of N' allowed (default: every divisor of each M).")
    d.list("structures", ["graph"], "Structures to search (graph, fc, ladder).")
    d.list("temperature_decays", None, "Optional values of the per-epoch tau decay to search.")
    d.list("learning_rates", None, "Optional learning rates to search.")


def _numbers(values, kind):
    try:
        return None if values is None else tuple(kind(v) for v in values)
    except ValueError:
        raise ValueError(f"expected a comma-separated list of {kind.__name__}s, got {','.join(values)}") from None


def tune_main(argv):
    """Search node factorizations with keras-tuner and print the trials; errors exit 1 with one line."""
    del argv  # stray arguments are refused by tfgvae.cli
    logging.set_verbosity(logging.WARNING)  # no INFO lines from checkpoint and SavedModel writers
    try:
        space = tuning.SearchSpace(
            latent_dims=_numbers(FLAGS.latent_dims, int), node_dims=_numbers(FLAGS.node_dims, int),
            structures=tuple(FLAGS.structures),
            temperature_decays=_numbers(FLAGS.temperature_decays, float),
            learning_rates=_numbers(FLAGS.learning_rates, float))
        rows, _, best, exported = tuning.search(
            config.config_from_flags(), space, FLAGS.workdir, FLAGS.tuner, FLAGS.max_trials, FLAGS.export_dir)
    except ValueError as e:
        sys.exit(f"tune.py: error: {e}")
    print(tuning.format_table(rows))
    print(f"best: M={best.model.latent_dim} N={best.model.num_nodes} N'={best.model.node_dim} "
          f"structure={best.model.structure}; SavedModel: {exported}")
    print(f"plot: {os.path.join(FLAGS.workdir, 'factorizations.png')}")


def define_reproduce_flags(flag_values=None):
    """bin/reproduce.py's flags."""
    d = _definers(flag_values)
    d.string("dataset", None, f"Dataset of the table: {', '.join(data.DATASETS)}, or an .npz file of "
             "train/valid/test arrays in [0, 1] (trained with the configs of "
             f"{' or '.join(reproduce.TEMPLATES.values())}).")
    flags.register_validator("dataset", lambda v: v is None or sources.is_dataset_name(v),
                             message=sources.unknown_dataset_message(), flag_values=d.fv)
    flags.mark_flag_as_required("dataset", flag_values=d.fv)
    d.list("structures", list(reproduce.STRUCTURE_ORDER), "Structures (rows of Table 1).")
    d.list("seeds", ["0", "1", "2", "3", "4"], "Seeds: one run per structure and seed.")
    d.integer("budget", None, "Epochs per run (default: the paper's full schedule, 2,000 epochs, 3,000 "
              "for CIFAR-10), on the schedule of --schedule.")
    d.enum("schedule", reproduce.DEFAULT_SCHEDULE, list(reproduce.SCHEDULES), "With --budget=E: "
           "'truncated' runs the paper's first E epochs (lr x0.75 every 200 epochs, tau = 0.99^epoch); "
           "'compressed' fits the paper's schedule into E epochs (lr steps and temperature decay at the "
           "same fractions of training). The KL warm-up is the same fraction of the run in both. "
           "Truncated is the default: the better proxy for longer runs in paired runs on MNIST and "
           "Omniglot (docs/results.md).")
    d.integer("num_importance_samples", 5000, "k of the test log-likelihood (the paper: 5,000).")
    d.string("workdir", "runs/reproduce", "Root of the runs: <workdir>/<dataset>/<structure>_seed<k>.")
    d.string("results_dir", None, "Where the table and figures go (default <workdir>/results).")
    d.string("data_dir", None, "Dataset root (default $TFGVAE_DATA_DIR).")
    d.integer("parallel", 1, "Runs trained at the same time.")
    d.integer("threads_per_run", 0, "CPU threads of each run's TensorFlow (0: its default).")
    d.bool("match_vae_parameters", True, "Widen the VAE's bottom-up head to at least the parameter count "
           "of Table 1's other structures, trained in this call or not (the paper's footnote 2).")
    d.multi_string("train_flag", [], "Extra bin/train.py flag for every run, e.g. "
                   "--train_flag=gate_lr_multiplier=10 (repeatable).")
    d.integer("eval_limit", None, "Evaluate on the first n test images only (default: all).")
    d.integer("tsne_examples", 2000, "Test images in the t-SNE figure (0: no figure).")


def reproduce_main(argv):
    """Train, evaluate and tabulate every structure and seed of one dataset; errors exit 1 with one line."""
    del argv  # stray arguments are refused by tfgvae.cli
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


PROGRAMS = {"train": (define_train_flags, train_main), "evaluate": (define_evaluate_flags, evaluate_main),
            "export": (define_export_flags, export_main), "tune": (define_tune_flags, tune_main),
            "reproduce": (define_reproduce_flags, reproduce_main)}
"""name: (define its flags in a FlagValues, main(argv)) of every program ``tfgvae.cli`` runs but sample."""
