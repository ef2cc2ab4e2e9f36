"""bench/gpu.sh end to end with tiny settings on the CPU (the GPU run itself is not a test)."""
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_gpu_script_measures_steps_and_trains_with_gate_history(tiny_data, tmp_path):
    env = dict(os.environ, GPU_BENCH_SIZES="2:16 4:8", GPU_BENCH_STEPS="3", GPU_BENCH_REPEATS="1",
               GPU_TRAIN_SECONDS="300", TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1",
               GPU_TRAIN_FLAGS=f"--data_dir={tiny_data} --epochs=2 --num_nodes=3 --latent_dim=6 "
                               "--steps_per_epoch=3 --validation_steps=1 --batch_size=8")
    out = tmp_path / "gpu"
    done = subprocess.run(["bash", os.path.join(ROOT, "bench", "gpu.sh"), str(out)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["num_nodes"], r["batch_size"]) for r in summary["steps"]] == [(2, 16), (4, 8)]
    for r in summary["steps"]:
        assert r["examples_per_s"] > 0 and abs(r["steps_per_s"] * r["batch_size"] - r["examples_per_s"]) < 1e-6
    assert summary["epochs_trained"] == 2
    history = json.loads((out / "train" / "gate_history.json").read_text())
    means = history["gate_means"][-1]
    assert len(means) == 3 and 0.0 <= means[2][0] <= 1.0 and means[0][1] == 0.0
    assert len(history["gate_gradients"]) == 2  # the instrument ran: d ELBO / d mu per edge
    assert set(history["gate_gradients"][0]["kl"]) == {"gate_2_1", "gate_3_1", "gate_3_2"}
    assert "N=2 batch=16:" in done.stdout


def test_gpu_script_stops_on_a_failed_training_run(tiny_data, tmp_path):
    env = dict(os.environ, GPU_BENCH_SIZES="", GPU_TRAIN_FLAGS=f"--data_dir={tiny_data} --num_nodes=3 --latent_dim=7")
    done = subprocess.run(["bash", os.path.join(ROOT, "bench", "gpu.sh"), str(tmp_path / "gpu")], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "training failed" in done.stderr
    assert not (tmp_path / "gpu" / "summary.json").exists()
