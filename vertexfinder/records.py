"""Event records: what one event is, wherever it comes from.

An :class:`EventRecord` holds, per plane of the global image (views in the
detector's order, e.g. U, V, Z), a uint8 image cropped to the activity and its
origin in the global image, plus the truth when it is known. Records come from
the event store, from ROOT dumps, from the simulation, or are built by users
from frames and hits through the mapper.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from generators.truth import (
    CLASS_NAMES,
    FLAG_COSMIC,
    FLAG_CONVERSION,
    FLAG_DECAY,
    FLAG_HADRONIC,
    FLAG_NU_PRIMARY,
    FLAG_PI0,
    NONE_CLASS,
)

from .errors import BadEventError

__all__ = [
    "VERTEX_KINDS",
    "FLAG_HADRONIC",
    "FLAG_PI0",
    "FLAG_DECAY",
    "FLAG_CONVERSION",
    "FLAG_NU_PRIMARY",
    "FLAG_COSMIC",
    "PlaneImage",
    "TruthVertex",
    "EventRecord",
    "kind_from_flags",
    "vertex_visible",
    "DRIFT_POOLINGS",
    "DEFAULT_DRIFT_WINDOW",
]

#: Drift pooling choices (how ticks become drift pixels), in the order of their kernel ids. Records,
#: stores, the mapper and the commands call this ``pooling``; the glimpse pyramid's own pooling is
#: ``pyramid_pooling`` (:data:`generators.glimpses.PYRAMID_POOLINGS`).
DRIFT_POOLINGS = ("max", "mean", "mean-around-max")

#: Ticks per drift pixel assumed when none is given (DUNE practice: pixels ~0.48 x 0.48 cm).
DEFAULT_DRIFT_WINDOW = 6


def _is_description_file(value) -> bool:
    path = Path(value)
    return path.suffix.lower() in (".toml", ".json") and path.is_file()


@dataclass(frozen=True)
class _SpecOnly:
    spec: object


#: Detectors seen in records, by description: unpickled records get the same objects back.
_DETECTORS: OrderedDict = OrderedDict()
_DETECTORS_KEPT = 16


def _remember(detector) -> None:
    _DETECTORS[detector.spec] = _DETECTORS.pop(detector.spec, detector)
    while len(_DETECTORS) > _DETECTORS_KEPT:
        _DETECTORS.popitem(last=False)


def detector_from_spec(spec):
    """The Detector of a (hashable) description: one already in use for it (in a record, or the
    built-in one), else a new one, built once."""
    from .detectors import Detector, get_detector, list_detectors

    if spec in _DETECTORS:
        _DETECTORS.move_to_end(spec)
        return _DETECTORS[spec]
    det = None
    if spec.name in list_detectors():
        builtin = get_detector(spec.name)
        if builtin.spec == spec:
            det = builtin
    det = det or Detector(spec)
    _remember(det)
    return det


#: Vertex classes, in the order used for class ids everywhere (store, model heads): the model's
#: classes without "none". The truth flags (FLAG_*) are those of the historical dumps' truth maps.
VERTEX_KINDS = CLASS_NAMES[:NONE_CLASS]


def kind_from_flags(flags: int) -> str:
    """The vertex class implied by truth flags (decay and conversion win over hadronic)."""
    if flags & FLAG_DECAY:
        return "decay"
    if flags & FLAG_CONVERSION:
        return "conversion"
    return "interaction"


@dataclass(frozen=True, eq=False)
class PlaneImage:
    """One plane's image crop.

    Attributes:
        view: plane name ("U", "V", "Z", ...).
        pixels: uint8 array of shape (wires, drift pixels); byte = ADC, 0 = no charge.
        origin: (global wire, global drift pixel) of ``pixels[0, 0]``.
        truth: optional int16 array, same shape: index into the event's
            ``vertices`` of the vertex the pixel's charge originates from, -1 for none.
        slices: optional int16 array, same shape: the slice (a set of hits another
            reconstruction grouped as one interaction, e.g. a Pandora slice) each pixel's charge
            belongs to, -1 for none (:func:`slice_mask`, ``VertexFinder.find(region=...)``).
    """

    view: str
    pixels: np.ndarray
    origin: tuple[int, int]
    truth: np.ndarray | None = None
    slices: np.ndarray | None = None

    def __post_init__(self):
        pixels = np.asarray(self.pixels)
        if pixels.ndim != 2:
            raise BadEventError(f"plane {self.view}: pixels must be 2D (wires, drift); Received: shape={pixels.shape}")
        if pixels.dtype != np.uint8:
            raise BadEventError(f"plane {self.view}: pixels must be uint8; Received: dtype={pixels.dtype}")
        object.__setattr__(self, "pixels", pixels)
        object.__setattr__(self, "origin", (int(self.origin[0]), int(self.origin[1])))
        if self.truth is not None:
            truth = np.asarray(self.truth)
            if truth.shape != pixels.shape:
                raise BadEventError(
                    f"plane {self.view}: truth map shape {truth.shape} differs from pixels shape {pixels.shape}"
                )
            object.__setattr__(self, "truth", truth.astype(np.int16, copy=False))
        if self.slices is not None:
            slices = np.asarray(self.slices)
            if slices.shape != pixels.shape or not np.issubdtype(slices.dtype, np.integer):
                raise BadEventError(
                    f"plane {self.view}: the slice map must be integers of the pixels' shape {pixels.shape}; "
                    f"Received: shape={slices.shape}, dtype={slices.dtype}")
            object.__setattr__(self, "slices", slices.astype(np.int16, copy=False))

    @property
    def shape(self) -> tuple[int, int]:
        return self.pixels.shape

    @property
    def extent(self) -> tuple[int, int, int, int]:
        """(wire_lo, wire_hi, drift_lo, drift_hi) in global pixels, hi exclusive."""
        w0, d0 = self.origin
        return w0, w0 + self.pixels.shape[0], d0, d0 + self.pixels.shape[1]

    def to_global(self, shape: tuple[int, int]) -> np.ndarray:
        """Paste the crop into an all-zero global image of ``shape``."""
        out = np.zeros(shape, dtype=np.uint8)
        w0, w1, d0, d1 = self.extent
        if w0 < 0 or d0 < 0 or w1 > shape[0] or d1 > shape[1]:
            raise BadEventError(f"plane {self.view}: crop {self.extent} lies outside the global image {shape}")
        out[w0:w1, d0:d1] = self.pixels
        return out


@dataclass(frozen=True, eq=False)
class TruthVertex:
    """A true vertex.

    Attributes:
        kind: "interaction", "decay" or "conversion".
        position_cm: (x, y, z) in cm, detector coordinates.
        flags: bit flags (FLAG_* constants).
        parent: index of the parent vertex in the event, -1 for none.
        planes: float array (planes, 2): (global wire, global drift pixel) on each plane.
        pdg: PDG code of the particle that interacted, decayed or converted (0 if unknown).
    """

    kind: str
    position_cm: np.ndarray
    flags: int = 0
    parent: int = -1
    planes: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    pdg: int = 0

    def __post_init__(self):
        if self.kind not in VERTEX_KINDS:
            raise BadEventError(f"vertex kind must be one of {VERTEX_KINDS}; Received: kind={self.kind!r}")
        object.__setattr__(self, "position_cm", np.asarray(self.position_cm, dtype=np.float64).reshape(3))
        object.__setattr__(self, "planes", np.asarray(self.planes, dtype=np.float64).reshape(-1, 2))
        object.__setattr__(self, "flags", int(self.flags))
        object.__setattr__(self, "parent", int(self.parent))
        object.__setattr__(self, "pdg", int(self.pdg))

    @property
    def is_primary(self) -> bool:
        return bool(self.flags & FLAG_NU_PRIMARY)

    @property
    def is_cosmic(self) -> bool:
        """A vertex of a cosmic muon (its decay, its delta rays' conversions, ...)."""
        return bool(self.flags & FLAG_COSMIC)


@dataclass(frozen=True, eq=False)
class EventRecord:
    """One event: ids, per-plane image crops and the truth when known.

    Attributes:
        run, subrun, event: event ids.
        detector: detector name. The constructor also takes a Detector or the path of a
            description file (TOML/JSON): the name is kept here and the Detector in ``geometry``.
        drift_window: ticks pooled into one drift pixel.
        pooling: "max", "mean" or "mean-around-max".
        planes: one PlaneImage per global-image plane, in the detector's view order.
        vertices: truth vertices (empty when unknown); the primary has FLAG_NU_PRIMARY.
        nu_pdg: neutrino PDG code (0: not a neutrino event or unknown).
        interaction: "CC", "NC" or "" (unknown).
        energy_gev: neutrino energy in GeV (nan if unknown).
        tpc: TPC of the primary vertex (-1 if unknown).
        reference_vertex_cm: another reconstruction's neutrino vertex (x, y, z) from the same
            file, for comparison (MicroBooNE open samples: Pandora's), or None.
        geometry: the Detector the images were made with, when the record carries it (records
            from description files, stores, dumps, frames, hits and the simulation do); None: the
            built-in detector named ``detector``. :meth:`get_detector` gives either. Pickled as
            its description, so records travel between processes cheaply.
    """

    run: int
    subrun: int
    event: int
    detector: str
    drift_window: int
    pooling: str
    planes: tuple[PlaneImage, ...]
    vertices: tuple[TruthVertex, ...] = ()
    nu_pdg: int = 0
    interaction: str = ""
    energy_gev: float = float("nan")
    tpc: int = -1
    geometry: object = None
    reference_vertex_cm: tuple | None = None

    def __post_init__(self):
        from .detectors import Detector, get_detector

        det = self.detector
        if isinstance(det, (str, Path)) and _is_description_file(det):
            det = get_detector(det)  # a description file: keep what it describes, not its path
        if isinstance(det, Detector):
            if self.geometry is not None and self.geometry is not det:
                raise BadEventError(f"event {self.event}: detector {det.name!r} given twice, as two different "
                                    f"Detectors (detector= and geometry=)")
            object.__setattr__(self, "geometry", det)
            det = det.name
        if isinstance(det, Path) or not isinstance(det, str) or not det:
            raise BadEventError(f"detector must be a name, a description file or a Detector; Received: {det!r}")
        object.__setattr__(self, "detector", det)
        if self.geometry is not None:
            if not isinstance(self.geometry, Detector):
                raise BadEventError(f"geometry must be a Detector or None; Received: {type(self.geometry).__name__}")
            if self.geometry.name != det:
                raise BadEventError(f"event {self.event}: detector {det!r} but geometry {self.geometry.name!r}")
            if self.geometry.spec not in _DETECTORS:
                _remember(self.geometry)
        object.__setattr__(self, "planes", tuple(self.planes))
        object.__setattr__(self, "vertices", tuple(self.vertices))
        for name in ("run", "subrun", "event"):
            value = getattr(self, name)
            if int(value) != value or value < 0:
                raise BadEventError(f"{name} must be a non-negative integer; Received: {name}={value!r}")
            object.__setattr__(self, name, int(value))
        if int(self.drift_window) < 1:
            raise BadEventError(f"drift_window must be >= 1; Received: drift_window={self.drift_window!r}")
        for i, v in enumerate(self.vertices):
            if not -1 <= v.parent < len(self.vertices) or v.parent == i:
                raise BadEventError(
                    f"event {self.event}: vertex {i} has parent {v.parent}, "
                    f"expected -1 or another vertex index below {len(self.vertices)}"
                )
            if len(v.planes) not in (0, len(self.planes)):
                raise BadEventError(
                    f"event {self.event}: vertex {i} has {len(v.planes)} plane projections, expected {len(self.planes)}"
                )

    @property
    def ids(self) -> tuple[int, int, int]:
        return self.run, self.subrun, self.event

    def get_detector(self):
        """The Detector of the record: ``geometry``, else the built-in detector named ``detector``.

        Raises:
            UnknownDetectorError: no geometry and no built-in detector of that name.
        """
        if self.geometry is not None:
            return self.geometry
        from .detectors import get_detector

        return get_detector(self.detector)

    def __getstate__(self):
        state = dict(self.__dict__)
        if state.get("geometry") is not None:  # the description, not the wire tables derived from it
            state["geometry"] = _SpecOnly(state["geometry"].spec)
        return state

    def __setstate__(self, state):
        if isinstance(state.get("geometry"), _SpecOnly):
            state = dict(state, geometry=detector_from_spec(state["geometry"].spec))
        self.__dict__.update(state)

    @property
    def primary(self) -> TruthVertex | None:
        """The neutrino vertex, if the truth has one."""
        for v in self.vertices:
            if v.is_primary:
                return v
        return None

    def __repr__(self) -> str:
        shapes = ", ".join(f"{p.view}{p.pixels.shape}" for p in self.planes)
        return (
            f"EventRecord(run={self.run}, subrun={self.subrun}, event={self.event}, "
            f"detector={self.detector!r}, planes=[{shapes}], vertices={len(self.vertices)})"
        )


def vertex_visible(event: EventRecord, vertex, *, radius_px: float = 3.0, min_planes: int = 2) -> bool:
    """Whether a true vertex has charge within ``radius_px`` of its projection on ``min_planes`` planes
    (:func:`generators.refine.visible_vertices` on each plane's crop)."""
    from generators.refine import visible_vertices

    seen = 0
    for p, plane in enumerate(event.planes):
        if len(vertex.planes) <= p or plane.pixels.size == 0:
            continue
        point = np.asarray(vertex.planes[p], dtype=np.float64)[None] - np.asarray(plane.origin)
        seen += bool(visible_vertices(plane.pixels, point, radius_px)[0])
    return seen >= min_planes
