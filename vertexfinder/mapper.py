"""The global-image mapper: the one place that converts between coordinates.

A multi-TPC detector is shown as one image per view (U, V, Z): axis 0 the
global wire, axis 1 the global drift pixel (``drift_window`` ticks each).

Wire axis. A view collects, from every TPC, the readout plane whose wires run
in the view's 3D direction (on a DUNE APA's other face that is the other
induction plane). The view's wire coordinate grows along one pitch direction
over the whole detector (``Detector.view_angle_rad``); a TPC plane whose wire
numbers grow the other way (the -x faces of DUNE APAs, one SBND TPC) is
flipped, so global wire ``offset + n - 1 - w`` holds its local wire ``w``.
Each TPC's plane sits at the offset ``round((zeta0 - min zeta0) / pitch)`` of
its lower edge, so top and bottom APAs overlap where their projections
overlap, as a true projection of 3D charge does.

Drift axis. Each TPC owns, in every view, a block of
``ceil(ticks_per_readout / drift_window)`` pixels oriented so that the drift
pixel grows with x (the -x side of an anode is flipped, so both drift volumes
of an APA have the anode in the middle). TPCs whose planes sit at the same x
and drift the same way share blocks. The blocks of one such column are placed
so that a point has the same global drift pixel (to rounding) in every view,
although each plane reads it at its own tick (planes at different x); columns
follow each other in x, separated by the physical distance between their wire
planes where the volumes are apart (the APA between its two faces) and
packed without a gap where the readout windows would overlap (volumes that
meet at a cathode).

Float coordinates: global wire ``g`` spans [g, g+1) with its centre at g+0.5;
drift pixel ``d`` spans [d, d+1). Everything here is derived from the detector
geometry; there are no tuned constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

from .detectors import Detector, get_detector
from .errors import BadEventError, GeometryError
from .imaging import pool_samples
from .records import DRIFT_POOLINGS

__all__ = ["ImageMapper", "Projection", "BackProjection"]


@dataclass(frozen=True)
class Projection:
    """A 3D point seen on one view.

    Attributes:
        view: view name.
        tpc: TPC containing the point (-1: outside every TPC, other fields NaN/-1).
        plane: readout plane name of that TPC that has this view.
        wire: continuous local wire coordinate (wire i spans [i, i+1)).
        channel: readout channel of the wire hit (-1 outside the wire range).
        tick: tick at full resolution (float).
        global_wire, global_drift: continuous global-image coordinates.
    """

    view: str
    tpc: int
    plane: str
    wire: float
    channel: int
    tick: float
    global_wire: float
    global_drift: float


@dataclass(frozen=True)
class BackProjection:
    """3D point from 2D positions on several views.

    Attributes:
        position_cm: (x, y, z).
        tpc: TPC of the solution.
        residual_cm: RMS disagreement of the views (wire coordinates and drift) in cm.
        inside: whether the solution lies inside the TPC's active volume.
    """

    position_cm: np.ndarray
    tpc: int
    residual_cm: float
    inside: bool


class _OnePoint(NamedTuple):
    """A plane's maps for one point, in plain floats (:meth:`ImageMapper._one_point`)."""

    plane: object  # TPCPlane
    x_of: Callable[[float], float]  # global drift -> x (cm)
    drift_of: Callable[[float], float]  # x (cm) -> global drift
    wire_of: Callable[[float], float]  # global wire -> local wire coordinate
    global_of: Callable[[float], float]  # local wire coordinate -> global wire
    cos_a: float
    sin_a: float


def _least_squares_rows(rows, b) -> tuple[float, float]:
    """The least-squares solution of ``rows @ (u, v) = b`` for ``rows`` [(a0, a1)] of full rank and
    ``b`` [float]: the normal equations in closed form, in plain floats (the 3D fit's 2 or 3 views)."""
    a00 = sum(r[0] * r[0] for r in rows)
    a01 = sum(r[0] * r[1] for r in rows)
    a11 = sum(r[1] * r[1] for r in rows)
    b0 = sum(r[0] * v for r, v in zip(rows, b))
    b1 = sum(r[1] * v for r, v in zip(rows, b))
    det = a00 * a11 - a01 * a01
    return (a11 * b0 - a01 * b1) / det, (a00 * b1 - a01 * b0) / det


