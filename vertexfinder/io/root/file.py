"""A ROOT file opened for reading a dump, safely: nothing is read that its keys do not vouch for.

:func:`open_file` opens a file with uproot's class tables restored before and after (a damaged
file's streamers never change how later files are read); :func:`locate` finds the directory that
holds the dump; :func:`check_key` and :func:`read_table` check every key's and basket's declared
position and size against the file before the object is read, so a damaged length never turns
into a huge allocation, and give the trees as checked numpy columns.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import uproot

from ...errors import RootFormatError
from ...text import one_line
from .layout import BRANCHES, DEFAULT_DIRECTORY, INT32_MAX, NU2D_TREE, NU_TREE, REQUIRED, TREE_CLASSES, is_dump_object

__all__ = ["open_file", "locate", "check_key", "read_table"]

#: uproot's class versions as uproot defines them. Reading a file can add classes built from that
#: file's streamers to these process-wide tables, and a damaged file's streamers would then replace
#: the models every later file is read and written with (a histogram read afterwards could not be
#: written again); every file is read with the tables restored, and they are restored after it.
_MODEL_VERSIONS = {cls: dict(cls.known_versions) for cls in set(uproot.classes.values())
                   if isinstance(getattr(cls, "known_versions", None), dict)}

#: The most bytes a tree object, or an uncompressed basket, may declare before it is read.
_MAX_OBJECT_BYTES = 64 * 2**20
#: The most entries a tree may declare (far more than events x views of any dump).
_MAX_ENTRIES = 2**26
#: zlib's largest compression ratio (1032:1), so the largest a compressed object can expand to.
_MAX_EXPANSION = 1032


def _restore_models() -> None:
    for cls, versions in _MODEL_VERSIONS.items():
        if cls.known_versions != versions:
            cls.known_versions.clear()
            cls.known_versions.update(versions)


@contextmanager
def open_file(path: str):
    """The ROOT file at ``path``, open for reading (RootFormatError if it is missing or not ROOT)."""
    if not Path(path).is_file():
        raise RootFormatError(f"{path}: no such file")
    _restore_models()
    try:
        file = uproot.open(path, custom_classes=dict(uproot.classes))
    except Exception as exc:  # uproot reports non-ROOT files with assorted exception types
        _restore_models()
        raise RootFormatError(f"{path}: not a readable ROOT file ({one_line(exc)})") from exc
    try:
        with file:
            yield file
    finally:
        _restore_models()


def _classnames(d) -> list[tuple[str, int, str]]:
    """(name, cycle, classname) of a directory's objects, highest cycle per name, in key order."""
    out: dict[str, tuple[int, str]] = {}
    for key, cls in d.iterclassnames(recursive=False, cycle=True):
        name, _, cycle = key.rpartition(";")
        cycle = int(cycle) if cycle.isdigit() else 0
        if name not in out or cycle > out[name][0]:
            out[name] = (cycle, cls)
    return [(name, c, cls) for name, (c, cls) in out.items()]


def locate(path: str, file, directory: str | None):
    """The directory holding the dump, its path in the file ("" for the top level) and its objects
    as (name, cycle, classname)."""
    top = _classnames(file)
    if directory is not None:
        where = directory.strip("/")
        if not where:
            return file, "", top
        try:
            d = file[where]
        except Exception as exc:
            raise RootFormatError(f"{path}: no directory {where!r} ({one_line(exc)})") from exc
        if not isinstance(d, uproot.ReadOnlyDirectory):
            raise RootFormatError(f"{path}: {where!r} is not a directory")
        return d, where, _classnames(d)
    dirs = [name for name, _, cls in top if cls == "TDirectory"]
    if DEFAULT_DIRECTORY in dirs:
        d = file[DEFAULT_DIRECTORY]
        return d, DEFAULT_DIRECTORY, _classnames(d)
    if any(is_dump_object(name, cls) for name, _, cls in top):
        return file, "", top
    holding = []
    for name in dirs:
        objects = _classnames(file[name])
        if any(is_dump_object(n, c) for n, _, c in objects):
            holding.append((name, objects))
    if len(holding) == 1:
        name, objects = holding[0]
        return file[name], name, objects
    if len(holding) > 1:
        raise RootFormatError(
            f"{path}: several directories hold dump objects ({', '.join(n for n, _ in holding)}); "
            f"pass directory= to choose one"
        )
    listing = ", ".join(f"{n} ({c})" for n, _, c in top[:10]) or "nothing"
    raise RootFormatError(
        f"{path}: holds no vertex dump: expected histograms event_<E>_run_<R>_subrun_<S>_plane_<P>_raw and "
        f"trees {NU_TREE!r}, {NU2D_TREE!r} in directory {DEFAULT_DIRECTORY!r}, at the top level or in a single "
        f"top-level directory; found {listing}"
    )


