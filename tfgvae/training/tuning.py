"""keras-tuner search over node factorizations M = N x N' (the paper's Fig. 4, Sec. 5).

``GraphVAEHyperModel`` builds a Graph VAE from hyperparameters: the total latent
dimension M, the node dimension N' (only divisors of M; N = M / N'), the structure and,
optionally, the temperature decay and learning rate. The objective is the validation
negative ELBO, ``val_loss``, minimised.
"""
import dataclasses
import math
import os

import keras_tuner as kt

from tfgvae import atomic
from tfgvae.serving import export
from tfgvae.training import train

OBJECTIVE = kt.Objective("val_loss", direction="min")
TUNERS = ("random", "hyperband", "bayesian")


def divisors(m):
    return [d for d in range(1, m + 1) if m % d == 0]


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """What the search may vary. ``node_dims`` None means every divisor of each M."""
    latent_dims: tuple = (80,)
    node_dims: tuple | None = None
    structures: tuple = ("graph",)
    temperature_decays: tuple | None = None
    learning_rates: tuple | None = None

    def __post_init__(self):
        if not self.latent_dims or min(self.latent_dims) < 1:
            raise ValueError(f"latent dims must be positive integers, got {self.latent_dims}")
        for s in self.structures:
            if s not in ("graph", "fc", "ladder"):
                raise ValueError(f"structure {s!r} cannot be searched over node factorizations: "
                                 "choose from graph, fc, ladder (vae has a single node)")
        for m in self.latent_dims:
            if not self.node_dims_for(m):
                raise ValueError(f"no node dim in {self.node_dims} divides latent dim M={m}")

    def node_dims_for(self, m):
        return [d for d in divisors(m) if self.node_dims is None or d in self.node_dims]


class GraphVAEHyperModel(kt.HyperModel):
    """Builds and fits one trial's Graph VAE; ``base`` gives every setting the search does not vary."""

    def __init__(self, base, space, info, steps_per_epoch, bounded=False, **kwargs):
        super().__init__(**kwargs)
        self.base, self.space, self.info, self.steps = base, space, info, steps_per_epoch
        self.bounded = bounded  # epochs given as datasets of their own steps (train.datasets)

    def trial_config(self, hp):
        """The TrainConfig of a trial: M and N' from conditional choices, N = M / N'."""
        m = hp.Choice("latent_dim", list(self.space.latent_dims))
        node_dim = None
        for value in self.space.latent_dims:
            with hp.conditional_scope("latent_dim", [value]):
                choice = hp.Choice(f"node_dim_M{value}", self.space.node_dims_for(value))
            if value == m:
                node_dim = choice
        model = dataclasses.replace(self.base.model, num_nodes=m // node_dim, node_dim=node_dim,
                                    structure=hp.Choice("structure", list(self.space.structures)))
        schedule, run = self.base.schedule, {}
        if self.space.temperature_decays:
            schedule = dataclasses.replace(schedule, temperature_decay=hp.Choice(
                "temperature_decay", list(self.space.temperature_decays)))
        if self.space.learning_rates:
            run["learning_rate"] = hp.Choice("learning_rate", list(self.space.learning_rates))
        return dataclasses.replace(self.base, model=model, schedule=schedule, **run)

    def build(self, hp):
        config = self.trial_config(hp)
        k = train.steps_per_execution(config.steps_per_execution, {self.steps: "training steps of an epoch"},
                                      self.bounded)
        model = train.compile_model(train.build_model(config, self.info), config, self.steps, k)
        model.optimizer.build(model.trainable_variables)  # so a trial's checkpoint restores its Adam state
        return model



def make_tuner(name, hypermodel, directory, project_name, max_trials, max_epochs, seed):
    """A keras-tuner tuner that resumes from its own state in directory/project_name."""
    common = dict(objective=OBJECTIVE, directory=directory, project_name=project_name,
                  overwrite=False, seed=seed)
    if name == "random":
        return kt.RandomSearch(hypermodel, max_trials=max_trials, **common)
    if name == "bayesian":
        return kt.BayesianOptimization(hypermodel, max_trials=max_trials, **common)
    if name == "hyperband":
        return kt.Hyperband(hypermodel, max_epochs=max_epochs, factor=3, **common)
    raise ValueError(f"unknown tuner {name!r}: choose one of {', '.join(TUNERS)}")


