"""ROOT dumps in the historical layout, read and written with uproot (no PyROOT).

Layout. Everything sits in a directory named after
the dump module, ``vertexdump`` by default; reading also accepts the objects at
the top of the file or inside the file's single top-level directory.

``event_<E>_run_<R>_subrun_<S>_plane_<P>_raw`` (TH2C), one per event and view
    ``P`` is the view's index in ``mapper.views`` (the global-image plane).
    x axis: the crop's global wires, one unit-width bin per wire, edges
    ``origin_w .. origin_w + n_w``; y axis: its global drift pixels, edges
    ``origin_d .. origin_d + n_d``. ROOT bin ``(i + 1, j + 1)`` (bin 0 is the
    underflow, which stays empty) holds ``encoding.bytes_to_th2c(pixels)[i, j]``,
    the signed byte ``ADC - 123``. Bytes 0..250 round-trip exactly; bytes
    251..255 are written as 127 and come back as 250: the dump format saturates.
``event_<E>_run_<R>_subrun_<S>_plane_<P>_truth`` (TH2I), written when the
    plane has a truth map; same axes. Value 0: no truth; otherwise
    ``(vertex_index + 1) | (flags << 16)`` with ``flags`` the TruthVertex flags
    of that vertex. The historical maps held a PDG code in the low 16 bits;
    ours keep the vertex index, so walks can be trained toward the vertex the
    charge comes from. Read back as ``PlaneImage.truth = (value & 0xFFFF) - 1``.
    A file without a ``vertices`` tree is a historical dump: its truth maps
    mean something else and are not decoded (``truth`` stays None).
tree ``nu vertex``, one entry per event
    fRun, fSubRun, fEvent, fCryo (0), fTpc, fPdg (neutrino PDG),
    fInteraction (0 CC, 1 NC, -1 unknown) and, as an extension, fEnergy (GeV).
    fTpc is ``EventRecord.tpc``, or the primary vertex's TPC when the record
    says -1.
tree ``nu vertex 2d``, one entry per event that has a primary vertex, and view
    Views in the order 2, 1, 0. fRun, fSubRun, fEvent, fPlane (view index),
    fPosX (continuous local wire, wire ``i`` spans [i, i+1)) and fPosY (tick)
    of the primary vertex in the readout plane of TPC fTpc that has that view.
tree ``vertices`` (extension), one entry per truth vertex
    fRun, fSubRun, fEvent, fIndex, fKind (index in ``records.VERTEX_KINDS``),
    fFlags, fParent, fPdg, fX, fY, fZ (cm).
``vertexfinder`` (TObjString, extension): JSON ``{"format": "vertexfinder-dump", "version": 1,
    "detector": <description>, "drift_window": N, "pooling": "..."}``, the detector the images
    were made with (:func:`vertexfinder.store.detector_description`: the parametric description,
    or the wires file by path and SHA-256), so the dump reopens without being told its detector
    (:func:`dump_metadata`, :func:`vertexfinder.io.events.read_events`).

Historical ``nu vertex 2d`` trees may hold only fPlane, fPosX, fPosY: one entry per event and
plane, the planes of each event together (written 2, 1, 0), the events in the order of the
``nu vertex`` entries. Such a tree is matched to ``nu vertex`` by position and must have one
entry per view for each of its entries.

Values are checked when read: ids and other integer branches must hold whole numbers; fTpc must
be -1 or a TPC of the detector, fInteraction 0, 1 or -1, fCryo 0, fEnergy NaN (unknown) or a
finite non-negative value; truth positions must be finite and inside the detector (1 cm
tolerance); 2D positions finite. A bad value makes that event bad (skipped and reported), a
malformed branch the whole file.

Reading takes the truth from ``vertices`` when the tree exists (plane
projections recomputed with ``mapper.project_points``); otherwise it rebuilds
the primary vertex alone (kind "interaction", flags FLAG_NU_PRIMARY |
FLAG_HADRONIC) by back-projecting the ``nu vertex 2d`` positions. Historical
trees without fSubRun are matched to histograms by (run, event).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import uproot
from uproot.writing.identify import to_TAxis, to_TH2x

from ..encoding import bytes_to_th2c, th2c_to_bytes
from .atomic import atomic_output
from ..errors import BadEventError, GeometryError, RootFormatError
from ..text import one_line
from ..records import FLAG_HADRONIC, FLAG_NU_PRIMARY, VERTEX_KINDS, EventRecord, PlaneImage, TruthVertex

__all__ = ["DumpEntry", "read_dump", "write_dump", "dump_metadata", "DEFAULT_DIRECTORY", "METADATA_NAME"]

#: Directory of the dump module's objects (the framework names it after the module label).
DEFAULT_DIRECTORY = "vertexdump"

#: Name of the TObjString holding the dump's metadata (detector description, drift window, pooling).
METADATA_NAME = "vertexfinder"
_METADATA_FORMAT = "vertexfinder-dump"

NU_TREE = "nu vertex"
NU2D_TREE = "nu vertex 2d"
VERTEX_TREE = "vertices"
_TREES = (NU_TREE, NU2D_TREE, VERTEX_TREE)
_TREE_CLASSES = ("TTree", "ROOT::RNTuple")

_HIST_RE = re.compile(r"^event_(\d+)_run_(\d+)_subrun_(\d+)_plane_(\d+)_(raw|truth)$")
_HIST_CLASS = {"raw": "TH2C", "truth": "TH2I"}

_INTERACTION_CODE = {"CC": 0, "NC": 1, "": -1}
_INTERACTION_NAME = {0: "CC", 1: "NC"}

# Truth map encoding: (vertex index + 1) in the low bits, that vertex's flags above.
_TRUTH_INDEX_MASK = 0xFFFF
_TRUTH_FLAGS_SHIFT = 16
_TRUTH_MAX_FLAGS = 0x7FFF  # keeps the int32 bin content non-negative

_INT32_MAX = 2**31 - 1

_NU_BRANCHES = {
    "fRun": np.int32, "fSubRun": np.int32, "fEvent": np.int32, "fCryo": np.int32, "fTpc": np.int32,
    "fPdg": np.int32, "fInteraction": np.int32, "fEnergy": np.float64,
}
_NU2D_BRANCHES = {
    "fRun": np.int32, "fSubRun": np.int32, "fEvent": np.int32, "fPlane": np.int32,
    "fPosX": np.float64, "fPosY": np.float64,
}
_VERTEX_BRANCHES = {
    "fRun": np.int32, "fSubRun": np.int32, "fEvent": np.int32, "fIndex": np.int32, "fKind": np.int32,
    "fFlags": np.int32, "fParent": np.int32, "fPdg": np.int32, "fX": np.float64, "fY": np.float64, "fZ": np.float64,
}
_BRANCHES = {NU_TREE: _NU_BRANCHES, NU2D_TREE: _NU2D_BRANCHES, VERTEX_TREE: _VERTEX_BRANCHES}
#: Branches a file must have to be read; the others have defaults (historical trees lack fSubRun, fEnergy).
_REQUIRED = {
    NU_TREE: ("fRun", "fEvent"),
    NU2D_TREE: ("fPlane", "fPosX", "fPosY"),  # without fRun/fEvent: matched to NU_TREE by position
    VERTEX_TREE: ("fRun", "fEvent", "fIndex", "fKind", "fFlags", "fParent", "fX", "fY", "fZ"),
}


def hist_name(run: int, subrun: int, event: int, plane: int, what: str = "raw") -> str:
    """Name of a plane histogram: ``event_<E>_run_<R>_subrun_<S>_plane_<P>_<raw|truth>``."""
    return f"event_{event}_run_{run}_subrun_{subrun}_plane_{plane}_{what}"


@dataclass(frozen=True)
class DumpEntry:
    """One event of a dump as read.

    Attributes:
        run, subrun, event: event ids (subrun -1 when only a tree without fSubRun names the event).
        record: the event, or None if it is malformed.
        error: why the event could not be read (names the file, the ids and the problem), else None.
    """

    run: int
    subrun: int
    event: int
    record: EventRecord | None
    error: str | None = None

    @property
    def ids(self) -> tuple[int, int, int]:
        return self.run, self.subrun, self.event


# ----------------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------------
def write_dump(path, records: Iterable[EventRecord], *, mapper, directory: str | None = DEFAULT_DIRECTORY) -> int:
    """Write EventRecords as a ROOT dump in the historical layout (module docstring).

    The file is written under a temporary name in the target folder and renamed onto
    ``path`` only when complete, so ``path`` never holds a partial dump; if ``records``
    raises, nothing is left behind.

    Args:
        path: output file.
        records: iterable of EventRecords made with ``mapper``'s detector and drift window.
        mapper: the ImageMapper of the records (geometry for the 2D vertex tree).
        directory: directory of the objects inside the file; "" or None for the top level.

    Returns:
        The number of events written.

    Raises:
        BadEventError: a record that does not fit the mapper or the format (other detector,
            crop outside the global image, duplicate ids, truth index without vertex, ...).
    """
    from ..store import detector_description

    prefix = f"{directory.strip('/')}/" if directory and directory.strip("/") else ""
    meta = {"format": _METADATA_FORMAT, "version": 1, "detector": detector_description(mapper.detector),
            "drift_window": mapper.drift_window, "pooling": mapper.pooling}
    with atomic_output(path) as tmp, uproot.recreate(tmp) as file:
        file[prefix + METADATA_NAME] = json.dumps(meta, sort_keys=True)
        rows = {name: {b: [] for b in branches} for name, branches in _BRANCHES.items()}
        seen: set[tuple[int, int, int]] = set()
        n = 0
        for rec in records:
            _write_event(file, prefix, rec, mapper, rows, seen)
            n += 1
        for name in _TREES:
            types = _BRANCHES[name]
            tree = file.mktree(prefix + name, dict(types))
            if rows[name]["fRun"]:
                tree.extend({b: np.asarray(v, dtype=types[b]) for b, v in rows[name].items()})
    return n


def _write_event(file, prefix, rec: EventRecord, mapper, rows, seen) -> None:
    where = f"run {rec.run} subrun {rec.subrun} event {rec.event}"
    views = mapper.views
    if rec.detector != mapper.detector.name or rec.drift_window != mapper.drift_window:
        raise BadEventError(
            f"{where}: record is for detector {rec.detector!r} with drift_window={rec.drift_window}, "
            f"but the mapper is {mapper.detector.name!r} with drift_window={mapper.drift_window}"
        )
    if max(rec.ids) > _INT32_MAX:
        raise BadEventError(f"{where}: ids must fit in a 32-bit ROOT Int_t (<= {_INT32_MAX})")
    if rec.ids in seen:
        raise BadEventError(f"{where}: written twice (run, subrun, event must be unique in a dump)")
    seen.add(rec.ids)
    if tuple(p.view for p in rec.planes) != tuple(views):
        raise BadEventError(
            f"{where}: planes {[p.view for p in rec.planes]} do not match the detector views {list(views)}"
        )
    n_vtx = len(rec.vertices)
    flags = np.array([v.flags for v in rec.vertices], dtype=np.int64)
    if n_vtx >= _TRUTH_INDEX_MASK:
        raise BadEventError(f"{where}: {n_vtx} vertices; the truth map encoding holds at most {_TRUTH_INDEX_MASK - 1}")
    if n_vtx and (flags.min() < 0 or flags.max() > _TRUTH_MAX_FLAGS):
        raise BadEventError(f"{where}: vertex flags must lie in 0..{_TRUTH_MAX_FLAGS}; Received: {flags.tolist()}")
    if rec.interaction not in _INTERACTION_CODE:
        raise BadEventError(f"{where}: interaction must be 'CC', 'NC' or ''; Received: {rec.interaction!r}")

    truths = []
    for p, plane in enumerate(rec.planes):
        w0, w1, d0, d1 = plane.extent
        shape = mapper.shape(p)
        if w0 < 0 or d0 < 0 or w1 > shape[0] or d1 > shape[1]:
            raise BadEventError(
                f"{where}: plane {p} ({plane.view}) crop wires {w0}..{w1}, drift {d0}..{d1} "
                f"lies outside the global image {shape}"
            )
        title = f"event {rec.event} run {rec.run} subrun {rec.subrun} view {plane.view}"
        file[prefix + hist_name(*rec.ids, p, "raw")] = _th2(bytes_to_th2c(plane.pixels), plane.origin, title, np.int8)
        if plane.truth is not None:
            t = plane.truth.astype(np.int64)
            if t.size and (t.min() < -1 or t.max() >= n_vtx):
                raise BadEventError(
                    f"{where}: plane {p} ({plane.view}) truth map holds vertex indices {t.min()}..{t.max()}, "
                    f"expected -1..{n_vtx - 1}"
                )
            value = np.zeros(t.shape, dtype=np.int32)
            has = t >= 0
            value[has] = ((t[has] + 1) | (flags[t[has]] << _TRUTH_FLAGS_SHIFT)).astype(np.int32)
            truths.append((p, value, plane.origin, title))
    for p, value, origin, title in truths:
        file[prefix + hist_name(*rec.ids, p, "truth")] = _th2(value, origin, title + " truth", np.int32)

    primary = rec.primary
    projections = []
    if primary is not None:
        projections = [mapper.project(primary.position_cm, v) for v in reversed(range(len(views)))]
        if projections[0].tpc < 0:
            projections = []  # outside every TPC: no local wire/tick to write
    tpc = rec.tpc
    if projections:
        if tpc < 0:
            tpc = projections[0].tpc
        elif tpc != projections[0].tpc:
            raise BadEventError(
                f"{where}: record says TPC {rec.tpc} but its primary vertex {primary.position_cm.tolist()} cm "
                f"lies in TPC {projections[0].tpc}"
            )
    _append(rows[NU_TREE], fRun=rec.run, fSubRun=rec.subrun, fEvent=rec.event, fCryo=0, fTpc=tpc,
            fPdg=rec.nu_pdg, fInteraction=_INTERACTION_CODE[rec.interaction], fEnergy=rec.energy_gev)
    for proj in projections:
        _append(rows[NU2D_TREE], fRun=rec.run, fSubRun=rec.subrun, fEvent=rec.event,
                fPlane=views.index(proj.view), fPosX=proj.wire, fPosY=proj.tick)
    for i, v in enumerate(rec.vertices):
        x, y, z = v.position_cm
        _append(rows[VERTEX_TREE], fRun=rec.run, fSubRun=rec.subrun, fEvent=rec.event, fIndex=i,
                fKind=VERTEX_KINDS.index(v.kind), fFlags=v.flags, fParent=v.parent, fPdg=v.pdg, fX=x, fY=y, fZ=z)


def _append(columns: dict, **values) -> None:
    for name, value in values.items():
        columns[name].append(value)


def _th2(values: np.ndarray, origin: tuple[int, int], title: str, dtype) -> object:
    """A writable TH2C (int8 values) or TH2I (int32) with unit bins starting at ``origin``."""
    nx, ny = values.shape
    w0, d0 = origin
    # ROOT stores (nx + 2) x (ny + 2) cells with under/overflow, x fastest.
    cells = np.zeros((nx + 2, ny + 2), dtype=dtype)
    cells[1:-1, 1:-1] = values
    w = values.astype(np.float64)
    xc = w0 + 0.5 + np.arange(nx)
    yc = d0 + 0.5 + np.arange(ny)
    wx, wy = w.sum(axis=1), w.sum(axis=0)
    return to_TH2x(
        fName=None,
        fTitle=title,
        data=cells.T.reshape(-1),
        fEntries=float(nx * ny),
        fTsumw=float(w.sum()),
        fTsumw2=float((w**2).sum()),
        fTsumwx=float(wx @ xc),
        fTsumwx2=float(wx @ xc**2),
        fTsumwy=float(wy @ yc),
        fTsumwy2=float(wy @ yc**2),
        fTsumwxy=float(xc @ w @ yc),
        fSumw2=None,
        fXaxis=to_TAxis(fName="xaxis", fTitle="global wire", fNbins=nx, fXmin=float(w0), fXmax=float(w0 + nx)),
        fYaxis=to_TAxis(fName="yaxis", fTitle="global drift pixel", fNbins=ny, fXmin=float(d0), fXmax=float(d0 + ny)),
    )


# ----------------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------------
class _Bad(Exception):
    """One event's problem; becomes a DumpEntry error."""


