"""Wire-Cell wires files: reading, checking and the wire lattice of each plane.

A wires file is the Wire-Cell Toolkit's export of a LArSoft wire geometry
(bzip2-compressed JSON, or plain JSON)::

    {"Store": {
      "anodes": [{"Anode": {"ident": 0, "faces": [0, 1]}}, ...],        # indices into faces
      "faces":  [{"Face":  {"ident": 0, "planes": [0, 1, 2]}}, ...],     # indices into planes
      "planes": [{"Plane": {"ident": 0, "wires": [2195, 2192, ...]}}, ...],  # indices into wires,
                                                                          # in wire-number order
      "wires":  [{"Wire":  {"ident": 0, "channel": 0, "segment": 0, "tail": 0, "head": 1}}, ...],
      "points": [{"Point": {"x": ..., "y": ..., "z": ...}}, ...]}}        # mm, LArSoft coordinates

Plane ident 0, 1, 2 are the two induction planes and the collection plane,
the first plane the drifting charge meets first. Each plane's wires sit at
one x; ``channel`` is the LArSoft readout channel and ``segment`` numbers the
pieces of one channel's wire (DUNE and ProtoDUNE induction wires wrap around
the APA, so one channel reads 2-3 segments).

:func:`read_wires` parses a file once per process (and keeps the parsed
arrays in a small cache file keyed by the file's SHA-256, so the next process
skips the JSON); :func:`wire_lattice` describes one plane's wires as a
lattice of parallel, equally spaced lines, checking that they are one.
Only the standard library and NumPy are used. A file is refused (with a
message naming it) beyond :data:`MAX_WIRES_FILE_BYTES` (compressed or not),
with coordinates beyond 1 km or channel numbers beyond :data:`MAX_CHANNEL`,
or with a plane pitch under :data:`MIN_PITCH_CM`: values that would otherwise
size the detector's arrays.
"""

from __future__ import annotations

import bz2
import contextlib
import functools
import hashlib
import json
import math
import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DetectorSchemaError
from ..text import shown

__all__ = ["WireStore", "WireLattice", "read_wires", "clear_wires_cache", "wire_lattice", "cache_dir",
           "MAX_WIRES_FILE_BYTES", "MAX_CHANNEL", "MIN_PITCH_CM"]

_CACHE_FORMAT = 1
_MM = 0.1  # cm per mm
#: Largest wires file read, compressed or decompressed (DUNE's 1x2x6 workspace: 1 MB, 29 MB of JSON).
MAX_WIRES_FILE_BYTES = 512 << 20
#: Largest channel number (the channel map is an array over channel numbers).
MAX_CHANNEL = 10_000_000
#: Smallest wire pitch (cm) and largest |coordinate| (cm) accepted.
MIN_PITCH_CM = 0.01
MAX_COORDINATE_CM = 1e5


@dataclass(frozen=True, eq=False)
class WireStore:
    """The contents of a wires file as arrays (lengths in cm).

    Attributes:
        path: the file read.
        sha256: hex digest of the file's bytes.
        tail_cm, head_cm: float64 (wires, 3): the end points (x, y, z) of every wire segment.
        channel, segment: int64 (wires,): readout channel and segment number of every wire.
        anodes: per anode, (ident, indices of its faces).
        faces: per face, (ident, indices of its planes).
        planes: per plane, (ident, int64 array of wire indices in wire-number order).
    """

    path: str
    sha256: str
    tail_cm: np.ndarray
    head_cm: np.ndarray
    channel: np.ndarray
    segment: np.ndarray
    anodes: tuple[tuple[int, tuple[int, ...]], ...]
    faces: tuple[tuple[int, tuple[int, ...]], ...]
    planes: tuple[tuple[int, np.ndarray], ...]

    @property
    def n_wires(self) -> int:
        return len(self.channel)


@dataclass(frozen=True, eq=False)
class WireLattice:
    """One plane's wires as parallel lines one pitch apart.

    The wire coordinate of a point (y, z) is ``(y sin a + z cos a - zeta0_cm) / pitch_cm``
    (``a = angle_rad``): lattice position ``k`` spans [k, k + 1) with its wire at k + 0.5.
    The pitch direction (sin a, cos a) is the one along which the file's wire numbers grow.

    Attributes:
        x_cm: x of the plane.
        angle_rad: direction of the pitch in the (y, z) plane, (-pi, pi].
        pitch_cm: wire pitch.
        zeta0_cm: pitch coordinate of the lower edge of lattice position 0.
        order: int64 (wires,): the plane's wire number (index in the file's list) at each lattice
            position. Equal to arange(wires) except where the file lists two neighbouring short
            corner wires in swapped order.
        max_offset_cm: largest distance of a wire end from its lattice line (the check's margin).
        edges_cm: float64 (wires + 1,): pitch coordinates of the borders between neighbouring wires,
            halfway between their actual positions (the files round positions to 0.01-0.1 mm, so
            the lattice alone can put a point that is within 0.06 mm of a border on the wrong
            side of it); the outer borders are half a pitch outside the outer wires.
    """

    x_cm: float
    angle_rad: float
    pitch_cm: float
    zeta0_cm: float
    order: np.ndarray
    max_offset_cm: float
    edges_cm: np.ndarray


