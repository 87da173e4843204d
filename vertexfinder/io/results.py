"""The ``find`` result table: one row per vertex and plane, written as CSV or a ROOT TTree."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from .atomic import atomic_output

__all__ = ["FIND_COLUMNS", "vertex_rows", "write_rows", "results_writer"]

FIND_COLUMNS = ("run", "subrun", "event", "slice", "vertex", "kind", "score", "primary", "plane", "found", "tpc",
                "plane_index", "wire", "channel", "tick", "global_wire", "global_drift", "x_cm", "y_cm", "z_cm",
                "residual_cm", "parent", "gap_cm", "cosmic")


def vertex_rows(event, vertices, slice_id: int = -1):
    """The ``find`` output rows (dicts with FIND_COLUMNS) of one event: one per vertex and plane.

    ``slice`` is the slice the vertices were found in (``find --per-slice``), -1 for the whole event.
    ``plane`` is the global view (U, V, Z); ``plane_index`` the readout plane of TPC ``tpc`` that
    holds it, numbered as LArSoft numbers the planes of a TPC (0, 1, 2 from the drift volume
    inward; on a DUNE APA's -x face the global V view is read by plane 0, that face's U wires),
    -1 where the TPC is unknown. ``parent`` is the ``vertex`` number (same event) of the vertex
    this one descends from, -1 for the primary and where none is known; ``gap_cm`` a conversion's
    3D distance from its parent (NaN otherwise).
    """
    det = event.get_detector()
    rows = []
    for i, v in enumerate(vertices):
        xyz = v.position_cm if v.position_cm is not None else (float("nan"),) * 3
        for p, pv in enumerate(v.planes):
            if pv is None:
                continue
            rows.append({
                "plane_id": p, "run": event.run, "subrun": event.subrun, "event": event.event, "slice": int(slice_id), "vertex": i, "kind": v.kind,
                "score": round(v.score, 5), "primary": int(v.primary), "plane": pv.view, "found": int(pv.found),
                "tpc": pv.tpc,
                "plane_index": det.tpcs[pv.tpc].plane_for_view(pv.view).index if pv.tpc >= 0 else -1,
                "wire": round(pv.wire, 3), "channel": pv.channel, "tick": round(pv.tick, 2),
                "global_wire": round(pv.global_wire, 3), "global_drift": round(pv.global_drift, 3),
                "x_cm": round(float(xyz[0]), 3), "y_cm": round(float(xyz[1]), 3), "z_cm": round(float(xyz[2]), 3),
                "residual_cm": round(v.residual_cm, 4), "parent": int(v.parent), "gap_cm": round(float(v.gap_cm), 3),
                "cosmic": int(v.cosmic),
            })
    return rows


def write_rows(rows, output) -> None:
    """Write find rows as CSV, or as a ROOT TTree ``vertices`` (uproot) for ``.root``; atomically."""
    with results_writer(output) as add:
        add(rows)


@contextmanager
def results_writer(output, *, basket_rows: int = 50_000):
    """``with results_writer(path) as add: add(rows)``: find rows written as they come (CSV, or a
    ROOT TTree ``vertices`` for ``.root``, filled ``basket_rows`` rows at a time), so a run over
    any number of events holds at most one basket in memory. The output appears when the block
    ends without an error (:func:`vertexfinder.io.atomic.atomic_output`); on an error or an
    interrupt nothing is written."""
    with atomic_output(output) as tmp:
        if Path(output).suffix == ".root":
            import uproot

            with uproot.recreate(tmp) as f:
                tree = f.mktree("vertices", _ROOT_TYPES)
                pending: list = []

                def add(rows):
                    pending.extend(rows)
                    if len(pending) >= basket_rows:
                        tree.extend(_root_columns(pending))
                        pending.clear()

                yield add
                if pending or tree.num_entries == 0:
                    tree.extend(_root_columns(pending))
        else:
            import csv

            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=FIND_COLUMNS, extrasaction="ignore")
                w.writeheader()
                yield w.writerows


#: The TTree's branches: numeric, so kind and plane become ids (kind_id: VERTEX_KINDS order; plane_id:
#: index of the view in the detector's view order, plane_view: its letter code).
_FLOATS = ("score", "wire", "tick", "global_wire", "global_drift", "x_cm", "y_cm", "z_cm", "residual_cm", "gap_cm")
_ROOT_TYPES = {("kind_id" if c == "kind" else "plane_view" if c == "plane" else c):
               ("int32" if c in ("kind", "plane") else "float64" if c in _FLOATS else "int64") for c in FIND_COLUMNS}
_ROOT_TYPES["plane_id"] = "int32"


def _root_columns(rows) -> dict:
    import numpy as np

    from ..records import VERTEX_KINDS

    cols = {}
    for c in FIND_COLUMNS:
        values = [r[c] for r in rows]
        if c == "kind":
            cols["kind_id"] = np.array([VERTEX_KINDS.index(k) for k in values], dtype=np.int32)
        elif c == "plane":
            cols["plane_view"] = np.array([ord(v[0]) for v in values], dtype=np.int32)
        else:
            cols[c] = np.array(values, dtype=_ROOT_TYPES[c])
    cols["plane_id"] = np.array([r["plane_id"] for r in rows], dtype=np.int32)
    return cols