@dataclass
class _Event:
    ids: tuple[int, int, int]
    hists: dict = field(default_factory=dict)  # (what, plane) -> (key with cycle, classname)
    rows: dict = field(default_factory=dict)  # tree name -> row indices
    problems: list = field(default_factory=list)


@dataclass
class _Index:
    path: str
    directory: str  # "" for the top level
    events: dict  # ids -> _Event, in file order
    orphans: list  # (ids, message) for tree rows without histograms
    tables: dict  # tree name -> {branch: array}


def read_dump(path, *, mapper, detector_name: str | None = None, directory: str | None = None) -> Iterator[DumpEntry]:
    """Events of a ROOT dump in the historical layout (module docstring), in file order.

    The file's keys and trees are read at once (so a bad file fails here); histograms are
    read while iterating. A malformed event comes back as a DumpEntry with ``record=None``
    and ``error`` naming the file, the event and the problem; iteration goes on.

    Args:
        path: the ROOT file.
        mapper: ImageMapper of the detector and drift window the dump was made with.
        detector_name: kept for callers that pass it; must be the mapper's detector name (the
            records carry the mapper's Detector).
        directory: where the dump objects are; None looks in "vertexdump", then at the top
            level, then in the single top-level directory that holds dump objects.

    Raises:
        RootFormatError: the file cannot be opened, is not ROOT, or holds no dump.
    """
    index = _scan(str(path), mapper, directory)
    if detector_name is not None and detector_name != mapper.detector.name:
        raise ValueError(f"detector_name {detector_name!r} differs from the mapper's detector {mapper.detector.name!r}")
    return _iter_entries(index, mapper)


