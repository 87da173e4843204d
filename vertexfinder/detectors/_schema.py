"""Declarative detector descriptions: the schema and its validation.

A detector is described by plain data (a TOML or JSON file, or a dict). The
built-in detectors are files of this same schema in ``builtin/``. Schema::

    name = "my-detector"                  # str, required
    title = "..."                         # str, optional
    surface = false                       # at the surface: every readout holds cosmic muons
                                          # (``--cosmics auto`` draws them; default false)
    views = ["U", "V", "Z"]               # global-image plane order (names of anode.planes)
    tick_us = 0.5                         # readout tick period, microseconds
    drift_velocity_cm_per_us = 0.1606
    ticks_per_readout = 4492
    trigger_offset_ticks = 0              # tick at which charge deposited at the anode
                                          # at the trigger time is read

    [anode]                               # every anode (APA) of the detector is alike
    height_cm = 606.0                     # along y
    width_cm = 231.59                     # along z
    thickness_cm = 10.1                   # x distance between the two faces' wire planes
    faces = 2                             # 1 or 2 faces carrying wires

    [[anode.planes]]                      # one table per readout plane, outermost first
    name = "U"
    angle_deg = 35.7                      # wire angle from vertical on the +x face; the
                                          # -x face (the same anode seen from behind) has -angle
    pitch_cm = 0.4667
    wrapped = true                        # wires wind around both faces (needs faces = 2)
    channels = 800                        # wrapped planes: channels per anode
    # wires_per_face = 480                # unwrapped planes: wires (= channels) per face
    # collection = true                   # exactly one plane: the collection plane

    [[anodes]]                            # one table per anode ...
    center_cm = [0.0, -303.5, 115.795]    # (x, y, z) of the anode's centre
    drift_cm = [359.4, 359.4]             # drift length on its -x and +x side; 0: no volume

    [anode_grid]                          # ... or a grid of anodes (z outer, then y, then x)
    x_cm = [0.0]
    y_cm = [-303.5, 303.5]
    z_cm = [115.795, 348.095]
    drift_cm = [359.4, 359.4]

A detector can instead come from a Wire-Cell wires file (the exact LArSoft wire
layout: every wire segment, channel and plane position), plus the few numbers
the file does not hold::

    name = "sbnd"
    title = "..."                         # optional
    surface = true                        # optional (default false), as above
    wires = "sbnd-wires-geometry-v0200.json.bz2"   # path, relative to this file
    wires_sha256 = "9e664a23..."          # optional: the file must have this SHA-256
    planes = ["U", "V", "Z"]              # names of the file's plane idents 0, 1, 2, ...
                                          # (default U, V, Z); the first plane is the one the
                                          # drifting charge meets first
    collection = "Z"                      # the collection plane (default: the last)
    views = ["U", "V", "Z"]               # global-image order (default: planes)
    tick_us = 0.5
    drift_velocity_cm_per_us = 0.1563
    ticks_per_readout = 3400
    trigger_offset_ticks = 400            # tick of charge deposited at the anode at trigger time
    cathode_x_cm = [-0.45, 0.45]          # x of the cathode planes (or cathode surfaces)

Each face of the file looks away from its anode (the drift direction is the
one from its last plane to its first plane, the plane charge meets first) and its
drift volume ends at the nearest listed cathode in that direction; a face with
no cathode on its side (ProtoDUNE's faces against the cryostat wall) reads no
drift volume and makes no TPC. TPCs are numbered over the file's anodes in
order, lower x first within an anode. The drift volume spans x from the
face's first wire plane to the cathode and (y, z) where every plane has wires.
A global view collects, from every TPC, the plane whose wires run like the
view's plane on the file's first face (anode 0's first face): on a DUNE APA's
other face that is the other induction plane.

Limits. Every number a description declares is checked against physical and
machine limits (:data:`LIMITS`) before anything is built from it, and so is the
largest global image it implies (every view at drift window 1, at most
:data:`MAX_VIEW_WIRES` wires and :data:`MAX_VIEW_PIXELS` pixels), so a file
declaring 10^12 ticks per readout or a 10^-7 cm pitch is refused with a message
naming the file and the value, not discovered by an allocation of terabytes.
Plane angles must differ by at least 0.5 deg (parallel wires cannot be told
apart as views).

Coordinates: x is the drift direction, y vertical, z along the beam, in cm.
A plane whose angle is ``a`` on the +x face appears with ``-a`` on the -x face;
a global-image view collects, from every TPC, the readout plane whose wires
have the view's angle in 3D, so a DUNE APA's -x-face U wires belong to the
global V view (they run like the +x face's V wires).
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from ..errors import DetectorSchemaError
from ..text import shown

__all__ = [
    "PlaneSpec", "AnodeSpec", "AnodePlacement", "DetectorSpec", "WiresDetectorSpec", "parse_detector",
    "load_detector_file", "LIMITS", "MAX_VIEW_WIRES", "MAX_VIEW_PIXELS", "MAX_DESCRIPTION_BYTES",
]

#: Inclusive ranges of what a description may declare. Real detectors: ticks of 0.4-2 us, drift
#: velocities near 0.16 cm/us, 3000-10000 ticks per readout, pitches of 3-5 mm, anodes of a few
#: metres, at most a few hundred anodes, a few thousand channels per plane and anode.
LIMITS = {
    "tick_us": (1e-3, 1e3),
    "drift_velocity_cm_per_us": (1e-3, 10.0),
    "ticks_per_readout": (1, 100_000),
    "trigger_offset_ticks": (-1_000_000, 1_000_000),
    "angle_deg": (-89.5, 89.5),
    "pitch_cm": (0.01, 10.0),
    "length_cm": (1e-3, 1e4),  # anode height and width, drift lengths
    "thickness_cm": (0.0, 1e4),
    "coordinate_cm": (-1e5, 1e5),  # anode centres, cathodes
    "channels": (1, 100_000),  # per plane and anode (wrapped: channels; else wires per face)
    "anodes": (1, 10_000),
}
#: The largest global image a description may imply, per view at drift window 1 (the finest).
MAX_VIEW_WIRES = 200_000
MAX_VIEW_PIXELS = 10**9
#: The largest description file read.
MAX_DESCRIPTION_BYTES = 1 << 20


def _in_range(where: str, key: str, value, limit: str | None = None) -> None:
    lo, hi = LIMITS[limit or key]
    if not lo <= value <= hi:
        raise DetectorSchemaError(f"{where}: {key!r} must be in [{lo}, {hi}]; Received: {key}={shown(value)}")


def _check(where: str, key: str, value, kind):
    """``value`` of ``kind`` (int: not bool; float: int or float, finite), or DetectorSchemaError."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:
            raise DetectorSchemaError(f"{where}: {key!r} is out of range; Received: {key}={shown(value)}") from None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise DetectorSchemaError(f"{where}: {key!r} must be {kind.__name__}; Received: {key}={shown(value)}")
    if kind is float and not math.isfinite(value):
        raise DetectorSchemaError(f"{where}: {key!r} must be finite; Received: {key}={shown(value)}")
    return value


