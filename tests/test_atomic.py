"""Outputs through temporaries (vertexfinder.io.atomic): what writers killed before finishing leave
behind is removed by the next write into the same folder, whatever that write's name, and nothing
else is: not a live writer's temporary, not another host's, not a name of someone else's."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vertexfinder.io.atomic import atomic_output, remove_stale_temporaries_in
from vertexfinder.io.store import EventStore

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def pids():
    """(a PID that no longer runs, a PID that runs until the test ends)."""
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield finished.pid, live.pid
    finally:
        live.kill()
        live.wait()


def _stamped(folder: Path, pid: int, host: str | None = None, *, files=("manifest.json",)) -> Path:
    folder.mkdir()
    (folder / ".writer.json").write_text(json.dumps({"host": host or socket.gethostname(), "pid": pid}))
    for name in files:
        (folder / name).write_text("{}")
    return folder


def _file(path: Path, data: bytes = b"u") -> Path:
    path.write_bytes(data)
    return path


def _folder(path: Path, *files: str) -> Path:
    path.mkdir()
    for name in files:
        (path / name).write_text("a user's")
    return path


def _litter(folder: Path, dead: int, live: int):
    """(what dead writers left, what must stay) in ``folder``."""
    stale = [
        _file(folder / f".run.root.{dead}.0123abcd.tmp", b"\0" * 660_000),  # a killed dump write (atomic_output)
        _file(folder / f".best.keras.{dead}.89abcdef.tmp.keras"),  # with the suffix Keras insists on
        _folder(folder / f".export.{dead}.0011aabb.tmp", "saved_model.pb"),  # a folder output
        _stamped(folder / f".a.vfstore.partial-{dead}", dead),  # a killed store write
        _stamped(folder / f".b.vfstore.partial-{dead}", dead, files=()),  # killed just after stamping
        _stamped(folder / f"c.vfstore.partial-{dead}", dead),  # as store writers named it before: visible
        _stamped(folder / f".d.vfstore.old-{dead}", dead),  # a replaced store not yet removed
        _folder(folder / f".e.vfstore.partial-{dead}"),  # killed between making the folder and stamping it
    ]
    kept = [
        _file(folder / f".run.root.{live}.0123abcd.tmp", b"live"),  # a live writer's
        _stamped(folder / f".a.vfstore.partial-{live}", live),
        _stamped(folder / f".f.vfstore.partial-{dead}", dead, socket.gethostname() + "-other"),  # another host's
        _stamped(folder / f".g.vfstore.partial-{dead}", live),  # stamped by another writer than its name says
        _folder(folder / f"notes.partial-{dead}"),  # not stamped, visible: someone else's folder
        _folder(folder / f".h.partial-{dead}", "mine.txt"),  # not stamped, not empty
        _file(folder / f".i.partial-{dead}"),  # a file, not a folder
        _file(folder / f".run.root.{dead}.tmp"),  # not our pattern: no random part
        _file(folder / f".run.root.{dead}.0123ABCD.tmp"),  # not our pattern: capitals
        _file(folder / f"run.root.{dead}.0123abcd.tmp"),  # not our pattern: not hidden
        _folder(folder / "data.vfstore.partial-x"),
    ]
    return stale, kept


def _one_event(rng):
    from test_event_store import make_record

    return make_record(rng, 1)


@pytest.mark.parametrize("writer", ["table", "store", "sweep"])
def test_a_write_into_a_folder_removes_what_dead_writers_left_and_nothing_else(tmp_path, pids, writer):
    dead, live = pids
    stale, kept = _litter(tmp_path, dead, live)
    if writer == "table":  # find's table, evaluate's JSON, a checkpoint: any atomic_output
        with atomic_output(tmp_path / "found.csv") as tmp:
            tmp.write_text("event\n")
        new = tmp_path / "found.csv"
    elif writer == "store":  # simulate, convert
        new = tmp_path / "other.vfstore"
        with EventStore.create(new, detector="test-detector", views=["U", "V", "Z"], drift_window=6,
                               pooling="max") as w:
            w.append(_one_event(np.random.default_rng(0)))
    else:
        assert sorted(remove_stale_temporaries_in(tmp_path)) == sorted(stale)
        new = None
    assert [p.name for p in stale if p.exists() or p.is_symlink()] == []
    assert [p.name for p in kept if not p.exists()] == []
    assert kept[0].read_bytes() == b"live" and (tmp_path / f".h.partial-{dead}" / "mine.txt").is_file()
    if new is not None:
        assert new.exists() and not (new / ".writer.json").exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([new.name] + [p.name for p in kept])


def test_killed_writers_leave_only_hidden_temporaries_that_the_next_write_of_another_name_removes(tmp_path):
    """kill -9 during a store write, then during a dump write beside it, then a table written there."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TESTS": str(ROOT / "tests")}

    def killed(body: str) -> list[str]:
        out = subprocess.run([sys.executable, "-c", "import os, signal, sys, numpy as np\n" + body], cwd=tmp_path,
                             env=env, capture_output=True, timeout=300)
        assert out.returncode == -signal.SIGKILL, out.stderr.decode()[-2000:]
        return sorted(p.name for p in tmp_path.iterdir())

    left = killed("sys.path.insert(0, os.environ['TESTS'])\n"
                  "from test_event_store import create, make_record\n"
                  "w = create('events.vfstore', chunk_events=2)\n"
                  "w.extend(make_record(np.random.default_rng(0), e) for e in range(5))\n"
                  "os.kill(os.getpid(), signal.SIGKILL)\n")
    assert len(left) == 1 and left[0].startswith(".events.vfstore.partial-"), left  # hidden
    left = killed("from vertexfinder.io.atomic import atomic_output\n"
                  "with atomic_output('run.root') as tmp:\n"
                  "    tmp.write_bytes(b'\\0' * 660_000)\n"
                  "    os.kill(os.getpid(), signal.SIGKILL)\n")
    assert len(left) == 1 and left[0].startswith(".run.root.") and left[0].endswith(".tmp"), left  # the store's went
    with atomic_output(tmp_path / "found.csv") as tmp:
        tmp.write_text("event\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["found.csv"]