def dump_metadata(path, *, directory: str | None = None) -> dict | None:
    """The metadata a dump written by this package records (module docstring), or None (a
    historical dump, or one written before dumps recorded it).

    Raises:
        RootFormatError: the file is not a readable dump, or its metadata is malformed.
    """
    path = str(path)
    with _open(path) as file:
        try:
            d, where, objects = _locate(path, file, directory)
            found = [(n, c, cls) for n, c, cls in objects if n == METADATA_NAME]
            if not found:
                return None
            name, cycle, cls = found[0]
            if cls != "TObjString":
                raise RootFormatError(f"{path}: {METADATA_NAME!r} is a {cls}, expected a TObjString")
            _check_key(path, d, f"{name};{cycle}", f"{METADATA_NAME!r}", 2**20)
            text = str(d[f"{name};{cycle}"])
        except RootFormatError:
            raise
        except Exception as exc:
            raise RootFormatError(f"{path}: cannot read {METADATA_NAME!r} ({one_line(exc)})") from exc
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RootFormatError(f"{path}: {METADATA_NAME!r} is not JSON ({exc})") from None
    if (not isinstance(meta, dict) or meta.get("format") != _METADATA_FORMAT or not isinstance(meta.get("detector"), dict)
            or type(meta.get("drift_window")) is not int or meta["drift_window"] < 1
            or not isinstance(meta.get("pooling"), str)):
        raise RootFormatError(f"{path}: {METADATA_NAME!r} is not this package's dump metadata: {text[:120]!r}")
    return meta


