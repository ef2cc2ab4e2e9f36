"""Table 1 end to end: train every structure for every seed, evaluate on the test split, tabulate.

Each run is ``python -m tfgvae train`` then ``python -m tfgvae evaluate`` in a subprocess, in its
own workdir ``<workdir>/<dataset>/<structure>_seed<k>``, so a killed reproduction resumes:
finished runs (``Run.finished``: test results with the same k of the planned epochs' latest
checkpoint) are skipped, unfinished ones resume from their last checkpoint (``runner``). ``schedule``
gives the paper's schedule (App. B.2) in fewer epochs: compressed into them, or truncated to its
first epochs.
The dataset is a registered one or your own (an .npz file, or arrays / tf.data.Datasets by split,
written to ``<workdir>/<name>/data.npz``), trained with the configs of the registered dataset of
its likelihood (``TEMPLATES``).
"""
import dataclasses
import json
import math
import os
import sys

import numpy as np

from tfgvae import atomic, data, flagfiles
from tfgvae.data import sources
from tfgvae.experiments import curves, figures, runner
from tfgvae.training.config import TrainConfig, config_from_flagfile
from tfgvae.training.runs import build_model, checkpoint_step

STRUCTURE_ORDER = ("vae", "ladder", "fc", "graph")  # Table 1's rows
TEMPLATES = {"bernoulli": "mnist", "gaussian": "cifar10"}  # whose configs your own data train with
PAPER_LR_DECAY_EPOCHS = 200
PAPER_TEMPERATURE_DECAY = 0.99
SCHEDULES = ("compressed", "truncated")
# The default by evidence: in paired runs on MNIST and Omniglot truncated runs were the better proxy
# for longer ones; compressed ones favour the VAE (docs/results.md, "Which short schedule ranks ...").
DEFAULT_SCHEDULE = "truncated"
TEST_LL_POINTS = 10  # periodic test log-likelihood evaluations per run (Fig. 5)


