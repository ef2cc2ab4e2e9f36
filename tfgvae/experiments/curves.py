"""Fig. 5's points: the periodic test log-likelihood of a structure's seeds, mean and spread
at chosen epochs (App. C.1: every 300 epochs, mean and standard deviation over the runs)."""
import numpy as np

PAPER_FIG5_EVERY = 300  # App. C.1: test log-likelihood every 300 epochs


def figure5_points(histories, every=None):
    """{epochs, mean, std, num_seeds} of ``histories`` (one {epoch: log-likelihood} per seed).

    The epochs are those any seed reached, or with ``every`` only its multiples; at each, the mean
    and the sample standard deviation (ddof = 1; None for one seed) over the seeds that reached it.
    """
    epochs = sorted({e for h in histories for e in h if not every or e % every == 0})
    out = {"epochs": [], "mean": [], "std": [], "num_seeds": []}
    for epoch in epochs:
        values = np.asarray([h[epoch] for h in histories if epoch in h], np.float64)
        out["epochs"].append(int(epoch))
        out["mean"].append(float(values.mean()))
        out["std"].append(float(values.std(ddof=1)) if len(values) > 1 else None)
        out["num_seeds"].append(len(values))
    return out


def focus_range(lows, highs):
    """Fig. 5's y range from each curve's lowest and highest point: every point with a margin, except
    that the first evaluations, far below, are cut off to show the part where structures separate."""
    top, bottom = max(highs), min(lows)
    margin = 0.1 * (top - bottom) + 0.5
    return max(bottom - margin, top - 4 * (top - float(np.median(lows))) - 1), top + margin