#: uproot's class versions as uproot defines them. Reading a file can add classes built from that
#: file's streamers to these process-wide tables, and a damaged file's streamers would then replace
#: the models every later file is read and written with (a histogram read afterwards could not be
#: written again); every file is read with the tables restored, and they are restored after it.
_MODEL_VERSIONS = {cls: dict(cls.known_versions) for cls in set(uproot.classes.values())
                   if isinstance(getattr(cls, "known_versions", None), dict)}


def _restore_models() -> None:
    for cls, versions in _MODEL_VERSIONS.items():
        if cls.known_versions != versions:
            cls.known_versions.clear()
            cls.known_versions.update(versions)


@contextmanager
def _open(path: str):
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


def _is_dump_object(name: str, cls: str) -> bool:
    return bool(_HIST_RE.match(name)) or (name in _TREES and cls in _TREE_CLASSES)


def _locate(path: str, file, directory: str | None):
    """The directory holding the dump and its objects."""
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
    if any(_is_dump_object(name, cls) for name, _, cls in top):
        return file, "", top
    holding = []
    for name in dirs:
        objects = _classnames(file[name])
        if any(_is_dump_object(n, c) for n, _, c in objects):
            holding.append((name, objects))
    if len(holding) == 1:
        name, objects = holding[0]
        return file[name], name, objects
    if len(holding) > 1:
        raise RootFormatError(
            f"{path}: several directories hold dump objects ({', '.join(n for n, _ in holding)}); "
            f"pass directory= to choose one"
        )
    shown = ", ".join(f"{n} ({c})" for n, _, c in top[:10]) or "nothing"
    raise RootFormatError(
        f"{path}: holds no vertex dump: expected histograms event_<E>_run_<R>_subrun_<S>_plane_<P>_raw and "
        f"trees {NU_TREE!r}, {NU2D_TREE!r} in directory {DEFAULT_DIRECTORY!r}, at the top level or in a single "
        f"top-level directory; found {shown}"
    )


