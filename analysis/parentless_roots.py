"""Node-layout probe: train an N-node model without edges whose every node is a root.

A non-root node without parents still has App. B.1's top-down machinery: a learned constant
prior (its heads read only fc1's bias) and a posterior fused with a constant top-down Gaussian
(Eq. 18). Here each such node instead gets the root's treatment, prior N(0, I) and posterior
its bottom-up Gaussian, so the model differs from the VAE only in its per-node bottom-up heads
(N blocks fc(128, 128)-BN-ELU-fc(128, N')-fc(N', 2N') against one fc-BN-ELU-fc(H, M)-fc(M, 2M)).
Comparing it with the ``custom`` zero-adjacency model and the VAE splits the cost of the node
layout between the heads and the top-down machinery (docs/results.md, Omniglot item 3).

python analysis/parentless_roots.py --flagfile=configs/omniglot_fc.cfg --structure=custom \
  --adjacency=zero5.json --noexport [other bin/train.py flags]

The patch lives in this process only: evaluate with the run's periodic test LL
(``--test_ll_every_epochs``), not with bin/evaluate.py, which would rebuild the usual model.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfgvae import cli  # noqa: E402

if __name__ == "__main__":
    cli.quiet_tensorflow()  # before TensorFlow's first import, as the tfgvae command does
import tensorflow as tf  # noqa: E402

from tfgvae.core import model, nodes  # noqa: E402

_ORIGINAL = {"sample_child": nodes.TopDownHeads.sample_child, "init": model.GraphVAE.__init__}


def sample_child_as_root(self, pre, w, noise, bottom_up, training):
    """``TopDownHeads.sample_child`` for a node treated as a root: z from the bottom-up Gaussian
    (or from N(0, I) without one), scored against N(0, I). Its top-down heads still run, for
    their batch-norm moments, but feed nothing."""
    _, _, moments = self.finish(pre, w, training)
    zero = tf.zeros_like(noise)
    z, log_q, log_p = nodes.sample_node(noise, (zero, zero), bottom_up)
    return z, log_q, log_p, moments


def _init_without_edges(self, config, *args, **kwargs):
    if config.structure != "custom" or any(any(row) for row in config.adjacency):
        raise ValueError("parentless_roots: only a model without edges can treat every node as a root "
                         "(--structure=custom with an all-zero --adjacency)")
    _ORIGINAL["init"](self, config, *args, **kwargs)


def patch():
    """Every GraphVAE built from now on in this process treats its non-root nodes as roots."""
    nodes.TopDownHeads.sample_child = sample_child_as_root
    model.GraphVAE.__init__ = _init_without_edges


def unpatch():
    nodes.TopDownHeads.sample_child = _ORIGINAL["sample_child"]
    model.GraphVAE.__init__ = _ORIGINAL["init"]


if __name__ == "__main__":
    patch()
    cli.main(["train", *sys.argv[1:]])
