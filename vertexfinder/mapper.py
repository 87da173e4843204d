"""The global-image mapper: the one place that converts between coordinates.

A multi-TPC detector is shown as one image per view (U, V, Z): axis 0 the
global wire, axis 1 the global drift pixel (``drift_window`` ticks each).

Wire axis. A view collects, from every TPC, the readout plane whose wires have
the view's angle in 3D (on a DUNE APA's -x face that is the readout V plane
for the U view). Its wire coordinate ``zeta = z cos(a) + y sin(a)`` is one
linear function over the whole detector, so each TPC's local wires sit at the
offset ``round((zeta0_tpc - min zeta0) / pitch)``. Top and bottom APAs overlap
where their projections overlap, as a true projection of 3D charge does.

Drift axis. Each TPC owns a block of ``ceil(ticks_per_readout / drift_window)``
pixels. Blocks are laid out in increasing x, each oriented so the drift pixel
grows with x (the -x side of an anode is flipped, so both drift volumes of an
APA have the anode in the middle), separated by the physical gap between them
(the APA thickness between the two faces of an anode; nothing between volumes
that meet at a cathode). TPCs at the same x share a block.

Float coordinates: global wire ``g`` spans [g, g+1) with its centre at g+0.5;
drift pixel ``d`` spans [d, d+1). Everything here is derived from the detector
description; there are no tuned constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .detectors import Detector, get_detector
from .errors import BadEventError, GeometryError
from .imaging import POOLINGS, pool_samples

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
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}; Received: pooling={pooling!r}")
        self.drift_window = int(drift_window)
        self.pooling = pooling
        det = self.detector
        self.views = det.views
        self.n_drift_block = math.ceil(det.ticks_per_readout / self.drift_window)
        self._layout_drift()
        self._layout_wires()

    # -- layout -------------------------------------------------------------------------
    def _layout_drift(self) -> None:
        det = self.detector
        px_cm = self.drift_pixel_cm
        columns: dict[tuple[float, int], list[int]] = {}
        for t in det.tpcs:
            columns.setdefault((round(t.anode_x_cm, 6), t.side), []).append(t.index)

        def extent(key):  # physical x range of the column's volume
            x_face, side = key
            drift = det.tpcs[columns[key][0]].drift_cm
            return (x_face, x_face + drift) if side > 0 else (x_face - drift, x_face)

        order = sorted(columns, key=lambda k: sum(extent(k)))
        self._block_start = np.zeros(len(det.tpcs), dtype=np.int64)
        self._flip = np.array([t.side < 0 for t in det.tpcs])
        cursor, prev_end = 0, None
        for key in order:
            x_lo, x_hi = extent(key)
            gap = 0 if prev_end is None else max(0, round((x_lo - prev_end) / px_cm))
            start = cursor + gap
            self._block_start[columns[key]] = start
            cursor, prev_end = start + self.n_drift_block, x_hi
        self._n_drift = cursor

    def _layout_wires(self) -> None:
        det = self.detector
        self._plane_of = np.zeros((len(self.views), len(det.tpcs)), dtype=np.int64)
        self._wire_offset = np.zeros((len(self.views), len(det.tpcs)), dtype=np.int64)
        self._n_wires = np.zeros(len(self.views), dtype=np.int64)
        for v, view in enumerate(self.views):
            members = []
            for t in det.tpcs:
                k = next(i for i, p in enumerate(t.planes) if p.view == view)
                self._plane_of[v, t.index] = k
                members.append(t.planes[k])
            pitches = {round(p.pitch_cm, 9) for p in members}
            if len(pitches) > 1:
                raise GeometryError(f"{det.name}: view {view} mixes wire pitches {sorted(pitches)}")
            pitch = members[0].pitch_cm
            zmin = min(p.zeta0_cm for p in members)
            for t, p in zip(det.tpcs, members):
                self._wire_offset[v, t.index] = round((p.zeta0_cm - zmin) / pitch)
            self._n_wires[v] = max(self._wire_offset[v, t.index] + p.n_wires for t, p in zip(det.tpcs, members))
        self._tpc_wires = np.array([[self.tpc_plane(v, t.index).n_wires for t in det.tpcs] for v in range(len(self.views))],
                                   dtype=np.int64)

    # -- basic facts ------------------------------------------------------------------------
    @property
    def drift_pixel_cm(self) -> float:
        return self.detector.cm_per_tick * self.drift_window

    def view_index(self, view: str | int) -> int:
        return self.detector.view_index(view)

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

    def wire_offset(self, view: str | int, tpc: int) -> int:
        return int(self._wire_offset[self.view_index(view), tpc])

    def drift_block(self, tpc: int) -> tuple[int, int, bool]:
        """(first global drift pixel, pixels, flipped) of a TPC's drift block."""
        return int(self._block_start[tpc]), self.n_drift_block, bool(self._flip[tpc])

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
        n_w = np.array([p.n_wires for p in (self.tpc_plane(v, t) for t in range(len(self.detector.tpcs)))])[tpc]
        if np.any((wire < 0) | (wire >= n_w)):
            raise GeometryError(f"{self.detector.name} view {self.views[v]}: wire out of range in {wire!r}")
        if np.any((tick < 0) | (tick >= self.detector.ticks_per_readout)):
            raise GeometryError(
                f"{self.detector.name}: tick out of range 0..{self.detector.ticks_per_readout - 1} in {tick!r}"
            )
        j = tick // self.drift_window
        gd = np.where(self._flip[tpc], self._block_start[tpc] + self.n_drift_block - 1 - j, self._block_start[tpc] + j)
        return self._wire_offset[v, tpc] + wire, gd

    def to_local(self, view, global_wire, global_drift, tpc):
        """(global wire, global drift pixel) -> (local wire, first tick of the pixel) in ``tpc``."""
        v = self.view_index(view)
        tpc = self._check_tpc(tpc)
        gw = np.asarray(global_wire, dtype=np.int64)
        gd = np.asarray(global_drift, dtype=np.int64)
        wire = gw - self._wire_offset[v, tpc]
        n_w = np.array([self.tpc_plane(v, t).n_wires for t in range(len(self.detector.tpcs))])[tpc]
        j = np.where(self._flip[tpc], self._block_start[tpc] + self.n_drift_block - 1 - gd, gd - self._block_start[tpc])
        if np.any((wire < 0) | (wire >= n_w) | (j < 0) | (j >= self.n_drift_block)):
            raise GeometryError(
                f"{self.detector.name} view {self.views[v]}: pixel ({global_wire}, {global_drift}) is not in TPC {tpc}"
            )
        return wire, j * self.drift_window

    def tpcs_at(self, view, global_wire: int, global_drift: int) -> list[int]:
        """TPCs whose plane in ``view`` covers a global pixel (several where TPCs overlap in projection)."""
        v = self.view_index(view)
        out = []
        for t in self.detector.tpcs:
            w = global_wire - self._wire_offset[v, t.index]
            s = self._block_start[t.index]
            if 0 <= w < self.tpc_plane(v, t.index).n_wires and s <= global_drift < s + self.n_drift_block:
                out.append(t.index)
        return out

    # -- continuous coordinates --------------------------------------------------------------------
    def tick_to_global_drift(self, tpc, tick):
        """Continuous tick -> continuous global drift coordinate."""
        tpc = np.asarray(tpc, dtype=np.int64)
        u = np.asarray(tick, dtype=np.float64) / self.drift_window
        start = self._block_start[tpc]
        return np.where(self._flip[tpc], start + self.n_drift_block - u, start + u)

    def global_drift_to_tick(self, tpc, global_drift):
        tpc = np.asarray(tpc, dtype=np.int64)
        gd = np.asarray(global_drift, dtype=np.float64)
        start = self._block_start[tpc]
        u = np.where(self._flip[tpc], start + self.n_drift_block - gd, gd - start)
        return u * self.drift_window

    def project(self, xyz, view) -> Projection:
        """Project one 3D point (cm) onto a view. Outside every TPC: tpc = -1 and NaN coordinates."""
        xyz = np.asarray(xyz, dtype=np.float64).reshape(3)
        v = self.view_index(view)
        tpc = int(self.detector.tpc_of(xyz))
        if tpc < 0:
            nan = float("nan")
            return Projection(self.views[v], -1, "", nan, -1, nan, nan, nan)
        plane = self.tpc_plane(v, tpc)
        wire = float(plane.wire_coordinate(xyz[1], xyz[2]))
        wi = int(math.floor(wire))
        channel = int(plane.channels[wi]) if 0 <= wi < plane.n_wires else -1
        tick = float(self.detector.drift_ticks(tpc, xyz[0]))
        return Projection(
            view=self.views[v], tpc=tpc, plane=plane.plane, wire=wire, channel=channel, tick=tick,
            global_wire=float(self._wire_offset[v, tpc] + wire),
            global_drift=float(self.tick_to_global_drift(tpc, tick)),
        )

    def project_points(self, xyz) -> np.ndarray:
        """Global coordinates of many 3D points on every view: array (N, views, 2); NaN outside TPCs."""
        xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
        out = np.full((len(xyz), len(self.views), 2), np.nan)
        tpc = self.detector.tpc_of(xyz)
        for t in np.unique(tpc[tpc >= 0]):
            sel = tpc == t
            gd = self.tick_to_global_drift(t, self.detector.drift_ticks(t, xyz[sel, 0]))
            for v in range(len(self.views)):
                plane = self.tpc_plane(v, t)
                out[sel, v, 0] = self._wire_offset[v, t] + plane.wire_coordinate(xyz[sel, 1], xyz[sel, 2])
                out[sel, v, 1] = gd
        return out

    def backproject(self, points: dict) -> BackProjection:
        """One 3D point from continuous global coordinates on 2 or 3 views.

        Args:
            points: {view: (global_wire, global_drift)} for at least two views with different wire
                angles. The drift coordinate is shared (the same tick on every plane); x is fitted
                as the mean of the views' drift, (y, z) by least squares of the wire coordinates.

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
        s = self._block_start[None, :]
        covered = ((s - 1 <= d_arr) & (d_arr <= s + self.n_drift_block + 1) & (lw >= -1)
                   & (lw <= self._tpc_wires[vi] + 1)).all(axis=0)
        for t in (self.detector.tpcs[i] for i in np.flatnonzero(covered)):
            xs = np.array([self.detector.tick_to_x(t.index, self.global_drift_to_tick(t.index, d)) for _, _, d in items])
            rows, rhs = [], []
            for v, w, _ in items:
                p = self.tpc_plane(v, t.index)
                rows.append([math.cos(p.angle_rad), math.sin(p.angle_rad)])  # coefficients of (z, y)
                rhs.append(p.zeta0_cm + (w - self._wire_offset[v, t.index]) * p.pitch_cm)
            a, b = np.array(rows), np.array(rhs)
            (z, y), *_ = np.linalg.lstsq(a, b, rcond=None)
            x = float(xs.mean())
            res = np.concatenate([a @ np.array([z, y]) - b, xs - x])
            residual = float(np.sqrt(np.mean(res**2)))
            inside = bool(t.contains(x, y, z, tolerance_cm=1.0))
            key = (not inside, residual)
            if best is None or key < best[0]:
                best = (key, BackProjection(np.array([x, y, z]), t.index, residual, inside))
        if best is None:
            raise GeometryError(f"{self.detector.name}: no TPC covers all of {points}")
        return best[1]

    # -- building global images ------------------------------------------------------------------------
    def _place(self, image, v, tpc, wires, pooled):
        start, n, flip = self.drift_block(tpc)
        block = pooled[:, ::-1] if flip else pooled
        image[self._wire_offset[v, tpc] + wires, start : start + n] += block

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
                collection plane of the same TPC has a pixel above ``threshold_adc`` within
                the segment's z span (needs the collection channels in the frame).
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
                active = np.zeros((plane.n_wires, self.n_drift_block), dtype=np.int32)
                active[s_wire[sel]] = pooled[row[sel]] > threshold_adc
                cum = np.zeros((plane.n_wires + 1, self.n_drift_block), dtype=np.int32)
                np.cumsum(active, axis=0, out=cum[1:])
                coll[int(t)] = (plane, cum)
        for t in np.unique(s_tpc):
            t = int(t)
            tpc = det.tpcs[t]
            for k, plane in enumerate(tpc.planes):
                sel = (s_tpc == t) & (s_plane == k)
                if not np.any(sel):
                    continue
                v = self.view_index(plane.view)
                wires, values = s_wire[sel], pooled[row[sel]]
                if disambiguate and det.spec.anode.planes[k].wrapped:
                    if t not in coll:
                        raise BadEventError(
                            f"disambiguation needs the collection channels of TPC {t} in the frame"
                        )
                    cplane, cum = coll[t]
                    zr = plane.segments[wires][:, 2:4]
                    lo_w = np.clip(np.floor((zr[:, 0] - cplane.zeta0_cm) / cplane.pitch_cm), 0, cplane.n_wires).astype(int)
                    hi_w = np.clip(np.floor((zr[:, 1] - cplane.zeta0_cm) / cplane.pitch_cm) + 1, 0, cplane.n_wires).astype(int)
                    seen = (cum[hi_w] - cum[lo_w]) > 0
                    values = values * seen
                self._place(images[v], v, t, wires, values)
        return images