#: The most bytes a tree object, or an uncompressed basket, may declare before it is read.
_MAX_OBJECT_BYTES = 64 * 2**20
#: The most entries a tree may declare (far more than events x views of any dump).
_MAX_ENTRIES = 2**26
#: zlib's largest compression ratio (1032:1), so the largest a compressed object can expand to.
_MAX_EXPANSION = 1032


def _file_size(path: str) -> int:
    return Path(path).stat().st_size


def _check_key(path: str, d, key: str, what: str, max_bytes: int) -> None:
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


def _read_table(path: str, d, name: str, cls: str) -> dict[str, np.ndarray]:
    if cls not in _TREE_CLASSES:
        raise RootFormatError(f"{path}: {name!r} is a {cls}, expected a TTree")
    try:
        _check_key(path, d, name, f"tree {name!r}", _MAX_OBJECT_BYTES)
        tree = d[name]
        present = [b for b in _BRANCHES[name] if b in tree.keys()]
        missing = [b for b in _REQUIRED[name] if b not in present]
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
        if np.dtype(_BRANCHES[name][b]).kind == "i" and a.dtype.kind == "f":
            bad = ~np.isfinite(a) | (a != np.round(a)) | (np.abs(a) > _INT32_MAX)
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


def _scan(path: str, mapper, directory: str | None) -> _Index:
    with _open(path) as file:
        try:
            d, where, objects = _locate(path, file, directory)
            tables = {
                name: _read_table(path, d, name, cls) for name, _, cls in objects if name in _TREES
            }
        except RootFormatError:
            raise
        except Exception as exc:  # a damaged key list or directory
            raise RootFormatError(f"{path}: cannot read the file's directory ({one_line(exc)})") from exc
    events: dict[tuple[int, int, int], _Event] = {}
    for name, cycle, cls in objects:
        m = _HIST_RE.match(name)
        if not m:
            continue
        e, r, s, p, what = int(m[1]), int(m[2]), int(m[3]), int(m[4]), m[5]
        ev = events.setdefault((r, s, e), _Event((r, s, e)))
        ev.hists[(what, p)] = (f"{name};{cycle}", cls)
    _match_nu2d_by_position(path, tables, len(mapper.views))
    orphans = []
    by_run_event: dict[tuple[int, int], list] = {}
    for ids in events:
        by_run_event.setdefault((ids[0], ids[2]), []).append(ids)
    for name, table in tables.items():
        orphans.extend(_assign_rows(path, name, table, events, by_run_event))
    # A tree row for an event without histograms is reported once per event.
    unique, seen = [], set()
    for ids, msg in orphans:
        if ids not in seen:
            seen.add(ids)
            unique.append((ids, msg))
    return _Index(path, where, events, unique, tables)


def _match_nu2d_by_position(path: str, tables: dict, n_views: int) -> None:
    """Give a historical ``nu vertex 2d`` tree without ids the ids of the ``nu vertex`` entries: its
    entries come in groups of one per view, in the order of the ``nu vertex`` entries."""
    nu2d = tables.get(NU2D_TREE)
    if nu2d is None or ("fRun" in nu2d and "fEvent" in nu2d):
        return
    if "fRun" in nu2d or "fEvent" in nu2d:
        raise RootFormatError(f"{path}: tree {NU2D_TREE!r} has only one of fRun and fEvent; it needs both, or "
                              f"neither (then its entries follow the {NU_TREE!r} entries, one per view)")
    nu = tables.get(NU_TREE)
    n = len(nu2d["fPlane"])
    if nu is None:
        raise RootFormatError(f"{path}: tree {NU2D_TREE!r} has no fRun/fEvent and there is no {NU_TREE!r} tree to "
                              f"match its {n} entries with")
    n_nu = len(nu["fRun"])
    if n != n_views * n_nu:
        raise RootFormatError(
            f"{path}: tree {NU2D_TREE!r} has no fRun/fEvent, so its entries are matched by position with the "
            f"{n_nu} entries of {NU_TREE!r}, one per view ({n_views}): that needs {n_views * n_nu} entries, it has {n}"
        )
    k = np.arange(n) // n_views
    ids = {b: nu[b][k] for b in ("fRun", "fSubRun", "fEvent") if b in nu}
    tables[NU2D_TREE] = {**nu2d, **ids}


