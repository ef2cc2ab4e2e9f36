"""tfgvae.experiments.runner: chains of subprocesses, failures, the ETA, and no orphans on SIGTERM."""
import os
import signal
import subprocess
import sys
import time
import types

import pytest

from tfgvae.experiments import runner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(workdir, name):
    return types.SimpleNamespace(name=name, workdir=str(workdir))


def test_execute_runs_chains_and_reports_failures(tmp_path):
    """Two chains 2 at a time: one whose evaluation writes its marker (done), one whose training
    exits 3 (failed, its evaluation never runs)."""
    good, bad = _run(tmp_path / "good", "good"), _run(tmp_path / "bad", "bad")
    chains = {"good": (["sleep", "1"], ["touch", "marker"]), "bad": (["sh", "-c", "exit 3"], ["touch", "marker"])}

    def start(run):
        return runner.start_chain(run.workdir, *chains[run.name], cwd=run.workdir)

    def finished(run):
        return os.path.exists(os.path.join(run.workdir, "marker"))

    lines = []
    out = types.SimpleNamespace(write=lines.append, flush=lambda: None)
    assert runner.execute([good, bad], start, finished, parallel=2, out=out) == ["bad"]
    assert finished(good) and not finished(bad)
    text = "".join(lines)
    assert "] bad: FAILED" in text and "] good: done" in text and "all runs ended" in text
    # Run again: the finished run is skipped, the failed one retried.
    lines.clear()
    assert runner.execute([good, bad], start, finished, out=out) == ["bad"]
    assert "1 of 2 runs already finished: skipped" in "".join(lines)


SCRIPT = """
import os, sys, types
sys.path.insert(0, {root!r})
from tfgvae.experiments import runner
run = types.SimpleNamespace(name="slow", workdir={workdir!r})
def start(run):
    proc = runner.start_chain(run.workdir, ["sleep", "300"], ["true"])
    with open(os.path.join(run.workdir, "pgid"), "w") as f:
        f.write(str(proc.pid))
    return proc
runner.execute([run], start, lambda run: False)
"""


def test_sigterm_stops_the_runs_instead_of_orphaning_them(tmp_path):
    """A SIGTERM to the scheduler ends it and its running chains' process groups (before: the
    chains went on training with nobody waiting for them)."""
    pgid_file = tmp_path / "run" / "pgid"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT.format(root=ROOT, workdir=str(tmp_path / "run"))])
    for _ in range(300):
        if pgid_file.exists() and pgid_file.read_text():
            break
        time.sleep(0.1)
    pgid = int(pgid_file.read_text())
    os.killpg(pgid, 0)  # the chain runs
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    with pytest.raises(ProcessLookupError):  # no process of the chain's group is left
        for _ in range(50):
            os.killpg(pgid, 0)
            time.sleep(0.1)


def test_eta_counts_what_running_runs_have_done():
    """Runs of 10 min so far: two running (2 and 9 min in) and three queued, 2 at a time, leave
    max(8, 1) + ceil(3 / 2) x 10 = 28 min."""
    active = {"a": (None, None, 1000.0 - 120), "b": (None, None, 1000.0 - 540)}
    assert runner._eta([600.0], ["c", "d", "e"], active, 2, now=1000.0) == "5 left, ETA 28 min"
    assert runner._eta([600.0], [], {}, 2) == "no runs left"
    assert runner._eta([], ["c"], active, 2) == "ETA after the first run"
