"""Reading ROOT dumps in the historical layout (:mod:`.layout`) with uproot.

:func:`read_dump` yields a :class:`DumpEntry` per event (a malformed event carries its error and
the others are still read; an event whose 2D truth does not meet in 3D keeps its images and says
why its truth was dropped); :func:`dump_metadata` is what a dump written by this package records
of its detector, and :func:`dump_mapper` the ImageMapper a dump is read with; :func:`dump_events`
is the event reader of :data:`vertexfinder.io.formats.FORMATS` (a ``.root`` input).

Values are checked when read (:mod:`.layout`); every key and basket is checked against the file
before it is read (:mod:`.file`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...detectors import DEFAULT_DETECTOR, get_detector
from ...encoding import th2c_to_bytes
from ...errors import BadEventError, GeometryError, RootFormatError
from ...records import (
    DEFAULT_DRIFT_WINDOW,
    FLAG_HADRONIC,
    FLAG_NU_PRIMARY,
    VERTEX_KINDS,
    EventRecord,
    PlaneImage,
    TruthVertex,
)
from ...text import one_line
from ..descriptions import description_differences, detector_from_description
from .file import check_key, locate, open_file, read_table
from .layout import (
    HIST_CLASS,
    HIST_RE,
    INT32_MAX,
    INTERACTION_NAME,
    METADATA_FORMAT,
    METADATA_NAME,
    NU2D_TREE,
    NU_TREE,
    TREES,
    TRUTH_FLAGS_SHIFT,
    TRUTH_INDEX_MASK,
    TRUTH_MAX_FLAGS,
    VERTEX_TREE,
    hist_name,
)

__all__ = ["DumpEntry", "read_dump", "dump_metadata", "dump_mapper", "dump_events"]


@dataclass(frozen=True)
class DumpEntry:
    """One event of a dump as read.

    Attributes:
        run, subrun, event: event ids (subrun -1 when only a tree without fSubRun names the event).
        record: the event, or None if it is malformed.
        error: why the event could not be read (names the file, the ids and the problem), else None.
        truth_dropped: why the event's truth was dropped, its images kept (its 2D vertex positions
            do not meet in 3D), else None.
    """

    run: int
    subrun: int
    event: int
    record: EventRecord | None
    error: str | None = None
    truth_dropped: str | None = None

    @property
    def ids(self) -> tuple[int, int, int]:
        return self.run, self.subrun, self.event


class _Bad(Exception):
    """One event's problem; becomes a DumpEntry error."""


