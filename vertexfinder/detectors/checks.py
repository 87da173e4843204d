"""Checks that a detector's geometry can be real, run on every Detector once it is built.

The schema (:mod:`._schema`) checks each number a description declares; these check what the
numbers make together:

* **No two drift volumes overlap.** Two TPC boxes may share a face (a cathode plane, an anode's
  wire plane seen from both sides, neighbouring anodes placed edge to edge) but not a volume:
  boxes that overlap by more than :data:`TOLERANCE_CM` along all three axes are refused (two
  anodes placed at the same ``z_cm``, a drift length reaching past the next anode, a cathode
  beyond an anode of a wires file).
* **No two wire planes of a TPC at one place.** The planes of a Wire-Cell wires file's face sit
  at their own x (0.3-0.5 cm apart in the built-in files); two of them closer than
  :data:`TOLERANCE_CM` are refused. (A parametric description has no plane positions: it puts a
  face's planes at the face's x, and refuses planes with parallel wires.)

There is no cryostat check: neither schema describes a cryostat or world volume (a wires file
holds only the wires), so "inside the cryostat" has nothing to be checked against.

Every refusal is a :class:`~vertexfinder.errors.DetectorSchemaError` on one line naming the
description (its file), the TPCs or planes and the values that place them.

May import: ``vertexfinder.errors``.
"""

from __future__ import annotations

import numpy as np

from ..errors import DetectorSchemaError

__all__ = ["TOLERANCE_CM", "check_geometry", "check_volumes", "check_plane_positions"]

#: How far (cm) two TPC volumes may overlap, and how close two wire planes of one TPC may be: 0.1 mm,
#: the rounding of positions in wires files (0.01-0.1 mm), far below a wire pitch or a plane gap (3 mm).
TOLERANCE_CM = 0.01


def check_geometry(detector) -> None:
    """:func:`check_volumes` and :func:`check_plane_positions` of a built Detector."""
    check_volumes(detector)
    check_plane_positions(detector)


def _where(detector) -> str:
    spec = detector.spec
    where = f"detector description {spec.source or '<dict>'}"
    return where if detector.wires_file is None else f"{where} (wires file {detector.wires_file})"


def _placement(detector, tpc) -> str:
    """What places a TPC, in the description's own keys."""
    spec = detector.spec
    if detector.wires_file is None:
        a = spec.anodes[tpc.anode]
        return (f"TPC {tpc.index} (anode {tpc.anode} at center_cm={[float(v) for v in a.center_cm]}, "
                f"{'-x' if tpc.side < 0 else '+x'} side, drift_cm={[float(v) for v in a.drift_cm]})")
    return (f"TPC {tpc.index} (the file's anode #{tpc.anode}, face ident {tpc.face}, wires at x = "
            f"{tpc.anode_x_cm:.4g} cm, cathode at x = {tpc.cathode_x_cm:.4g} cm)")


def check_volumes(detector) -> None:
    """Refuse TPC boxes that overlap by more than :data:`TOLERANCE_CM` along x, y and z.

    Boxes are swept along the axis they spread most along, so a grid of thousands of anodes is
    checked in about (TPCs x neighbours) comparisons.
    """
    tpcs = detector.tpcs
    if len(tpcs) < 2:
        return
    boxes = np.array([t.box for t in tpcs], dtype=np.float64).reshape(-1, 3, 2)
    lo, hi = boxes[:, :, 0], boxes[:, :, 1]
    axis = int(np.argmax(hi.max(axis=0) - lo.min(axis=0)))
    order = np.argsort(lo[:, axis], kind="stable")
    lo, hi = lo[order], hi[order]
    starts = lo[:, axis]
    for i in range(len(order) - 1):
        # only boxes starting before this one ends (less the tolerance) can overlap it along the sweep axis
        end = int(np.searchsorted(starts, hi[i, axis] - TOLERANCE_CM, side="left"))
        if end <= i + 1:
            continue
        depth = np.minimum(hi[i], hi[i + 1 : end]) - np.maximum(lo[i], lo[i + 1 : end])  # (candidates, 3)
        hit = np.flatnonzero((depth > TOLERANCE_CM).all(axis=1))
        if hit.size:
            j = i + 1 + int(hit[0])
            a, b = sorted((tpcs[order[i]], tpcs[order[j]]), key=lambda t: t.index)
            d = depth[hit[0]]
            raise DetectorSchemaError(
                f"{_where(detector)}: {_placement(detector, a)} and {_placement(detector, b)} overlap by "
                f"{d[0]:.4g} x {d[1]:.4g} x {d[2]:.4g} cm (x, y, z); two drift volumes cannot share a volume "
                f"(sharing a face is fine; tolerance {TOLERANCE_CM} cm)")


def check_plane_positions(detector) -> None:
    """Refuse two wire planes of one TPC closer than :data:`TOLERANCE_CM` in x (wires files only:
    parametric descriptions place a face's planes at the face by construction)."""
    if detector.wires_file is None:
        return
    for t in detector.tpcs:
        planes = sorted(t.planes, key=lambda p: p.x_cm)
        for p, q in zip(planes, planes[1:]):
            if q.x_cm - p.x_cm < TOLERANCE_CM:
                raise DetectorSchemaError(
                    f"{_where(detector)}: the file's anode #{t.anode}, face ident {t.face}, has planes {p.plane} "
                    f"(ident {p.index}) and {q.plane} (ident {q.index}) both at x = {p.x_cm:.4f} cm "
                    f"({q.x_cm - p.x_cm:.4g} cm apart); two wire planes cannot be at one place "
                    f"(tolerance {TOLERANCE_CM} cm)")
