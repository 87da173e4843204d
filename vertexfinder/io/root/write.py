"""Writing ROOT dumps in the historical layout (:mod:`.layout`) with uproot.

:func:`write_dump` writes EventRecords made with one ImageMapper; :func:`events_to_dump` is the
event writer of :data:`vertexfinder.io.formats.FORMATS` (a ``.root`` output).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import uproot
from uproot.writing.identify import to_TAxis, to_TH2x

from ...encoding import bytes_to_th2c
from ...errors import BadEventError, InputError
from ...records import VERTEX_KINDS, EventRecord
from ..atomic import atomic_output
from ..descriptions import detector_description
from .layout import (
    BRANCHES,
    DEFAULT_DIRECTORY,
    INT32_MAX,
    INTERACTION_CODE,
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

__all__ = ["write_dump", "events_to_dump"]


def write_dump(path, records: Iterable[EventRecord], *, mapper, directory: str | None = DEFAULT_DIRECTORY) -> int:
    """Write EventRecords as a ROOT dump in the historical layout (:mod:`.layout`).

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
    prefix = f"{directory.strip('/')}/" if directory and directory.strip("/") else ""
    meta = {"format": METADATA_FORMAT, "version": 1, "detector": detector_description(mapper.detector),
            "drift_window": mapper.drift_window, "pooling": mapper.pooling}
    with atomic_output(path) as tmp, uproot.recreate(tmp) as file:
        file[prefix + METADATA_NAME] = json.dumps(meta, sort_keys=True)
        rows = {name: {b: [] for b in branches} for name, branches in BRANCHES.items()}
        seen: set[tuple[int, int, int]] = set()
        n = 0
        for rec in records:
            _write_event(file, prefix, rec, mapper, rows, seen)
            n += 1
        for name in TREES:
            types = BRANCHES[name]
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
    if max(rec.ids) > INT32_MAX:
        raise BadEventError(f"{where}: ids must fit in a 32-bit ROOT Int_t (<= {INT32_MAX})")
    if rec.ids in seen:
        raise BadEventError(f"{where}: written twice (run, subrun, event must be unique in a dump)")
    seen.add(rec.ids)
    if tuple(p.view for p in rec.planes) != tuple(views):
        raise BadEventError(
            f"{where}: planes {[p.view for p in rec.planes]} do not match the detector views {list(views)}"
        )
    n_vtx = len(rec.vertices)
    flags = np.array([v.flags for v in rec.vertices], dtype=np.int64)
    if n_vtx >= TRUTH_INDEX_MASK:
        raise BadEventError(f"{where}: {n_vtx} vertices; the truth map encoding holds at most {TRUTH_INDEX_MASK - 1}")
    if n_vtx and (flags.min() < 0 or flags.max() > TRUTH_MAX_FLAGS):
        raise BadEventError(f"{where}: vertex flags must lie in 0..{TRUTH_MAX_FLAGS}; Received: {flags.tolist()}")
    if rec.interaction not in INTERACTION_CODE:
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
            value[has] = ((t[has] + 1) | (flags[t[has]] << TRUTH_FLAGS_SHIFT)).astype(np.int32)
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
            fPdg=rec.nu_pdg, fInteraction=INTERACTION_CODE[rec.interaction], fEnergy=rec.energy_gev)
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


def events_to_dump(records, output, *, detector, drift_window: int, pooling: str, overwrite: bool = False) -> int:
    """Write EventRecords of ``detector`` (a Detector) as the dump ``output``; the number written."""
    from ...mapper import ImageMapper

    if Path(output).exists() and not overwrite:
        raise InputError(f"{output}: exists (use --overwrite)")
    return write_dump(output, records, mapper=ImageMapper(detector, drift_window=drift_window, pooling=pooling))
