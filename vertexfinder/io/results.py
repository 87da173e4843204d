"""The ``find`` result table: one row per vertex and plane, written as CSV or a ROOT TTree."""

from __future__ import annotations

from pathlib import Path

from .atomic import atomic_output

__all__ = ["FIND_COLUMNS", "vertex_rows", "write_rows"]

FIND_COLUMNS = ("run", "subrun", "event", "vertex", "kind", "score", "primary", "plane", "found", "tpc",
                "plane_index", "wire", "channel", "tick", "global_wire", "global_drift", "x_cm", "y_cm", "z_cm",
                "residual_cm")


def vertex_rows(event, vertices):
    """The ``find`` output rows (dicts with FIND_COLUMNS) of one event: one per vertex and plane.

    ``plane`` is the global view (U, V, Z); ``plane_index`` the readout plane of TPC ``tpc`` that
    holds it, numbered as LArSoft numbers the planes of a TPC (0, 1, 2 from the drift volume
    inward; on a DUNE APA's -x face the global V view is read by plane 0, that face's U wires),
    -1 where the TPC is unknown.
    """
    det = event.get_detector()
    rows = []
    for i, v in enumerate(vertices):
        xyz = v.position_cm if v.position_cm is not None else (float("nan"),) * 3
        for p, pv in enumerate(v.planes):
            if pv is None:
                continue
            rows.append({
                "plane_id": p, "run": event.run, "subrun": event.subrun, "event": event.event, "vertex": i, "kind": v.kind,
                "score": round(v.score, 5), "primary": int(v.primary), "plane": pv.view, "found": int(pv.found),
                "tpc": pv.tpc,
                "plane_index": det.tpcs[pv.tpc].plane_for_view(pv.view).index if pv.tpc >= 0 else -1,
                "wire": round(pv.wire, 3), "channel": pv.channel, "tick": round(pv.tick, 2),
                "global_wire": round(pv.global_wire, 3), "global_drift": round(pv.global_drift, 3),
                "x_cm": round(float(xyz[0]), 3), "y_cm": round(float(xyz[1]), 3), "z_cm": round(float(xyz[2]), 3),
                "residual_cm": round(v.residual_cm, 4),
            })
    return rows


def write_rows(rows, output) -> None:
    """Write find rows as CSV, or as a ROOT TTree ``vertices`` (uproot) for ``.root``; atomically."""
    with atomic_output(output) as tmp:
        if Path(output).suffix == ".root":
            import numpy as np
            import uproot

            from ..records import VERTEX_KINDS

            # TTree branches are numeric: kind and plane become ids (kind_id: VERTEX_KINDS order;
            # plane_id: index of the view in the detector's view order, plane_view: its letter code)
            cols = {}
            for c in FIND_COLUMNS:
                values = [r[c] for r in rows]
                if c == "kind":
                    cols["kind_id"] = np.array([VERTEX_KINDS.index(k) for k in values], dtype=np.int32)
                elif c == "plane":
                    cols["plane_view"] = np.array([ord(v[0]) for v in values], dtype=np.int32)
                elif c in ("score", "wire", "tick", "global_wire", "global_drift", "x_cm", "y_cm", "z_cm", "residual_cm"):
                    cols[c] = np.array(values, dtype=np.float64)
                else:
                    cols[c] = np.array(values, dtype=np.int64)
            cols["plane_id"] = np.array([r["plane_id"] for r in rows], dtype=np.int32)
            with uproot.recreate(tmp) as f:
                f["vertices"] = cols
        else:
            import csv

            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=FIND_COLUMNS, extrasaction="ignore")
                w.writeheader()
                w.writerows(rows)
