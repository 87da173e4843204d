"""Outputs that appear only when complete: write under a temporary name, then rename.

Every file or folder the package writes for a user (find tables, evaluation figures, ROOT dumps,
SavedModel exports, training checkpoints) goes through :func:`atomic_output`. The temporary name
sits beside the output (same file system, so the rename is atomic) and carries the writer's
process id: ``.NAME.PID.RANDOM.tmp`` (plus an optional suffix). A writer killed before the rename leaves such a temporary;
the next write of the same output removes the temporaries of processes that no longer run
(:func:`remove_stale_temporaries_in` sweeps a whole folder). A file is flushed to disk before it is
renamed, so the rename never exposes a file whose content is still only in memory.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_output", "remove_stale_temporaries", "remove_stale_temporaries_in", "pid_alive"]

#: ``.NAME.PID.RANDOM.tmp`` plus an optional suffix: the temporaries of atomic_output.
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.(?P<random>[0-9a-f]{8})\.tmp(?P<suffix>.*)$")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_stale_temporaries(output: str | Path) -> list[Path]:
    """Remove the temporaries of ``output`` left by writers that no longer run; returns them."""
    output = Path(output)
    prefix = f".{output.name}."
    removed = []
    try:
        entries = list(output.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not name.startswith(prefix):
            continue
        parts = name[len(prefix) :].split(".")  # PID, RANDOM, "tmp"[, the suffix]
        if len(parts) < 3 or not parts[0].isdigit() or parts[2] != "tmp":
            continue
        if not pid_alive(int(parts[0])):
            _remove(entry)
            removed.append(entry)
    return removed


def remove_stale_temporaries_in(folder: str | Path) -> list[Path]:
    """Remove every temporary in ``folder`` left by a writer that no longer runs; returns them.

    For outputs whose names change (a run's backup writes a new weights file every epoch), where
    :func:`remove_stale_temporaries` of the next output would not find the old ones.
    """
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _TEMPORARY.match(entry.name)
        if m and not pid_alive(int(m["pid"])):
            _remove(entry)
            removed.append(entry)
    return removed


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
    remove_stale_temporaries(output)
    tmp = output.with_name(f".{output.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{suffix}")
    try:
        yield tmp
        _flush_to_disk(tmp)
        if tmp.is_dir() and output.is_dir():
            shutil.rmtree(output)
        os.replace(tmp, output)
    finally:
        if tmp.exists() or tmp.is_symlink():
            _remove(tmp)
