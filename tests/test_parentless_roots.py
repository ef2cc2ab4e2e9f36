"""analysis/parentless_roots.py: every node of an edgeless model scored as a root (prior N(0, I),
posterior its bottom-up Gaussian), checked against scipy; other structures are refused."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from tfgvae.core.model import GraphVAE, ModelConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "analysis"))
import parentless_roots  # noqa: E402


@pytest.fixture
def patched():
    parentless_roots.patch()
    yield
    parentless_roots.unpatch()


@pytest.mark.parametrize("descent", ["unrolled", "looped"])
def test_every_node_is_scored_as_a_root(patched, descent):
    n, d = 4, 3
    config = ModelConfig(input_dim=12, num_nodes=n, node_dim=d, structure="custom", adjacency=np.zeros((n, n)))
    model = GraphVAE(config, seed=0)
    model.descent = descent
    rng = np.random.default_rng(0)
    x = (rng.random((5, 12)) < 0.5).astype(np.float32)
    noise = rng.standard_normal((5, n, d)).astype(np.float32)
    for training in (True, False):
        terms = model.elbo_terms(x, training=training, noise=tf.constant(noise))
        mu, logvar = (t.numpy().astype(np.float64) for t in model.bottom_up_gaussians(x, training))
        z = mu + np.exp(0.5 * logvar) * noise  # the bottom-up Gaussian's draw, every node
        np.testing.assert_allclose(terms["z"].numpy(), z, rtol=1e-5, atol=1e-5)
        log_q = stats.norm.logpdf(z, mu, np.exp(0.5 * logvar)).sum(-1)
        log_p = stats.norm.logpdf(z).sum(-1)
        np.testing.assert_allclose(terms["kl_per_node"].numpy(), log_q - log_p, rtol=1e-4, atol=1e-4)
    # Unpatched, the same model's non-root nodes have learned top-down priors: the KL differs.
    parentless_roots.unpatch()
    usual = GraphVAE(config, seed=0)
    usual.descent = descent
    kl_usual = usual.elbo_terms(x, training=False, noise=tf.constant(noise))["kl_per_node"].numpy()
    assert np.abs(kl_usual[:, :-1] - (log_q - log_p)[:, :-1]).max() > 1e-2


def test_a_model_with_edges_is_refused(patched):
    with pytest.raises(ValueError, match="only a model without edges"):
        GraphVAE(ModelConfig(input_dim=12, num_nodes=3, node_dim=2, structure="fc"))
    adjacency = np.zeros((3, 3))
    adjacency[2, 0] = 1
    with pytest.raises(ValueError, match="only a model without edges"):
        GraphVAE(ModelConfig(input_dim=12, num_nodes=3, node_dim=2, structure="custom", adjacency=adjacency))


def test_script_trains_and_refuses_edges_in_one_line(tmp_path, tiny_data):
    common = [sys.executable, os.path.join(ROOT, "analysis", "parentless_roots.py"), "--dataset=mnist",
              f"--data_dir={tiny_data}", "--num_nodes=2", "--latent_dim=4", "--epochs=1",
              "--steps_per_epoch=2", "--batch_size=8", "--validation_steps=1", "--nojit_compile", "--noexport"]
    (tmp_path / "zero.json").write_text('{"adjacency": [[0, 0], [0, 0]]}')
    ok = subprocess.run(common + ["--structure=custom", f"--adjacency={tmp_path / 'zero.json'}",
                                  f"--workdir={tmp_path / 'run'}"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert (tmp_path / "run" / "config.json").exists()
    bad = subprocess.run(common + ["--structure=fc", f"--workdir={tmp_path / 'bad'}"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "only a model without edges" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
