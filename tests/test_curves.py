"""tfgvae.experiments.curves: Fig. 5's points against numpy over hand-made histories."""
import numpy as np
import pytest

from tfgvae.experiments import curves


def test_points_are_means_and_sample_deviations_over_the_seeds_that_reached_each_epoch():
    a = {100: -90.0, 300: -88.0, 600: -87.0, 900: -86.5}
    b = {300: -88.5, 600: -86.0}
    points = curves.figure5_points([a, b], every=300)
    assert points["epochs"] == [300, 600, 900]
    assert points["num_seeds"] == [2, 2, 1]
    assert points["mean"] == pytest.approx([np.mean([-88.0, -88.5]), np.mean([-87.0, -86.0]), -86.5])
    assert points["std"][:2] == pytest.approx([np.std([-88.0, -88.5], ddof=1), np.std([-87.0, -86.0], ddof=1)])
    assert points["std"][2] is None
    every = curves.figure5_points([a, b])  # no ``every``: every epoch any seed reached
    assert every["epochs"] == [100, 300, 600, 900] and every["num_seeds"] == [1, 2, 2, 1]
    assert curves.figure5_points([{}, {}], every=300) == {"epochs": [], "mean": [], "std": [], "num_seeds": []}


def test_focus_range_shows_every_point_with_a_margin_unless_far_below():
    lo, hi = curves.focus_range([-83.89, -83.82], [-83.89, -83.82])  # one point per curve
    assert lo < -83.89 - 0.4 and hi > -83.82 + 0.4
    lows, highs = [-95.0, -85.0, -84.8], [-84.0, -84.2, -84.1]  # one curve starts 10 nats below the rest
    lo, hi = curves.focus_range(lows, highs)  # cut at 4 times the median low's distance from the top, - 1
    assert lo == pytest.approx(-84.0 - 4 * 1.0 - 1) and hi == pytest.approx(-84.0 + 0.1 * 11 + 0.5)
    assert curves.focus_range([-95.0, -90.0], [-84.0, -84.5])[0] == pytest.approx(-95.0 - 1.6)  # within: all shown
