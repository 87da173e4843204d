"""Declarative detector descriptions: the schema and its validation.

A detector is described by plain data (a TOML or JSON file, or a dict). The
built-in detectors are files of this same schema in ``builtin/``. Schema::

    name = "my-detector"                  # str, required
    title = "..."                         # str, optional
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

__all__ = [
    "PlaneSpec", "AnodeSpec", "AnodePlacement", "DetectorSpec", "WiresDetectorSpec", "parse_detector",
    "load_detector_file",
]


def _require(table: dict, key: str, kind, where: str):
    if key not in table:
        raise DetectorSchemaError(f"{where}: missing required key {key!r}")
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise DetectorSchemaError(
            f"{where}: {key!r} must be {kind.__name__}; Received: {key}={value!r}"
        )
    return value


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
        if not -90.0 < self.angle_deg < 90.0:
            raise DetectorSchemaError(f"plane {self.name}: angle_deg must be in (-90, 90); Received: {self.angle_deg}")
        if self.pitch_cm <= 0:
            raise DetectorSchemaError(f"plane {self.name}: pitch_cm must be > 0; Received: {self.pitch_cm}")
        if self.wrapped:
            if self.channels <= 0 or self.channels % 2:
                raise DetectorSchemaError(
                    f"plane {self.name}: a wrapped plane needs an even, positive 'channels'; Received: {self.channels}"
                )
            if self.angle_deg == 0.0:
                raise DetectorSchemaError(f"plane {self.name}: vertical wires (angle 0) cannot wrap")
        elif self.wires_per_face <= 0:
            raise DetectorSchemaError(
                f"plane {self.name}: an unwrapped plane needs 'wires_per_face' > 0; Received: {self.wires_per_face}"
            )

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
        if self.faces not in (1, 2):
            raise DetectorSchemaError(f"anode: faces must be 1 or 2; Received: faces={self.faces}")
        if self.height_cm <= 0 or self.width_cm <= 0 or self.thickness_cm < 0:
            raise DetectorSchemaError("anode: height_cm and width_cm must be > 0 and thickness_cm >= 0")
        names = [p.name for p in self.planes]
        if len(set(names)) != len(names) or not names:
            raise DetectorSchemaError(f"anode: plane names must be unique and non-empty; Received: {names}")
        if sum(p.collection for p in self.planes) != 1:
            raise DetectorSchemaError("anode: exactly one plane must have collection = true")
        for p in self.planes:
            if p.wrapped and self.faces != 2:
                raise DetectorSchemaError(f"plane {p.name}: wrapped wires need an anode with faces = 2")

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
    source: str = field(default="", compare=False)

    def __post_init__(self):
        if not self.name:
            raise DetectorSchemaError("detector: 'name' must be a non-empty string")
        where = f"detector {self.name!r}"
        _check_readout(where, self.tick_us, self.drift_velocity_cm_per_us, self.ticks_per_readout)
        plane_names = {p.name for p in self.anode.planes}
        for v in self.views:
            if v not in plane_names:
                raise DetectorSchemaError(f"{where}: view {v!r} is not a plane name; planes: {sorted(plane_names)}")
        if len(set(self.views)) != len(self.views) or len(self.views) != len(self.anode.planes):
            raise DetectorSchemaError(f"{where}: 'views' must list every plane once; Received: {list(self.views)}")
        if not self.anodes:
            raise DetectorSchemaError(f"{where}: no anodes ([[anodes]] or [anode_grid])")
        for i, a in enumerate(self.anodes):
            if min(a.drift_cm) < 0 or max(a.drift_cm) <= 0:
                raise DetectorSchemaError(f"{where}: anode {i} needs a positive drift length on at least one side")
            if self.anode.faces == 1 and min(a.drift_cm) > 0:
                raise DetectorSchemaError(f"{where}: anode {i} has drift volumes on both sides but faces = 1")
        # Every plane must have a mirror partner among the views (the -x face's wires).
        angles = {round(p.angle_deg, 9): p.name for p in self.anode.planes}
        sides_used = {s for a in self.anodes for s, d in zip((-1, 1), a.drift_cm) if d > 0}
        if -1 in sides_used:
            for p in self.anode.planes:
                if round(-p.angle_deg, 9) not in angles:
                    raise DetectorSchemaError(
                        f"{where}: plane {p.name} at {p.angle_deg} deg is seen at {-p.angle_deg} deg from a -x face, "
                        f"and no plane has that angle, so it belongs to no global view"
                    )

    @property
    def pixel_drift_cm_per_tick(self) -> float:
        return self.drift_velocity_cm_per_us * self.tick_us

    def to_dict(self) -> dict[str, Any]:
        """The description as plain data (the schema above, with an explicit anode list)."""
        return {
            "name": self.name,
            "title": self.title,
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


def _check_readout(where: str, tick_us: float, velocity: float, ticks: int) -> None:
    if tick_us <= 0 or velocity <= 0 or ticks <= 0:
        raise DetectorSchemaError(
            f"{where}: tick_us, drift_velocity_cm_per_us and ticks_per_readout must be > 0; "
            f"Received: tick_us={tick_us}, drift_velocity_cm_per_us={velocity}, ticks_per_readout={ticks}"
        )


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
    source: str = field(default="", compare=False)

    def __post_init__(self):
        if not self.name:
            raise DetectorSchemaError("detector: 'name' must be a non-empty string")
        where = f"detector {self.name!r} ({self.source or 'dict'})"
        _check_readout(where, self.tick_us, self.drift_velocity_cm_per_us, self.ticks_per_readout)
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
        if self.wires_sha256 and (len(self.wires_sha256) != 64 or any(c not in "0123456789abcdef" for c in self.wires_sha256)):
            raise DetectorSchemaError(
                f"{where}: 'wires_sha256' must be 64 lowercase hex digits; Received: {self.wires_sha256!r}"
            )

    @property
    def pixel_drift_cm_per_tick(self) -> float:
        return self.drift_velocity_cm_per_us * self.tick_us

    def to_dict(self) -> dict[str, Any]:
        """The description as plain data (the wires file by absolute path)."""
        out = {
            "name": self.name, "title": self.title, "wires": self.wires, "planes": list(self.planes),
            "collection": self.collection, "views": list(self.views), "tick_us": self.tick_us,
            "drift_velocity_cm_per_us": self.drift_velocity_cm_per_us, "ticks_per_readout": self.ticks_per_readout,
            "trigger_offset_ticks": self.trigger_offset_ticks, "cathode_x_cm": list(self.cathode_x_cm),
        }
        if self.wires_sha256:
            out["wires_sha256"] = self.wires_sha256
        return out


AnySpec = Union[DetectorSpec, WiresDetectorSpec]

_WIRES_KEYS = {
    "name", "title", "wires", "wires_sha256", "planes", "collection", "views", "tick_us", "drift_velocity_cm_per_us",
    "ticks_per_readout", "trigger_offset_ticks", "cathode_x_cm",
}


def _parse_wires_detector(data: dict[str, Any], source: str, base_dir: Path | None) -> WiresDetectorSpec:
    where = f"detector description {source}"
    _unknown_keys(data, _WIRES_KEYS, where)
    wires = Path(_require(data, "wires", str, where))
    if not wires.is_absolute():
        wires = (base_dir or Path.cwd()) / wires
    wires = wires.resolve()
    if not wires.is_file():
        raise DetectorSchemaError(f"{where}: wires file {str(wires)!r} does not exist (from wires={data['wires']!r})")
    planes = data.get("planes", ["U", "V", "Z"])
    if not isinstance(planes, list) or not all(isinstance(p, str) for p in planes):
        raise DetectorSchemaError(f"{where}: 'planes' must be a list of names; Received: planes={planes!r}")
    views = data.get("views", planes)
    if not isinstance(views, list) or not all(isinstance(v, str) for v in views):
        raise DetectorSchemaError(f"{where}: 'views' must be a list of plane names; Received: views={views!r}")
    collection = data.get("collection", planes[-1] if planes else "")
    if not isinstance(collection, str):
        raise DetectorSchemaError(f"{where}: 'collection' must be a plane name; Received: collection={collection!r}")
    trigger = data.get("trigger_offset_ticks", 0)
    if isinstance(trigger, bool) or not isinstance(trigger, int):
        raise DetectorSchemaError(f"{where}: 'trigger_offset_ticks' must be int; Received: trigger_offset_ticks={trigger!r}")
    sha = data.get("wires_sha256", "")
    if not isinstance(sha, str):
        raise DetectorSchemaError(f"{where}: 'wires_sha256' must be a string; Received: {sha!r}")
    return WiresDetectorSpec(
        name=_require(data, "name", str, where),
        title=str(data.get("title", "")),
        wires=str(wires),
        wires_sha256=sha.lower(),
        planes=tuple(planes),
        collection=collection,
        views=tuple(views),
        tick_us=_require(data, "tick_us", float, where),
        drift_velocity_cm_per_us=_require(data, "drift_velocity_cm_per_us", float, where),
        ticks_per_readout=_require(data, "ticks_per_readout", int, where),
        trigger_offset_ticks=trigger,
        cathode_x_cm=_float_list(data, "cathode_x_cm", None, where),
        source=source,
    )


_TOP_KEYS = {
    "name", "title", "views", "tick_us", "drift_velocity_cm_per_us", "ticks_per_readout",
    "trigger_offset_ticks", "anode", "anodes", "anode_grid",
}
_PLANE_KEYS = {"name", "angle_deg", "pitch_cm", "wrapped", "channels", "wires_per_face", "collection"}


def _float_list(table: dict, key: str, n: int | None, where: str) -> tuple[float, ...]:
    value = _require(table, key, list, where)
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise DetectorSchemaError(f"{where}: {key!r} must be a list of numbers; Received: {value!r}") from None
    if n is not None and len(out) != n:
        raise DetectorSchemaError(f"{where}: {key!r} must have {n} numbers; Received: {value!r}")
    if not out:
        raise DetectorSchemaError(f"{where}: {key!r} must not be empty")
    return out


def parse_detector(data: dict[str, Any], *, source: str = "<dict>", base_dir: str | Path | None = None) -> AnySpec:
    """Validate a detector description given as plain data (see module docstring).

    Args:
        base_dir: folder that a relative ``wires`` path is relative to (default: the working directory).
    """
    where = f"detector description {source}"
    if not isinstance(data, dict):
        raise DetectorSchemaError(f"{where}: expected a table/object at the top level")
    if "wires" in data:
        return _parse_wires_detector(data, source, None if base_dir is None else Path(base_dir))
    _unknown_keys(data, _TOP_KEYS, where)
    anode_t = _require(data, "anode", dict, where)
    _unknown_keys(anode_t, {"height_cm", "width_cm", "thickness_cm", "faces", "planes"}, f"{where} [anode]")
    planes = []
    for i, pt in enumerate(_require(anode_t, "planes", list, f"{where} [anode]")):
        pw = f"{where} [[anode.planes]] #{i}"
        if not isinstance(pt, dict):
            raise DetectorSchemaError(f"{pw}: expected a table")
        _unknown_keys(pt, _PLANE_KEYS, pw)
        wrapped = bool(pt.get("wrapped", False))
        planes.append(
            PlaneSpec(
                name=_require(pt, "name", str, pw),
                angle_deg=_require(pt, "angle_deg", float, pw),
                pitch_cm=_require(pt, "pitch_cm", float, pw),
                wrapped=wrapped,
                channels=int(pt.get("channels", 0)),
                wires_per_face=int(pt.get("wires_per_face", 0)),
                collection=bool(pt.get("collection", False)),
            )
        )
    anode = AnodeSpec(
        height_cm=_require(anode_t, "height_cm", float, f"{where} [anode]"),
        width_cm=_require(anode_t, "width_cm", float, f"{where} [anode]"),
        thickness_cm=float(anode_t.get("thickness_cm", 0.0)),
        faces=int(anode_t.get("faces", 2)),
        planes=tuple(planes),
    )
    if ("anodes" in data) == ("anode_grid" in data):
        raise DetectorSchemaError(f"{where}: give exactly one of [[anodes]] and [anode_grid]")
    placements = []
    if "anodes" in data:
        for i, at in enumerate(_require(data, "anodes", list, where)):
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
        drift = _float_list(gt, "drift_cm", 2, gw)
        placements = [AnodePlacement((x, y, z), drift) for z in zs for y in ys for x in xs]
    views = _require(data, "views", list, where)
    return DetectorSpec(
        name=_require(data, "name", str, where),
        title=str(data.get("title", "")),
        views=tuple(str(v) for v in views),
        tick_us=_require(data, "tick_us", float, where),
        drift_velocity_cm_per_us=_require(data, "drift_velocity_cm_per_us", float, where),
        ticks_per_readout=_require(data, "ticks_per_readout", int, where),
        trigger_offset_ticks=int(data.get("trigger_offset_ticks", 0)),
        anode=anode,
        anodes=tuple(placements),
        source=source,
    )


def load_detector_file(path: str | Path) -> AnySpec:
    """Read a detector description from a ``.toml`` or ``.json`` file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise DetectorSchemaError(f"cannot read detector file {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DetectorSchemaError(f"detector file {path} is not valid {path.suffix.lstrip('.').upper() or 'TOML'}: {exc}") from None
    return parse_detector(data, source=str(path), base_dir=path.resolve().parent)
