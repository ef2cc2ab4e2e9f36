"""Analytic FLOPs of one Graph VAE training example (the count ``bench/train_step.py`` prints).

Only the fully-connected layers are counted (biases, batch norm, ELU, sampling and the
likelihood are O(width), negligible). A forward fc(m, n) costs m*n multiply-adds; a
training step costs 3x the forward pass (backward: one matmul for the input gradient and
one for the kernel gradient), i.e. 6 FLOPs per multiply-add. The count is the model's
maths (Appendix B): the looped latent pass multiplies a first-layer kernel zero-padded
over non-parents, which executes up to twice the top-down first-layer FLOPs counted here.
"""
ENCODER = (512, 512, 256, 128)
DECODER = (256, 512, 512)
STREAMS = 2  # prior and posterior top-down heads


def _chain(widths):
    return sum(a * b for a, b in zip(widths[:-1], widths[1:]))


def forward_macs(config):
    """Multiply-adds of one example's forward pass, by part: a dict of ints."""
    n, d, h = config.num_nodes, config.node_dim, config.hidden
    dec_in = d if config.decode_from == "first" else n * d
    children = n - 1
    parts = {
        "encoder": _chain((config.input_dim,) + ENCODER[:-1] + (h,)),
        # fc(128, 128) then fc(128, N') then fc(N', N') for mu and for logvar, per node
        "bottom_up": n * (h * h + h * d + d * 2 * d),
        # child i reads (N - 1 - i) parents of N' dims: sum_i = N'(N-1)N/2 rows, per stream
        "top_down": STREAMS * (d * children * n // 2 * h + children * (h * d + d * 2 * d)),
        "decoder": _chain((dec_in,) + DECODER + (config.input_dim,)),
    }
    if config.likelihood == "gaussian":
        parts["decoder"] += config.input_dim ** 2
    return parts


def train_flops_per_example(config):
    """FLOPs of one example's forward and backward pass: 6 x the forward multiply-adds."""
    return 6 * sum(forward_macs(config).values())
