"""Running a table's runs: each a train-then-evaluate chain of subprocesses in its own process
group, ``parallel`` at a time, with progress lines and an ETA; stopped, not orphaned, on Ctrl-C
or SIGTERM (the runs resume from their last complete checkpoint when started again)."""
import math
import os
import shlex
import signal
import subprocess
import sys
import time

import numpy as np


def thread_env(threads):
    """Environment that keeps one run's TensorFlow to ``threads`` CPU threads."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if threads:
        env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads),
                   OMP_NUM_THREADS=str(threads))
    return env


def start_chain(workdir, train, evaluate, threads=None, cwd=None):
    """Start ``train`` then ``evaluate`` (an argument list, or a list of them run in turn) as one
    shell process in a new process group, logging to ``workdir/reproduce.log`` (training records
    its own time: ``TrainTime``)."""
    os.makedirs(workdir, exist_ok=True)
    evaluations = evaluate if evaluate and isinstance(evaluate[0], (list, tuple)) else [evaluate]
    script = "set -e; " + "; ".join(quote(args) for args in [train, *evaluations])
    log = open(os.path.join(workdir, "reproduce.log"), "a")
    return subprocess.Popen(["bash", "-c", script], stdout=log, stderr=subprocess.STDOUT,
                            env=thread_env(threads), cwd=cwd, start_new_session=True)


def quote(args):
    return " ".join(shlex.quote(str(a)) for a in args)


def _stop(procs):
    """Terminate the process groups of running chains (train or evaluate and the shell); their
    runs resume from the last complete checkpoint next time."""
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def execute(runs, start, finished, parallel=1, out=sys.stdout):
    """Run every run not ``finished(run)`` (``start(run)``: its Popen), ``parallel`` at a time;
    print a progress line per start and end. Returns the names of the runs that failed (exit
    status, or not ``finished`` after it)."""
    todo = [r for r in runs if not finished(r)]
    total, done0 = len(runs), len(runs) - len(todo)
    if done0:
        print(f"{done0} of {total} runs already finished: skipped", file=out, flush=True)
    active, failed, durations, started = {}, [], [], time.time()
    queue = list(todo)
    try:  # SIGTERM as Ctrl-C, so that the runs' process groups are stopped, not orphaned
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread: a SIGTERM then ends this process alone
        previous = None
    try:
        _loop(queue, active, failed, durations, total, start, finished, parallel, out)
    finally:
        _stop([proc for _, proc, _ in active.values()])
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print(f"all runs ended in {(time.time() - started) / 60:.1f} min", file=out, flush=True)
    return failed


def _loop(queue, active, failed, durations, total, start, finished, parallel, out):
    """``execute``'s scheduler: start queued runs while fewer than ``parallel`` run; record ends."""
    while queue or active:
        while queue and len(active) < parallel:
            run = queue.pop(0)
            active[run.name] = (run, start(run), time.time())
            print(f"[{total - len(queue)}/{total}] {run.name}: started ({_eta(durations, queue, active, parallel)})",
                  file=out, flush=True)
        time.sleep(1.0)
        for name, (run, proc, t0) in list(active.items()):
            if proc.poll() is None:
                continue
            del active[name]
            durations.append(time.time() - t0)
            ok = proc.returncode == 0 and finished(run)
            if not ok:
                failed.append(name)
            ended = total - len(queue) - len(active)
            print(f"[{ended}/{total}] {name}: {'done' if ok else 'FAILED, see ' + run.workdir + '/reproduce.log'} "
                  f"in {durations[-1] / 60:.1f} min ({_eta(durations, queue, active, parallel)})",
                  file=out, flush=True)


def _eta(durations, queue, active, parallel, now=None):
    """Time left: the longest running run's rest (at the mean duration so far), then the queue
    in waves of ``parallel``."""
    if not durations:
        return "ETA after the first run"
    if not queue and not active:
        return "no runs left"
    mean, now = float(np.mean(durations)), time.time() if now is None else now
    running = max((max(0.0, mean - (now - t0)) for _, _, t0 in active.values()), default=0.0)
    minutes = (running + math.ceil(len(queue) / parallel) * mean) / 60
    return f"{len(queue) + len(active)} left, ETA {minutes:.0f} min"
