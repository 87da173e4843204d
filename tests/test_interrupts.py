"""A Ctrl-C (SIGINT to the command's process group, as a terminal sends it) at any moment of a
command's start-up ends it with status 130, "interrupted" as the last line on stderr, no traceback
and no other error, and no output: the moments are spread evenly over the time an uninterrupted run
of the same command takes (from 0.2 s, once Python itself has started, to 80% of it), so they fall in the
imports, TensorFlow's start-up, the model's loading, the events' reading and the work.

The default run interrupts ``find`` at a few moments; ``-m slow`` scans ``find``, ``train``,
``simulate`` and ``convert`` at 24 moments each."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The console script ``vertexfinder`` (``vertexfinder.__main__:run``).
CLI = [sys.executable, "-c", "import sys; from vertexfinder.__main__ import run; sys.exit(run())"]
SIM = ["simulate", "--detector", "test-detector", "--sample", "numu-cc", "--events", "12", "--seed", "1", "-q"]
TINY_TRAIN = ["detector='test-detector'", "sample='numu-cc'", "train_events=20", "validation_events=4",
              "validation_walks=24", "num_levels=3", "glimpse_size=[16, 16]", "num_steps=4", "max_step=32.0",
              "filters=[8, 16]", "encoder_units=16", "recurrent_units=16", "batch_size=8", "steps_per_epoch=3",
              "epochs=2", "composition_every=2"]


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _sigint_default():
    """Ctrl-C as at a terminal (a test run in the background of a shell inherits SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args, cwd):
    return subprocess.Popen([*CLI, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(), start_new_session=True, preexec_fn=_sigint_default)


def _finish(p, timeout=120):
    try:
        out, err = p.communicate(timeout=timeout)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return out, err


def _interrupted_at(args, cwd, delay):
    """Start a command and send SIGINT to its process group ``delay`` s later: (status, stderr), or
    None when it ended before."""
    p = _start(args, cwd)
    try:
        p.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGINT)
        _, err = _finish(p)
        return p.returncode, err
    _finish(p)
    return None


def _scan(tmp_path, args, output, moments, prepare=None):
    """Run the command once to time it, then interrupt it at ``moments`` evenly spread moments of that time."""
    folder = tmp_path / "whole"
    folder.mkdir()
    if prepare:
        prepare(folder)
    t0 = time.monotonic()
    p = _start(args, folder)
    _, err = _finish(p, timeout=900)
    took = time.monotonic() - t0
    assert p.returncode == 0, err[-2000:]
    assert (folder / output).exists()
    seen = []
    for i, delay in enumerate(np.linspace(0.2, 0.8 * took, moments)):
        folder = tmp_path / f"at{i}"
        folder.mkdir()
        if prepare:
            prepare(folder)
        got = _interrupted_at(args, folder, float(delay))
        if got is None:
            assert delay > 0.5 * took, (delay, took, "ended before the interrupt, in its start-up")
            continue  # it ended first (near the end of the run: runs vary in length)
        rc, err = got
        lines = err.strip().splitlines()
        if rc == 0 and delay > 0.5 * took and (folder / output).exists():
            continue  # the signal came as the finished command was exiting (runs vary in length)
        seen.append(round(float(delay), 2))
        assert rc == 130, (delay, rc, err[-1500:])
        assert lines and lines[-1].startswith("vertexfinder: interrupted"), (delay, err[-1500:])
        assert "Traceback" not in err and "error" not in err, (delay, err[-1500:])
        assert not (folder / output).exists(), (delay, "an output appeared")
    assert len(seen) >= int(0.7 * moments), (took, seen)
    return took, seen


@pytest.fixture(scope="module")
def events_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("events")
    p = _start(SIM + ["-o", "in.root"], folder)
    _, err = _finish(p, timeout=300)
    assert p.returncode == 0, err
    return folder / "in.root"


def _copy(src):
    return lambda folder: (folder / src.name).write_bytes(src.read_bytes())


FIND = ["find", "in.root", "--detector", "test-detector", "-o", "out.csv", "-q"]


def test_find_interrupted_at_a_few_moments_of_its_start_up(tmp_path, events_file):
    _scan(tmp_path, FIND, "out.csv", 4, prepare=_copy(events_file))


@pytest.mark.slow
def test_find_interrupted_at_any_moment(tmp_path, events_file):
    _scan(tmp_path, FIND, "out.csv", 24, prepare=_copy(events_file))


@pytest.mark.slow
def test_train_interrupted_at_any_moment(tmp_path):
    args = ["train", "-o", "run", "-q"] + [a for s in TINY_TRAIN for a in ("--set", s)]
    _scan(tmp_path, args, "run/final.keras", 24)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["simulate", "convert"])
def test_simulate_and_convert_interrupted_at_any_moment(tmp_path, events_file, command):
    if command == "simulate":
        _scan(tmp_path, SIM + ["-o", "out.vfstore"], "out.vfstore", 24)
    else:
        _scan(tmp_path, ["convert", "in.root", "-o", "out.vfstore", "--detector", "test-detector", "-q"],
              "out.vfstore", 24, prepare=_copy(events_file))
