"""Commands killed (SIGKILL) or interrupted (SIGINT, as Ctrl-C) at random moments, on tiny inputs:
every output is complete or absent, the next run leaves nothing of the dead one behind (temporaries
``.NAME.PID.RANDOM.tmp``, stores' ``.NAME.partial-PID`` folders), and a killed ``train`` resumes.

The default run kills ``simulate`` and ``convert`` (no TensorFlow, a few seconds each); ``-m slow``
kills ``find`` and ``train`` too, at more moments."""

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vertexfinder.io.events import read_events
from vertexfinder.io.store import EventStore

ROOT = Path(__file__).resolve().parents[1]
EVENTS = 20
SIM = ["simulate", "--detector", "test-detector", "--sample", "numu-cc", "--events", str(EVENTS), "--seed", "1",
       "-q", "--overwrite"]


#: The console script ``vertexfinder`` (``vertexfinder.__main__:run``).
CLI = [sys.executable, "-c", "import sys; from vertexfinder.__main__ import run; sys.exit(run())"]


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _sigint_default():
    """In the child before it starts: Ctrl-C as at a terminal. A test run started in the background
    of a non-interactive shell inherits SIGINT ignored, and so would every command it starts."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run(args, cwd):
    out = subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, env=_env(), timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    return out


def _writing(folder: Path) -> bool:
    """Whether an output is being written in ``folder`` (a temporary or a store's partial folder is there)."""
    return any(p.name.startswith(".") or ".partial-" in p.name for p in folder.iterdir())


def _kill_at(args, cwd, delay, sig, *, when=None):
    """Start a command, send ``sig`` to its process group ``delay`` s after the start, or after ``when(cwd)``
    first holds; (status, seconds the process took to end after the signal)."""
    p = subprocess.Popen([*CLI, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(),
                         start_new_session=True, preexec_fn=_sigint_default)
    if when is not None:
        while p.poll() is None and not when(Path(cwd)):
            time.sleep(0.005)
    try:
        p.wait(timeout=delay)
        return p.returncode, 0.0  # it finished first
    except subprocess.TimeoutExpired:
        pass
    start = time.monotonic()
    os.killpg(p.pid, sig)
    try:
        rc = p.wait(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    with_children = time.monotonic() - start
    return rc, with_children


def _leftovers(folder: Path, keep):
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def _store_complete_or_absent(path: Path, reference):
    if not path.exists():
        return False
    with EventStore.open(path) as store:
        assert [e.ids for e in store] == reference
    return True


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The simulated events' ids, and a ROOT dump of them to convert."""
    folder = tmp_path_factory.mktemp("reference")
    _run(SIM + ["-o", "ref.root"], folder)
    return [e.ids for e in read_events(folder / "ref.root", detector="test-detector")], folder / "ref.root"


def _kill_and_rerun(tmp_path, args, output, reference, delay, sig, *, keep=(), when=None):
    rc, _ = _kill_at(args, tmp_path, delay, sig, when=when)
    out = tmp_path / output
    check = _store_complete_or_absent if output.endswith(".vfstore") else _dump_complete_or_absent
    complete = check(out, reference)
    _run(args, tmp_path)  # the next run completes, and cleans what the dead one left
    assert check(out, reference)
    assert _leftovers(tmp_path, {output, *keep}) == []
    return rc, complete


def _dump_complete_or_absent(path: Path, reference):
    if not path.exists():
        return False
    assert [e.ids for e in read_events(path, detector="test-detector")] == reference
    return True


@pytest.mark.parametrize("output,seed", [("out.vfstore", 1), pytest.param("out.root", 2, marks=pytest.mark.slow),
                                         pytest.param("out.vfstore", 3, marks=pytest.mark.slow)])
def test_simulate_killed_while_writing(tmp_path, reference, output, seed):
    delay = random.Random(seed).uniform(0.0, 0.4)  # the output is being written: the events take ~1 s
    rc, complete = _kill_and_rerun(tmp_path, SIM + ["-o", output], output, reference[0], delay, signal.SIGKILL,
                                   when=_writing)
    assert rc == -signal.SIGKILL and not complete


def test_simulate_interrupted_while_writing(tmp_path, reference):
    # interrupted 0.05 s into the writing: the events can be written in well under a second
    rc, complete = _kill_and_rerun(tmp_path, SIM + ["-o", "out.vfstore"], "out.vfstore", reference[0], 0.05,
                                   signal.SIGINT, when=_writing)
    assert rc == 130 and not complete


@pytest.mark.slow
def test_simulate_killed_at_a_random_moment(tmp_path, reference):
    delay = random.Random(5).uniform(0.2, 2.5)
    _kill_and_rerun(tmp_path, SIM + ["-o", "out.root"], "out.root", reference[0], delay, signal.SIGKILL)


@pytest.mark.slow
def test_convert_killed_at_a_random_moment(tmp_path, reference):
    ids, dump = reference
    src = tmp_path / "in.root"
    src.write_bytes(dump.read_bytes())
    args = ["convert", "in.root", "-o", "out.vfstore", "--detector", "test-detector", "-q", "--overwrite"]
    _kill_and_rerun(tmp_path, args, "out.vfstore", ids, random.Random(4).uniform(0.0, 0.1), signal.SIGKILL,
                    keep={"in.root"}, when=_writing)


# -- slow: more moments, find and train ----------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
@pytest.mark.parametrize("seed", range(4))
def test_simulate_and_convert_at_many_moments(tmp_path, reference, sig, seed):
    rng = random.Random(seed)
    ids, dump = reference
    for output in ("out.vfstore", "out.root"):
        folder = tmp_path / output.replace(".", "-")
        folder.mkdir()
        writing = rng.random() < 0.5
        _kill_and_rerun(folder, SIM + ["--jobs", "2", "-o", output], output, ids,
                        rng.uniform(0.0, 1.0) if writing else rng.uniform(0.2, 4.0), sig, when=_writing if writing else None)
    folder = tmp_path / "convert"
    folder.mkdir()
    (folder / "in.root").write_bytes(dump.read_bytes())
    _kill_and_rerun(folder, ["convert", "in.root", "-o", "out.vfstore", "--detector", "test-detector", "-q",
                             "--overwrite"], "out.vfstore", ids, rng.uniform(0.0, 0.3), sig, keep={"in.root"},
                    when=_writing)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
@pytest.mark.parametrize("seed", range(3))
def test_find_killed_at_a_random_moment(tmp_path, reference, sig, seed):
    ids, dump = reference
    (tmp_path / "in.root").write_bytes(dump.read_bytes())
    args = ["find", "in.root", "--detector", "test-detector", "-o", "out.csv", "-q"]
    rc, after = _kill_at(args, tmp_path, random.Random(seed).uniform(1.0, 12.0), sig)
    if sig == signal.SIGINT:
        assert after < 10
    out = tmp_path / "out.csv"
    if out.exists():  # complete: every event has its rows
        with open(out) as f:
            assert {int(r["event"]) for r in csv.DictReader(f)} == {i[2] for i in ids}
    _run(args, tmp_path)
    with open(out) as f:
        assert {int(r["event"]) for r in csv.DictReader(f)} == {i[2] for i in ids}
    assert _leftovers(tmp_path, {"in.root", "out.csv"}) == []


def _backup_epoch(run: Path) -> int:
    try:
        return json.loads((run / "backup" / "training_metadata.json").read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("sig,seed", [(signal.SIGINT, 0), (signal.SIGKILL, 1), (signal.SIGINT, 2), (signal.SIGKILL, 3)])
def test_train_killed_at_a_random_moment_resumes(tmp_path, sig, seed):
    from test_training import TINY

    from vertexfinder.model import load_keras_model

    epochs = 10
    args = ["train", "-o", "run", "-q"] + [a for s in TINY + [f"epochs={epochs}", "steps_per_epoch=20"]
                                           for a in ("--set", s)]
    run = tmp_path / "run"
    rng = random.Random(seed)
    stops = []
    for _ in range(3):  # stopped three times, each at a random moment after another epoch was backed up
        reached = _backup_epoch(run)
        rc, after = _kill_at(args, tmp_path, rng.uniform(0.0, 1.5), sig,
                             when=lambda d, e=reached: _backup_epoch(d / "run") > e)
        stops.append((reached, rc, round(after, 1)))
        if after:
            finished = rc == 0 and (run / "final.keras").is_file()  # the signal came as the program was exiting
            assert rc == (130 if sig == signal.SIGINT else -signal.SIGKILL) or finished, stops
            if sig == signal.SIGINT:
                assert after < 12, f"train took {after:.1f} s to stop after Ctrl-C"
        for name in ("last.keras", "best.keras", "final.keras"):  # whole or absent
            if (run / name).exists():
                load_keras_model(run / name)
    assert sum(1 for *_, after in stops if after) >= 2, stops  # (epoch backed up, status, s)
    out = subprocess.run([*CLI, *args], cwd=tmp_path, capture_output=True, text=True, env=_env(), timeout=900)
    if out.returncode == 1:  # the last stop came after the final model: the run says it is finished
        assert "this run is finished" in out.stderr
    else:
        assert out.returncode == 0, out.stderr[-2000:]
    with open(run / "history.csv") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == [str(e) for e in range(epochs)]
    assert (run / "final.keras").is_file() and not (run / "backup").exists()
    assert not [p for p in run.iterdir() if p.name.startswith(".")]
