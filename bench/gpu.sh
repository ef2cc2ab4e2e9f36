#!/usr/bin/env bash
# GPU readiness, in under 8 minutes on one GPU: training-step throughput, then the deciding
# structure-learning setting of docs/results.md trained for as many epochs of the paper's
# schedule as fit, with its gate means per epoch.
#
#   bash bench/gpu.sh [OUT]          (OUT default $OUT, else gpu_out; data: $TFGVAE_DATA_DIR)
#
# Writes OUT/steps.jsonl (one bench/train_step.py RESULT per N x batch), OUT/train/ (the run:
# gate_history.json holds the gate means and gate gradients per epoch), OUT/summary.json.
# Knobs (the CPU test makes them tiny): GPU_BENCH_SIZES ("N:batch ..."), GPU_BENCH_STEPS,
# GPU_BENCH_REPEATS, GPU_TRAIN_SECONDS (wall-clock limit of the training run), GPU_TRAIN_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-${OUT:-gpu_out}}"
mkdir -p "$OUT"
SIZES="${GPU_BENCH_SIZES-5:64 5:1024 80:64 80:1024}"
STEPS="${GPU_BENCH_STEPS:-100}"
REPEATS="${GPU_BENCH_REPEATS:-3}"
TRAIN_SECONDS="${GPU_TRAIN_SECONDS:-270}"
# The deciding setting (docs/results.md, "Structure learning"), paper schedule, no warm-up.
DECIDING="--gate_parameterization=mean --noper_example_gates --decode_from=first --kl_warmup_fraction=0 --log_gate_gradients"
export TF_CPP_MIN_LOG_LEVEL=2
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/device.txt" 2>/dev/null || echo "no GPU" > "$OUT/device.txt"
: > "$OUT/steps.jsonl"
for size in $SIZES; do
  n="${size%%:*}"; batch="${size##*:}"
  python bench/train_step.py --num_nodes "$n" --node_dim $((80 / n)) --batch_size "$batch" \
      --steps "$STEPS" --repeats "$REPEATS" --warmup 5 --json_line \
    | grep '^RESULT ' | sed 's/^RESULT //' >> "$OUT/steps.jsonl"
done
set +e
timeout "$TRAIN_SECONDS" python bin/train.py --flagfile=configs/mnist.cfg $DECIDING \
    --workdir="$OUT/train" --noexport --verbose=1 ${GPU_TRAIN_FLAGS:-} > "$OUT/train.log" 2>&1
rc=$?
set -e
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then
  echo "training failed (exit $rc):" >&2; tail -n 5 "$OUT/train.log" >&2; exit "$rc"
fi
python - "$OUT" "$TRAIN_SECONDS" <<'PY'
import json, os, sys
out, seconds = sys.argv[1], float(sys.argv[2])
steps = [json.loads(line) for line in open(os.path.join(out, "steps.jsonl")) if line.strip()]
history = json.load(open(os.path.join(out, "train", "gate_history.json")))
summary = {"device": open(os.path.join(out, "device.txt")).read().strip(), "train_seconds": seconds,
           "epochs_trained": len(history["epochs"]), "final_gate_means": history["gate_means"][-1],
           "steps": [dict({k: r[k] for k in ("num_nodes", "node_dim", "batch_size", "examples_per_s")},
                          steps_per_s=r["examples_per_s"] / r["batch_size"]) for r in steps]}
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
print(json.dumps({k: summary[k] for k in ("device", "epochs_trained")}))
for r in summary["steps"]:
    print(f"N={r['num_nodes']} batch={r['batch_size']}: {r['steps_per_s']:.1f} steps/s, "
          f"{r['examples_per_s']:.0f} examples/s")
PY
