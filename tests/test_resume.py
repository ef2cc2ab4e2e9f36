"""Fault tolerance: SIGKILL mid-epoch then rerun resumes and matches; a NaN batch never reaches a checkpoint."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# 2 epochs x 10 steps, a checkpoint every 3 steps: a kill after the first save lands mid-epoch 1.
ARGS = ["--dataset=mnist", "--num_nodes=3", "--latent_dim=6", "--batch_size=8", "--epochs=2",
        "--steps_per_epoch=10", "--validation_steps=1", "--checkpoint_every_steps=3",
        "--nojit_compile", "--verbose=2"]


def command(tmp_path, name):
    return [sys.executable, os.path.join(ROOT, "bin", "train.py"), f"--workdir={tmp_path / name}",
            f"--export_dir={tmp_path / ('export-' + name)}", *ARGS]


def environment(tmp_path, data_dir):
    return dict(os.environ, TFGVAE_DATA_DIR=data_dir, TFGVAE_CACHE_DIR=str(tmp_path / "cache"),
                TF_CPP_MIN_LOG_LEVEL="2")


def test_sigkill_mid_epoch_then_rerun_resumes_and_matches(tmp_path, tiny_data):
    env = environment(tmp_path, tiny_data)
    # The run to be killed: SIGKILL as soon as its first mid-epoch checkpoint (step 3) is on disk.
    victim = subprocess.Popen(command(tmp_path, "killed"), cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    state = tmp_path / "killed" / "checkpoints" / "checkpoint"
    deadline = time.monotonic() + 240
    while not state.exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    _, err = victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL, err[-3000:]
    assert not (tmp_path / "killed" / "results.json").exists()
    # Rerunning the command resumes mid-epoch instead of starting over (here letting it pick the
    # steps per execution: one that divides the 10 steps of an epoch and the rest of this one) ...
    resumed = subprocess.run(command(tmp_path, "killed") + ["--steps_per_execution=0"], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    line = [l for l in resumed.stdout.splitlines() if l.startswith("Resuming")]
    assert line, resumed.stdout[-2000:]
    step = int(line[0].split(" at step ")[1].split()[0])
    assert 3 <= step < 20 and step % 3 == 0
    # ... and ends where an uninterrupted run ends (same batches, same random draws per step).
    whole = subprocess.run(command(tmp_path, "whole"), cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr[-3000:]
    results = [json.loads((tmp_path / name / "results.json").read_text())["metrics"]
               for name in ("killed", "whole")]
    for key in ("elbo", "reconstruction", "kl"):
        assert results[0][key] == pytest.approx(results[1][key], rel=1e-4), key
    history = [json.loads((tmp_path / name / "gate_history.json").read_text())
               for name in ("killed", "whole")]
    assert history[0]["epochs"] == history[1]["epochs"] == [1, 2]
    np.testing.assert_allclose(history[0]["gate_means"], history[1]["gate_means"], atol=1e-5)


def test_non_finite_batch_stops_run_and_keeps_last_good_checkpoint(tmp_path, tiny_data, monkeypatch):
    import tensorflow as tf

    from tfgvae.training import callbacks, train
    from tfgvae.training.config import TrainConfig

    monkeypatch.setenv("TFGVAE_DATA_DIR", tiny_data)
    monkeypatch.setenv("TFGVAE_CACHE_DIR", str(tmp_path / "cache"))
    bad_step = 5  # the 5th update (batch index 4) sees a NaN pixel
    datasets = train.datasets

    def poisoned(config, data=None):
        info, stream, valid, steps = datasets(config, data)

        def poisoned_stream(start, count=None):  # batch k = the first batch + its place in the dataset
            first = start.read_value if isinstance(start, tf.Variable) else lambda: tf.constant(start, tf.int64)
            return stream(start, count).enumerate().map(
                lambda i, x: tf.where((first() + i == bad_step - 1) & tf.equal(tf.range(784), 0)[None], np.nan, x))

        poisoned_stream.bounded = stream.bounded
        return info, poisoned_stream, valid, steps

    monkeypatch.setattr(train, "datasets", poisoned)
    config = TrainConfig.from_dict(dict(dataset="mnist", num_nodes=3, latent_dim=6, batch_size=8, epochs=2,
                                        steps_per_epoch=3, validation_steps=1, checkpoint_every_steps=2,
                                        jit_compile=False, verbose=0, export_dir=str(tmp_path / "export")))
    workdir = tmp_path / "run"
    with pytest.raises(callbacks.NonFiniteLossError) as raised:
        train.train_and_evaluate(config, str(workdir))
    message = str(raised.value)
    assert f"at step {bad_step} (epoch 2, batch 2)" in message and "ckpt-4" in message, message
    assert isinstance(raised.value, ValueError) and "\n" not in message  # bin/train.py: one line
    latest = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    assert latest.endswith("ckpt-4")  # saved after step 4 (mid-epoch 2); nothing after the NaN
    reader = tf.train.load_checkpoint(latest)
    for name, dtype in reader.get_variable_to_dtype_map().items():
        if dtype.is_floating:
            assert np.all(np.isfinite(reader.get_tensor(name))), name
    assert not (workdir / "results.json").exists() and not (tmp_path / "export").exists()


def test_training_stream_restarts_at_any_batch(tiny_data):
    """make_dataset(start_batch=k) is stream(0) without its first k batches, and every pass of
    the stream is a permutation of the examples (the resume point of the killed run's data)."""
    from tfgvae import data

    def stream(k, n):
        ds = data.make_dataset("mnist", "train", tiny_data, batch_size=8, seed=3, binarize="none",
                               start_batch=k)
        return np.stack([b.numpy() for b in ds.take(n)])

    whole = stream(0, 30)
    np.testing.assert_array_equal(stream(17, 13), whole[17:])
    pixels = data.load_pixels("mnist", "train", tiny_data)[0].reshape(-1, 784) / 255.0
    per_pass = len(pixels) // 8
    for p in range(2):
        seen = whole[p * per_pass:(p + 1) * per_pass].reshape(-1, 784)
        rows = {r.tobytes() for r in seen.astype(np.float32)}
        assert len(rows) == len(seen) and rows <= {r.tobytes() for r in pixels.astype(np.float32)}
    assert not np.array_equal(whole[:per_pass], whole[per_pass:2 * per_pass])  # reshuffled per pass


def test_steps_per_execution_still_checkpoints_every_k_steps(tmp_path, tiny_data):
    """With 2 steps per compiled call the callbacks see steps 2, 4, ..., 20: a save lands at the
    first step at or past each multiple of 3 (4, 6, 10, 12, 16, 18) and at each epoch end (20)."""
    import tensorflow as tf

    proc = subprocess.run(command(tmp_path, "spe") + ["--steps_per_execution=2"], cwd=tmp_path,
                          env=environment(tmp_path, tiny_data), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = tf.train.get_checkpoint_state(str(tmp_path / "spe" / "checkpoints"))
    kept = [int(p.rsplit("-", 1)[1]) for p in state.all_model_checkpoint_paths]
    assert kept == [16, 18, 20]  # 4, 6, 10 and 12 were saved before them; three are kept


@pytest.mark.parametrize("data", ["registered", "arrays"])
def test_epochs_of_prime_steps_in_calls_of_k_steps_train_the_same_steps(tmp_path, tiny_data, monkeypatch, data):
    """7 steps per epoch run as calls of 3 steps (the last call of each epoch runs 1): 7 steps per
    epoch (checkpoint step counts) and the same updates on the same batches as one step per call."""
    import tensorflow as tf

    from tfgvae import data as tfgvae_data
    from tfgvae.training import train
    from tfgvae.training.config import TrainConfig

    monkeypatch.setenv("TFGVAE_DATA_DIR", tiny_data)
    monkeypatch.setenv("TFGVAE_CACHE_DIR", str(tmp_path / "cache"))
    own = None
    if data == "arrays":
        pixels = {s: tfgvae_data.load_pixels("mnist", s, tiny_data)[0].reshape(-1, 784)[:100] / 255.0
                  for s in ("train", "valid")}
        own = {s: (v > 0.5).astype(np.float32) for s, v in pixels.items()}
    outcome = {}
    for k in ((1, 3) if data == "registered" else (3,)):  # arrays: the same stream code, its own source
        config = TrainConfig.from_dict(dict(dataset="mnist", num_nodes=3, latent_dim=6, batch_size=8, epochs=2,
                                            steps_per_epoch=7, validation_steps=2, steps_per_execution=k,
                                            jit_compile=False, verbose=0, export=False))
        workdir = tmp_path / f"k{k}"
        metrics = train.train_and_evaluate(config, str(workdir), data=own)
        state = tf.train.get_checkpoint_state(str(workdir / "checkpoints"))
        gates = json.loads((workdir / "gate_history.json").read_text())["gate_means"]
        outcome[k] = (metrics, [int(p.rsplit("-", 1)[1]) for p in state.all_model_checkpoint_paths], gates)
    assert outcome[3][1] == [7, 14]  # an epoch of 7 steps, not 9
    if 1 not in outcome:
        return
    assert outcome[1][1] == [7, 14]
    for key in ("elbo", "reconstruction", "kl"):
        assert outcome[3][0][key] == pytest.approx(outcome[1][0][key], rel=1e-5), key
    np.testing.assert_allclose(outcome[3][2], outcome[1][2], atol=1e-6)