def _file_size(path: str) -> int:
    return Path(path).stat().st_size


def check_key(path: str, d, key: str, what: str, max_bytes: int) -> None:
    """An object's key must point inside the file and declare no more than ``max_bytes`` (checked
    before the object is read, so a damaged length never turns into a huge allocation)."""
    k = d.key(key)
    size = _file_size(path)
    if not (0 <= k.fSeekKey and k.fNbytes > 0 and k.fSeekKey + k.fNbytes <= size):
        raise RootFormatError(f"{path}: {what} lies at bytes {k.fSeekKey}..{k.fSeekKey + k.fNbytes}, outside the "
                              f"file's {size} (damaged key)")
    if not 0 <= k.fObjlen <= min(max_bytes, max(k.fNbytes, 1) * _MAX_EXPANSION):
        raise RootFormatError(f"{path}: {what} declares {k.fObjlen} bytes ({k.fNbytes} stored), more than it can "
                              f"hold (damaged key)")


def _check_baskets(path: str, tree, name: str, branches) -> None:
    """Every basket of the branches to read must lie inside the file and declare a sane size."""
    size = _file_size(path)
    if not 0 <= tree.num_entries <= _MAX_ENTRIES:
        raise RootFormatError(f"{path}: tree {name!r} declares {tree.num_entries} entries (damaged tree)")
    for b in branches:
        br = tree[b]
        n = br.num_baskets
        nbytes = np.asarray(br.member("fBasketBytes"), dtype=np.int64)[:n]
        seek = np.asarray(br.member("fBasketSeek"), dtype=np.int64)[:n]
        if len(nbytes) < n or len(seek) < n or np.any(nbytes < 0) or np.any(seek < 0) or np.any(seek + nbytes > size):
            raise RootFormatError(f"{path}: tree {name!r} branch {b!r} declares baskets outside the file's {size} "
                                  f"bytes (damaged tree)")
        for i in range(n):
            k = br.basket_key(i)
            if not 0 <= k.fObjlen <= min(_MAX_OBJECT_BYTES, max(k.fNbytes, 1) * _MAX_EXPANSION):
                raise RootFormatError(f"{path}: tree {name!r} branch {b!r} basket {i} declares {k.fObjlen} bytes "
                                      f"({k.fNbytes} stored; damaged tree)")


def read_table(path: str, d, name: str, cls: str) -> dict[str, np.ndarray]:
    """The branches of dump tree ``name`` the file has, as checked numpy columns of one number per entry."""
    if cls not in TREE_CLASSES:
        raise RootFormatError(f"{path}: {name!r} is a {cls}, expected a TTree")
    try:
        check_key(path, d, name, f"tree {name!r}", _MAX_OBJECT_BYTES)
        tree = d[name]
        present = [b for b in BRANCHES[name] if b in tree.keys()]
        missing = [b for b in REQUIRED[name] if b not in present]
        if missing:
            raise RootFormatError(
                f"{path}: tree {name!r} lacks branches {missing}; it has {list(tree.keys())}"
            )
        _check_baskets(path, tree, name, present)
        arrays = tree.arrays(present, library="np")
    except RootFormatError:
        raise
    except Exception as exc:
        raise RootFormatError(f"{path}: cannot read tree {name!r} ({one_line(exc)})") from exc
    out = {}
    for b in present:
        a = np.asarray(arrays[b])
        if a.ndim != 1 or a.dtype.kind not in "iuf":
            raise RootFormatError(f"{path}: tree {name!r} branch {b!r} must hold one number per entry; "
                                  f"it holds {a.dtype} with shape {a.shape}")
        if np.dtype(BRANCHES[name][b]).kind == "i" and a.dtype.kind == "f":
            bad = ~np.isfinite(a) | (a != np.round(a)) | (np.abs(a) > INT32_MAX)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise RootFormatError(f"{path}: tree {name!r} branch {b!r} entry {i} is {float(a[i])!r}, "
                                      f"expected a whole number")
            a = a.astype(np.int64)
        out[b] = a
    lengths = {len(a) for a in out.values()}
    if len(lengths) > 1:
        raise RootFormatError(f"{path}: tree {name!r} branches have different lengths {sorted(lengths)}")
    return out