def _assign_rows(path, name, table, events, by_run_event) -> list:
    runs, evs = table["fRun"].astype(np.int64), table["fEvent"].astype(np.int64)
    subs = table["fSubRun"].astype(np.int64) if "fSubRun" in table else None
    orphans = []
    for i in range(len(runs)):
        r, e = int(runs[i]), int(evs[i])
        if subs is not None:
            ids = (r, int(subs[i]), e)
            candidates = [ids] if ids in events else []
        else:
            ids = (r, -1, e)
            candidates = by_run_event.get((r, e), [])
        if len(candidates) == 1:
            events[candidates[0]].rows.setdefault(name, []).append(i)
        elif not candidates:
            orphans.append((ids, f"{path}: run {ids[0]} subrun {ids[1]} event {ids[2]}: tree {name!r} has an "
                                 f"entry for this event but the file has no plane histograms for it"))
        else:
            for c in candidates:
                msg = (f"tree {name!r} has no fSubRun and run {r} event {e} matches subruns "
                       f"{sorted(c[1] for c in candidates)}")
                if msg not in events[c].problems:
                    events[c].problems.append(msg)
    return orphans


def _iter_entries(index: _Index, mapper) -> Iterator[DumpEntry]:
    with _open(index.path) as file:
        d = file[index.directory] if index.directory else file
        for ids, ev in index.events.items():
            where = f"{index.path}: run {ids[0]} subrun {ids[1]} event {ids[2]}"
            try:
                record = _build_record(d, ev, index, mapper)
            except (_Bad, BadEventError, GeometryError) as exc:
                yield DumpEntry(*ids, record=None, error=f"{where}: {exc}")
            else:
                yield DumpEntry(*ids, record=record)
    for ids, msg in index.orphans:
        yield DumpEntry(*ids, record=None, error=msg)


def _build_record(d, ev: _Event, index: _Index, mapper) -> EventRecord:
    if ev.problems:
        raise _Bad("; ".join(ev.problems))
    if max(ev.ids) > _INT32_MAX:
        raise _Bad(f"ids {ev.ids} do not fit in a 32-bit ROOT Int_t (<= {_INT32_MAX})")
    views = mapper.views
    extra = sorted({p for _, p in ev.hists if p >= len(views)})
    if extra:
        raise _Bad(f"has histograms for planes {extra} but detector {mapper.detector.name} has "
                   f"{len(views)} views ({', '.join(views)})")
    tables = index.tables
    nu = _one_row(tables, ev, NU_TREE)
    tpc, nu_pdg, code, energy, cryo = -1, 0, -1, float("nan"), 0
    if nu is not None:
        t = tables[NU_TREE]
        tpc = int(t["fTpc"][nu]) if "fTpc" in t else -1
        nu_pdg = int(t["fPdg"][nu]) if "fPdg" in t else 0
        code = int(t["fInteraction"][nu]) if "fInteraction" in t else -1
        energy = float(t["fEnergy"][nu]) if "fEnergy" in t else float("nan")
        cryo = int(t["fCryo"][nu]) if "fCryo" in t else 0
    n_tpc = len(mapper.detector.tpcs)
    if not -1 <= tpc < n_tpc:
        raise _Bad(f"tree {NU_TREE!r} has fTpc={tpc}, expected -1 (unknown) or a TPC of {mapper.detector.name} "
                   f"(0..{n_tpc - 1})")
    if code not in (-1, *_INTERACTION_NAME):
        raise _Bad(f"tree {NU_TREE!r} has fInteraction={code}, expected 0 (CC), 1 (NC) or -1 (unknown)")
    if cryo != 0:
        raise _Bad(f"tree {NU_TREE!r} has fCryo={cryo}, expected 0 ({mapper.detector.name} has one cryostat)")
    if not (math.isnan(energy) or (math.isfinite(energy) and energy >= 0)):
        raise _Bad(f"tree {NU_TREE!r} has fEnergy={energy!r} GeV, expected a finite value >= 0 or NaN (unknown)")

    if VERTEX_TREE in tables:
        vertices = _vertices_from_tree(tables[VERTEX_TREE], ev.rows.get(VERTEX_TREE, []), mapper)
    elif ev.rows.get(NU2D_TREE):
        vertices = (_primary_from_2d(tables[NU2D_TREE], ev.rows[NU2D_TREE], tpc, nu_pdg, mapper),)
    else:
        vertices = ()

    planes = []
    for p, view in enumerate(views):
        pixels, origin = _read_hist(d, ev, "raw", p, view, mapper)
        truth = None
        if ("truth", p) in ev.hists and VERTEX_TREE in tables:
            values, t_origin = _read_hist(d, ev, "truth", p, view, mapper)
            if values.shape != pixels.shape or t_origin != origin:
                raise _Bad(f"plane {p} ({view}) truth map covers {values.shape} bins from {t_origin}, "
                           f"but the image covers {pixels.shape} from {origin}")
            truth = _decode_truth(values, vertices, p, view)
        planes.append(PlaneImage(view, pixels, origin, truth))
    return EventRecord(
        run=ev.ids[0], subrun=ev.ids[1], event=ev.ids[2], detector=mapper.detector,
        drift_window=mapper.drift_window, pooling=mapper.pooling, planes=planes, vertices=vertices,
        nu_pdg=nu_pdg, interaction=_INTERACTION_NAME.get(code, ""), energy_gev=energy, tpc=tpc,
    )