class _TruthApart(Exception):
    """An event's 2D truth positions that do not meet in 3D: the truth is dropped, the images kept."""


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
    """Events of a ROOT dump in the historical layout (:mod:`.layout`), in file order.

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
    """The metadata a dump written by this package records (:mod:`.layout`), or None (a
    historical dump, or one written before dumps recorded it).

    Raises:
        RootFormatError: the file is not a readable dump, or its metadata is malformed.
    """
    path = str(path)
    with open_file(path) as file:
        try:
            d, where, objects = locate(path, file, directory)
            found = [(n, c, cls) for n, c, cls in objects if n == METADATA_NAME]
            if not found:
                return None
            name, cycle, cls = found[0]
            if cls != "TObjString":
                raise RootFormatError(f"{path}: {METADATA_NAME!r} is a {cls}, expected a TObjString")
            check_key(path, d, f"{name};{cycle}", f"{METADATA_NAME!r}", 2**20)
            text = str(d[f"{name};{cycle}"])
        except RootFormatError:
            raise
        except Exception as exc:
            raise RootFormatError(f"{path}: cannot read {METADATA_NAME!r} ({one_line(exc)})") from exc
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RootFormatError(f"{path}: {METADATA_NAME!r} is not JSON ({exc})") from None
    if (not isinstance(meta, dict) or meta.get("format") != METADATA_FORMAT or not isinstance(meta.get("detector"), dict)
            or type(meta.get("drift_window")) is not int or meta["drift_window"] < 1
            or not isinstance(meta.get("pooling"), str)):
        raise RootFormatError(f"{path}: {METADATA_NAME!r} is not this package's dump metadata: {text[:120]!r}")
    return meta


def dump_mapper(path, *, detector=None, drift_window=None, pooling=None):
    """The ImageMapper to read a ROOT dump with.

    A dump written by this package records its detector, drift window and pooling; what is not
    given is taken from there (else ``dune-fd-1x2x6``, 6, "max", what historical dumps were made
    with). What is given must agree with what the dump records (the same geometry, under any name).

    Raises:
        RootFormatError: the given detector, drift window or pooling differ from the recorded ones.
    """
    from ...mapper import ImageMapper

    meta = dump_metadata(path)
    if meta is None:
        return ImageMapper(DEFAULT_DETECTOR if detector is None else detector,
                           drift_window=DEFAULT_DRIFT_WINDOW if drift_window is None else drift_window,
                           pooling=pooling or "max")
    desc = meta["detector"]
    if detector is None:
        det = detector_from_description(desc, where=str(path), near=(Path(path).parent,), error=RootFormatError)
    else:
        det = get_detector(detector)
        differ = description_differences(det, desc)
        if differ:
            raise RootFormatError(
                f"{path}: made with detector {desc.get('name')!r}, which differs from the detector given "
                f"({det.name!r}) in {differ}; give that detector (its name or description file), or none"
            )
    for name, given in (("drift_window", drift_window), ("pooling", pooling)):
        if given is not None and given != meta[name]:
            raise RootFormatError(f"{path}: made with {name}={meta[name]!r}, not {given!r} as given")
    return ImageMapper(det, drift_window=meta["drift_window"], pooling=meta["pooling"])


def dump_events(path, *, detector=None, drift_window=None, pooling=None, report) -> Iterator[EventRecord]:
    """The events of the dump at ``path`` (read with :func:`dump_mapper`), in file order; a bad
    event is skipped and passed to ``report(message)``."""
    mapper = dump_mapper(path, detector=detector, drift_window=drift_window, pooling=pooling)
    for entry in read_dump(path, mapper=mapper):
        where = f"{path} run {entry.run} subrun {entry.subrun} event {entry.event}"
        if entry.record is None:
            report(f"skipped {where}: {entry.error}")
        else:
            if entry.truth_dropped is not None:
                report(f"truth dropped {where}: {entry.truth_dropped}")
            yield entry.record


def _scan(path: str, mapper, directory: str | None) -> _Index:
    with open_file(path) as file:
        try:
            d, where, objects = locate(path, file, directory)
            tables = {
                name: read_table(path, d, name, cls) for name, _, cls in objects if name in TREES
            }
        except RootFormatError:
            raise
        except Exception as exc:  # a damaged key list or directory
            raise RootFormatError(f"{path}: cannot read the file's directory ({one_line(exc)})") from exc
    events: dict[tuple[int, int, int], _Event] = {}
    for name, cycle, cls in objects:
        m = HIST_RE.match(name)
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
    with open_file(index.path) as file:
        d = file[index.directory] if index.directory else file
        for ids, ev in index.events.items():
            where = f"{index.path}: run {ids[0]} subrun {ids[1]} event {ids[2]}"
            try:
                record, dropped = _build_record(d, ev, index, mapper)
            except (_Bad, BadEventError, GeometryError) as exc:
                yield DumpEntry(*ids, record=None, error=f"{where}: {exc}")
            else:
                yield DumpEntry(*ids, record=record, truth_dropped=dropped)
    for ids, msg in index.orphans:
        yield DumpEntry(*ids, record=None, error=msg)


def _build_record(d, ev: _Event, index: _Index, mapper) -> tuple[EventRecord, str | None]:
    """The event's record, and why its truth was dropped (None: it was not)."""
    if ev.problems:
        raise _Bad("; ".join(ev.problems))
    if max(ev.ids) > INT32_MAX:
        raise _Bad(f"ids {ev.ids} do not fit in a 32-bit ROOT Int_t (<= {INT32_MAX})")
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
    dropped = None
    if not -1 <= tpc < n_tpc:
        raise _Bad(f"tree {NU_TREE!r} has fTpc={tpc}, expected -1 (unknown) or a TPC of {mapper.detector.name} "
                   f"(0..{n_tpc - 1})")
    if code not in (-1, *INTERACTION_NAME):
        raise _Bad(f"tree {NU_TREE!r} has fInteraction={code}, expected 0 (CC), 1 (NC) or -1 (unknown)")
    if cryo != 0:
        raise _Bad(f"tree {NU_TREE!r} has fCryo={cryo}, expected 0 ({mapper.detector.name} has one cryostat)")
    if not (math.isnan(energy) or (math.isfinite(energy) and energy >= 0)):
        raise _Bad(f"tree {NU_TREE!r} has fEnergy={energy!r} GeV, expected a finite value >= 0 or NaN (unknown)")

    if VERTEX_TREE in tables:
        vertices = _vertices_from_tree(tables[VERTEX_TREE], ev.rows.get(VERTEX_TREE, []), mapper)
    elif ev.rows.get(NU2D_TREE):
        try:
            vertices = (_primary_from_2d(tables[NU2D_TREE], ev.rows[NU2D_TREE], tpc, nu_pdg, mapper),)
        except _TruthApart as exc:
            vertices, dropped = (), f"{exc}; the event is kept without its truth vertex"
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
        nu_pdg=nu_pdg, interaction=INTERACTION_NAME.get(code, ""), energy_gev=energy, tpc=tpc,
    ), dropped


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
    if cls != HIST_CLASS[what]:
        raise _Bad(f"{name!r} is a {cls}, expected a {HIST_CLASS[what]}")
    try:
        # at most the whole view's bins (with under/overflow) as 4-byte values, plus the object's own fields
        n_w, n_d = mapper.shape(p)
        check_key(str(d.file.file_path), d, key, f"histogram {name!r}", (n_w + 2) * (n_d + 2) * 4 + 2**16)
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
    index = (values & TRUTH_INDEX_MASK) - 1
    flags = values >> TRUTH_FLAGS_SHIFT
    if index.size and index.max() >= len(vertices):
        raise _Bad(f"plane {p} ({view}) truth map points to vertex {index.max()} but the event has "
                   f"{len(vertices)} vertices")
    has = index >= 0
    expected = np.array([v.flags & TRUTH_MAX_FLAGS for v in vertices], dtype=np.int64)
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
    if np.any((flags < 0) | (flags > TRUTH_MAX_FLAGS)):
        raise _Bad(f"tree {VERTEX_TREE!r} has vertex flags {flags.tolist()}, expected 0..{TRUTH_MAX_FLAGS}")
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
        raise _TruthApart(f"tree {NU2D_TREE!r}: cannot back-project the 2D vertex {points}: {exc}") from exc
    tolerance = 3 * max(max(mapper.pixel_cm(v)) for v in views)
    if bp.residual_cm > tolerance:
        raise _TruthApart(f"tree {NU2D_TREE!r}: the 2D vertex positions {points} do not meet in 3D (residual "
                          f"{bp.residual_cm:.2f} cm > {tolerance:.2f} cm)")
    planes = mapper.project_points(bp.position_cm)[0]
    for v, view in enumerate(views):
        if view in points:  # keep the dumped positions, they are the labels
            planes[v] = points[view]
    return TruthVertex("interaction", bp.position_cm, flags=FLAG_NU_PRIMARY | FLAG_HADRONIC, planes=planes, pdg=nu_pdg)