def cache_dir() -> Path:
    """Folder of the parsed-wires cache: $VERTEXFINDER_CACHE_DIR, else $XDG_CACHE_HOME or ~/.cache + /vertexfinder."""
    if os.environ.get("VERTEXFINDER_CACHE_DIR"):
        return Path(os.environ["VERTEXFINDER_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vertexfinder"


def read_wires(path: str | Path, *, use_cache: bool = True) -> WireStore:
    """Read and check a Wire-Cell wires file (``.json.bz2`` or ``.json``).

    Raises:
        DetectorSchemaError: the file cannot be read or does not follow the format (the message
            names the file and the bad entry).
    """
    path = Path(path).resolve()
    try:
        st = path.stat()
    except OSError as exc:
        raise DetectorSchemaError(f"cannot read wires file {path}: {exc.strerror or exc}") from None
    return _read_cached(str(path), st.st_mtime_ns, st.st_size, use_cache)


def clear_wires_cache() -> None:
    """Forget the wires files read in this process, so the next read parses the file or the disk cache again."""
    _read_cached.cache_clear()


@functools.lru_cache(maxsize=8)
def _read_cached(path: str, mtime_ns: int, size: int, use_cache: bool) -> WireStore:
    if size > MAX_WIRES_FILE_BYTES:
        raise DetectorSchemaError(f"wires file {path}: {size} bytes, more than {MAX_WIRES_FILE_BYTES}")
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise DetectorSchemaError(f"cannot read wires file {path}: {exc.strerror or exc}") from None
    sha = hashlib.sha256(raw).hexdigest()
    cached = _cache_file(sha) if use_cache else None
    if cached is not None and cached.is_file():
        store = _from_npz(cached, path, sha)
        if store is not None:
            return store
    store = _parse(raw, path, sha)
    if cached is not None:
        _to_npz(store, cached)
    return store


def _cache_file(sha: str) -> Path | None:
    return cache_dir() / f"wires-{sha[:32]}-v{_CACHE_FORMAT}.npz"


def _bad(path: str, what: str) -> DetectorSchemaError:
    return DetectorSchemaError(f"wires file {path}: {what}")


def _decompress(raw: bytes, path: str) -> bytes:
    """bzip2 data decompressed, at most MAX_WIRES_FILE_BYTES of it."""
    d = bz2.BZ2Decompressor()
    try:
        out = d.decompress(raw, max_length=MAX_WIRES_FILE_BYTES + 1)
    except (OSError, ValueError, EOFError) as exc:
        raise _bad(path, f"not a readable bzip2 file ({exc})") from None
    if len(out) > MAX_WIRES_FILE_BYTES:
        raise _bad(path, f"decompresses to more than {MAX_WIRES_FILE_BYTES} bytes")
    if not d.eof:
        raise _bad(path, "not a readable bzip2 file (truncated)")
    return out


def _parse(raw: bytes, path: str, sha: str) -> WireStore:
    if raw[:3] == b"BZh":
        raw = _decompress(raw, path)
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, integer limits
        reason = "nested too deeply" if isinstance(exc, RecursionError) else " ".join(str(exc).split())[:200]
        raise _bad(path, f"not valid JSON ({reason})") from None
    store = doc.get("Store") if isinstance(doc, dict) else None
    if not isinstance(store, dict):
        raise _bad(path, "expected an object with a 'Store' object at the top level")
    for key in ("anodes", "faces", "planes", "wires", "points"):
        if not isinstance(store.get(key), list) or not store[key]:
            raise _bad(path, f"'Store' needs a non-empty list {key!r}; Received: {type(store.get(key)).__name__}")

    def body(entry, kind, i):
        item = entry.get(kind) if isinstance(entry, dict) else None
        if not isinstance(item, dict):
            raise _bad(path, f"{kind.lower()}s[{i}] is not a {{{kind!r}: {{...}}}} object; Received: {shown(entry)}")
        return item

    def ints(item, key, where):
        value = item.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(path, f"{where}: {key!r} must be an integer; Received: {key}={shown(value)}")
        return value

    def index_list(item, key, n, where):
        value = item.get(key)
        if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise _bad(path, f"{where}: {key!r} must be a non-empty list of indices; Received: {shown(value)}")
        if any(v < 0 or v >= n for v in value):
            bad = next(v for v in value if v < 0 or v >= n)
            raise _bad(path, f"{where}: {key!r} refers to {key[:-1]} {shown(bad)}, but the file has {n} (0..{n - 1})")
        return np.asarray(value, dtype=np.int64)

    points = store["points"]
    try:
        xyz = np.array([[p["Point"]["x"], p["Point"]["y"], p["Point"]["z"]] for p in points], dtype=np.float64)
    except (KeyError, TypeError, ValueError, OverflowError):
        for i, p in enumerate(points):
            item = body(p, "Point", i)
            for k in ("x", "y", "z"):
                if isinstance(item.get(k), bool) or not isinstance(item.get(k), (int, float)):
                    raise _bad(path, f"points[{i}]: {k!r} must be a number; Received: {k}={shown(item.get(k))}")
        raise _bad(path, "points: a coordinate is too large for a float") from None
    if not np.all(np.isfinite(xyz)):
        i = int(np.flatnonzero(~np.isfinite(xyz).all(axis=1))[0])
        raise _bad(path, f"points[{i}] is not finite: {xyz[i].tolist()}")
    if np.abs(xyz).max() * _MM > MAX_COORDINATE_CM:
        i = int(np.argmax(np.abs(xyz).max(axis=1)))
        raise _bad(path, f"points[{i}] lies beyond {MAX_COORDINATE_CM:g} cm: {xyz[i].tolist()} mm")
    wires = store["wires"]
    try:
        table = np.array([[w["Wire"]["channel"], w["Wire"]["segment"], w["Wire"]["tail"], w["Wire"]["head"]]
                          for w in wires])
        if table.dtype.kind not in "iu":
            raise TypeError
    except (KeyError, TypeError, ValueError):
        for i, w in enumerate(wires):
            item = body(w, "Wire", i)
            for k in ("channel", "segment", "tail", "head"):
                ints(item, k, f"wires[{i}]")
        raise _bad(path, "wires: channel, segment, tail and head must be integers of at most 64 bits") from None
    table = table.astype(np.int64)
    if table[:, 0].min() < 0 or table[:, 0].max() > MAX_CHANNEL:
        i = int(np.flatnonzero((table[:, 0] < 0) | (table[:, 0] > MAX_CHANNEL))[0])
        raise _bad(path, f"wires[{i}]: channel {table[i, 0]} outside 0..{MAX_CHANNEL}")
    ends = table[:, 2:4]
    if ends.min() < 0 or ends.max() >= len(xyz):
        i = int(np.flatnonzero((ends < 0).any(axis=1) | (ends >= len(xyz)).any(axis=1))[0])
        raise _bad(path, f"wires[{i}]: tail/head {ends[i].tolist()} refer to no point (the file has {len(xyz)} points)")
    tail, head = xyz[ends[:, 0]] * _MM, xyz[ends[:, 1]] * _MM
    length = np.linalg.norm(head - tail, axis=1)
    if np.any(length <= 0):
        i = int(np.flatnonzero(length <= 0)[0])
        raise _bad(path, f"wires[{i}] has zero length (tail and head at {tail[i].tolist()} cm)")

    planes = []
    owner = np.full(len(table), -1, dtype=np.int64)
    for i, e in enumerate(store["planes"]):
        item = body(e, "Plane", i)
        w = index_list(item, "wires", len(table), f"planes[{i}]")
        if np.any(owner[w] >= 0) or len(np.unique(w)) != len(w):
            j = int(w[np.flatnonzero(owner[w] >= 0)[0]]) if np.any(owner[w] >= 0) else int(w[0])
            raise _bad(path, f"planes[{i}]: wire {j} is listed more than once (in this or another plane)")
        owner[w] = i
        planes.append((ints(item, "ident", f"planes[{i}]"), w))
    faces = []
    for i, e in enumerate(store["faces"]):
        item = body(e, "Face", i)
        faces.append((ints(item, "ident", f"faces[{i}]"),
                      tuple(int(v) for v in index_list(item, "planes", len(planes), f"faces[{i}]"))))
    anodes = []
    for i, e in enumerate(store["anodes"]):
        item = body(e, "Anode", i)
        anodes.append((ints(item, "ident", f"anodes[{i}]"),
                       tuple(int(v) for v in index_list(item, "faces", len(faces), f"anodes[{i}]"))))
    return WireStore(path, sha, tail, head, table[:, 0].copy(), table[:, 1].copy(), tuple(anodes), tuple(faces),
                     tuple(planes))


def _to_npz(store: WireStore, target: Path) -> None:
    """Write the parsed arrays to the cache; a cache that cannot be written is skipped."""
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(
                fh, sha256=np.array(store.sha256), tail=store.tail_cm, head=store.head_cm, channel=store.channel,
                segment=store.segment,
                anode_ident=np.array([a[0] for a in store.anodes]), anode_n=np.array([len(a[1]) for a in store.anodes]),
                anode_faces=np.concatenate([a[1] for a in store.anodes]).astype(np.int64),
                face_ident=np.array([f[0] for f in store.faces]), face_n=np.array([len(f[1]) for f in store.faces]),
                face_planes=np.concatenate([f[1] for f in store.faces]).astype(np.int64),
                plane_ident=np.array([p[0] for p in store.planes]), plane_n=np.array([len(p[1]) for p in store.planes]),
                plane_wires=np.concatenate([p[1] for p in store.planes]),
            )
        os.replace(tmp, target)
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _from_npz(cached: Path, path: str, sha: str) -> WireStore | None:
    """The arrays of a cache file, or None when it is unreadable or not of this file."""
    try:
        with open(cached, "rb") as fh, np.load(fh, allow_pickle=False) as z:  # fh: closed even when np.load fails
            if str(z["sha256"]) != sha:
                return None

            def split(ident, n, flat):
                bounds = np.cumsum(z[n])[:-1]
                return tuple((int(i), part) for i, part in zip(z[ident], np.split(z[flat].astype(np.int64), bounds)))

            return WireStore(
                path, sha, z["tail"], z["head"], z["channel"], z["segment"],
                tuple((i, tuple(int(v) for v in f)) for i, f in split("anode_ident", "anode_n", "anode_faces")),
                tuple((i, tuple(int(v) for v in p)) for i, p in split("face_ident", "face_n", "face_planes")),
                split("plane_ident", "plane_n", "plane_wires"),
            )
    except (OSError, ValueError, KeyError, EOFError, IndexError, zipfile.BadZipFile, zlib.error):
        return None  # a damaged cache file is read again from the wires file


def wire_lattice(tail_cm: np.ndarray, head_cm: np.ndarray, *, where: str = "plane") -> WireLattice:
    """Fit one plane's wires (in wire-number order) with a lattice of parallel lines.

    Raises DetectorSchemaError (prefixed with ``where``) if the wires are not at one x, not
    parallel, or not one pitch apart: such a plane cannot be addressed by a wire coordinate.
    """
    n = len(tail_cm)
    x = np.concatenate([tail_cm[:, 0], head_cm[:, 0]])
    if np.ptp(x) > 1e-3:
        raise DetectorSchemaError(f"{where}: wires are not at one x (x from {x.min():.4f} to {x.max():.4f} cm)")
    d = head_cm[:, 1:] - tail_cm[:, 1:]  # (y, z)
    length = np.linalg.norm(d, axis=1)
    u = d / length[:, None]
    u *= np.where(u @ u[np.argmax(length)] < 0, -1.0, 1.0)[:, None]
    m = (u * length[:, None]).sum(axis=0)
    m /= np.linalg.norm(m)
    normal = np.array([-m[1], m[0]])  # perpendicular to the wires in (y, z)
    centre = 0.5 * (tail_cm[:, 1:] + head_cm[:, 1:])
    s = centre @ normal
    if n > 1 and s[-1] < s[0]:
        normal, s = -normal, -s
    order = np.argsort(s, kind="stable")
    if n > 1:
        k = np.arange(n)
        ss = s[order]
        pitch, s0 = np.polyfit(k, ss, 1)
        if pitch <= 0 or np.any(np.diff(ss) < 0.5 * pitch):
            raise DetectorSchemaError(f"{where}: two wires lie at the same pitch position (no wire lattice)")
        if pitch < MIN_PITCH_CM:
            raise DetectorSchemaError(f"{where}: wire pitch {pitch * 10:.4g} mm, less than {MIN_PITCH_CM * 10:g} mm")
    else:
        pitch, s0 = 1.0, float(s[0])
    offsets = np.concatenate([tail_cm[:, 1:] @ normal, head_cm[:, 1:] @ normal])
    lattice = np.empty(n)
    lattice[order] = s0 + np.arange(n) * pitch
    dev = float(np.max(np.abs(offsets - np.concatenate([lattice, lattice]))))
    if dev > 0.05 * pitch:
        raise DetectorSchemaError(
            f"{where}: wires are not parallel lines one pitch apart (a wire end lies {dev * 10:.3f} mm from its "
            f"lattice line, pitch {pitch * 10:.3f} mm)"
        )
    angle = math.atan2(normal[0], normal[1])
    ss = s[order]
    edges = np.concatenate([[ss[0] - 0.5 * pitch], 0.5 * (ss[1:] + ss[:-1]), [ss[-1] + 0.5 * pitch]])
    return WireLattice(float(np.median(x)), angle, float(pitch), float(s0 - 0.5 * pitch), order.astype(np.int64), dev,
                       edges)
