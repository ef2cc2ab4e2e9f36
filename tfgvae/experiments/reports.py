"""Table 1 from per-example values: means and standard errors, active units, bits per dimension,
the printed row, and the per-example file (``tfgvae.experiments.evaluation`` computes the values)."""

import numpy as np

from tfgvae import atomic, data
from tfgvae.core.importance import mean_and_stderr

ACTIVE_UNIT_THRESHOLD = 1e-2  # Burda et al. (2016): unit u is active if Cov_x(E_q[z_u]) > 1e-2


def active_units(posterior_means, threshold=ACTIVE_UNIT_THRESHOLD, posterior_variances=None,
                 num_samples=None):
    """Burda et al.'s active units: A_u = Cov_x(E_q[z_u]) > threshold, counted per node.

    posterior_means: (num_examples, N, N') of E_q(z|x,c)[z]. Returns (counts per node (N,)
    int array, per-unit variances (N, N')). The variance is the population variance over x.
    If the means are k-sample averages, their variance over x is Cov_x(E_q[z_u]) plus
    E_x[Var_q(z_u)] / k: given the per-example sample variances (ddof = 0) and k, that noise
    term is removed, E_x[s^2] / (k - 1) being its unbiased estimate.
    """
    means = np.asarray(posterior_means, np.float64)
    variances = means.var(axis=0)
    if posterior_variances is not None and num_samples and num_samples > 1:
        noise = np.asarray(posterior_variances, np.float64).mean(axis=0) / (num_samples - 1)
        variances = variances - noise
    return (variances > threshold).sum(axis=-1).astype(int), variances


def data_note(info, split):
    """The dataset's note, less what it says about the train/validation split on a test run."""
    clauses = info.note.split("; ")
    if split == "test":
        clauses = [c for c in clauses if not c.startswith(("valid =", "train/valid =")) or "test" in c]
    return "; ".join(clauses)


def active_units_warning(num_samples, threshold=ACTIVE_UNIT_THRESHOLD):
    """A warning when E_q[z] estimated from k samples is too noisy for the threshold, else None:
    the k-sample mean adds Var_q(z_u) / k (about 1/k for an inactive unit) to Cov_x."""
    if 1.0 / num_samples <= threshold / 10:
        return None
    return (f"with k = {num_samples} samples, Monte Carlo noise adds about 1/k = {1 / num_samples:.3g} "
            f"to an inactive unit's variance (threshold {threshold}): active units are overcounted; "
            f"use k >= {int(10 / threshold)}")


def summarize(per_example, info, split, num_samples, sampled_means=True):
    """Table 1's columns from per-example values: means, standard errors, active units
    (``sampled_means``: the posterior means are k-sample averages, so warn at small k)."""
    ll = per_example["log_likelihood"]
    if not np.all(np.isfinite(ll)):
        raise ValueError(f"{int(np.sum(~np.isfinite(ll)))} of {len(ll)} per-example log-likelihoods "
                         "are not finite: the model's weights are broken")
    out = {"dataset": info.name, "split": split, "num_examples": int(len(ll)),
           "num_importance_samples": int(num_samples), "unit": "nats"}
    if data_note(info, split):  # e.g. CIFAR-10's local copy is an approximation: say so wherever results go
        out["data_note"] = data_note(info, split)
    for name in ("log_likelihood", "elbo", "kl"):
        if name in per_example:
            out[name], out[f"{name}_stderr"] = mean_and_stderr(per_example[name])
    if "kl_per_node" in per_example:
        out["kl_per_node"] = np.mean(per_example["kl_per_node"], axis=0).tolist()
    if "posterior_mean" in per_example:
        corrected = sampled_means and "posterior_variance" in per_example
        counts, variances = active_units(per_example["posterior_mean"],
                                         posterior_variances=per_example.get("posterior_variance"),
                                         num_samples=num_samples if corrected else None)
        out["active_units_per_node"] = counts.tolist()
        out["active_units"] = int(counts.sum())
        out["posterior_mean_variance"] = variances.round(6).tolist()
        if corrected:
            out["active_units_method"] = "k-sample posterior means, Monte Carlo noise removed"
        elif sampled_means and active_units_warning(num_samples):
            out["active_units_warning"] = active_units_warning(num_samples)
    if info.likelihood == "gaussian" and info.reader is not None:  # 8-bit images of a registered dataset
        out["bits_per_dim"], out["bits_per_dim_stderr"] = mean_and_stderr(
            data.bits_per_dim(ll.astype(np.float64), info.input_dim))
    return out


def format_table(summary):
    """Table 1's row for one model: LL, KL and ELBO with standard errors, and active units."""
    def cell(name):
        return f"{summary[name]:.2f} ± {summary[f'{name}_stderr']:.2f}" if name in summary else "n/a"

    head = (f"{summary['dataset']} {summary['split']} ({summary['num_examples']} examples), "
            f"structure {summary.get('structure', '?')}, k = {summary['num_importance_samples']}, "
            f"{summary['unit']}")
    rows = [head, f"{'LL':>18} {'KL':>18} {'ELBO':>18}",
            f"{cell('log_likelihood'):>18} {cell('kl'):>18} {cell('elbo'):>18}"]
    if "bits_per_dim" in summary:
        rows.append(f"bits/dim: {summary['bits_per_dim']:.4f} ± {summary['bits_per_dim_stderr']:.4f}")
    if "active_units_per_node" in summary:
        dim = len(summary["posterior_mean_variance"][0])
        units = ", ".join(f"z{k + 1} {a}/{dim}" for k, a in enumerate(summary["active_units_per_node"]))
        rows.append(f"active units: {summary['active_units']} ({units})")
        if "active_units_warning" in summary:
            rows.append(f"warning: {summary['active_units_warning']}")
        if "active_units_method" in summary:
            rows.append(f"(active units from {summary['active_units_method']})")
    if "data_note" in summary:
        rows.append(f"note: {summary['data_note']}")
    return "\n".join(rows)


def save_per_example(path, per_example):
    """Per-example arrays (log_likelihood, elbo, kl, ...) as .npz, written atomically."""
    atomic.save_npz(path, **per_example)