def _one_row(tables, ev: _Event, name: str) -> int | None:
    rows = ev.rows.get(name, [])
    if len(rows) > 1:
        raise _Bad(f"tree {name!r} has {len(rows)} entries for this event, expected one")
    return rows[0] if rows else None


def _read_hist(d, ev: _Event, what: str, p: int, view: str, mapper):
    """(values (wires, drift), origin) of one plane histogram, checked."""
    name = hist_name(*ev.ids, p, what)
    if (what, p) not in ev.hists:
        raise _Bad(f"plane {p} ({view}) histogram {name!r} is missing")
    key, cls = ev.hists[(what, p)]
    if cls != _HIST_CLASS[what]:
        raise _Bad(f"{name!r} is a {cls}, expected a {_HIST_CLASS[what]}")
    try:
        # at most the whole view's bins (with under/overflow) as 4-byte values, plus the object's own fields
        n_w, n_d = mapper.shape(p)
        _check_key(str(d.file.file_path), d, key, f"histogram {name!r}", (n_w + 2) * (n_d + 2) * 4 + 2**16)
        h = d[key]
        values = np.asarray(h.values(flow=False))
        xedges, yedges = h.axis(0).edges(), h.axis(1).edges()
    except RootFormatError as exc:  # a damaged key: this event only
        raise _Bad(str(exc).split(": ", 1)[1]) from exc
    except Exception as exc:  # a damaged object: this event only
        raise _Bad(f"cannot read {name!r} ({type(exc).__name__}: {one_line(exc)})") from exc
    w0 = _unit_axis(xedges, name, "x (global wire)")
    d0 = _unit_axis(yedges, name, "y (global drift pixel)")
    if values.shape != (len(xedges) - 1, len(yedges) - 1):
        raise _Bad(f"{name!r} holds {values.shape} bins but its axes have "
                   f"{(len(xedges) - 1, len(yedges) - 1)}")
    shape = mapper.shape(p)
    w1, d1 = w0 + values.shape[0], d0 + values.shape[1]
    if w0 < 0 or d0 < 0 or w1 > shape[0] or d1 > shape[1]:
        raise _Bad(f"{name!r} covers wires {w0}..{w1}, drift pixels {d0}..{d1}, outside the "
                   f"{mapper.detector.name} view {view} global image {shape} (wrong detector or drift window?)")
    if what == "raw":
        values = th2c_to_bytes(values)
    return values, (w0, d0)


def _unit_axis(edges: np.ndarray, name: str, axis: str) -> int:
    edges = np.asarray(edges, dtype=np.float64)
    lo = float(edges[0])
    if abs(lo - round(lo)) > 1e-6 or not np.allclose(edges, lo + np.arange(len(edges)), rtol=0, atol=1e-6):
        raise _Bad(f"{name!r} {axis} axis has {len(edges) - 1} bins over {lo:g}..{float(edges[-1]):g}; "
                   f"expected one unit-width bin per pixel starting at an integer")
    return int(round(lo))


def _decode_truth(values: np.ndarray, vertices, p: int, view: str) -> np.ndarray:
    values = values.astype(np.int64)
    if values.size and values.min() < 0:
        raise _Bad(f"plane {p} ({view}) truth map holds negative values (min {values.min()})")
    index = (values & _TRUTH_INDEX_MASK) - 1
    flags = values >> _TRUTH_FLAGS_SHIFT
    if index.size and index.max() >= len(vertices):
        raise _Bad(f"plane {p} ({view}) truth map points to vertex {index.max()} but the event has "
                   f"{len(vertices)} vertices")
    has = index >= 0
    expected = np.array([v.flags & _TRUTH_MAX_FLAGS for v in vertices], dtype=np.int64)
    if np.any(flags[has] != expected[index[has]]) or np.any(flags[~has] != 0):
        raise _Bad(f"plane {p} ({view}) truth map flags disagree with the flags of the vertices they point to")
    return index.astype(np.int16)


