"""Outputs that appear only when complete: write under a temporary name, then rename.

Every file or folder the package writes for a user (find tables, evaluation figures, ROOT dumps,
SavedModel exports, training checkpoints) goes through :func:`atomic_output`. The temporary name
sits beside the output (same file system, so the rename is atomic) and carries the writer's
process id: ``.NAME.PID.RANDOM.tmp`` (plus an optional suffix). Writers that build a folder in
several steps (event stores) use :func:`writer_folder`, ``.NAME.partial-PID`` (``.NAME.old-PID``
for the output it replaces), stamped with the writer's host and PID (:data:`WRITER_FILE`). A
writer killed before the rename leaves such a temporary; every write into a folder first removes
what writers that no longer run on this host left there (:func:`remove_stale_temporaries_in`):
only names of these exact patterns, never a live writer's, never another host's. A file is
flushed to disk before it is renamed, so the rename never exposes a file whose content is still
only in memory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import uuid
from contextlib import contextmanager
from pathlib import Path

from .. import interrupts

__all__ = ["atomic_output", "remove_stale_temporaries", "remove_stale_temporaries_in", "pid_alive",
           "writer_folder", "stamp_writer", "WRITER_FILE"]

#: ``.NAME.PID.RANDOM.tmp`` plus an optional suffix: the temporaries of atomic_output.
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.(?P<random>[0-9a-f]{8})\.tmp(?P<suffix>.*)$")
#: ``.NAME.partial-PID`` and ``.NAME.old-PID``, writer folders (``NAME.partial-PID``: as stores were built before).
_WRITER_FOLDER = re.compile(r"^(?P<dot>\.?)(?P<name>.+)\.(?P<role>partial|old)-(?P<pid>\d+)$")
#: Written first in a writer folder: ``{"host": ..., "pid": ...}``, so a later writer can tell a dead writer's.
WRITER_FILE = ".writer.json"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: no process has such an id
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def writer_folder(output: str | Path, role: str = "partial") -> Path:
    """``.NAME.ROLE-PID`` beside ``output``: a folder only this process writes (stamp it: :func:`stamp_writer`)."""
    if role not in ("partial", "old"):
        raise ValueError(f"role must be 'partial' or 'old'; Received: role={role!r}")
    output = Path(output)
    return output.with_name(f".{output.name}.{role}-{os.getpid()}")


def stamp_writer(folder: str | Path) -> None:
    """Record this host and process in ``folder`` (:data:`WRITER_FILE`), so a later writer can tell whether it runs."""
    (Path(folder) / WRITER_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))


def _dead_writer_folder(entry: Path, hidden: bool, pid: int) -> bool:
    """Whether ``entry``, named as a writer folder of ``pid``, is one and its writer no longer runs here."""
    if pid == os.getpid() or entry.is_symlink() or not entry.is_dir():
        return False
    try:
        stamp = json.loads((entry / WRITER_FILE).read_text())
    except (OSError, ValueError):
        # killed between mkdir and the stamp (or while writing it): ours only if hidden and holding nothing else
        try:
            others = [p for p in entry.iterdir() if p.name != WRITER_FILE]
        except OSError:
            return False
        return hidden and not others and not pid_alive(pid)
    if not isinstance(stamp, dict) or stamp.get("pid") != pid or stamp.get("host") != socket.gethostname():
        return False  # not stamped by this writer, or a writer on another machine sharing the folder
    return not pid_alive(pid)


def _sweep(folder: Path, output_name: str | None) -> list[Path]:
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:  # a folder we may write in but not list: nothing to clean
        return removed
    for entry in entries:
        m = _TEMPORARY.match(entry.name)
        if m:
            stale = (output_name is None or m["name"] == output_name) and not pid_alive(int(m["pid"]))
        else:
            m = _WRITER_FOLDER.match(entry.name)
            stale = bool(m) and (output_name is None or m["name"] == output_name) and \
                _dead_writer_folder(entry, bool(m["dot"]), int(m["pid"]))
        if stale:
            _remove(entry)
            removed.append(entry)
    return removed


def remove_stale_temporaries(output: str | Path) -> list[Path]:
    """Remove the temporaries of ``output`` left by writers that no longer run; returns them."""
    output = Path(output)
    return _sweep(output.parent, output.name)


def remove_stale_temporaries_in(folder: str | Path) -> list[Path]:
    """Remove every temporary in ``folder`` left by a writer that no longer runs on this host; returns them.

    Temporaries of :func:`atomic_output` (``.NAME.PID.RANDOM.tmp[SUFFIX]``) whose PID no longer
    runs, and writer folders (``.NAME.partial-PID``, ``.NAME.old-PID``, :func:`writer_folder`)
    whose stamp names this host and a PID that no longer runs. Every write into a folder calls it,
    so what a killed writer left goes with the next write there, whatever its name.
    """
    return _sweep(Path(folder), None)


def _flush_to_disk(path: Path) -> None:
    """fsync a written file (folders are left to their writers)."""
    if path.is_file() and not path.is_symlink():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def atomic_output(output: str | Path, *, overwrite: bool = True, suffix: str = ""):
    """A temporary path beside ``output``, renamed onto it when the block ends without an error.

    The block writes a file or a folder at the yielded path. On success it replaces ``output``
    (an existing folder is removed first, which is not atomic; an existing file is replaced
    atomically); on any error, or an interrupt, the temporary is removed and ``output`` is left
    as it was. ``suffix`` ends the temporary's name (for writers that insist on one, like
    ``.keras``).

    Raises:
        FileExistsError: ``output`` exists and ``overwrite`` is False.
        FileNotFoundError: the folder ``output`` goes into does not exist.
    """
    output = Path(output)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output}: exists (use --overwrite)")
    if not output.parent.is_dir():
        raise FileNotFoundError(f"{output}: the folder {output.parent} does not exist")
    remove_stale_temporaries_in(output.parent)
    tmp = output.with_name(f".{output.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{suffix}")
    try:
        yield tmp
        _flush_to_disk(tmp)
        interrupts.check()  # after a Ctrl-C nothing is published, whatever swallowed the KeyboardInterrupt
        if tmp.is_dir() and output.is_dir():
            shutil.rmtree(output)
        os.replace(tmp, output)
    finally:
        if tmp.exists() or tmp.is_symlink():
            _remove(tmp)