def schedule(dataset, epochs=None, kind=DEFAULT_SCHEDULE):
    """Flags of the training schedule for ``epochs`` (default: the paper's length).

    ``compressed``: the learning-rate steps and the temperature decay happen at the same
    fractions of training as in the paper's schedule: lr x factor every 10% of training and
    tau = 0.99^(epoch * paper_epochs / epochs). ``truncated``: the paper's schedule itself (lr x
    factor every 200 epochs, tau = 0.99^epoch), stopped after ``epochs`` <= the paper's. Both
    are the paper's at its length. The KL warm-up (not in the paper) is a fraction of the run.
    """
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}: choose one of {', '.join(SCHEDULES)}")
    paper = paper_epochs(dataset)
    epochs = paper if epochs is None else epochs
    if epochs < 1:
        raise ValueError(f"the budget must be >= 1 epoch, got {epochs}")
    if kind == "truncated" and epochs > paper:
        raise ValueError(f"a truncated schedule runs at most the paper's {paper} epochs, got {epochs}")
    scale = paper / epochs if kind == "compressed" else 1
    return {"epochs": epochs, "lr_decay_epochs": PAPER_LR_DECAY_EPOCHS / scale,
            "temperature_decay": PAPER_TEMPERATURE_DECAY ** scale,
            "test_ll_every_epochs": max(1, epochs // TEST_LL_POINTS)}


@dataclasses.dataclass
class Run:
    """One (structure, seed) training run and its evaluation."""
    dataset: str
    structure: str
    seed: int
    workdir: str
    flags: dict
    schedule: str = DEFAULT_SCHEDULE

    @property
    def name(self):
        return f"{self.dataset} {self.structure} seed {self.seed}"

    @property
    def readings(self):
        """The gate readings evaluated: the MAP structure, and for learned gates also the gate
        mixture as trained (``--gates=sampled``)."""
        return ("map", "sampled") if self.structure == "graph" else ("map",)

    def results_file(self, reading="map"):
        return os.path.join(self.workdir, "test_results.json" if reading == "map" else f"test_results_{reading}.json")

    def per_example_file(self, reading="map"):  # per-image test LL, so that structures pair on the same images
        return os.path.join(self.workdir, "test_per_example.npz" if reading == "map" else
                            f"test_per_example_{reading}.npz")

    results_path = property(results_file)
    per_example_path = property(per_example_file)

    def finished(self, num_samples, limit=None):
        """Whether the run has test results with k = ``num_samples`` (on ``limit`` images, if given)
        of its planned training: config.json's epochs are the plan's, and the results score the
        latest checkpoint (results written before ``checkpoint_step`` was recorded are trusted)."""
        for reading in self.readings:
            if not os.path.exists(self.results_file(reading)):
                return False
            with open(self.results_file(reading)) as f:
                results = json.load(f)
            if results.get("num_importance_samples") != num_samples or (
                    limit is not None and results.get("num_examples") != limit):
                return False
        trained = _trained_config(self)
        if trained is not None and trained.schedule.epochs != self.flags["epochs"]:
            return False
        step = results.get("checkpoint_step")
        return step is None or step == checkpoint_step(self.workdir)


def write_npz(splits, path, likelihood="bernoulli"):
    """Your own splits (``tfgvae.data.sources``) as the .npz file the runs' processes read; its path."""
    source = sources.resolve(splits, likelihood=likelihood, where="reproduce")
    arrays = {split: part if isinstance(part, np.ndarray) else np.stack(list(part.as_numpy_iterator()))
              for split, part in source.parts.items()}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic.save_npz(path, likelihood=np.array(source.info.likelihood), **arrays)
    return path


def template(dataset):
    """The registered dataset whose configs and schedule a dataset trains with: itself, or for
    an .npz file of your own data the one of its likelihood (``TEMPLATES``)."""
    if dataset in data.DATASETS:
        return dataset
    if not sources.is_dataset_name(dataset):
        raise ValueError(sources.unknown_dataset_message(dataset))
    return TEMPLATES[sources.read_npz(dataset, "reproduce")[1]]


def paper_epochs(dataset):
    """The paper's training length (App. B.2) for a dataset: its template's registry record's."""
    return data.DATASETS[template(dataset)].paper_epochs


def label(dataset):
    """The name of a dataset's folder and table files: its own, or the .npz file's stem."""
    return dataset if dataset in data.DATASETS else os.path.splitext(os.path.basename(dataset))[0]


def config_file(dataset, structure):
    """The shipped flagfile of a structure on a dataset (``tfgvae/configs``; installed with the package)."""
    suffix = "" if structure == "graph" else f"_{structure}"
    info = data.DATASETS[template(dataset)]
    name = f"{info.configs or info.name}{suffix}.cfg"
    path = flagfiles.shipped(name)
    if path is None:
        raise ValueError(f"no config {name} in {flagfiles.CONFIGS} for dataset {dataset!r} and structure "
                         f"{structure!r}")
    return path


def plan(dataset, structures, seeds, workdir, epochs=None, extra_flags=None, head_hidden=None,
         kind=DEFAULT_SCHEDULE):
    """The runs of one table: every structure x seed, with the same schedule (``kind``) and tricks."""
    if not sources.is_dataset_name(dataset):
        raise ValueError(sources.unknown_dataset_message(dataset))
    unknown = [s for s in structures if s not in STRUCTURE_ORDER]
    if unknown or not structures:
        raise ValueError(f"unknown structures {unknown or structures}: choose from {', '.join(STRUCTURE_ORDER)}")
    common = dict(schedule(dataset, epochs, kind), **(extra_flags or {}))
    # --dataset overrides the config's: another split with the same configs, or your own data
    common["dataset"] = dataset if dataset in data.DATASETS else os.path.abspath(dataset)
    runs = []
    for seed in seeds:
        for structure in structures:
            flags = dict(common, seed=seed)
            if structure == "vae" and head_hidden:
                flags["head_hidden"] = head_hidden
            wd = os.path.join(workdir, label(dataset), f"{structure}_seed{seed}")
            runs.append(Run(dataset, structure, seed, wd, flags, kind))
    return runs


def parameter_count(dataset, structure, head_hidden=None, **flags):
    """Trainable parameters of a structure's model as its config builds it (gates included)."""
    if head_hidden:
        flags["head_hidden"] = head_hidden
    config, _ = config_from_flagfile(config_file(dataset, structure), **dict(flags, dataset=dataset))
    model = build_model(config, sources.resolve(dataset).info)
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def matched_vae_width(dataset, structures, **flags):
    """Footnote 2: the narrowest bottom-up hidden width at which the VAE has at least as many
    parameters as every other structure of the table (the count is linear in the width)."""
    others = [parameter_count(dataset, s, **flags) for s in structures if s != "vae"]
    if not others:
        return None
    p128, p256 = (parameter_count(dataset, "vae", head_hidden=w, **flags) for w in (128, 256))
    per_unit = (p256 - p128) / 128
    return max(128, 128 + math.ceil((max(others) - p128) / per_unit))


def vae_width(dataset, structures, match=True, **flags):
    """The VAE's bottom-up width in a plan of ``structures``: matched (footnote 2) to every other
    structure of Table 1, whether or not this plan trains them (a VAE-only call gives the table's
    VAE), or None (the config's) without a VAE or with ``match`` False."""
    if not match or "vae" not in structures:
        return None
    return matched_vae_width(dataset, STRUCTURE_ORDER, **flags)


def _parse_value(text):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _flag_args(flags):
    return [f"--{k}={v}" for k, v in sorted(flags.items())]


def commands(run, num_samples, data_dir=None, limit=None):
    """(train command, evaluate commands) of a run, as lists for subprocess (``python -m tfgvae``, the
    installed package's programs): one evaluation per gate reading (``Run.readings``)."""
    tfgvae = [sys.executable, "-m", "tfgvae"]
    where = [f"--data_dir={data_dir}"] if data_dir else []
    train = tfgvae + ["train", f"--flagfile={config_file(run.dataset, run.structure)}",
                      f"--workdir={run.workdir}", "--noexport", "--verbose=2"] + where + _flag_args(run.flags)
    evaluate = [tfgvae + ["evaluate", f"--workdir={run.workdir}", f"--num_importance_samples={num_samples}",
                          f"--output={run.results_file(r)}", f"--per_example_output={run.per_example_file(r)}",
                          f"--gates={r}", "--write_structure=false"] + where + ([f"--limit={limit}"] if limit else [])
                for r in run.readings]
    return train, evaluate


def execute(runs, num_samples, data_dir=None, parallel=1, threads=None, out=sys.stdout, limit=None):
    """Run every unfinished run (``runner.execute``), ``parallel`` at a time. ``limit``: evaluate
    on the first ``limit`` test images only. Returns the names of the runs that failed (their
    logs: ``<workdir>/reproduce.log``)."""
    def start(run):
        return runner.start_chain(run.workdir, *commands(run, num_samples, data_dir, limit), threads)
    return runner.execute(runs, start, lambda run: run.finished(num_samples, limit), parallel, out)


def _stats(values):
    """Mean and sample standard deviation (ddof=1); the deviation is None for one seed."""
    values = np.asarray(values, np.float64)
    std = float(values.std(ddof=1)) if len(values) > 1 else None
    return float(values.mean()), std


def _pm(mean, std):
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def collect(runs, num_samples, limit=None):
    """Table 1 as a dict keyed by structure: means and standard deviations over seeds."""
    table = {}
    for structure in STRUCTURE_ORDER:
        mine = [r for r in runs if r.structure == structure and r.finished(num_samples, limit)]
        if not mine:
            continue
        results = []
        for r in mine:
            with open(r.results_path) as f:
                res = json.load(f)
            timing = os.path.join(r.workdir, "timing.json")
            res["train_seconds"] = json.load(open(timing))["train_seconds"] if os.path.exists(timing) else None
            results.append(res)
        trained = _trained_config(mine[0])
        row = {"num_seeds": len(mine), "seeds": [r.seed for r in mine],
               "epochs": trained.schedule.epochs if trained else mine[0].flags["epochs"],
               "schedule": _schedule_of(mine[0], trained), "num_importance_samples": num_samples,
               "num_test_examples": results[0]["num_examples"]}
        for key in ("log_likelihood", "kl", "elbo") + (("bits_per_dim",) if "bits_per_dim" in results[0] else ()):
            row[f"{key}_mean"], row[f"{key}_std"] = _stats([res[key] for res in results])
        row["per_seed_log_likelihood"] = [res["log_likelihood"] for res in results]
        if "sampled" in mine[0].readings:  # the gates marginalised as trained, beside c_MAP
            sampled = [json.load(open(r.results_file("sampled")))["log_likelihood"] for r in mine]
            row["log_likelihood_sampled_mean"], row["log_likelihood_sampled_std"] = _stats(sampled)
            row["per_seed_log_likelihood_sampled"] = sampled
        units = np.array([res["active_units_per_node"] for res in results], np.float64)
        row["active_units_per_node"] = units.mean(axis=0).round(2).tolist()
        row["active_units_mean"] = float(units.sum(axis=1).mean())
        row["parameters"] = parameter_count(r.dataset, structure, head_hidden=_trained_width(mine[0]))
        times = [res["train_seconds"] for res in results if res["train_seconds"] is not None]
        row["train_minutes_mean"] = float(np.mean(times) / 60) if times else None
        if structure == "graph":
            row["map_structures"] = [res.get("map_adjacency") or _map_of(r) for res, r in zip(results, mine)]
        table[structure] = row
    return table


def _trained_config(run):
    """The TrainConfig the run was trained with (its config.json; a finished run found by a
    later plan may differ from that plan), else None."""
    if os.path.exists(os.path.join(run.workdir, "config.json")):
        return TrainConfig.load(run.workdir)
    return None


def _trained_width(run):
    """The bottom-up width the run was trained with (its config.json), else the planned one."""
    config = _trained_config(run)
    return config.model.head_hidden if config else run.flags.get("head_hidden")


def _schedule_of(run, config):
    """The schedule ``config``'s lr steps and tau decay are (the planned one first, as both are
    the paper's at its length), 'custom' if neither; the planned one without a config."""
    if config is None:
        return run.schedule
    for kind in sorted(SCHEDULES, key=lambda k: k != run.schedule):
        if kind == "truncated" and config.schedule.epochs > paper_epochs(run.dataset):
            continue
        flags = schedule(run.dataset, config.schedule.epochs, kind)
        settings = config.flat_dict()
        if all(math.isclose(settings[k], flags[k]) for k in ("lr_decay_epochs", "temperature_decay")):
            return kind
    return "custom"


def _map_of(run):
    path = os.path.join(run.workdir, "gate_history.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        means = np.asarray(json.load(f)["gate_means"][-1])
    return (means > 0.5).astype(int).tolist()


def markdown(table, dataset):
    """Table 1's rows for one dataset as Markdown (mean ± std over seeds; no ± for one seed)."""
    bits = any("bits_per_dim_mean" in row for row in table.values())
    unit = "bits/dim" if bits else "nats"
    head = (f"| structure | LL ({unit}) | KL (nats) | ELBO (nats) | active units per node | parameters | "
            "train min | seeds | epochs | schedule |")
    lines = [head, "|" + " --- |" * 10]
    for structure, row in table.items():
        ll = (row["bits_per_dim_mean"], row["bits_per_dim_std"]) if bits else (
            row["log_likelihood_mean"], row["log_likelihood_std"])
        units = ", ".join(f"{u:g}" for u in row["active_units_per_node"])
        minutes = "" if row["train_minutes_mean"] is None else f"{row['train_minutes_mean']:.1f}"
        lines.append(f"| {structure} | {_pm(*ll)} | {_pm(row['kl_mean'], row['kl_std'])} | "
                     f"{_pm(row['elbo_mean'], row['elbo_std'])} | {units} | {row['parameters']:,} | "
                     f"{minutes} | {row['num_seeds']} | {row['epochs']} | {row['schedule']} |")
    return "\n".join(lines) + "\n"


def write_table(table, dataset, out_dir):
    """Write ``<out_dir>/<dataset>.json`` and ``<out_dir>/<dataset>.md``; return their paths."""
    os.makedirs(out_dir, exist_ok=True)
    json_path = os.path.join(out_dir, f"{dataset}.json")
    md_path = os.path.join(out_dir, f"{dataset}.md")
    atomic.write_json(json_path, table)
    atomic.write_text(md_path, markdown(table, dataset))
    return json_path, md_path


def write_figures(runs, dataset, out_dir, data_dir=None, tsne_examples=2000):
    """Figs. 3, 5 (at the paper's 300-epoch points once runs are 600 epochs or longer) and 6 of one
    table into ``out_dir``; returns the paths written."""
    prefix = os.path.join(out_dir, label(dataset))
    written = []
    graph = [r for r in runs if r.structure == "graph" and os.path.exists(r.results_path)]
    vae = [r for r in runs if r.structure == "vae" and os.path.exists(r.results_path)]
    written.append(figures.figure3(graph, f"{prefix}_fig3_structure.png"))
    registered = data.DATASETS.get(dataset)
    unit = "bits/dim" if registered and registered.likelihood == "gaussian" else "nats"
    every = curves.PAPER_FIG5_EVERY if max(r.flags["epochs"] for r in runs) >= 2 * curves.PAPER_FIG5_EVERY else None
    written.append(figures.figure5(runs, f"{prefix}_fig5_test_ll.png", unit=unit, every=every))
    if graph and vae and tsne_examples and registered:  # t-SNE colours by the registered labels
        written.append(figures.figure6(graph[0], vae[0], f"{prefix}_fig6_tsne.png", data_dir,
                                       examples=tsne_examples))
    return [p for p in written if p]


def reproduce(dataset, structures=STRUCTURE_ORDER, seeds=(0, 1, 2, 3, 4), workdir="runs/reproduce",
              results_dir=None, budget=None, num_samples=5000, parallel=1, threads=None, data_dir=None,
              match_vae_parameters=True, train_flags=None, tsne_examples=2000, out=sys.stdout,
              eval_limit=None, schedule_kind=DEFAULT_SCHEDULE):
    """Train, evaluate, tabulate and plot; returns (table dict, written paths, failed run names).

    ``dataset``: a registered name, an .npz file, or your own splits ({"train", "valid", "test"}:
    arrays or tf.data.Datasets, ``tfgvae.data.sources``), written to ``<workdir>/own_data/data.npz``.
    ``budget`` epochs per run (default: the paper's), on the ``schedule_kind`` schedule."""
    if not isinstance(dataset, (str, os.PathLike)):
        dataset = write_npz(dataset, os.path.join(workdir, "own_data", "data.npz"))
    dataset = os.fspath(dataset)
    extra = dict(train_flags or {})
    schedule(dataset, budget, schedule_kind)  # a bad budget fails before the models are built
    width = vae_width(dataset, structures, match_vae_parameters, **extra)
    runs = plan(dataset, structures, seeds, os.path.abspath(workdir), budget, extra, width, schedule_kind)
    results_dir = results_dir or os.path.join(workdir, "results")
    os.makedirs(os.path.join(workdir, label(dataset)), exist_ok=True)
    atomic.write_json(os.path.join(workdir, label(dataset), "plan.json"),
                      {"num_importance_samples": num_samples, "vae_head_hidden": width,
                       "runs": [dataclasses.asdict(r) for r in runs]})
    print(f"{dataset}: {len(runs)} runs ({', '.join(structures)} x seeds {', '.join(map(str, seeds))}), "
          f"{runs[0].flags['epochs']} epochs each ({schedule_kind} schedule), k={num_samples}, {parallel} at a time"
          + (f"; VAE bottom-up width {width} to match parameters" if width else ""), file=out, flush=True)
    failed = execute(runs, num_samples, data_dir, parallel, threads, out, eval_limit)
    table = collect(runs, num_samples, eval_limit)
    written = list(write_table(table, label(dataset), results_dir)) if table else []
    if table:
        written += write_figures(runs, dataset, results_dir, data_dir, tsne_examples)
        print(markdown(table, dataset), file=out)
    for path in written:
        print(f"wrote {path}", file=out)
    return table, written, failed