def _vertices_from_tree(table, rows, mapper) -> tuple[TruthVertex, ...]:
    if not rows:
        return ()
    rows = np.asarray(rows)
    rows = rows[np.argsort(table["fIndex"][rows], kind="stable")]
    index = table["fIndex"][rows].astype(np.int64)
    if not np.array_equal(index, np.arange(len(rows))):
        raise _Bad(f"tree {VERTEX_TREE!r} has vertex indices {index.tolist()}, expected 0..{len(rows) - 1} once each")
    kinds = table["fKind"][rows].astype(np.int64)
    if np.any((kinds < 0) | (kinds >= len(VERTEX_KINDS))):
        raise _Bad(f"tree {VERTEX_TREE!r} has vertex kinds {kinds.tolist()}, expected 0..{len(VERTEX_KINDS) - 1} "
                   f"({', '.join(VERTEX_KINDS)})")
    xyz = np.stack([table[b][rows].astype(np.float64) for b in ("fX", "fY", "fZ")], axis=1)
    _check_positions(xyz, mapper.detector, f"tree {VERTEX_TREE!r}")
    flags = table["fFlags"][rows].astype(np.int64)
    if np.any((flags < 0) | (flags > _TRUTH_MAX_FLAGS)):
        raise _Bad(f"tree {VERTEX_TREE!r} has vertex flags {flags.tolist()}, expected 0..{_TRUTH_MAX_FLAGS}")
    planes = mapper.project_points(xyz)
    pdg = table["fPdg"][rows] if "fPdg" in table else np.zeros(len(rows), dtype=np.int64)
    return tuple(
        TruthVertex(VERTEX_KINDS[kinds[i]], xyz[i], flags=int(table["fFlags"][r]), parent=int(table["fParent"][r]),
                    planes=planes[i], pdg=int(pdg[i]))
        for i, r in enumerate(rows)
    )


#: How far outside the TPCs' bounding box a truth vertex may lie (rounding of positions at the walls).
_POSITION_TOLERANCE_CM = 1.0


def _check_positions(xyz: np.ndarray, det, what: str) -> None:
    """Truth positions must be finite and inside the detector's bounding box."""
    finite = np.isfinite(xyz).all(axis=1)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise _Bad(f"{what} has vertex {i} at {xyz[i].tolist()} cm; positions must be finite")
    lo, hi = det.bounds_cm[:, 0] - _POSITION_TOLERANCE_CM, det.bounds_cm[:, 1] + _POSITION_TOLERANCE_CM
    out = ((xyz < lo) | (xyz > hi)).any(axis=1)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise _Bad(f"{what} has vertex {i} at {xyz[i].tolist()} cm, outside {det.name} "
                   f"(x {lo[0]:.1f}..{hi[0]:.1f}, y {lo[1]:.1f}..{hi[1]:.1f}, z {lo[2]:.1f}..{hi[2]:.1f} cm)")


def _primary_from_2d(table, rows, tpc: int, nu_pdg: int, mapper) -> TruthVertex:
    views = mapper.views
    n_tpc = len(mapper.detector.tpcs)
    if not 0 <= tpc < n_tpc:
        raise _Bad(f"tree {NU2D_TREE!r} gives the vertex in TPC-local coordinates but tree {NU_TREE!r} gives "
                   f"no valid TPC (fTpc={tpc}, detector has TPCs 0..{n_tpc - 1})")
    points = {}
    for r in rows:
        p = int(table["fPlane"][r])
        if not 0 <= p < len(views):
            raise _Bad(f"tree {NU2D_TREE!r} has fPlane={p}, expected 0..{len(views) - 1}")
        if views[p] in points:
            raise _Bad(f"tree {NU2D_TREE!r} has several entries for plane {p}")
        wire, tick = float(table["fPosX"][r]), float(table["fPosY"][r])
        n_wires = mapper.tpc_plane(p, tpc).n_wires
        if not (math.isfinite(wire) and math.isfinite(tick) and -1 <= wire <= n_wires + 1
                and -mapper.detector.ticks_per_readout <= tick <= 2 * mapper.detector.ticks_per_readout):
            raise _Bad(f"tree {NU2D_TREE!r} has plane {p} position fPosX={wire!r}, fPosY={tick!r}: expected a wire "
                       f"in 0..{n_wires} of TPC {tpc} and a tick near the readout window 0..{mapper.detector.ticks_per_readout}")
        points[views[p]] = (float(mapper.wire_to_global(p, tpc, wire)), float(mapper.tick_to_global_drift(tpc, tick, p)))
    try:
        bp = mapper.backproject(points)
    except GeometryError as exc:
        raise _Bad(f"cannot back-project the 2D vertex {points}: {exc}") from exc
    tolerance = 3 * max(max(mapper.pixel_cm(v)) for v in views)
    if bp.residual_cm > tolerance:
        raise _Bad(f"the 2D vertex positions {points} do not meet in 3D (residual {bp.residual_cm:.2f} cm "
                   f"> {tolerance:.2f} cm)")
    planes = mapper.project_points(bp.position_cm)[0]
    for v, view in enumerate(views):
        if view in points:  # keep the dumped positions, they are the labels
            planes[v] = points[view]
    return TruthVertex("interaction", bp.position_cm, flags=FLAG_NU_PRIMARY | FLAG_HADRONIC, planes=planes, pdg=nu_pdg)
