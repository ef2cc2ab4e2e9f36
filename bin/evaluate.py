"""Table 1 for one model: importance-sampled test log-likelihood, KL, ELBO and active units.

python bin/evaluate.py --workdir=runs/mnist [--num_importance_samples=5000] [--output=results.json]
python bin/evaluate.py --saved_model=SavedModels/mnist --dataset=mnist
With --workdir, the run's learned structure (structure.json/.dot/.png, gate_history.png) is
also written into the run directory. See docs/evaluation.md.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfgvae import cli  # noqa: E402

cli.quiet_tensorflow()
from tfgvae import commands  # noqa: E402

if __name__ == "__main__":
    commands.run("evaluate")
