"""Scaling table for docs/performance.md: examples/s and peak memory against N and batch size.

python bench/scaling.py [--output docs/performance.md] [--steps 20 --repeats 3]
Runs bench/train_step.py once per configuration, each in its own process (so peak RSS is
that configuration's), at M = 80: N in 1, 2, 4, 5, 8, 10, 16, 20, 40, 80 (batch 64), then
batch sizes at N=5. Replaces the block between the table markers in --output.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

from tqdm import tqdm

HERE = os.path.dirname(os.path.abspath(__file__))
BEGIN, END = "<!-- scaling:begin -->", "<!-- scaling:end -->"
NODES = (1, 2, 4, 5, 8, 10, 16, 20, 40, 80)
BATCHES = (16, 64, 256, 1024)
LATENT = 80


def run(num_nodes, batch, args):
    cmd = [sys.executable, os.path.join(HERE, "train_step.py"), "--json_line",
           "--num_nodes", str(num_nodes), "--node_dim", str(LATENT // num_nodes),
           "--structure", "vae" if num_nodes == 1 else "graph", "--batch_size", str(batch),
           "--steps", str(args.steps), "--repeats", str(args.repeats), "--warmup", str(args.warmup)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if out.returncode or not lines:
        raise ValueError(f"{' '.join(cmd[1:])} failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(lines[-1][len("RESULT "):])


def table(rows):
    head = ("| N | N' | batch | examples/s | runs | MFLOP/example | GFLOP/s | % of sgemm | sgemm GFLOP/s "
            "| peak RSS MiB | compile s |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
    return head + "".join(
        f"| {r['num_nodes']} | {r['node_dim']} | {r['batch_size']} | {r['examples_per_s']:.0f} | "
        f"{r['runs']} | {r['flops_per_example'] / 1e6:.1f} | {r['achieved_flops'] / 1e9:.1f} | "
        f"{100 * r['achieved_flops'] / r['sgemm_flops']:.0f} | {r['sgemm_flops'] / 1e9:.0f} | "
        f"{r['peak_rss_mib']:.0f} | {r['compile_s']:.0f} |\n" for r in rows)


def write_block(path, text):
    """Replace the marked block of ``path`` (or append one), atomically."""
    doc = open(path).read() if os.path.exists(path) else ""
    block = f"{BEGIN}\n{text}{END}"
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + block + doc[doc.index(END) + len(END):]
    else:
        doc = doc + ("\n" if doc else "") + block + "\n"
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(doc)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", default=os.path.join(os.path.dirname(HERE), "docs", "performance.md"))
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=5)
    args = p.parse_args()
    configs = [(n, 64) for n in NODES] + [(5, b) for b in BATCHES if b != 64]
    rows = []
    try:
        for n, b in tqdm(configs, desc="configurations"):
            rows.append(run(n, b, args))
    except ValueError as e:
        sys.exit(f"scaling.py: error: {e}")
    by_n = [r for r in rows if r["batch_size"] == 64]
    by_batch = sorted([r for r in rows if r["num_nodes"] == 5], key=lambda r: r["batch_size"])
    text = (f"Machine: {platform.machine()}, {os.cpu_count()} CPUs; command: `python bench/scaling.py "
            f"--steps {args.steps} --repeats {args.repeats} --warmup {args.warmup}`.\n\n"
            f"Against N (M = {LATENT}, batch 64):\n\n{table(by_n)}\nAgainst batch size (N=5, N'=16):\n\n"
            f"{table(by_batch)}")
    write_block(args.output, text)
    print(text)


if __name__ == "__main__":
    main()