def trial_rows(tuner):
    """One dict per finished trial, best first: M, N', N, structure, score and status."""
    rows = []
    for trial in tuner.oracle.trials.values():
        values = trial.hyperparameters.values
        m = values["latent_dim"]
        node_dim = values[f"node_dim_M{m}"]
        rows.append({"trial": int(trial.trial_id) + 1,  # as keras-tuner's console, "Trial #1"
                     "latent_dim": m, "node_dim": node_dim,
                     "num_nodes": m // node_dim, "structure": values["structure"],
                     "score": trial.score, "status": trial.status,
                     "val_elbo": None if trial.score is None else -trial.score,
                     **{k: values[k] for k in ("temperature_decay", "learning_rate") if k in values}})
    return sorted(rows, key=lambda r: math.inf if r["score"] is None else r["score"])


def format_table(rows):
    """A plain-text table of trials: the validation ELBO (nats; the search minimises -ELBO)."""
    header = f"{'trial':>6} {'M':>4} {'N':>4} {'N_prime':>7} {'structure':>9} {'val ELBO':>10} status"
    lines = [header]
    for r in rows:
        score = "-" if r["score"] is None else f"{-r['score']:.3f}"
        lines.append(f"{r['trial']:>6} {r['latent_dim']:>4} {r['num_nodes']:>4} {r['node_dim']:>7} "
                     f"{r['structure']:>9} {score:>10} {r['status']}")
    return "\n".join(lines)


def plot_factorizations(rows, path):
    """Fig. 4: best validation ELBO against N', one line per M (log2 x axis, ticks at the N'
    tried); returns the figure."""
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for m in sorted({r["latent_dim"] for r in rows}):
        best = {}
        for r in rows:
            if r["latent_dim"] == m and r["score"] is not None:
                best[r["node_dim"]] = max(best.get(r["node_dim"], -math.inf), -r["score"])
        if best:
            xs = sorted(best)
            ax.plot(xs, [best[x] for x in xs], marker="o", label=f"M = {m}")
    ax.set_xscale("log", base=2)
    tried = sorted({r["node_dim"] for r in rows if r["score"] is not None})
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(tried))  # ticks at the N' tried
    ax.xaxis.set_major_formatter(matplotlib.ticker.FixedFormatter([str(d) for d in tried]))
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("node dimension N' (N = M / N')")
    ax.set_ylabel("validation ELBO (nats)")
    ax.set_title("Node factorizations")
    ax.legend()
    fig.tight_layout()
    atomic.save_figure(fig, path, dpi=120)
    plt.close(fig)
    return fig


def search(base, space, workdir, tuner_name="bayesian", max_trials=10, export_dir=None):
    """Run (or resume) a search; write trials.json, the Fig. 4 plot; export the best model."""
    info, train_stream, valid_ds, steps = train.datasets(base)
    hypermodel = GraphVAEHyperModel(base, space, info, steps, train_stream.bounded)
    epochs = base.schedule.epochs
    tuner = make_tuner(tuner_name, hypermodel, workdir, "search", max_trials, epochs, base.seed)
    feed, cursor_callbacks = train.epoch_feed(train_stream, steps)  # epochs as train.fit gives them
    tuner.search(**feed(0, steps), callbacks=cursor_callbacks, validation_data=valid_ds, epochs=epochs,
                 verbose=base.verbose, shuffle=False)
    rows = trial_rows(tuner)
    if not any(r["status"] == "COMPLETED" for r in rows):
        failed = [t for t in tuner.oracle.trials.values() if t.message]
        reason = failed[-1].message.strip().splitlines()[-1] if failed else "no trial ran"
        raise ValueError(f"no trial of the search in {workdir} completed; last error: {reason}")
    atomic.write_json(os.path.join(workdir, "trials.json"), rows)
    plot_factorizations(rows, os.path.join(workdir, "factorizations.png"))
    best_hp = tuner.get_best_hyperparameters(1)[0]
    best = tuner.get_best_models(1)[0]
    best_config = hypermodel.trial_config(best_hp)
    atomic.write_json(os.path.join(workdir, "best_config.json"), best_config.to_dict())
    exported = export.export_saved_model(best, export_dir or os.path.join(workdir, "best_model"),
                                         image_shape=info.image_shape)
    return rows, best, best_config, exported

