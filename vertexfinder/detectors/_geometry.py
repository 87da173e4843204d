"""Geometry derived from a detector description: TPCs, wires, channels.

Conventions (cm, detector coordinates; x drift, y up, z along the beam):

* A TPC is one drift volume: anode ``a``, side ``s`` (-1: the volume lies at
  x < anode, +1: at x > anode). TPCs are numbered over anodes in order, the
  -x side before the +x side.
* On a face with 3D wire angle ``alpha`` (``+angle`` on the +x side,
  ``-angle`` on the -x side), the wire coordinate is
  ``zeta = z cos(alpha) + y sin(alpha)``; local wire ``i`` of a TPC's plane
  has its centre at ``zeta0 + (i + 0.5) * pitch``, so local wire numbers grow
  with ``zeta`` on every face.
* Channels: anode ``a`` owns channels ``a * channels_per_anode + k``; within
  an anode the planes come in their listed order; an unwrapped plane numbers
  the -x face's wires first (two-face anodes).
* Wrapped planes wind around the anode like a helix: unrolling the two faces
  into one band of length ``2 Wp`` (+x face along +z, then the -x face along
  -z), channel ``c`` starts at the top at ``(c + 0.5) * 2 Wp / N`` and moves
  by ``tan(angle)`` per cm of descent, where ``Wp = N pitch / (2 cos angle)``
  is the width the wrapped wires cover. Every wire position on a face then
  belongs to exactly one channel and every channel reads 2-3 segments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import DetectorSchemaError, GeometryError
from ._schema import DetectorSpec, PlaneSpec

__all__ = ["Detector", "TPC", "TPCPlane"]


@dataclass(frozen=True, eq=False)
class TPCPlane:
    """One readout plane as seen from one TPC.

    Attributes:
        plane: the readout plane's name in the anode template ("U", "V", "Z").
        view: the global-image view its wires belong to (same 3D angle).
        angle_rad: 3D wire angle on this face.
        pitch_cm: wire pitch.
        zeta0_cm: wire coordinate of the lower edge of local wire 0.
        channels: int64 array (wires,): readout channel of each local wire.
        segments: float64 array (wires, 4): (y_lo, y_hi, z_lo, z_hi) of each wire segment.
    """

    plane: str
    view: str
    angle_rad: float
    pitch_cm: float
    zeta0_cm: float
    channels: np.ndarray
    segments: np.ndarray
    collection: bool

    @property
    def n_wires(self) -> int:
        return len(self.channels)

    def zeta(self, y, z):
        """Wire coordinate (cm) of points (y, z) on this face."""
        return np.asarray(z) * math.cos(self.angle_rad) + np.asarray(y) * math.sin(self.angle_rad)

    def wire_coordinate(self, y, z):
        """Continuous local wire coordinate: wire i spans [i, i + 1)."""
        return (self.zeta(y, z) - self.zeta0_cm) / self.pitch_cm


@dataclass(frozen=True, eq=False)
class TPC:
    """One drift volume.

    Attributes:
        index: TPC number.
        anode: anode index.
        side: -1 (volume at x < anode) or +1 (x > anode).
        anode_x_cm: x of this face's wire planes (drift time zero).
        drift_cm: drift length.
        box: (x_lo, x_hi, y_lo, y_hi, z_lo, z_hi) of the active volume.
        planes: one TPCPlane per readout plane, in the anode template's order.
    """

    index: int
    anode: int
    side: int
    anode_x_cm: float
    drift_cm: float
    box: tuple[float, float, float, float, float, float]
    planes: tuple[TPCPlane, ...]

    def contains(self, x, y, z, *, tolerance_cm: float = 1e-9) -> np.ndarray:
        x0, x1, y0, y1, z0, z1 = self.box
        t = tolerance_cm
        return (
            (np.asarray(x) >= x0 - t) & (np.asarray(x) <= x1 + t)
            & (np.asarray(y) >= y0 - t) & (np.asarray(y) <= y1 + t)
            & (np.asarray(z) >= z0 - t) & (np.asarray(z) <= z1 + t)
        )

    def plane_for_view(self, view: str) -> TPCPlane:
        for p in self.planes:
            if p.view == view:
                return p
        raise GeometryError(f"TPC {self.index} has no readout plane in view {view!r}")


def _segment_y_range(zeta_c, alpha, y_lo, y_hi, z_lo, z_hi):
    """y-range of the wire line z cos a + y sin a = zeta_c inside the face rectangle."""
    ca, sa = math.cos(alpha), math.sin(alpha)
    if abs(sa) < 1e-12:
        return np.full_like(zeta_c, y_lo), np.full_like(zeta_c, y_hi)
    # z(y) = (zeta_c - y sa) / ca is monotonic in y; solve z = z_lo and z = z_hi for y.
    ya = (zeta_c - z_lo * ca) / sa
    yb = (zeta_c - z_hi * ca) / sa
    lo = np.maximum(np.minimum(ya, yb), y_lo)
    hi = np.minimum(np.maximum(ya, yb), y_hi)
    return lo, hi


class Detector:
    """A detector: its description (``spec``) and the geometry derived from it."""

    def __init__(self, spec: DetectorSpec):
        self.spec = spec
        self._build()

    # -- plain properties ---------------------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def views(self) -> tuple[str, ...]:
        return self.spec.views

    @property
    def tick_us(self) -> float:
        return self.spec.tick_us

    @property
    def drift_velocity_cm_per_us(self) -> float:
        return self.spec.drift_velocity_cm_per_us

    @property
    def ticks_per_readout(self) -> int:
        return self.spec.ticks_per_readout

    @property
    def trigger_offset_ticks(self) -> int:
        return self.spec.trigger_offset_ticks

    @property
    def cm_per_tick(self) -> float:
        return self.spec.drift_velocity_cm_per_us * self.spec.tick_us

    @property
    def n_channels(self) -> int:
        return self.spec.anode.channels_per_anode * len(self.spec.anodes)

    def view_index(self, view: str | int) -> int:
        if isinstance(view, (int, np.integer)):
            if not 0 <= view < len(self.views):
                raise GeometryError(f"{self.name}: view index {view} out of range 0..{len(self.views) - 1}")
            return int(view)
        try:
            return self.views.index(view)
        except ValueError:
            raise GeometryError(f"{self.name}: unknown view {view!r}; views: {list(self.views)}") from None

    def view_pitch_cm(self, view: str | int) -> float:
        name = self.views[self.view_index(view)]
        return next(p.pitch_cm for p in self.spec.anode.planes if p.name == name)

    def view_angle_rad(self, view: str | int) -> float:
        name = self.views[self.view_index(view)]
        return next(p.angle_rad for p in self.spec.anode.planes if p.name == name)

    @cached_property
    def collection_view(self) -> str:
        return next(p.name for p in self.spec.anode.planes if p.collection)

    def __repr__(self) -> str:
        return f"Detector({self.name!r}: {len(self.tpcs)} TPCs, {self.n_channels} channels, views {list(self.views)})"

    # -- construction -------------------------------------------------------------
    def _build(self) -> None:
        spec = self.spec
        an = spec.anode
        angle_to_view = {round(p.angle_deg, 9): p.name for p in an.planes}
        tpcs: list[TPC] = []
        # channel -> list of (tpc, plane index in template, local wire)
        seg_tpc, seg_plane, seg_wire, seg_chan = [], [], [], []
        for a_idx, place in enumerate(spec.anodes):
            xc, yc, zc = place.center_cm
            for side, drift in zip((-1, 1), place.drift_cm):
                if drift <= 0:
                    continue
                x_face = xc + side * an.thickness_cm / 2
                x_far = x_face + side * drift
                box = (min(x_face, x_far), max(x_face, x_far), yc - an.height_cm / 2, yc + an.height_cm / 2,
                       zc - an.width_cm / 2, zc + an.width_cm / 2)
                t_idx = len(tpcs)
                planes = []
                chan_base = a_idx * an.channels_per_anode
                for p_idx, ps in enumerate(an.planes):
                    tp = self._tpc_plane(ps, side, place, chan_base, angle_to_view)
                    planes.append(tp)
                    chan_base += an.channels_of(ps)
                    seg_tpc.append(np.full(tp.n_wires, t_idx))
                    seg_plane.append(np.full(tp.n_wires, p_idx))
                    seg_wire.append(np.arange(tp.n_wires))
                    seg_chan.append(tp.channels)
                tpcs.append(TPC(t_idx, a_idx, side, x_face, drift, box, tuple(planes)))
        self.tpcs: tuple[TPC, ...] = tuple(tpcs)
        chan = np.concatenate(seg_chan)
        order = np.argsort(chan, kind="stable")
        self._seg_chan = chan[order]
        self._seg_tpc = np.concatenate(seg_tpc)[order]
        self._seg_plane = np.concatenate(seg_plane)[order]
        self._seg_wire = np.concatenate(seg_wire)[order]

    def _tpc_plane(self, ps: PlaneSpec, side: int, place, chan_base: int, angle_to_view) -> TPCPlane:
        an = self.spec.anode
        xc, yc, zc = place.center_cm
        alpha = side * ps.angle_rad
        view = angle_to_view.get(round(side * ps.angle_deg, 9))
        if view is None:  # _schema checks this; kept for descriptions built by hand
            raise DetectorSchemaError(f"{self.name}: plane {ps.name} on the -x face matches no view")
        ca, sa = math.cos(alpha), math.sin(alpha)
        p = ps.pitch_cm
        y_lo, y_hi = yc - an.height_cm / 2, yc + an.height_cm / 2
        if ps.wrapped:
            n = ps.channels
            half = n * p / (2 * math.cos(ps.angle_rad)) / 2  # half the width the wound wires cover
            if 2 * half > an.width_cm + 1e-6:
                raise DetectorSchemaError(
                    f"{self.name}: wrapped plane {ps.name} covers {2 * half:.3f} cm, wider than the anode ({an.width_cm} cm)"
                )
            z_lo, z_hi = zc - half, zc + half
            # Wire-centre lattice from the helix (see module docstring).
            # The helix puts wire centres at z_lo cos(a) + y_hi sin(a) + (m + 0.5) pitch on both
            # faces (alpha carries the face's sign); +x: channel m mod N, -x: (N - 1 - m) mod N.
            anchor = z_lo * ca + y_hi * sa
            corners = [z * ca + y * sa for z in (z_lo, z_hi) for y in (y_lo, y_hi)]
            m_lo = math.ceil((min(corners) - anchor) / p - 0.5 + 1e-9)
            m_hi = math.floor((max(corners) - anchor) / p - 0.5 - 1e-9)
            m = np.arange(m_lo, m_hi + 1)
            centres = anchor + (m + 0.5) * p
            local = m % n if side > 0 else (n - 1 - m) % n
            channels = chan_base + local
        else:
            n = ps.wires_per_face
            z_lo, z_hi = zc - an.width_cm / 2, zc + an.width_cm / 2
            corners = [z * ca + y * sa for z in (z_lo, z_hi) for y in (y_lo, y_hi)]
            mid = 0.5 * (min(corners) + max(corners))
            if n * p > max(corners) - min(corners) + 1e-6:
                raise DetectorSchemaError(
                    f"{self.name}: plane {ps.name}: {n} wires x {p} cm do not fit on the face "
                    f"({max(corners) - min(corners):.3f} cm of wire coordinate)"
                )
            centres = mid + (np.arange(n) + 0.5 - n / 2) * p
            face = 0 if (an.faces == 1 or side < 0) else 1
            channels = chan_base + face * n + np.arange(n)
        ylo_s, yhi_s = _segment_y_range(centres, alpha, y_lo, y_hi, z_lo, z_hi)
        zs = lambda y: (centres - y * sa) / ca  # noqa: E731
        za, zb = zs(ylo_s), zs(yhi_s)
        segments = np.stack([ylo_s, yhi_s, np.minimum(za, zb), np.maximum(za, zb)], axis=1)
        return TPCPlane(
            plane=ps.name, view=view, angle_rad=alpha, pitch_cm=p, zeta0_cm=float(centres[0] - 0.5 * p),
            channels=channels.astype(np.int64), segments=segments, collection=ps.collection,
        )

    # -- channel map ----------------------------------------------------------------
    def channel_segments(self, channel: int) -> list[tuple[int, str, int]]:
        """Wire segments read by a channel: list of (tpc, view, local wire).

        A wrapped induction channel of a DUNE APA reads 2-3 segments alternating
        between the faces; other channels read one (or none, on a face without a
        drift volume).
        """
        if not 0 <= channel < self.n_channels:
            raise GeometryError(f"{self.name}: channel {channel} out of range 0..{self.n_channels - 1}")
        lo, hi = np.searchsorted(self._seg_chan, [channel, channel + 1])
        return [
            (int(t), self.tpcs[t].planes[p].view, int(w))
            for t, p, w in zip(self._seg_tpc[lo:hi], self._seg_plane[lo:hi], self._seg_wire[lo:hi])
        ]

    def segment_table(self) -> dict[str, np.ndarray]:
        """All wire segments sorted by channel: arrays channel, tpc, plane (template index), wire."""
        return {"channel": self._seg_chan, "tpc": self._seg_tpc, "plane": self._seg_plane, "wire": self._seg_wire}

    def channel_plane(self, channel) -> np.ndarray:
        """Template plane index of channels (vectorised)."""
        ch = np.asarray(channel)
        k = ch % self.spec.anode.channels_per_anode
        bounds = np.cumsum([self.spec.anode.channels_of(p) for p in self.spec.anode.planes])
        return np.searchsorted(bounds, k, side="right")

    # -- points ---------------------------------------------------------------------
    def tpc_of(self, xyz) -> np.ndarray:
        """Index of the TPC containing each point, -1 outside every TPC. xyz: (..., 3) cm."""
        xyz = np.asarray(xyz, dtype=np.float64)
        out = np.full(xyz.shape[:-1], -1, dtype=np.int64)
        for t in self.tpcs:
            inside = t.contains(xyz[..., 0], xyz[..., 1], xyz[..., 2]) & (out < 0)
            out[inside] = t.index
        return out

    def drift_ticks(self, tpc: int, x_cm) -> np.ndarray:
        """Tick (float) at which charge from ``x_cm`` in ``tpc``, deposited at trigger time, is read."""
        t = self.tpcs[tpc]
        dist = (np.asarray(x_cm, dtype=np.float64) - t.anode_x_cm) * t.side
        return self.trigger_offset_ticks + dist / self.cm_per_tick

    def tick_to_x(self, tpc: int, tick) -> np.ndarray:
        """Inverse of drift_ticks."""
        t = self.tpcs[tpc]
        return t.anode_x_cm + t.side * (np.asarray(tick, dtype=np.float64) - self.trigger_offset_ticks) * self.cm_per_tick

    @cached_property
    def bounds_cm(self) -> np.ndarray:
        """(3, 2) array: min/max of x, y, z over all TPC boxes."""
        boxes = np.array([t.box for t in self.tpcs]).reshape(-1, 3, 2)
        return np.stack([boxes[:, :, 0].min(axis=0), boxes[:, :, 1].max(axis=0)], axis=1)