class ImageMapper:
    """Coordinates and global images of one detector at one drift window and pooling.

    Args:
        detector: a Detector, a built-in name or a description file.
        drift_window: ticks pooled into one drift pixel.
        pooling: "max", "mean" or "mean-around-max".
    """

    def __init__(self, detector: Detector | str, *, drift_window: int = 6, pooling: str = "max"):
        self.detector = get_detector(detector)
        if int(drift_window) != drift_window or drift_window < 1:
            raise ValueError(f"drift_window must be a positive integer; Received: drift_window={drift_window!r}")
        if pooling not in DRIFT_POOLINGS:
            raise ValueError(f"pooling must be one of {DRIFT_POOLINGS}; Received: pooling={pooling!r}")
        self.drift_window = int(drift_window)
        self.pooling = pooling
        det = self.detector
        self.views = det.views
        self.n_drift_block = math.ceil(det.ticks_per_readout / self.drift_window)
        self._plane_of = np.array([[next(i for i, p in enumerate(t.planes) if p.view == view) for t in det.tpcs]
                                   for view in self.views], dtype=np.int64)
        self._layout_drift()
        self._layout_wires()
        self._one_point_maps: dict = {}

    # -- layout -------------------------------------------------------------------------
    def _layout_drift(self) -> None:
        det = self.detector
        px = self.drift_pixel_cm
        n = self.n_drift_block
        n_views = len(self.views)
        columns: dict[tuple, list[int]] = {}
        for t in det.tpcs:
            key = (tuple(round(t.planes[self._plane_of[v, t.index]].x_cm, 4) for v in range(n_views)), t.side)
            columns.setdefault(key, []).append(t.index)

        def block_lo(key):  # x of each view's block's low edge (blocks run from the planes away from the anode)
            xs, side = key
            return np.array([x if side > 0 else x - n * px for x in xs])

        def centre(key):
            t = det.tpcs[columns[key][0]]
            return t.anode_x_cm + t.side * t.drift_cm / 2

        self._block_start = np.zeros((n_views, len(det.tpcs)), dtype=np.int64)
        self._flip = np.array([t.side < 0 for t in det.tpcs])
        end = np.full(n_views, -(10**12), dtype=np.int64)  # first free pixel of each view
        origin = None  # (pixel, x) of the previous column's frame
        for key in sorted(columns, key=centre):
            lo = block_lo(key)
            x0 = lo.min()
            shift = np.rint((lo - x0) / px).astype(np.int64)  # aligns the views of the column in x
            p0 = 0 if origin is None else origin[0] + int(round((x0 - origin[1]) / px))
            p0 = max(p0, int(np.max(end - shift)))  # never overlap the blocks already placed
            self._block_start[:, columns[key]] = (p0 + shift)[:, None]
            end = np.maximum(end, p0 + shift + n)
            origin = (p0, x0)
        self._block_start -= self._block_start.min()
        self._n_drift = int(self._block_start.max() + n)

    def _layout_wires(self) -> None:
        det = self.detector
        n_views, n_tpcs = len(self.views), len(det.tpcs)
        self._wire_offset = np.zeros((n_views, n_tpcs), dtype=np.int64)
        self._wire_flip = np.zeros((n_views, n_tpcs), dtype=bool)
        self._tpc_wires = np.zeros((n_views, n_tpcs), dtype=np.int64)
        self._n_wires = np.zeros(n_views, dtype=np.int64)
        for v in range(n_views):
            a_view = det.view_angle_rad(v)
            pitch = det.view_pitch_cm(v)
            lower = np.zeros(n_tpcs)  # the plane's lower edge in the view's wire coordinate
            for t in det.tpcs:
                p = self.tpc_plane(v, t.index)
                flip = math.cos(p.angle_rad - a_view) < 0
                self._wire_flip[v, t.index] = flip
                self._tpc_wires[v, t.index] = p.n_wires
                lower[t.index] = -(p.zeta0_cm + p.n_wires * p.pitch_cm) if flip else p.zeta0_cm
            self._wire_offset[v] = np.rint((lower - lower.min()) / pitch).astype(np.int64)
            self._n_wires[v] = int(np.max(self._wire_offset[v] + self._tpc_wires[v]))

    # -- basic facts ------------------------------------------------------------------------
    @property
    def drift_pixel_cm(self) -> float:
        return self.detector.cm_per_tick * self.drift_window

    def view_index(self, view: str | int) -> int:
        return self.detector.view_index(view)

    def _view(self, view) -> int:
        """View index; None means the collection view (the default of the drift-axis methods)."""
        return self.view_index(self.detector.collection_view if view is None else view)

    def shape(self, view: str | int) -> tuple[int, int]:
        """(global wires, global drift pixels) of a view's global image."""
        return int(self._n_wires[self.view_index(view)]), int(self._n_drift)

    def pixel_cm(self, view: str | int) -> tuple[float, float]:
        """Physical size (wire pitch, drift pixel length) of a global-image pixel in cm."""
        return self.detector.view_pitch_cm(view), self.drift_pixel_cm

    def tpc_plane(self, view: str | int, tpc: int):
        """The TPCPlane of ``tpc`` that belongs to ``view``."""
        v = self.view_index(view)
        return self.detector.tpcs[tpc].planes[self._plane_of[v, tpc]]

    def plane_index(self, view: str | int, tpc):
        """Readout plane index (in ``Detector.tpcs[tpc].planes``) of ``view`` in ``tpc`` (vectorised over tpc)."""
        return self._plane_of[self.view_index(view), self._check_tpc(tpc)]

    def wire_offset(self, view: str | int, tpc: int) -> int:
        """First global wire of the TPC's plane in ``view``: its wires occupy [offset, offset + n_wires).

        Local wire ``w`` is at global wire ``offset + w``, or ``offset + n_wires - 1 - w`` where the
        plane is flipped (:meth:`wire_flipped`); :meth:`wire_to_global` does either.
        """
        return int(self._wire_offset[self.view_index(view), tpc])

    def wire_flipped(self, view: str | int, tpc: int) -> bool:
        """Whether the TPC's plane in ``view`` has its local wire numbers running against the global wires."""
        return bool(self._wire_flip[self.view_index(view), tpc])

    def drift_block(self, tpc: int, view: str | int | None = None) -> tuple[int, int, bool]:
        """(first global drift pixel, pixels, flipped) of a TPC's drift block in ``view`` (default: collection)."""
        return int(self._block_start[self._view(view), tpc]), self.n_drift_block, bool(self._flip[tpc])

    def _check_tpc(self, tpc) -> np.ndarray:
        tpc = np.asarray(tpc, dtype=np.int64)
        if np.any((tpc < 0) | (tpc >= len(self.detector.tpcs))):
            bad = tpc[(tpc < 0) | (tpc >= len(self.detector.tpcs))].ravel()[0]
            raise GeometryError(f"{self.detector.name}: TPC {bad} does not exist (0..{len(self.detector.tpcs) - 1})")
        return tpc

    # -- integer round trips -------------------------------------------------------------------
    def to_global(self, view, tpc, wire, tick):
        """(tpc, local wire, tick) -> (global wire, global drift pixel), integers, vectorised."""
        v = self.view_index(view)
        tpc = self._check_tpc(tpc)
        wire = np.asarray(wire, dtype=np.int64)
        tick = np.asarray(tick, dtype=np.int64)
        n_w = self._tpc_wires[v, tpc]
        if np.any((wire < 0) | (wire >= n_w)):
            raise GeometryError(f"{self.detector.name} view {self.views[v]}: wire out of range in {wire!r}")
        if np.any((tick < 0) | (tick >= self.detector.ticks_per_readout)):
            raise GeometryError(
                f"{self.detector.name}: tick out of range 0..{self.detector.ticks_per_readout - 1} in {tick!r}"
            )
        j = tick // self.drift_window
        start = self._block_start[v, tpc]
        gd = np.where(self._flip[tpc], start + self.n_drift_block - 1 - j, start + j)
        gw = self._wire_offset[v, tpc] + np.where(self._wire_flip[v, tpc], n_w - 1 - wire, wire)
        return gw, gd

    def to_local(self, view, global_wire, global_drift, tpc):
        """(global wire, global drift pixel) -> (local wire, first tick of the pixel) in ``tpc``."""
        v = self.view_index(view)
        tpc = self._check_tpc(tpc)
        gw = np.asarray(global_wire, dtype=np.int64)
        gd = np.asarray(global_drift, dtype=np.int64)
        n_w = self._tpc_wires[v, tpc]
        k = gw - self._wire_offset[v, tpc]
        wire = np.where(self._wire_flip[v, tpc], n_w - 1 - k, k)
        start = self._block_start[v, tpc]
        j = np.where(self._flip[tpc], start + self.n_drift_block - 1 - gd, gd - start)
        if np.any((k < 0) | (k >= n_w) | (j < 0) | (j >= self.n_drift_block)):
            raise GeometryError(
                f"{self.detector.name} view {self.views[v]}: pixel ({global_wire}, {global_drift}) is not in TPC {tpc}"
            )
        return wire, j * self.drift_window

    def tpcs_at(self, view, global_wire: int, global_drift: int) -> list[int]:
        """TPCs whose plane in ``view`` covers a global pixel (several where TPCs overlap in projection)."""
        v = self.view_index(view)
        k = global_wire - self._wire_offset[v]
        s = self._block_start[v]
        inside = (k >= 0) & (k < self._tpc_wires[v]) & (s <= global_drift) & (global_drift < s + self.n_drift_block)
        return [int(t) for t in np.flatnonzero(inside)]

    # -- continuous coordinates --------------------------------------------------------------------
    def wire_to_global(self, view, tpc, wire):
        """Continuous local wire coordinate of ``tpc``'s plane in ``view`` -> continuous global wire."""
        v = self.view_index(view)
        tpc = self._check_tpc(tpc)
        w = np.asarray(wire, dtype=np.float64)
        return self._wire_offset[v, tpc] + np.where(self._wire_flip[v, tpc], self._tpc_wires[v, tpc] - w, w)

    def global_to_wire(self, view, tpc, global_wire):
        """Inverse of wire_to_global."""
        v = self.view_index(view)
        tpc = self._check_tpc(tpc)
        k = np.asarray(global_wire, dtype=np.float64) - self._wire_offset[v, tpc]
        return np.where(self._wire_flip[v, tpc], self._tpc_wires[v, tpc] - k, k)

    def tick_to_global_drift(self, tpc, tick, view=None):
        """Continuous tick of ``tpc``'s plane in ``view`` (default: collection) -> continuous global drift."""
        tpc = np.asarray(tpc, dtype=np.int64)
        u = np.asarray(tick, dtype=np.float64) / self.drift_window
        start = self._block_start[self._view(view), tpc]
        return np.where(self._flip[tpc], start + self.n_drift_block - u, start + u)

    def global_drift_to_tick(self, tpc, global_drift, view=None):
        """Inverse of tick_to_global_drift."""
        tpc = np.asarray(tpc, dtype=np.int64)
        gd = np.asarray(global_drift, dtype=np.float64)
        start = self._block_start[self._view(view), tpc]
        u = np.where(self._flip[tpc], start + self.n_drift_block - gd, gd - start)
        return u * self.drift_window

    def wire_points(self, view, global_wire: float, global_drift: float, *, step_cm: float = 0.25) -> np.ndarray:
        """3D points (N, 3) cm of the wire under a global position at that position's drift time,
        ``step_cm`` apart along the wire, in every TPC whose plane in ``view`` covers it: the
        points one view's position can be on (another view's position picks one of them).

        The line is the wire's own (its pitch coordinate at the continuous wire position), within
        its segment and the TPC's active volume; an empty array where no TPC covers the position.
        """
        v = self.view_index(view)
        out = []
        for t in self.tpcs_at(v, int(math.floor(global_wire)), int(math.floor(global_drift))):
            m = self._one_point(v, t)
            plane, sa, ca = m.plane, m.sin_a, m.cos_a
            wire = m.wire_of(float(global_wire))
            wi = min(max(int(math.floor(wire)), 0), plane.n_wires - 1)
            zeta = plane._wire_to_zeta_one(wire)
            y_lo, y_hi, z_lo, z_hi = plane.segments[wi]
            # along the wire: (y, z) = zeta (sin a, cos a) + s (cos a, -sin a); s over the segment's box
            corners = [(y * ca - z * sa) for y in (y_lo, y_hi) for z in (z_lo, z_hi)]
            s = np.arange(min(corners), max(corners) + step_cm, step_cm)
            y, z = zeta * sa + s * ca, zeta * ca - s * sa
            tol = 0.5 * plane.pitch_cm
            x = m.x_of(float(global_drift))
            keep = ((y >= y_lo - tol) & (y <= y_hi + tol) & (z >= z_lo - tol) & (z <= z_hi + tol)
                    & self.detector.tpcs[t].contains(x, y, z))
            out.append(np.stack([np.full(int(keep.sum()), x), y[keep], z[keep]], axis=1))
        return np.concatenate(out) if out else np.zeros((0, 3))

    def project(self, xyz, view) -> Projection:
        """Project one 3D point (cm) onto a view. Outside every TPC: tpc = -1 and NaN coordinates.

        The tick is the one of the view's plane in that TPC (its own drift distance).
        """
        xyz = np.asarray(xyz, dtype=np.float64).reshape(3)
        v = self.view_index(view)
        tpc = int(self.detector.tpc_of(xyz))
        if tpc < 0:
            nan = float("nan")
            return Projection(self.views[v], -1, "", nan, -1, nan, nan, nan)
        k = int(self._plane_of[v, tpc])
        plane = self.detector.tpcs[tpc].planes[k]
        wire = float(plane.wire_coordinate(xyz[1], xyz[2]))
        wi = int(math.floor(wire))
        channel = int(plane.channels[wi]) if 0 <= wi < plane.n_wires else -1
        tick = float(self.detector.drift_ticks(tpc, xyz[0], plane=k))
        return Projection(
            view=self.views[v], tpc=tpc, plane=plane.plane, wire=wire, channel=channel, tick=tick,
            global_wire=float(self.wire_to_global(v, tpc, wire)),
            global_drift=float(self.tick_to_global_drift(tpc, tick, v)),
        )

    def project_points(self, xyz) -> np.ndarray:
        """Global coordinates of many 3D points on every view: array (N, views, 2); NaN outside TPCs."""
        xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
        out = np.full((len(xyz), len(self.views), 2), np.nan)
        tpc = self.detector.tpc_of(xyz)
        for t in np.unique(tpc[tpc >= 0]):
            sel = tpc == t
            for v in range(len(self.views)):
                k = int(self._plane_of[v, t])
                plane = self.detector.tpcs[t].planes[k]
                out[sel, v, 0] = self.wire_to_global(v, t, plane.wire_coordinate(xyz[sel, 1], xyz[sel, 2]))
                out[sel, v, 1] = self.tick_to_global_drift(t, self.detector.drift_ticks(t, xyz[sel, 0], plane=k), v)
        return out

    def _one_point(self, v: int, t: int) -> _OnePoint:
        """The maps of TPC ``t``'s plane in view ``v`` between global and detector coordinates, in
        plain floats (:class:`_OnePoint`): one point's projection and 3D fit (built once per pair)."""
        got = self._one_point_maps.get((v, t))
        if got is not None:
            return got
        det = self.detector
        k = int(self._plane_of[v, t])
        plane = det.tpcs[t].planes[k]
        start, n, flip = float(self._block_start[v, t]), float(self.n_drift_block), bool(self._flip[t])
        window, plane_x, side = float(self.drift_window), float(det._plane_x(t, k)), float(det.tpcs[t].side)
        offset, per_tick = float(det.trigger_offset_ticks), float(det.cm_per_tick)
        w_offset, n_w, w_flip = float(self._wire_offset[v, t]), float(self._tpc_wires[v, t]), bool(self._wire_flip[v, t])

        def x_of(gd: float) -> float:  # global_drift_to_tick, then Detector.tick_to_x
            tick = ((start + n - gd) if flip else (gd - start)) * window
            return plane_x + side * (tick - offset) * per_tick

        def drift_of(x: float) -> float:  # Detector.drift_ticks, then tick_to_global_drift
            u = (offset + (x - plane_x) * side / per_tick) / window
            return start + n - u if flip else start + u

        def wire_of(gw: float) -> float:  # global_to_wire
            k_ = gw - w_offset
            return n_w - k_ if w_flip else k_

        def global_of(w: float) -> float:  # wire_to_global
            return w_offset + (n_w - w if w_flip else w)

        got = self._one_point_maps[(v, t)] = _OnePoint(plane, x_of, drift_of, wire_of, global_of,
                                                       math.cos(plane.angle_rad), math.sin(plane.angle_rad))
        return got

    def project_in(self, xyz, tpc: int) -> list[tuple[float, float]]:
        """(global wire, global drift) on every view of one 3D point (cm) in TPC ``tpc``, in plain
        floats: :meth:`project_points` for a point whose TPC is known (no volume check)."""
        x, y, z = (float(c) for c in xyz)
        out = []
        for v in range(len(self.views)):
            m = self._one_point(v, tpc)
            out.append((m.global_of(m.plane._wire_coordinate_one(y, z)), m.drift_of(x)))
        return out

    def backproject(self, points: dict) -> BackProjection:
        """One 3D point from continuous global coordinates on 2 or 3 views.

        Args:
            points: {view: (global_wire, global_drift)} for at least two views with different wire
                angles. Each view's drift gives an x through its own plane's position; x is fitted
                as the mean of the views' x, (y, z) by least squares of the wire coordinates.

        Returns:
            The candidate TPC solution with the smallest residual, preferring solutions inside
            their TPC. Raises GeometryError if no TPC covers all the given positions.
        """
        items = [(self.view_index(v), float(w), float(d)) for v, (w, d) in points.items()]
        angles = {round(self.detector.view_angle_rad(v), 9) for v, _, _ in items}
        if len(items) < 2 or len(angles) < 2:
            raise GeometryError("backproject needs positions on at least two views with different wire angles")
        best = None
        # the TPCs whose planes cover every position (vectorised: usually one or two remain)
        vi = np.array([v for v, _, _ in items])
        w_arr = np.array([w for _, w, _ in items])[:, None]
        d_arr = np.array([d for _, _, d in items])[:, None]
        lw = w_arr - self._wire_offset[vi]
        s = self._block_start[vi]
        covered = ((s - 1 <= d_arr) & (d_arr <= s + self.n_drift_block + 1) & (lw >= -1)
                   & (lw <= self._tpc_wires[vi] + 1)).all(axis=0)
        for ti in np.flatnonzero(covered).tolist():
            t = self.detector.tpcs[ti]
            xs, rows, planes, wires = [], [], [], []
            for v, w, d in items:
                m = self._one_point(v, ti)
                xs.append(m.x_of(d))
                wires.append(m.wire_of(w))
                rows.append((m.cos_a, m.sin_a))  # coefficients of (z, y)
                planes.append(m.plane)
            b = [p._wire_to_zeta_one(w) for p, w in zip(planes, wires)]
            z, y = _least_squares_rows(rows, b)
            for _ in range(4):  # wires-file planes: each wire's own line, not only the mean lattice
                miss = [w - p._wire_coordinate_one(y, z) for p, w in zip(planes, wires)]
                if max(abs(m) for m in miss) < 1e-8:  # converged (1e-8 wire: well under a nanometre)
                    break
                b = [r[0] * z + r[1] * y + m * p.pitch_cm for r, m, p in zip(rows, miss, planes)]
                z, y = _least_squares_rows(rows, b)
            # residuals in cm along each pitch, measured through the wires' own positions
            res = [p._wire_to_zeta_one(w) - p._wire_to_zeta_one(p._wire_coordinate_one(y, z))
                   for p, w in zip(planes, wires)]
            x = sum(xs) / len(xs)
            res += [xx - x for xx in xs]
            residual = math.sqrt(sum(r * r for r in res) / len(res))
            inside = bool(t.contains(x, y, z, tolerance_cm=1.0))
            key = (not inside, residual)
            if best is None or key < best[0]:
                best = (key, BackProjection(np.array([x, y, z]), t.index, residual, inside))
        if best is None:
            raise GeometryError(f"{self.detector.name}: no TPC covers all of {points}")
        return best[1]

    # -- building global images ------------------------------------------------------------------------
    def _place(self, image, v, tpc, wires, pooled):
        start, n, flip = self.drift_block(tpc, v)
        block = pooled[:, ::-1] if flip else pooled
        gw = self._wire_offset[v, tpc] + (self._tpc_wires[v, tpc] - 1 - wires if self._wire_flip[v, tpc] else wires)
        image[gw, start : start + n] += block

    def _pool(self, waveforms, tick_us, start_tick):
        det = self.detector
        tick_us = det.tick_us if tick_us is None else tick_us
        return pool_samples(
            waveforms, pooling=self.pooling, sample_us=tick_us, pixel_us=det.tick_us * self.drift_window,
            start_us=start_tick * det.tick_us, n_pixels=self.n_drift_block,
        )

    def image_from_tpcs(self, view, images: dict, *, tick_us: float | None = None, start_tick: int = 0) -> np.ndarray:
        """A view's global image (float32 ADC) from per-TPC wire images.

        Args:
            view: view name or index.
            images: {tpc: array (wires, samples)} with the wires of that TPC's plane in ``view``
                (all of them) and samples of period ``tick_us`` (default: the detector's tick).
            start_tick: detector tick at which sample 0 starts.
        """
        v = self.view_index(view)
        out = np.zeros(self.shape(v), dtype=np.float32)
        for tpc, img in images.items():
            tpc = int(self._check_tpc(tpc))
            img = np.asarray(img)
            n_w = self.tpc_plane(v, tpc).n_wires
            if img.ndim != 2 or img.shape[0] != n_w:
                raise BadEventError(
                    f"TPC {tpc} view {self.views[v]}: image must have shape ({n_w}, samples); Received: shape={img.shape}"
                )
            self._place(out, v, tpc, np.arange(n_w), self._pool(img, tick_us, start_tick))
        return out

    def images_from_frame(self, frame, channels, *, tick_us: float | None = None, start_tick: int = 0,
                          disambiguate: bool = False, threshold_adc: float = 10.0) -> list[np.ndarray]:
        """Global images of every view (float32 ADC) from a channel-indexed frame.

        Each channel's waveform is placed on every wire segment it reads, so wrapped induction
        channels put charge, and its ghosts, on all their segments, as real images have.

        Args:
            frame: array (rows, samples): one row per readout channel, samples of period
                ``tick_us`` (default: the detector's tick), sample 0 at detector tick ``start_tick``.
            channels: int array (rows,): the readout channel of each row.
            disambiguate: keep a wrapped segment's charge only at drift pixels where the
                collection plane of the same TPC has a pixel above ``threshold_adc`` on a
                collection wire the segment crosses, at the drift pixel(s) where the collection
                plane reads the same x (needs the collection channels in the frame).
        Returns:
            list of float32 arrays, one per view, each of ``shape(view)``.
        """
        det = self.detector
        frame = np.asarray(frame)
        channels = np.asarray(channels, dtype=np.int64).ravel()
        if frame.ndim != 2 or frame.shape[0] != len(channels):
            raise BadEventError(
                f"frame must have shape (channels, samples) with one row per channel id; "
                f"Received: frame shape={frame.shape}, {len(channels)} channel ids"
            )
        if len(channels) and (channels.min() < 0 or channels.max() >= det.n_channels):
            bad = channels[(channels < 0) | (channels >= det.n_channels)][0]
            raise BadEventError(f"{det.name}: channel {bad} out of range 0..{det.n_channels - 1}")
        if len(np.unique(channels)) != len(channels):
            raise BadEventError("frame has the same channel in more than one row")
        pooled = self._pool(frame, tick_us, start_tick)
        seg = det.segment_table()
        lo = np.searchsorted(seg["channel"], channels, side="left")
        hi = np.searchsorted(seg["channel"], channels, side="right")
        counts = hi - lo
        row = np.repeat(np.arange(len(channels)), counts)
        idx = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)]) if len(channels) else np.zeros(0, np.int64)
        s_tpc, s_plane, s_wire = seg["tpc"][idx], seg["plane"][idx], seg["wire"][idx]
        images = [np.zeros(self.shape(v), dtype=np.float32) for v in range(len(self.views))]
        coll = {}
        if disambiguate:
            cv = self.view_index(det.collection_view)
            for t in np.unique(s_tpc):
                sel = (s_tpc == t) & (np.array([det.tpcs[t].planes[k].collection for k in s_plane]) if len(s_plane) else False)
                plane = self.tpc_plane(cv, t)
                active = np.zeros((plane.n_wires, self.n_drift_block), dtype=bool)
                active[s_wire[sel]] = pooled[row[sel]] > threshold_adc
                coll[int(t)] = (plane, active)
        for t in np.unique(s_tpc):
            t = int(t)
            tpc = det.tpcs[t]
            for k, plane in enumerate(tpc.planes):
                sel = (s_tpc == t) & (s_plane == k)
                if not np.any(sel):
                    continue
                v = self.view_index(plane.view)
                wires, values = s_wire[sel], pooled[row[sel]]
                if disambiguate and plane.wrapped:
                    if t not in coll:
                        raise BadEventError(
                            f"disambiguation needs the collection channels of TPC {t} in the frame"
                        )
                    cplane, active = coll[t]
                    # the collection plane reads the same charge later or earlier by the drift
                    # between the two planes: look at the (one or two) pixels it lands in
                    lag = (plane.x_cm - cplane.x_cm) * tpc.side / det.cm_per_tick / self.drift_window
                    shifted = np.zeros_like(active)
                    for sh in {math.floor(lag), math.ceil(lag)}:
                        if sh >= 0:
                            shifted[:, : active.shape[1] - sh] |= active[:, sh:]
                        else:
                            shifted[:, -sh:] |= active[:, : active.shape[1] + sh]
                    cum = np.zeros((cplane.n_wires + 1, self.n_drift_block), dtype=np.int32)
                    np.cumsum(shifted, axis=0, out=cum[1:])
                    ends = plane.endpoints[wires]  # the collection wires the segment crosses
                    cw = cplane.wire_coordinate(ends[:, :, 1], ends[:, :, 2])
                    lo_w = np.clip(np.floor(cw.min(axis=1)), 0, cplane.n_wires).astype(int)
                    hi_w = np.clip(np.floor(cw.max(axis=1)) + 1, 0, cplane.n_wires).astype(int)
                    seen = (cum[hi_w] - cum[lo_w]) > 0
                    values = values * seen
                self._place(images[v], v, t, wires, values)
        return images
