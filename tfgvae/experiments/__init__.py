"""Sec. 4's experiments from trained runs: importance-sampled test log-likelihood and KL (Table 1),
its reports, the end-to-end Table 1 protocol and the figures (Figs. 3, 5, 6)."""