def _require(table: dict, key: str, kind, where: str):
    if key not in table:
        raise DetectorSchemaError(f"{where}: missing required key {key!r}")
    return _check(where, key, table[key], kind)


def _optional(table: dict, key: str, kind, where: str, default):
    return _check(where, key, table[key], kind) if key in table else default


def _unknown_keys(table: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise DetectorSchemaError(f"{where}: unknown keys {extra}; allowed keys: {sorted(allowed)}")


@dataclass(frozen=True)
class PlaneSpec:
    """One readout plane of the anode template."""

    name: str
    angle_deg: float
    pitch_cm: float
    wrapped: bool = False
    channels: int = 0
    wires_per_face: int = 0
    collection: bool = False

    def __post_init__(self):
        where = f"plane {self.name}"
        _in_range(where, "angle_deg", _check(where, "angle_deg", self.angle_deg, float))
        _in_range(where, "pitch_cm", _check(where, "pitch_cm", self.pitch_cm, float))
        for key in ("wrapped", "collection"):
            _check(where, key, getattr(self, key), bool)
        for key in ("channels", "wires_per_face"):
            _check(where, key, getattr(self, key), int)
        if self.wrapped:
            if self.channels <= 0 or self.channels % 2:
                raise DetectorSchemaError(
                    f"plane {self.name}: a wrapped plane needs an even, positive 'channels'; Received: {self.channels}"
                )
            _in_range(where, "channels", self.channels)
            if abs(self.angle_deg) < 0.5:
                raise DetectorSchemaError(f"plane {self.name}: vertical wires (|angle| < 0.5 deg) cannot wrap; "
                                          f"Received: angle_deg={self.angle_deg}")
        elif self.wires_per_face <= 0:
            raise DetectorSchemaError(
                f"plane {self.name}: an unwrapped plane needs 'wires_per_face' > 0; Received: {self.wires_per_face}"
            )
        else:
            _in_range(where, "wires_per_face", self.wires_per_face, "channels")

    @property
    def angle_rad(self) -> float:
        return math.radians(self.angle_deg)


@dataclass(frozen=True)
class AnodeSpec:
    """The anode (APA) template shared by all anodes of a detector."""

    height_cm: float
    width_cm: float
    thickness_cm: float
    faces: int
    planes: tuple[PlaneSpec, ...]

    def __post_init__(self):
        if isinstance(self.faces, bool) or self.faces not in (1, 2):
            raise DetectorSchemaError(f"anode: faces must be 1 or 2; Received: faces={shown(self.faces)}")
        for key in ("height_cm", "width_cm"):
            _in_range("anode", key, _check("anode", key, getattr(self, key), float), "length_cm")
        _in_range("anode", "thickness_cm", _check("anode", "thickness_cm", self.thickness_cm, float))
        names = [p.name for p in self.planes]
        if len(set(names)) != len(names) or not names:
            raise DetectorSchemaError(f"anode: plane names must be unique and non-empty; Received: {names}")
        if sum(p.collection for p in self.planes) != 1:
            raise DetectorSchemaError("anode: exactly one plane must have collection = true")
        for i, p in enumerate(self.planes):
            if p.wrapped and self.faces != 2:
                raise DetectorSchemaError(f"plane {p.name}: wrapped wires need an anode with faces = 2")
            for q in self.planes[:i]:  # parallel wires cannot be told apart as views
                if abs(p.angle_deg - q.angle_deg) < 0.5:
                    raise DetectorSchemaError(
                        f"planes {q.name} and {p.name} have (nearly) parallel wires ({q.angle_deg} and {p.angle_deg} "
                        "deg), so they cannot be told apart as views; plane angles must differ by 0.5 deg or more")
            a = math.radians(p.angle_deg)
            if p.wrapped:  # the wound wires cover N pitch / (2 cos a) of the anode's width
                covered = p.channels * p.pitch_cm / (2 * math.cos(a))
                if covered > self.width_cm + 1e-6:
                    raise DetectorSchemaError(
                        f"wrapped plane {p.name} covers {covered:.3f} cm, wider than the anode ({self.width_cm} cm)")
            else:  # the wires must fit on the face (its extent along the plane's pitch direction)
                extent = self.width_cm * abs(math.cos(a)) + self.height_cm * abs(math.sin(a))
                if p.wires_per_face * p.pitch_cm > extent + 1e-6:
                    raise DetectorSchemaError(
                        f"plane {p.name}: {p.wires_per_face} wires x {p.pitch_cm} cm do not fit on the face "
                        f"({extent:.3f} cm of wire coordinate)")

    def channels_of(self, plane: PlaneSpec) -> int:
        """Readout channels of one plane on one anode."""
        return plane.channels if plane.wrapped else plane.wires_per_face * self.faces

    @property
    def channels_per_anode(self) -> int:
        return sum(self.channels_of(p) for p in self.planes)


@dataclass(frozen=True)
class AnodePlacement:
    """Where an anode sits and how long its drift volumes are (-x side, +x side)."""

    center_cm: tuple[float, float, float]
    drift_cm: tuple[float, float]


@dataclass(frozen=True)
class DetectorSpec:
    """A whole detector description, as plain data."""

    name: str
    views: tuple[str, ...]
    tick_us: float
    drift_velocity_cm_per_us: float
    ticks_per_readout: int
    anode: AnodeSpec
    anodes: tuple[AnodePlacement, ...]
    trigger_offset_ticks: int = 0
    title: str = ""
    surface: bool = False
    source: str = field(default="", compare=False)

    def __post_init__(self):
        if not self.name:
            raise DetectorSchemaError("detector: 'name' must be a non-empty string")
        where = f"detector {self.name!r}"
        _check_readout(where, self.tick_us, self.drift_velocity_cm_per_us, self.ticks_per_readout,
                       self.trigger_offset_ticks)
        plane_names = {p.name for p in self.anode.planes}
        for v in self.views:
            if v not in plane_names:
                raise DetectorSchemaError(f"{where}: view {v!r} is not a plane name; planes: {sorted(plane_names)}")
        if len(set(self.views)) != len(self.views) or len(self.views) != len(self.anode.planes):
            raise DetectorSchemaError(f"{where}: 'views' must list every plane once; Received: {list(self.views)}")
        if not self.anodes:
            raise DetectorSchemaError(f"{where}: no anodes ([[anodes]] or [anode_grid])")
        _in_range(where, "number of anodes", len(self.anodes), "anodes")
        for i, a in enumerate(self.anodes):
            for v in a.center_cm:
                _in_range(f"{where}: anode {i}", "center_cm", _check(where, "center_cm", v, float), "coordinate_cm")
            for v in a.drift_cm:
                if _check(where, "drift_cm", v, float) != 0:
                    _in_range(f"{where}: anode {i}", "drift_cm", v, "length_cm")
            if min(a.drift_cm) < 0 or max(a.drift_cm) <= 0:
                raise DetectorSchemaError(f"{where}: anode {i} needs a positive drift length on at least one side")
            if self.anode.faces == 1 and min(a.drift_cm) > 0:
                raise DetectorSchemaError(f"{where}: anode {i} has drift volumes on both sides but faces = 1")
        # Every plane must have a mirror partner among the views (the -x face's wires).
        angles = {round(p.angle_deg, 9): p.name for p in self.anode.planes}
        sides_used = {s for a in self.anodes for s, d in zip((-1, 1), a.drift_cm) if d > 0}
        if -1 in sides_used:
            pitch = {p.name: p.pitch_cm for p in self.anode.planes}
            for p in self.anode.planes:
                if round(-p.angle_deg, 9) not in angles:
                    raise DetectorSchemaError(
                        f"{where}: plane {p.name} at {p.angle_deg} deg is seen at {-p.angle_deg} deg from a -x face, "
                        f"and no plane has that angle, so it belongs to no global view"
                    )
                partner = angles[round(-p.angle_deg, 9)]
                if abs(pitch[partner] - p.pitch_cm) > 1e-3 * p.pitch_cm:
                    raise DetectorSchemaError(
                        f"{where}: plane {p.name} seen from a -x face joins the view of plane {partner}, but their "
                        f"pitches differ ({p.pitch_cm} and {pitch[partner]} cm); one view has one pitch")
        self._check_image_size(where)

    def _check_image_size(self, where: str) -> None:
        """The global image per view at drift window 1 within MAX_VIEW_WIRES x MAX_VIEW_PIXELS."""
        an = self.anode
        columns, x_lo, x_hi = set(), math.inf, -math.inf
        for a in self.anodes:
            for side, drift in zip((-1, 1), a.drift_cm):
                if drift > 0:
                    x_face = a.center_cm[0] + side * an.thickness_cm / 2
                    columns.add((round(x_face, 4), side))
                    x_lo, x_hi = min(x_lo, x_face, x_face + side * drift), max(x_hi, x_face, x_face + side * drift)
        drift_px = (x_hi - x_lo) / self.pixel_drift_cm_per_tick + len(columns) * (self.ticks_per_readout + 1)
        ys = [a.center_cm[1] + s * an.height_cm / 2 for a in self.anodes for s in (-1, 1)]
        zs = [a.center_cm[2] + s * an.width_cm / 2 for a in self.anodes for s in (-1, 1)]
        _check_view_size(where, {p.name: (p.angle_deg, p.pitch_cm) for p in an.planes}, (min(ys), max(ys)),
                         (min(zs), max(zs)), drift_px)

    @property
    def pixel_drift_cm_per_tick(self) -> float:
        return self.drift_velocity_cm_per_us * self.tick_us

    def to_dict(self) -> dict[str, Any]:
        """The description as plain data (the schema above, with an explicit anode list)."""
        return {
            "name": self.name,
            "title": self.title,
            "surface": self.surface,
            "views": list(self.views),
            "tick_us": self.tick_us,
            "drift_velocity_cm_per_us": self.drift_velocity_cm_per_us,
            "ticks_per_readout": self.ticks_per_readout,
            "trigger_offset_ticks": self.trigger_offset_ticks,
            "anode": {
                "height_cm": self.anode.height_cm,
                "width_cm": self.anode.width_cm,
                "thickness_cm": self.anode.thickness_cm,
                "faces": self.anode.faces,
                "planes": [
                    {
                        "name": p.name,
                        "angle_deg": p.angle_deg,
                        "pitch_cm": p.pitch_cm,
                        "wrapped": p.wrapped,
                        **({"channels": p.channels} if p.wrapped else {"wires_per_face": p.wires_per_face}),
                        "collection": p.collection,
                    }
                    for p in self.anode.planes
                ],
            },
            "anodes": [{"center_cm": list(a.center_cm), "drift_cm": list(a.drift_cm)} for a in self.anodes],
        }


def _check_readout(where: str, tick_us: float, velocity: float, ticks: int, trigger: int) -> None:
    _in_range(where, "tick_us", _check(where, "tick_us", tick_us, float))
    _in_range(where, "drift_velocity_cm_per_us", _check(where, "drift_velocity_cm_per_us", velocity, float))
    _in_range(where, "ticks_per_readout", _check(where, "ticks_per_readout", ticks, int))
    _in_range(where, "trigger_offset_ticks", _check(where, "trigger_offset_ticks", trigger, int))


def _check_view_size(where: str, planes: dict, y_range, z_range, drift_px: float) -> None:
    """Refuse a detector whose global image of some view would exceed the limits at drift window 1.

    ``planes``: view name -> (angle_deg of its pitch direction from vertical, pitch_cm); the view's
    wires span the detector's extent along the pitch direction; ``drift_px``: an upper bound of the
    drift pixels at drift window 1.
    """
    for name, (angle_deg, pitch_cm) in planes.items():
        a = math.radians(angle_deg)
        corners = [z * math.cos(a) + y * math.sin(a) for y in y_range for z in z_range]
        wires = (max(corners) - min(corners)) / pitch_cm + 2
        if wires > MAX_VIEW_WIRES:
            raise DetectorSchemaError(
                f"{where}: view {name} would have about {wires:.3g} wires ({max(corners) - min(corners):.4g} cm at "
                f"{pitch_cm} cm pitch), more than {MAX_VIEW_WIRES}")
        if wires * drift_px > MAX_VIEW_PIXELS:
            raise DetectorSchemaError(
                f"{where}: view {name}'s global image would have up to {wires:.3g} wires x {drift_px:.3g} ticks "
                f"= {wires * drift_px:.3g} pixels at drift window 1, more than {MAX_VIEW_PIXELS:.0e}; check "
                "ticks_per_readout, tick_us, drift_velocity_cm_per_us, the pitches and the detector's size")


@dataclass(frozen=True)
class WiresDetectorSpec:
    """A detector whose wires come from a Wire-Cell wires file (schema in the module docstring).

    Attributes:
        wires: absolute path of the wires file.
        wires_sha256: expected SHA-256 of the file ("" : not checked).
        planes: names of the file's plane idents 0, 1, ...
        collection: name of the collection plane.
        cathode_x_cm: x of the cathode planes that end the drift volumes.
    """

    name: str
    wires: str
    views: tuple[str, ...]
    planes: tuple[str, ...]
    collection: str
    tick_us: float
    drift_velocity_cm_per_us: float
    ticks_per_readout: int
    cathode_x_cm: tuple[float, ...]
    trigger_offset_ticks: int = 0
    wires_sha256: str = ""
    title: str = ""
    surface: bool = False
    source: str = field(default="", compare=False)

    def __post_init__(self):
        if not self.name:
            raise DetectorSchemaError("detector: 'name' must be a non-empty string")
        where = f"detector {self.name!r} ({self.source or 'dict'})"
        _check_readout(where, self.tick_us, self.drift_velocity_cm_per_us, self.ticks_per_readout,
                       self.trigger_offset_ticks)
        if len(set(self.planes)) != len(self.planes) or not self.planes or not all(self.planes):
            raise DetectorSchemaError(f"{where}: 'planes' must be unique non-empty names; Received: {list(self.planes)}")
        if self.collection not in self.planes:
            raise DetectorSchemaError(
                f"{where}: collection plane {self.collection!r} is not one of the planes {list(self.planes)}"
            )
        if sorted(self.views) != sorted(self.planes):
            raise DetectorSchemaError(
                f"{where}: 'views' must list every plane once; Received: views={list(self.views)}, "
                f"planes={list(self.planes)}"
            )
        if not self.cathode_x_cm:
            raise DetectorSchemaError(f"{where}: 'cathode_x_cm' needs at least one cathode x")
        for x in self.cathode_x_cm:
            _in_range(where, "cathode_x_cm", _check(where, "cathode_x_cm", x, float), "coordinate_cm")
        if self.wires_sha256 and (len(self.wires_sha256) != 64 or any(c not in "0123456789abcdef" for c in self.wires_sha256)):
            raise DetectorSchemaError(
                f"{where}: 'wires_sha256' must be 64 lowercase hex digits; Received: {shown(self.wires_sha256)}"
            )
        self._check_image_size(where)

    def _check_image_size(self, where: str) -> None:
        """The global image per view at drift window 1 within MAX_VIEW_WIRES x MAX_VIEW_PIXELS (reads the file)."""
        import numpy as np

        from .wirecell import read_wires, wire_lattice

        store = read_wires(self.wires)
        planes = {}
        for pi in store.faces[store.anodes[0][1][0]][1]:  # the views: the planes of the file's first face
            ident, wires = store.planes[pi]
            lat = wire_lattice(store.tail_cm[wires], store.head_cm[wires], where=f"wires file {store.path} plane {ident}")
            planes[f"of plane ident {ident}"] = (math.degrees(lat.angle_rad), lat.pitch_cm)
        columns, looking = set(), False
        cathodes = np.asarray(self.cathode_x_cm)
        for _, plane_idx in store.faces:
            xs = sorted((store.planes[pi][0], float(store.tail_cm[store.planes[pi][1], 0].mean())) for pi in plane_idx)
            first, last = xs[0][1], xs[-1][1]
            columns.add((round(first, 1), first > last))
            looking |= bool(np.any((cathodes - first) * (1 if first > last else -1) > 0))  # a cathode ahead
        if not looking:
            raise DetectorSchemaError(
                f"{where}: no face looks at a cathode in cathode_x_cm={list(self.cathode_x_cm)} (a face of the wires "
                "file drifts from its last plane toward its first plane and beyond), so there is no drift volume")
        ends = np.concatenate([store.tail_cm, store.head_cm])
        x = np.concatenate([ends[:, 0], np.asarray(self.cathode_x_cm)])
        drift_px = float(np.ptp(x)) / self.pixel_drift_cm_per_tick + len(columns) * (self.ticks_per_readout + 1)
        _check_view_size(where, planes, (ends[:, 1].min(), ends[:, 1].max()), (ends[:, 2].min(), ends[:, 2].max()),
                         drift_px)

    @property
    def pixel_drift_cm_per_tick(self) -> float:
        return self.drift_velocity_cm_per_us * self.tick_us

    def to_dict(self) -> dict[str, Any]:
        """The description as plain data (the wires file by absolute path)."""
        out = {
            "name": self.name, "title": self.title, "surface": self.surface, "wires": self.wires, "planes": list(self.planes),
            "collection": self.collection, "views": list(self.views), "tick_us": self.tick_us,
            "drift_velocity_cm_per_us": self.drift_velocity_cm_per_us, "ticks_per_readout": self.ticks_per_readout,
            "trigger_offset_ticks": self.trigger_offset_ticks, "cathode_x_cm": list(self.cathode_x_cm),
        }
        if self.wires_sha256:
            out["wires_sha256"] = self.wires_sha256
        return out


AnySpec = Union[DetectorSpec, WiresDetectorSpec]

_WIRES_KEYS = {
    "name", "title", "surface", "wires", "wires_sha256", "planes", "collection", "views", "tick_us", "drift_velocity_cm_per_us",
    "ticks_per_readout", "trigger_offset_ticks", "cathode_x_cm",
}


def _names(data: dict, key: str, where: str, default) -> list[str]:
    value = data.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DetectorSchemaError(f"{where}: {key!r} must be a list of names; Received: {key}={shown(value)}")
    return value


def _parse_wires_detector(data: dict[str, Any], source: str, base_dir: Path | None) -> WiresDetectorSpec:
    where = f"detector description {source}"
    _unknown_keys(data, _WIRES_KEYS, where)
    given = _require(data, "wires", str, where)
    wires = Path(given)
    try:
        if not wires.is_absolute():
            wires = (base_dir or Path.cwd()) / wires
        wires = wires.resolve()
        found = wires.is_file()
    except (OSError, ValueError):  # a name the system refuses (a NUL byte, too long)
        found = False
    if not found:
        path_text = str(wires) if len(str(wires)) <= 4096 else shown(str(wires))  # a path, whole unless absurd
        raise DetectorSchemaError(f"{where}: wires file {path_text!r} does not exist (from wires={shown(given)})")
    planes = _names(data, "planes", where, ["U", "V", "Z"])
    views = _names(data, "views", where, planes)
    collection = _optional(data, "collection", str, where, planes[-1] if planes else "")
    return WiresDetectorSpec(
        name=_require(data, "name", str, where),
        title=_optional(data, "title", str, where, ""),
        surface=_optional(data, "surface", bool, where, False),
        wires=str(wires),
        wires_sha256=_optional(data, "wires_sha256", str, where, "").lower(),
        planes=tuple(planes),
        collection=collection,
        views=tuple(views),
        tick_us=_require(data, "tick_us", float, where),
        drift_velocity_cm_per_us=_require(data, "drift_velocity_cm_per_us", float, where),
        ticks_per_readout=_require(data, "ticks_per_readout", int, where),
        trigger_offset_ticks=_optional(data, "trigger_offset_ticks", int, where, 0),
        cathode_x_cm=_float_list(data, "cathode_x_cm", None, where),
        source=source,
    )


_TOP_KEYS = {
    "name", "title", "surface", "views", "tick_us", "drift_velocity_cm_per_us", "ticks_per_readout",
    "trigger_offset_ticks", "anode", "anodes", "anode_grid",
}
_PLANE_KEYS = {"name", "angle_deg", "pitch_cm", "wrapped", "channels", "wires_per_face", "collection"}


def _float_list(table: dict, key: str, n: int | None, where: str) -> tuple[float, ...]:
    value = _require(table, key, list, where)
    if n is not None and len(value) != n:
        raise DetectorSchemaError(f"{where}: {key!r} must have {n} numbers; Received: {key}={shown(value)}")
    if not value:
        raise DetectorSchemaError(f"{where}: {key!r} must not be empty")
    if len(value) > LIMITS["anodes"][1]:
        raise DetectorSchemaError(f"{where}: {key!r} has {len(value)} numbers, more than {LIMITS['anodes'][1]}")
    return tuple(_check(where, key, v, float) for v in value)


def parse_detector(data: dict[str, Any], *, source: str = "<dict>", base_dir: str | Path | None = None) -> AnySpec:
    """Validate a detector description given as plain data (see module docstring).

    Args:
        base_dir: folder that a relative ``wires`` path is relative to (default: the working directory).

    Raises:
        DetectorSchemaError: the description does not follow the schema or declares values out of
            :data:`LIMITS`; the message starts with ``detector description SOURCE``.
    """
    where = f"detector description {source}"
    try:
        return _parse(data, source, base_dir, where)
    except DetectorSchemaError as exc:
        msg = str(exc)
        if source in msg:
            raise
        raise DetectorSchemaError(f"{where}: {msg}") from None


def _parse(data, source: str, base_dir, where: str) -> AnySpec:
    if not isinstance(data, dict):
        raise DetectorSchemaError(f"{where}: expected a table/object at the top level")
    if "wires" in data:
        return _parse_wires_detector(data, source, None if base_dir is None else Path(base_dir))
    _unknown_keys(data, _TOP_KEYS, where)
    anode_t = _require(data, "anode", dict, where)
    aw = f"{where} [anode]"
    _unknown_keys(anode_t, {"height_cm", "width_cm", "thickness_cm", "faces", "planes"}, aw)
    planes = []
    for i, pt in enumerate(_require(anode_t, "planes", list, aw)):
        pw = f"{where} [[anode.planes]] #{i}"
        if not isinstance(pt, dict):
            raise DetectorSchemaError(f"{pw}: expected a table")
        _unknown_keys(pt, _PLANE_KEYS, pw)
        planes.append(
            PlaneSpec(
                name=_require(pt, "name", str, pw),
                angle_deg=_require(pt, "angle_deg", float, pw),
                pitch_cm=_require(pt, "pitch_cm", float, pw),
                wrapped=_optional(pt, "wrapped", bool, pw, False),
                channels=_optional(pt, "channels", int, pw, 0),
                wires_per_face=_optional(pt, "wires_per_face", int, pw, 0),
                collection=_optional(pt, "collection", bool, pw, False),
            )
        )
    anode = AnodeSpec(
        height_cm=_require(anode_t, "height_cm", float, aw),
        width_cm=_require(anode_t, "width_cm", float, aw),
        thickness_cm=_optional(anode_t, "thickness_cm", float, aw, 0.0),
        faces=_optional(anode_t, "faces", int, aw, 2),
        planes=tuple(planes),
    )
    if ("anodes" in data) == ("anode_grid" in data):
        raise DetectorSchemaError(f"{where}: give exactly one of [[anodes]] and [anode_grid]")
    placements = []
    if "anodes" in data:
        anodes = _require(data, "anodes", list, where)
        _in_range(where, "number of anodes", max(len(anodes), 1), "anodes")  # none: refused below, by name
        for i, at in enumerate(anodes):
            aw = f"{where} [[anodes]] #{i}"
            if not isinstance(at, dict):
                raise DetectorSchemaError(f"{aw}: expected a table")
            _unknown_keys(at, {"center_cm", "drift_cm"}, aw)
            placements.append(AnodePlacement(_float_list(at, "center_cm", 3, aw), _float_list(at, "drift_cm", 2, aw)))
    else:
        gt = _require(data, "anode_grid", dict, where)
        gw = f"{where} [anode_grid]"
        _unknown_keys(gt, {"x_cm", "y_cm", "z_cm", "drift_cm"}, gw)
        xs, ys, zs = (_float_list(gt, k, None, gw) for k in ("x_cm", "y_cm", "z_cm"))
        _in_range(gw, "number of anodes", len(xs) * len(ys) * len(zs), "anodes")  # before the grid is made
        drift = _float_list(gt, "drift_cm", 2, gw)
        placements = [AnodePlacement((x, y, z), drift) for z in zs for y in ys for x in xs]
    _require(data, "views", list, where)
    views = _names(data, "views", where, None)
    return DetectorSpec(
        name=_require(data, "name", str, where),
        title=_optional(data, "title", str, where, ""),
        surface=_optional(data, "surface", bool, where, False),
        views=tuple(views),
        tick_us=_require(data, "tick_us", float, where),
        drift_velocity_cm_per_us=_require(data, "drift_velocity_cm_per_us", float, where),
        ticks_per_readout=_require(data, "ticks_per_readout", int, where),
        trigger_offset_ticks=_optional(data, "trigger_offset_ticks", int, where, 0),
        anode=anode,
        anodes=tuple(placements),
        source=source,
    )


def load_detector_file(path: str | Path) -> AnySpec:
    """Read a detector description from a ``.toml`` or ``.json`` file.

    Raises:
        DetectorSchemaError: the file cannot be read, is not TOML/JSON, or does not follow the
            schema (the message names the file and the value).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_DESCRIPTION_BYTES + 1)
    except OSError as exc:
        raise DetectorSchemaError(f"cannot read detector file {path}: {exc.strerror or exc}") from None
    kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
    if len(raw) > MAX_DESCRIPTION_BYTES:
        raise DetectorSchemaError(f"detector file {path} is larger than {MAX_DESCRIPTION_BYTES} bytes; not a description")
    try:
        text = raw.decode("utf-8")
        data = json.loads(text) if kind == "JSON" else tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # decode and parse errors are ValueErrors; deep nesting
        reason = "nested too deeply" if isinstance(exc, RecursionError) else " ".join(str(exc).split())[:200]
        raise DetectorSchemaError(f"detector file {path} is not valid {kind}: {reason}") from None
    return parse_detector(data, source=str(path), base_dir=path.resolve().parent)
