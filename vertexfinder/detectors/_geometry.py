"""Geometry derived from a detector description: TPCs, wires, channels.

Conventions (cm, detector coordinates; x drift, y up, z along the beam):

* A TPC is one drift volume: anode ``a``, side ``s`` (-1: the volume lies at
  x < anode, +1: at x > anode). TPCs are numbered over anodes in order, the
  -x side before the +x side; a face without a drift volume makes no TPC.
* Every readout plane of a TPC has its wires at one x (``TPCPlane.x_cm``);
  charge drifting from x is read on a plane at the tick set by its distance to
  that plane (:meth:`Detector.drift_ticks`).
* A plane's wire coordinate is ``zeta = z cos(a) + y sin(a)`` along its pitch
  direction (sin a, cos a); local wire ``i`` has its centre at
  ``zeta0 + (i + 0.5) * pitch``, so local wire numbers grow with ``zeta``.

Two sources of geometry:

* **Wire-Cell wires files** (the experiments' LArSoft layouts, see
  :mod:`.wirecell`): every wire segment, channel and plane position is taken
  from the file; each plane's wires are described by a lattice fitted to
  them (checked to lie within a small fraction of a pitch). The built-in
  DUNE FD, ProtoDUNE-SP, MicroBooNE and SBND detectors are of this kind.
* **Parametric descriptions** (small test detectors, quick studies): on the
  +x face plane ``p`` has pitch angle ``angle``, on the -x face ``-angle``.
  Channels: anode ``a`` owns channels ``a * channels_per_anode + k``; within
  an anode the planes come in their listed order; an unwrapped plane numbers
  the -x face's wires first (two-face anodes). Wrapped planes wind around the
  anode like a helix: unrolling the two faces into one band of length
  ``2 Wp`` (+x face along +z, then the -x face along -z), channel ``c``
  starts at the top at ``(c + 0.5) * 2 Wp / N`` and moves by ``tan(angle)``
  per cm of descent, where ``Wp = N pitch / (2 cos angle)`` is the width the
  wrapped wires cover. Every wire position on a face then belongs to exactly
  one channel and every channel reads 2-3 segments.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import DetectorSchemaError, GeometryError
from ._schema import DetectorSpec, PlaneSpec, WiresDetectorSpec
from .checks import check_geometry
from .wirecell import read_wires, wire_lattice

__all__ = ["Detector", "TPC", "TPCPlane"]


@dataclass(frozen=True, eq=False)
class TPCPlane:
    """One readout plane as seen from one TPC.

    Local wires are the plane's wires in order along its pitch direction: local wire ``i`` spans
    wire coordinates [i, i + 1) with its wire at i + 0.5. That is the LArSoft wire number, except
    where a wires file lists two neighbouring short corner wires in swapped order
    (``wire_numbers`` holds the file's numbers).

    Attributes:
        plane: the readout plane's name ("U", "V", "Z").
        view: the global-image view its wires belong to (same wire direction in 3D).
        angle_rad: direction of the pitch in (y, z): wire coordinate grows along (sin a, cos a).
        pitch_cm: wire pitch.
        zeta0_cm: pitch coordinate of the lower edge of local wire 0.
        channels: int64 array (wires,): readout channel of each local wire.
        segments: float64 array (wires, 4): (y_lo, y_hi, z_lo, z_hi) of each wire segment.
        collection: whether this is the collection plane.
        x_cm: x of the plane's wires (where a drifting charge is read on this plane).
        index: readout plane number within the TPC (LArSoft plane index).
        wrapped: whether its channels read more than one wire segment.
        wire_numbers: int64 (wires,): the wire number of each local wire.
        endpoints: float64 (wires, 2, 3): the two ends (x, y, z) of each wire segment.
        edges_cm: float64 (wires + 1,) or None: pitch coordinates of the borders between local
            wires (halfway between the actual wires of a wires file); None: the borders of the
            ideal lattice ``zeta0 + i * pitch``. The wire coordinate is linear between borders.
        wire_lines: float64 (wires, 3) or None: each wire's own line ``ny y + nz z = c`` (unit
            normal along the pitch) for a wires-file plane; see :meth:`wire_coordinate`.
    """

    plane: str
    view: str
    angle_rad: float
    pitch_cm: float
    zeta0_cm: float
    channels: np.ndarray
    segments: np.ndarray
    collection: bool
    x_cm: float = float("nan")
    index: int = 0
    wrapped: bool = False
    wire_numbers: np.ndarray | None = None
    endpoints: np.ndarray | None = None
    edges_cm: np.ndarray | None = None
    wire_lines: np.ndarray | None = None

    @property
    def n_wires(self) -> int:
        return len(self.channels)

    def zeta(self, y, z):
        """Pitch coordinate (cm) of points (y, z) on this plane."""
        return np.asarray(z) * math.cos(self.angle_rad) + np.asarray(y) * math.sin(self.angle_rad)

    def wire_coordinate(self, y, z):
        """Continuous local wire coordinate: wire i spans [i, i + 1); its floor is the point's nearest wire.

        For a wires-file plane the coordinate is measured against the wires themselves: between
        the lines of wires j and j + 1 (whose directions differ from the plane's mean by up to a
        few 0.01 deg), ``j + 0.5 + d_j / (d_j + d_j+1)`` with d the distances to the two lines,
        so the border between two wires is where a point is equally far from both.
        """
        if np.ndim(y) == 0 and np.ndim(z) == 0:  # one point: plain floats (the 3D fit's inner loop)
            return self._wire_coordinate_one(float(y), float(z))
        w = self.zeta_to_wire(self.zeta(y, z))
        if self.wire_lines is None or self.n_wires < 2:
            return w
        y, z, w = np.broadcast_arrays(np.asarray(y, dtype=np.float64), np.asarray(z, dtype=np.float64), w)
        j = np.clip(np.floor(w - 0.5), 0, self.n_wires - 2).astype(np.int64)
        a, b = self.wire_lines[j], self.wire_lines[j + 1]
        d0 = a[..., 0] * y + a[..., 1] * z - a[..., 2]  # signed, growing along the pitch
        d1 = b[..., 0] * y + b[..., 1] * z - b[..., 2]
        return (j + 0.5 + d0 / (d0 - d1))[()]

    @cached_property
    def _scalars(self):
        """(cos a, sin a, edges as a list or None, wire lines as a list or None) for one-point calls."""
        return (math.cos(self.angle_rad), math.sin(self.angle_rad),
                None if self.edges_cm is None else self.edges_cm.tolist(),
                None if self.wire_lines is None else self.wire_lines.tolist())

    def _wire_coordinate_one(self, y: float, z: float) -> float:
        """:meth:`wire_coordinate` of one point, in plain floats (the same numbers)."""
        ca, sa, edges, lines = self._scalars
        zeta = z * ca + y * sa
        if edges is None:
            w = (zeta - self.zeta0_cm) / self.pitch_cm
        elif zeta < edges[0]:
            w = (zeta - edges[0]) / self.pitch_cm
        elif zeta > edges[-1]:
            w = len(edges) - 1 + (zeta - edges[-1]) / self.pitch_cm
        else:
            i = min(bisect.bisect_right(edges, zeta) - 1, len(edges) - 2)
            w = i + (zeta - edges[i]) / (edges[i + 1] - edges[i])
        if lines is None or self.n_wires < 2:
            return w
        j = min(max(math.floor(w - 0.5), 0), self.n_wires - 2)
        a, b = lines[j], lines[j + 1]
        d0 = a[0] * y + a[1] * z - a[2]
        d1 = b[0] * y + b[1] * z - b[2]
        return j + 0.5 + d0 / (d0 - d1)

    @cached_property
    def _edge_numbers(self) -> np.ndarray:
        """0, 1, ..., wires: the wire coordinate of each of ``edges_cm`` (built once)."""
        return np.arange(len(self.edges_cm), dtype=np.float64)

    def zeta_to_wire(self, zeta):
        """Continuous local wire coordinate of a pitch coordinate (cm)."""
        zeta = np.asarray(zeta, dtype=np.float64)
        if self.edges_cm is None:
            return (zeta - self.zeta0_cm) / self.pitch_cm
        e = self.edges_cm
        inner = np.interp(zeta, e, self._edge_numbers)
        return np.where(zeta < e[0], (zeta - e[0]) / self.pitch_cm,
                        np.where(zeta > e[-1], len(e) - 1 + (zeta - e[-1]) / self.pitch_cm, inner))

    def wire_to_zeta(self, wire):
        """Inverse of zeta_to_wire."""
        w = np.asarray(wire, dtype=np.float64)
        if self.edges_cm is None:
            return self.zeta0_cm + w * self.pitch_cm
        e = self.edges_cm
        n = len(e) - 1
        inner = np.interp(w, self._edge_numbers, e)
        return np.where(w < 0, e[0] + w * self.pitch_cm, np.where(w > n, e[-1] + (w - n) * self.pitch_cm, inner))

    def _wire_to_zeta_one(self, w: float) -> float:
        """:meth:`wire_to_zeta` of one wire coordinate, in plain floats."""
        if self.edges_cm is None:
            return self.zeta0_cm + w * self.pitch_cm
        e = self._scalars[2]
        n = len(e) - 1
        if w < 0:
            return e[0] + w * self.pitch_cm
        if w > n:
            return e[-1] + (w - n) * self.pitch_cm
        i = min(int(w), n - 1)
        return e[i] + (w - i) * (e[i + 1] - e[i])

    def centres(self) -> np.ndarray:
        """(wires, 3) centres of the wire segments, cm."""
        return self.endpoints.mean(axis=1)


@dataclass(frozen=True, eq=False)
class TPC:
    """One drift volume.

    Attributes:
        index: TPC number.
        anode: anode index.
        side: -1 (volume at x < anode) or +1 (x > anode).
        anode_x_cm: x of the first wire plane the drifting charge meets (the volume's anode end).
        drift_cm: drift length, anode_x_cm to the cathode.
        box: (x_lo, x_hi, y_lo, y_hi, z_lo, z_hi) of the active volume.
        planes: one TPCPlane per readout plane, in readout order.
        face: index of the anode face (the wires file's face ident, or 0/1 for -x/+x).
    """

    index: int
    anode: int
    side: int
    anode_x_cm: float
    drift_cm: float
    box: tuple[float, float, float, float, float, float]
    planes: tuple[TPCPlane, ...]
    face: int = 0

    @property
    def cathode_x_cm(self) -> float:
        return self.anode_x_cm + self.side * self.drift_cm

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


def _wire_lines(ends: np.ndarray, angle_rad: float) -> np.ndarray:
    """(wires, 3): unit normal (ny, nz) of each wire's own line, oriented along the pitch, and c = n . point."""
    d = ends[:, 1, 1:] - ends[:, 0, 1:]
    n = np.stack([-d[:, 1], d[:, 0]], axis=1) / np.linalg.norm(d, axis=1)[:, None]
    n *= np.where(n @ np.array([math.sin(angle_rad), math.cos(angle_rad)]) < 0, -1.0, 1.0)[:, None]
    c = np.sum(n * ends[:, 0, 1:], axis=1)
    return np.concatenate([n, c[:, None]], axis=1)


def _wire_direction(angle_rad: float) -> float:
    """Direction of wires whose pitch points along ``angle_rad``, as an angle in [0, pi)."""
    return (angle_rad + math.pi / 2) % math.pi


def _angle_between_lines(a: float, b: float) -> float:
    d = (a - b) % math.pi
    return min(d, math.pi - d)


class Detector:
    """A detector: its description (``spec``) and the geometry derived from it.

    ``spec`` is a :class:`DetectorSpec` (parametric anodes) or a :class:`WiresDetectorSpec`
    (a Wire-Cell wires file plus the numbers it lacks).
    """

    def __init__(self, spec: DetectorSpec | WiresDetectorSpec):
        self.spec = spec
        if isinstance(spec, WiresDetectorSpec):
            self._build_from_wires()
        else:
            self._build()
        check_geometry(self)  # overlapping volumes, coincident planes (.checks)
        self._index_channels()
        self._describe_views()

    # -- plain properties ---------------------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def views(self) -> tuple[str, ...]:
        return self.spec.views

    @property
    def surface(self) -> bool:
        """At the surface (SBND, MicroBooNE, ProtoDUNE): every readout holds cosmic muons."""
        return self.spec.surface

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
        """Number of readout channel ids (channels are 0 .. n_channels - 1)."""
        return self._n_channels

    @property
    def plane_names(self) -> tuple[str, ...]:
        """Names of the readout planes, in readout order (the same in every TPC)."""
        return self._plane_names

    @property
    def wires_file(self) -> str | None:
        """Path of the Wire-Cell wires file the geometry comes from (None: a parametric description)."""
        return self.spec.wires if isinstance(self.spec, WiresDetectorSpec) else None

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
        """Wire pitch of a view (the mean over its TPCs' planes, which agree within 0.1%)."""
        return self._view_pitch[self.view_index(view)]

    def view_angle_rad(self, view: str | int) -> float:
        """Pitch direction of a view's global wire axis, in (-pi/2, pi/2]: it grows along (sin a, cos a) in (y, z)."""
        return self._view_angle[self.view_index(view)]

    @cached_property
    def collection_view(self) -> str:
        return next(p.view for p in self.tpcs[0].planes if p.collection)

    def __repr__(self) -> str:
        return f"Detector({self.name!r}: {len(self.tpcs)} TPCs, {self.n_channels} channels, views {list(self.views)})"

    # -- construction: parametric description ---------------------------------------
    def _build(self) -> None:
        spec = self.spec
        an = spec.anode
        self._plane_names = tuple(p.name for p in an.planes)
        self._n_channels = an.channels_per_anode * len(spec.anodes)
        angle_to_view = {round(p.angle_deg, 9): p.name for p in an.planes}
        tpcs: list[TPC] = []
        for a_idx, place in enumerate(spec.anodes):
            xc, yc, zc = place.center_cm
            for side, drift in zip((-1, 1), place.drift_cm):
                if drift <= 0:
                    continue
                x_face = xc + side * an.thickness_cm / 2
                x_far = x_face + side * drift
                box = (min(x_face, x_far), max(x_face, x_far), yc - an.height_cm / 2, yc + an.height_cm / 2,
                       zc - an.width_cm / 2, zc + an.width_cm / 2)
                planes = []
                chan_base = a_idx * an.channels_per_anode
                for p_idx, ps in enumerate(an.planes):
                    planes.append(self._tpc_plane(ps, p_idx, side, place, x_face, chan_base, angle_to_view))
                    chan_base += an.channels_of(ps)
                tpcs.append(TPC(len(tpcs), a_idx, side, x_face, drift, box, tuple(planes), face=int(side > 0)))
        self.tpcs: tuple[TPC, ...] = tuple(tpcs)

    def _tpc_plane(self, ps: PlaneSpec, p_idx: int, side: int, place, x_face: float, chan_base: int,
                   angle_to_view) -> TPCPlane:
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
        ends = np.stack([np.stack([np.full_like(za, x_face), ylo_s, za], axis=1),
                         np.stack([np.full_like(zb, x_face), yhi_s, zb], axis=1)], axis=1)
        return TPCPlane(
            plane=ps.name, view=view, angle_rad=alpha, pitch_cm=p, zeta0_cm=float(centres[0] - 0.5 * p),
            channels=channels.astype(np.int64), segments=segments, collection=ps.collection, x_cm=x_face,
            index=p_idx, wrapped=ps.wrapped, wire_numbers=np.arange(len(centres), dtype=np.int64), endpoints=ends,
        )

    # -- construction: Wire-Cell wires file ------------------------------------------
    def _build_from_wires(self) -> None:
        spec = self.spec
        store = read_wires(spec.wires)
        where = f"detector {spec.name!r}: wires file {store.path}"
        if spec.wires_sha256 and store.sha256 != spec.wires_sha256:
            raise DetectorSchemaError(
                f"{where} has SHA-256 {store.sha256}, but the description expects {spec.wires_sha256}"
            )
        names = spec.planes
        coll = names.index(spec.collection)
        counts = np.bincount(store.channel)
        self._n_channels = int(store.channel.max()) + 1
        self._plane_names = names
        chan_plane = np.full(self._n_channels, -1, dtype=np.int64)

        def face_planes(a_ident, fi):
            f_ident, plane_idx = store.faces[fi]
            fw = f"{where}: anode {a_ident} face {f_ident}"
            idents = sorted(store.planes[pi][0] for pi in plane_idx)
            if idents != list(range(len(names))):
                raise DetectorSchemaError(
                    f"{fw} has planes with idents {idents}, but the description names {len(names)} planes "
                    f"{list(names)} (idents 0..{len(names) - 1})"
                )
            out = [None] * len(names)
            for pi in plane_idx:
                ident, wires = store.planes[pi]
                lat = wire_lattice(store.tail_cm[wires], store.head_cm[wires], where=f"{fw} plane {ident}")
                chan_plane[store.channel[wires]] = ident
                out[ident] = (wires, lat)
            return f_ident, out

        faces = [[face_planes(a_ident, fi) for fi in face_idx] for a_ident, face_idx in store.anodes]
        # The views: wire directions of the planes of the file's first face.
        ref = faces[0][0][1]
        ref_dirs = [_wire_direction(lat.angle_rad) for _, lat in ref]
        for i in range(len(names)):
            for j in range(i):
                if _angle_between_lines(ref_dirs[i], ref_dirs[j]) < math.radians(0.5):
                    raise DetectorSchemaError(
                        f"{where}: planes {names[j]} and {names[i]} of the first face have parallel wires, so they "
                        f"cannot be told apart as views"
                    )

        def view_of(lat, fw):
            d = [_angle_between_lines(_wire_direction(lat.angle_rad), r) for r in ref_dirs]
            k = int(np.argmin(d))
            if d[k] > math.radians(0.5):
                raise DetectorSchemaError(
                    f"{fw}: wires at {math.degrees(_wire_direction(lat.angle_rad)):.2f} deg run like no plane of "
                    f"the first face ({[round(math.degrees(r), 2) for r in ref_dirs]} deg), so they belong to no view"
                )
            return names[k]

        cathodes = np.asarray(spec.cathode_x_cm, dtype=np.float64)
        tpcs: list[TPC] = []
        for a_idx, ((a_ident, _), anode_faces) in enumerate(zip(store.anodes, faces)):
            for f_ident, planes in sorted(anode_faces, key=lambda f: f[1][0][1].x_cm):
                fw = f"{where}: anode {a_ident} face {f_ident}"
                x_first, x_last = planes[0][1].x_cm, planes[-1][1].x_cm
                if abs(x_first - x_last) < 1e-6:
                    raise DetectorSchemaError(
                        f"{fw}: its first and last planes are both at x = {x_first:.4f} cm, so the drift direction "
                        f"is unknown"
                    )
                side = 1 if x_first > x_last else -1
                ahead = cathodes[(cathodes - x_first) * side > 0]
                if len(ahead) == 0:
                    continue  # looks at no cathode: no drift volume on this face
                cathode = ahead[np.argmin(np.abs(ahead - x_first))]
                drift = float(abs(cathode - x_first))
                tpc_planes = []
                for ident, (wires, lat) in enumerate(planes):
                    w = wires[lat.order]
                    ends = np.stack([store.tail_cm[w], store.head_cm[w]], axis=1)
                    ys, zs = ends[:, :, 1], ends[:, :, 2]
                    tpc_planes.append(TPCPlane(
                        plane=names[ident], view=view_of(lat, f"{fw} plane {ident}"), angle_rad=lat.angle_rad,
                        pitch_cm=lat.pitch_cm, zeta0_cm=lat.zeta0_cm, channels=store.channel[w],
                        segments=np.stack([ys.min(1), ys.max(1), zs.min(1), zs.max(1)], axis=1),
                        collection=ident == coll, x_cm=lat.x_cm, index=ident,
                        wrapped=bool(np.any(counts[store.channel[w]] > 1)), wire_numbers=lat.order, endpoints=ends,
                        edges_cm=lat.edges_cm, wire_lines=_wire_lines(ends, lat.angle_rad),
                    ))
                views = [p.view for p in tpc_planes]
                if len(set(views)) != len(views):
                    raise DetectorSchemaError(f"{fw}: two of its planes fall in the same view ({views})")
                # the active volume: where every plane has wires
                y_lo = max(p.segments[:, 0].min() for p in tpc_planes)
                y_hi = min(p.segments[:, 1].max() for p in tpc_planes)
                z_lo = max(p.segments[:, 2].min() for p in tpc_planes)
                z_hi = min(p.segments[:, 3].max() for p in tpc_planes)
                box = (float(min(x_first, cathode)), float(max(x_first, cathode)), float(y_lo), float(y_hi),
                       float(z_lo), float(z_hi))
                tpcs.append(TPC(len(tpcs), a_idx, side, x_first, drift, box, tuple(tpc_planes), face=f_ident))
        if not tpcs:
            raise DetectorSchemaError(
                f"{where}: no face looks at a cathode in cathode_x_cm={list(spec.cathode_x_cm)}, so there is no "
                f"drift volume"
            )
        self.tpcs = tuple(tpcs)
        self._chan_plane = chan_plane

    # -- derived tables -------------------------------------------------------------------
    def _index_channels(self) -> None:
        seg_tpc, seg_plane, seg_wire, seg_chan = [], [], [], []
        for t in self.tpcs:
            for k, p in enumerate(t.planes):
                seg_tpc.append(np.full(p.n_wires, t.index))
                seg_plane.append(np.full(p.n_wires, k))
                seg_wire.append(np.arange(p.n_wires))
                seg_chan.append(p.channels)
        chan = np.concatenate(seg_chan)
        order = np.argsort(chan, kind="stable")
        self._seg_chan = chan[order]
        self._seg_tpc = np.concatenate(seg_tpc)[order]
        self._seg_plane = np.concatenate(seg_plane)[order]
        self._seg_wire = np.concatenate(seg_wire)[order]

    def _describe_views(self) -> None:
        pitch, angle = [], []
        for view in self.views:
            members = [t.plane_for_view(view) for t in self.tpcs]
            pitches = np.array([p.pitch_cm for p in members])
            if pitches.max() > pitches.min() * 1.001:
                raise GeometryError(f"{self.name}: view {view} mixes wire pitches {sorted(set(pitches.round(5)))}")
            pitch.append(float(pitches.mean()))
            a = members[0].angle_rad  # the view's pitch direction, turned into (-pi/2, pi/2]
            a = (a + math.pi / 2) % math.pi - math.pi / 2
            angle.append(math.pi / 2 if a <= -math.pi / 2 + 1e-12 else a)
        self._view_pitch = tuple(pitch)
        self._view_angle = tuple(angle)

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
        """All wire segments of the TPCs sorted by channel: arrays channel, tpc, plane (readout index), wire."""
        return {"channel": self._seg_chan, "tpc": self._seg_tpc, "plane": self._seg_plane, "wire": self._seg_wire}

    def channel_plane(self, channel) -> np.ndarray:
        """Readout plane index of channels (vectorised; -1 for an id no wire has)."""
        ch = np.asarray(channel)
        if isinstance(self.spec, WiresDetectorSpec):
            if np.any((ch < 0) | (ch >= self.n_channels)):
                raise GeometryError(f"{self.name}: channel out of range 0..{self.n_channels - 1}")
            return self._chan_plane[ch]
        k = ch % self.spec.anode.channels_per_anode
        bounds = np.cumsum([self.spec.anode.channels_of(p) for p in self.spec.anode.planes])
        return np.searchsorted(bounds, k, side="right")

    # -- points ---------------------------------------------------------------------
    def tpc_of(self, xyz) -> np.ndarray:
        """Index of the TPC containing each point, -1 outside every TPC. xyz: (..., 3) cm."""
        xyz = np.asarray(xyz, dtype=np.float64)
        lo, hi = self._boxes
        inside = np.all((xyz[..., None, :] >= lo) & (xyz[..., None, :] <= hi), axis=-1)  # (..., TPCs)
        first = np.argmax(inside, axis=-1)
        return np.where(inside.any(axis=-1), self._tpc_index[first], -1).astype(np.int64)

    @cached_property
    def _boxes(self) -> tuple[np.ndarray, np.ndarray]:
        """(TPCs, 3) low and high corners of the TPC boxes (x, y, z), built once."""
        b = np.array([t.box for t in self.tpcs], dtype=np.float64).reshape(-1, 3, 2)
        return b[..., 0] - 1e-9, b[..., 1] + 1e-9  # as TPC.contains

    @cached_property
    def _tpc_index(self) -> np.ndarray:
        return np.array([t.index for t in self.tpcs], dtype=np.int64)

    def _plane_x(self, tpc: int, plane) -> float:
        t = self.tpcs[tpc]
        if plane is None:
            return next(p.x_cm for p in t.planes if p.collection)
        if isinstance(plane, str):
            for p in t.planes:
                if p.plane == plane:
                    return p.x_cm
            raise GeometryError(f"{self.name}: TPC {tpc} has no readout plane {plane!r}; planes: {list(self.plane_names)}")
        if not 0 <= int(plane) < len(t.planes):
            raise GeometryError(f"{self.name}: readout plane index {plane} out of range 0..{len(t.planes) - 1}")
        return t.planes[int(plane)].x_cm

    def drift_ticks(self, tpc: int, x_cm, *, plane: int | str | None = None) -> np.ndarray:
        """Tick (float) at which charge from ``x_cm`` in ``tpc``, deposited at trigger time, is read.

        The drift distance is measured to the wires of ``plane`` (readout index or name; default
        the collection plane): planes at different x read the same charge at different ticks.
        """
        t = self.tpcs[tpc]
        dist = (np.asarray(x_cm, dtype=np.float64) - self._plane_x(tpc, plane)) * t.side
        return self.trigger_offset_ticks + dist / self.cm_per_tick

    def tick_to_x(self, tpc: int, tick, *, plane: int | str | None = None) -> np.ndarray:
        """Inverse of drift_ticks."""
        t = self.tpcs[tpc]
        return self._plane_x(tpc, plane) + t.side * (np.asarray(tick, dtype=np.float64) - self.trigger_offset_ticks) \
            * self.cm_per_tick

    @cached_property
    def bounds_cm(self) -> np.ndarray:
        """(3, 2) array: min/max of x, y, z over all TPC boxes."""
        boxes = np.array([t.box for t in self.tpcs]).reshape(-1, 3, 2)
        return np.stack([boxes[:, :, 0].min(axis=0), boxes[:, :, 1].max(axis=0)], axis=1)
