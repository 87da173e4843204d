"""The compact event store: 1 byte per pixel, memory-mapped, O(1) random access, checksummed, atomic.

On disk a store is a directory (conventionally ``*.vfstore``)::

    manifest.json                 the single source of truth (format, version, metadata, chunks),
                                  with the BLAKE2b digest of its own canonical content
    chunk-000000.pixels           every plane crop of the chunk's events back to back: uint8 pixels in
                                  C order, each crop compressed on its own (zlib, level 1) unless the
                                  store was created with compression="none"
    chunk-000000.events.npy       one row per event: ids, neutrino info, vertex range
    chunk-000000.planes.npy       one row per event and plane: byte offset, shape, origin, crc32, truth range
                                  and the truth's crc32
    chunk-000000.vertices.npy     one row per truth vertex: event, kind, flags, parent, pdg, position, projections
    chunk-000000.truth            per-pixel truth of each crop that has it: with zlib a dense map
                                  (vertex + 1 per pixel, 0 none; one byte, two above 254 vertices)
                                  deflated; uncompressed stores keep (flat pixel, vertex) pairs
    ...

Writing: each chunk's files are written under temporary names, flushed and
fsynced, renamed, and only then is ``manifest.json`` replaced (write
``manifest.json.tmp``, fsync, ``os.replace``). A crash leaves the store as of
its last committed chunk; files the manifest does not list are ignored. A new
store is built in a sibling ``<path>.partial-<pid>`` directory and renamed
onto ``path`` when complete, so it never opens as valid but half written;
creating a store removes the partial directories that writers killed before
finishing left behind (those of processes no longer running on this host).

Compression: the pixels are one byte each (ADC, see :mod:`vertexfinder.encoding`);
LArTPC crops are mostly empty, so each crop is deflated on its own: about 27x
smaller for DUNE events at ~1 ms per event to inflate, and any event is still
read alone (O(1)). ``compression="none"`` stores raw bytes that are sliced
straight from the memory map.

Reading: the manifest lists every file with its size and BLAKE2b digest, and
carries the digest of its own content (``manifest_blake2b``: BLAKE2b-128 of the
manifest without that key, as JSON with sorted keys and no spaces), so an edited
or damaged manifest never opens. Opening then cross-checks the manifest against
the data, cheaply (file sizes, index headers and their last rows, never the
pixels): chunk names, event and vertex counts, index shapes and dtypes, the
views against the detector. It checks the digests of the index files; each
crop's and each truth map's CRC-32 is checked when it is read;
:meth:`EventStore.verify` re-reads the manifest and checks every digest. Pixel
files are memory-mapped, so resident memory stays small however large the
store; event ``i`` is found with a binary search over the chunks' event counts
and read without touching other events.

Versions: schema 2 added the manifest digest and the truth maps' CRC-32.
Schema 1 stores still open and read (with every cross-check, without those two
checks), and chunks appended to them are written in schema 1.

Per-event overhead: 33 bytes per event + 53 per plane (+ the truth maps)
+ (45 + 16 x planes) per truth vertex, i.e. 192 bytes for a 3-plane event without
truth and 285 with one vertex: 1M events cost about 0.29 GB of index beside the
pixels (``benchmarks/bench_store.py`` measures it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import zlib
from pathlib import Path

import numpy as np

from . import __version__
from .errors import BadEventError, StoreCorruptError, StoreError, StoreVersionError
from .records import DRIFT_POOLINGS, VERTEX_KINDS, EventRecord, PlaneImage, TruthVertex
from .text import shown

__all__ = ["SCHEMA_VERSION", "EventStore", "StoreWriter", "detector_description", "detector_from_description",
           "description_differences", "WIRES_PATH_ENV"]

#: Folders (separated by os.pathsep) searched for a recorded wires file that is no longer where it was.
WIRES_PATH_ENV = "VERTEXFINDER_WIRES_PATH"

FORMAT = "vertexfinder-event-store"
SCHEMA_VERSION = 2
#: versions this code reads (and appends to, in their own format)
READABLE_VERSIONS = (1, 2)
_INTERACTIONS = ("CC", "NC", "")
COMPRESSIONS = ("zlib", "none")
_DIGEST_KEY = "manifest_blake2b"
_CHUNK_SUFFIXES = ("pixels", "events.npy", "planes.npy", "vertices.npy", "truth")
_HEX32 = re.compile(r"[0-9a-f]{32}")
# written in a partial store while it is built, so a later writer can tell a dead writer's leftovers
_WRITER_FILE = ".writer.json"

EVENT_DTYPE = np.dtype([
    ("run", "<u4"), ("subrun", "<u4"), ("event", "<u4"), ("nu_pdg", "<i4"), ("interaction", "u1"),
    ("energy_gev", "<f4"), ("tpc", "<i4"), ("vertex_start", "<u4"), ("n_vertices", "<u4"),
])
PLANE_DTYPE_V1 = np.dtype([
    ("offset", "<u8"), ("stored", "<u8"), ("wires", "<u4"), ("drift", "<u4"), ("origin_wire", "<i4"), ("origin_drift", "<i4"),
    ("crc32", "<u4"), ("truth_code", "u1"), ("truth_start", "<u8"), ("truth_bytes", "<u4"),
])
# schema 2: + CRC-32 of the stored truth blob
PLANE_DTYPE = np.dtype(PLANE_DTYPE_V1.descr + [("truth_crc32", "<u4")])
TRUTH_DTYPE = np.dtype([("pixel", "<u4"), ("vertex", "<i2")])
# how a crop's truth is stored: none, sparse (pixel, vertex) pairs, deflated dense uint8 (v + 1), deflated dense int16 (v)
TRUTH_NONE, TRUTH_SPARSE, TRUTH_DENSE_U8, TRUTH_DENSE_I16 = 0, 1, 2, 3


def _encode_truth(truth: np.ndarray, deflate: bool) -> tuple[int, bytes]:
    if not deflate:
        flat = np.flatnonzero(truth.ravel() >= 0)
        t = np.empty(flat.size, dtype=TRUTH_DTYPE)
        t["pixel"] = flat
        t["vertex"] = truth.ravel()[flat]
        return TRUTH_SPARSE, t.tobytes()
    if truth.size == 0 or truth.max() < 254:
        return TRUTH_DENSE_U8, zlib.compress((truth + 1).astype(np.uint8).tobytes(), 1)
    return TRUTH_DENSE_I16, zlib.compress(truth.astype("<i2").tobytes(), 1)


def _plane_dtype(version: int) -> np.dtype:
    return PLANE_DTYPE_V1 if version == 1 else PLANE_DTYPE


def _decode_truth(code: int, blob: bytes, shape, n_vertices: int | None = None) -> np.ndarray:
    """The truth map of one crop; with ``n_vertices`` (blobs without a CRC) sparse pairs are sanity-checked."""
    if code == TRUTH_SPARSE:
        t = np.frombuffer(blob, dtype=TRUTH_DTYPE)
        pixel = t["pixel"].astype(np.int64)
        # the writer stores increasing pixels of the event's vertices
        if n_vertices is not None and t.size and (pixel[-1] >= shape[0] * shape[1] or np.any(np.diff(pixel) <= 0)
                                                  or t["vertex"].min() < 0 or t["vertex"].max() >= n_vertices):
            raise ValueError("pixel or vertex out of range")
        out = np.full(shape, -1, dtype=np.int16)
        out.ravel()[pixel] = t["vertex"]
        return out
    if code not in (TRUTH_DENSE_U8, TRUTH_DENSE_I16):
        raise ValueError(f"unknown truth code {code}")
    raw = zlib.decompress(blob)
    if code == TRUTH_DENSE_U8:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 1).reshape(shape)
    return np.frombuffer(raw, dtype="<i2").astype(np.int16).reshape(shape)


def _vertex_dtype(n_planes: int) -> np.dtype:
    return np.dtype([
        ("event", "<u8"), ("kind", "u1"), ("flags", "<u4"), ("parent", "<i4"), ("pdg", "<i4"),
        ("position_cm", "<f8", (3,)), ("planes", "<f8", (n_planes, 2)),
    ])


def _digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _manifest_digest(manifest: dict) -> str:
    """BLAKE2b-128 of the manifest's canonical content (sorted keys, no spaces), its own digest left out."""
    body = {k: v for k, v in manifest.items() if k != _DIGEST_KEY}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _fsync_write(path: Path, write) -> None:
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StoreWriter:
    """Appends events to a store in chunks (see the module docstring for the guarantees)."""

    def __init__(self, directory: Path, manifest: dict, *, chunk_events: int, final_path: Path | None = None,
                 replace: bool = False):
        if chunk_events < 1:
            raise ValueError(f"chunk_events must be >= 1; Received: chunk_events={chunk_events}")
        self._dir = directory
        self._manifest = manifest
        self._chunk_events = int(chunk_events)
        self._final = final_path
        self._replace = replace
        self._pending: list[EventRecord] = []
        self._closed = False
        self._n_planes = len(manifest["views"])
        self._vdtype = _vertex_dtype(self._n_planes)

    @property
    def path(self) -> Path:
        return self._final or self._dir

    def __len__(self) -> int:
        return int(self._manifest["events"]) + len(self._pending)

    def append(self, record: EventRecord) -> None:
        if self._closed:
            raise StoreError(f"{self.path}: the writer is closed")
        m = self._manifest
        ids = f"run {record.run} subrun {record.subrun} event {record.event}"
        if record.detector != m["detector"]:
            raise BadEventError(f"{ids}: detector {record.detector!r} differs from the store's {m['detector']!r}")
        if record.drift_window != m["drift_window"] or record.pooling != m["pooling"]:
            raise BadEventError(
                f"{ids}: drift window/pooling {record.drift_window}/{record.pooling} differ from the store's "
                f"{m['drift_window']}/{m['pooling']}"
            )
        views = [p.view for p in record.planes]
        if views != m["views"]:
            raise BadEventError(f"{ids}: planes {views} differ from the store's views {m['views']}")
        if record.interaction not in _INTERACTIONS:
            raise BadEventError(f"{ids}: interaction must be one of {_INTERACTIONS}; Received: {record.interaction!r}")
        for p in record.planes:
            if p.truth is not None and p.truth.size and p.truth.max() >= len(record.vertices):
                raise BadEventError(f"{ids}: plane {p.view} truth refers to vertex {int(p.truth.max())} of {len(record.vertices)}")
        self._pending.append(record)
        if len(self._pending) >= self._chunk_events:
            self.flush()

    def extend(self, records) -> int:
        n = 0
        for r in records:
            self.append(r)
            n += 1
        return n

    def flush(self) -> None:
        """Commit the pending events as one chunk (chunk files, then the manifest)."""
        if not self._pending:
            return
        m = self._manifest
        name = f"chunk-{len(m['chunks']):06d}"
        first_event = int(m["events"])
        recs = self._pending
        n_p = self._n_planes
        events = np.zeros(len(recs), dtype=EVENT_DTYPE)
        planes = np.zeros(len(recs) * n_p, dtype=PLANE_DTYPE)
        n_vtx = sum(len(r.vertices) for r in recs)
        vertices = np.zeros(n_vtx, dtype=self._vdtype)
        truths, crops = [], []
        offset = truth_at = v_at = n_pixels = 0
        deflate = self._manifest["compression"] == "zlib"
        for i, r in enumerate(recs):
            events[i] = (r.run, r.subrun, r.event, r.nu_pdg, _INTERACTIONS.index(r.interaction),
                         r.energy_gev, r.tpc, v_at, len(r.vertices))
            for j, v in enumerate(r.vertices):
                proj = np.full((n_p, 2), np.nan)
                if len(v.planes):
                    proj[:] = v.planes
                vertices[v_at + j] = (first_event + i, VERTEX_KINDS.index(v.kind), v.flags, v.parent, v.pdg,
                                      v.position_cm, proj)
            v_at += len(r.vertices)
            for k, p in enumerate(r.planes):
                pix = np.ascontiguousarray(p.pixels)
                blob = zlib.compress(pix.tobytes(), 1) if deflate else pix.tobytes()
                crops.append(blob)
                code, tblob = TRUTH_NONE, b""
                if p.truth is not None:
                    code, tblob = _encode_truth(p.truth, deflate)
                    truths.append(tblob)
                planes[i * n_p + k] = (offset, len(blob), pix.shape[0], pix.shape[1], p.origin[0], p.origin[1],
                                       zlib.crc32(pix.tobytes()) & 0xFFFFFFFF, code, truth_at, len(tblob),
                                       zlib.crc32(tblob) & 0xFFFFFFFF)
                offset += len(blob)
                n_pixels += pix.size
                truth_at += len(tblob)
        files = {}

        def write(suffix, fn):
            final = self._dir / f"{name}.{suffix}"
            tmp = self._dir / f".{name}.{suffix}.tmp"
            _fsync_write(tmp, fn)
            os.replace(tmp, final)
            files[final.name] = {"bytes": final.stat().st_size, "blake2b": _digest(final)}

        write("pixels", lambda f: [f.write(c) for c in crops])
        write("events.npy", lambda f: np.save(f, events))
        if m["schema_version"] == 1:  # appending to a schema-1 store keeps its format
            old = np.zeros(len(planes), dtype=PLANE_DTYPE_V1)
            for field in PLANE_DTYPE_V1.names:
                old[field] = planes[field]
            planes = old
        write("planes.npy", lambda f: np.save(f, planes))
        write("vertices.npy", lambda f: np.save(f, vertices))
        write("truth", lambda f: [f.write(t) for t in truths])
        _fsync_dir(self._dir)
        m["chunks"].append({"name": name, "events": len(recs), "pixels": int(n_pixels), "stored_bytes": int(offset),
                            "vertices": n_vtx, "files": files})
        m["events"] = first_event + len(recs)
        _write_manifest(self._dir, m)
        self._pending = []

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True
        if self._final is not None:
            _write_manifest(self._dir, self._manifest)
            (self._dir / _WRITER_FILE).unlink(missing_ok=True)
            old = None
            if self._final.exists():
                if not self._replace:
                    shutil.rmtree(self._dir, ignore_errors=True)
                    raise StoreError(f"{self._final}: exists (appeared while writing); nothing written")
                old = self._final.with_name(self._final.name + f".old-{os.getpid()}")
                os.replace(self._final, old)
            os.replace(self._dir, self._final)
            _fsync_dir(self._final.parent)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        """Drop pending events; a store being created is removed entirely."""
        self._pending = []
        self._closed = True
        if self._final is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def _write_manifest(directory: Path, manifest: dict) -> None:
    if manifest["schema_version"] >= 2:
        manifest[_DIGEST_KEY] = _manifest_digest(manifest)
    tmp = directory / "manifest.json.tmp"
    _fsync_write(tmp, lambda f: f.write(json.dumps(manifest, indent=1).encode()))
    os.replace(tmp, directory / "manifest.json")
    _fsync_dir(directory)


def _is_count(value, low: int = 0) -> bool:
    return type(value) is int and value >= low


def _check_views(m: dict, bad) -> None:
    """The views must be the detector's: from the stored description, else from the built-in detector."""
    desc = m.get("detector_description")
    if desc is not None:
        if not isinstance(desc, dict):
            raise bad(f"detector_description must be an object or null; found {shown(desc)}")
        if desc.get("name") != m["detector"]:
            raise bad(f"detector {m['detector']!r}, but detector_description describes {shown(desc.get('name'))}")
        expected, source = desc.get("views"), "its detector_description"
    else:
        from .detectors import get_detector, list_detectors

        if m["detector"] not in list_detectors():
            return  # a user's detector known only by name: nothing to compare with
        expected, source = list(get_detector(m["detector"]).views), f"built-in detector {m['detector']!r}"
    if m["views"] != expected:
        raise bad(f"views {m['views']} differ from {source}'s {shown(expected)}")


def _check_manifest(m: dict, where, error=StoreCorruptError) -> None:
    """Types, ranges and internal consistency of a manifest; raises ``error("<where>: <problem>")``."""

    def bad(problem: str):
        return error(f"{where}: {problem}")

    if not isinstance(m.get("detector"), str) or not m["detector"]:
        raise bad(f"detector must be a name; found {shown(m.get('detector'))}")
    views = m.get("views")
    if (not isinstance(views, list) or not views or not all(isinstance(v, str) and v for v in views)
            or len(set(views)) != len(views)):
        raise bad(f"views must be a list of distinct plane names; found {shown(views)}")
    if not _is_count(m.get("drift_window"), 1):
        raise bad(f"drift_window must be an integer >= 1; found {shown(m.get('drift_window'))}")
    if m.get("pooling") not in DRIFT_POOLINGS:
        raise bad(f"pooling must be one of {DRIFT_POOLINGS}; found {shown(m.get('pooling'))}")
    if m.get("compression", "none") not in COMPRESSIONS:  # early schema-1 stores have no compression key
        raise bad(f"unknown compression {shown(m.get('compression'))}")
    pixel_cm = m.get("pixel_cm")
    if pixel_cm is not None and not (isinstance(pixel_cm, list)
                                     and all(type(v) in (int, float) and v > 0 for v in pixel_cm)):
        raise bad(f"pixel_cm must be null or a list of positive numbers; found {shown(pixel_cm)}")
    _check_views(m, bad)
    chunks = m.get("chunks")
    if not isinstance(chunks, list):
        raise bad(f"chunks must be a list; found {shown(chunks)}")
    total = 0
    for i, c in enumerate(chunks):
        name = f"chunk-{i:06d}"
        if not isinstance(c, dict):
            raise bad(f"chunk {i} must be an object; found {shown(c)}")
        if c.get("name") != name:
            raise bad(f"chunk {i} is named {shown(c.get('name'))}, expected {name!r} "
                      "(a duplicated, reordered, removed or foreign chunk)")
        for key, low in (("events", 1), ("vertices", 0), ("pixels", 0), ("stored_bytes", 0)):
            if not _is_count(c.get(key), low):
                raise bad(f"{name}: {key} must be an integer >= {low}; found {shown(c.get(key))}")
        files = c.get("files")
        expected = sorted(f"{name}.{suffix}" for suffix in _CHUNK_SUFFIXES)
        if not isinstance(files, dict) or sorted(files) != expected:
            found = sorted(files) if isinstance(files, dict) else files
            raise bad(f"{name}: files must be {expected}; found {shown(found)}")
        for fname, meta in files.items():
            if (not isinstance(meta, dict) or not _is_count(meta.get("bytes"))
                    or not isinstance(meta.get("blake2b"), str) or not _HEX32.fullmatch(meta["blake2b"])):
                raise bad(f"{fname}: size and digest entry must be {{bytes, blake2b}}; found {shown(meta)}")
        if files[f"{name}.pixels"]["bytes"] != c["stored_bytes"]:
            raise bad(f"{name}: stored_bytes {c['stored_bytes']} differs from its pixels file's "
                      f"{files[name + '.pixels']['bytes']} bytes")
        total += c["events"]
    if m.get("events") != total or not _is_count(m.get("events")):
        raise bad(f"says {shown(m.get('events'))} events, its chunks hold {total}")


def _load_manifest(root: Path) -> dict:
    """The manifest of the store at ``root``, its digest and consistency checked."""
    mpath = root / "manifest.json"
    if not root.is_dir():
        raise StoreError(f"{root}: no such event store")
    if not mpath.is_file():
        raise StoreError(f"{root}: not an event store (no manifest.json)")
    try:
        m = json.loads(mpath.read_bytes().decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise StoreCorruptError(f"{mpath}: corrupt manifest ({exc})") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise StoreCorruptError(f"{mpath}: not a vertexfinder event store manifest")
    version = m.get("schema_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise StoreVersionError(
            f"{mpath}: store schema version {shown(version)}, this vertexfinder reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )
    digest = m.get(_DIGEST_KEY)
    if digest is not None or version >= 2:  # schema 1 had no digest; a schema-1 manifest carrying one is checked
        if digest is None:
            raise StoreCorruptError(f"{mpath}: manifest has no {_DIGEST_KEY} (edited or damaged)")
        if digest != _manifest_digest(m):
            raise StoreCorruptError(f"{mpath}: manifest fails its checksum (edited or damaged)")
    _check_manifest(m, mpath)
    return m


# -- detectors recorded with the data ---------------------------------------------------------------
def detector_description(detector) -> dict:
    """A detector as plain data to record beside events (stores, dumps): its description, and for a
    detector made from a Wire-Cell wires file that file's SHA-256, so the file can be found again
    (by name or content) after it moved. :func:`detector_from_description` reads it back."""
    desc = detector.spec.to_dict()
    if detector.wires_file is not None and not desc.get("wires_sha256"):
        desc["wires_sha256"] = _sha256_file(Path(detector.wires_file))
    return desc


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _wires_folders(near) -> list[Path]:
    from importlib import resources

    env = [Path(p) for p in os.environ.get(WIRES_PATH_ENV, "").split(os.pathsep) if p]
    builtin = Path(str(resources.files("vertexfinder.detectors") / "wires"))
    return env + [Path(p) for p in near] + [builtin]


def _find_wires(desc: dict, where: str, near, error) -> Path:
    """The wires file a description names: where it was recorded, else a file of the same SHA-256 found
    by name, then by content, in $VERTEXFINDER_WIRES_PATH, the folders ``near`` the data and the
    built-in wires folder."""
    recorded = Path(str(desc["wires"]))
    sha = str(desc.get("wires_sha256") or "")
    if recorded.is_file() and (not sha or _sha256_file(recorded) == sha):
        return recorded
    folders = _wires_folders(near)
    if sha:
        seen = set()
        by_name = [f / recorded.name for f in folders]
        by_content = [c for f in folders if f.is_dir() for c in sorted(f.iterdir())
                      if c.name.endswith((".json", ".json.bz2"))]
        for candidate in by_name + by_content:
            key = str(candidate.resolve()) if candidate.exists() else str(candidate)
            if key in seen or not candidate.is_file():
                continue
            seen.add(key)
            if _sha256_file(candidate) == sha:
                return candidate
    state = "has other content" if recorded.is_file() else "is missing"
    what = f"SHA-256 {sha}" if sha else "no SHA-256 recorded, so it is looked for only where it was"
    raise error(
        f"{where}: detector {desc.get('name')!r} was recorded with the wires file {recorded}, which {state} "
        f"({what}); searched {', '.join(str(f) for f in folders) if sha else 'nothing else'}. Put the file in "
        f"one of those folders, list its folder in ${WIRES_PATH_ENV}, or give the detector explicitly"
    )


def detector_from_description(desc: dict, *, where: str, near=(), error=StoreError):
    """The Detector of a recorded description (:func:`detector_description`).

    The built-in Detector object when the description is a built-in detector's. A wires file that
    is no longer at its recorded path is found by SHA-256 (see :func:`_find_wires`).

    Raises:
        ``error`` (naming ``where``): the description is malformed or its wires file cannot be found.
    """
    from .detectors import parse_detector
    from .errors import DetectorSchemaError
    from .records import detector_from_spec

    if not isinstance(desc, dict):
        raise error(f"{where}: the recorded detector description is not an object: {shown(desc)}")
    if "wires" in desc:
        try:
            desc = dict(desc, wires=str(_find_wires(desc, where, near, error)))
        except error:
            builtin = _same_builtin(desc)  # stores written before descriptions carried the SHA-256
            if builtin is None:
                raise
            return builtin
    try:
        return detector_from_spec(parse_detector(desc, source=where))
    except DetectorSchemaError as exc:
        raise error(f"{where}: the recorded detector description does not load: {exc}") from None


def _same_builtin(desc: dict):
    """The built-in detector a description without the wires file's SHA-256 describes, if any: the
    same name, a wires file of the same name, the same numbers."""
    from .detectors import get_detector, list_detectors

    name = desc.get("name")
    if name not in list_detectors():
        return None
    builtin = get_detector(name)
    if builtin.wires_file is None or Path(builtin.wires_file).name != Path(str(desc["wires"])).name:
        return None
    return builtin if set(description_differences(builtin, desc)) <= {"wires_sha256"} else None


_IDENTITY_KEYS = ("name", "title", "wires")


def description_differences(detector, desc: dict) -> list[str]:
    """Keys in which a Detector's description differs from a recorded one (its name, title and wires
    file path left out: the same geometry under another name or path is the same detector)."""
    mine = {k: v for k, v in detector_description(detector).items() if k not in _IDENTITY_KEYS}
    theirs = {k: v for k, v in desc.items() if k not in _IDENTITY_KEYS}
    return sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))


def _pid_alive(pid: int) -> bool:
    if os.name != "posix" or pid <= 0:
        return True  # cannot tell: keep
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: someone else's live process
        return True
    return True


def _remove_stale_partials(path: Path) -> None:
    """Remove ``<path>.partial-<pid>`` folders left by writers no longer running on this host."""
    prefix = path.name + ".partial-"
    host = socket.gethostname()
    try:
        entries = list(path.parent.iterdir())
    except OSError:  # a folder we may write in but not list: nothing to clean
        return
    for p in entries:
        pid = p.name[len(prefix):]
        if not p.name.startswith(prefix) or not pid.isdigit() or int(pid) == os.getpid() or not p.is_dir():
            continue
        try:
            writer = json.loads((p / _WRITER_FILE).read_text())
        except (OSError, ValueError):
            writer = {}  # written before writers left their host, or already removed by the rename
        if isinstance(writer, dict) and writer.get("host", host) != host:
            continue  # a writer on another machine sharing this folder: its PID means nothing here
        if not _pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


class EventStore:
    """A read-only view of an event store; ``store[i]`` is an EventRecord."""

    # -- creation -------------------------------------------------------------------------
    @classmethod
    def create(cls, path, *, detector: str, views, drift_window: int, pooling: str, pixel_cm=None,
               detector_description: dict | None = None, chunk_events: int = 1000, overwrite: bool = False,
               compression: str = "zlib") -> StoreWriter:
        """A writer for a new store at ``path``, which appears only when the writer closes successfully.

        ``compression``: "zlib" (each crop deflated on its own; the default) or "none".
        """
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}; Received: compression={compression!r}")
        path = Path(path)
        if path.exists() and not overwrite:
            raise StoreError(f"{path}: exists (pass overwrite=True to replace it)")
        if not path.parent.exists():
            raise StoreError(f"{path}: the folder {path.parent} does not exist")
        manifest = {
            "format": FORMAT, "schema_version": SCHEMA_VERSION, "created_by": f"vertexfinder {__version__}",
            "detector": str(detector), "detector_description": detector_description, "views": list(views),
            "drift_window": int(drift_window), "pooling": str(pooling),
            "pixel_cm": None if pixel_cm is None else [float(v) for v in pixel_cm],
            "compression": compression, "events": 0, "chunks": [],
        }
        _check_manifest(manifest, path, ValueError)  # what would not open is not written
        _remove_stale_partials(path)
        partial = path.with_name(path.name + f".partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        (partial / _WRITER_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
        _write_manifest(partial, manifest)
        return StoreWriter(partial, manifest, chunk_events=chunk_events, final_path=path, replace=overwrite)

    @classmethod
    def append(cls, path, *, chunk_events: int = 1000) -> StoreWriter:
        """A writer adding chunks to an existing store (each chunk committed on its own)."""
        store = cls.open(path)
        manifest = store._manifest
        store.close()
        return StoreWriter(Path(path), manifest, chunk_events=chunk_events)

    # -- reading --------------------------------------------------------------------------
    @classmethod
    def open(cls, path, *, verify_crops: bool = True, detector=None) -> "EventStore":
        """Open a store. ``detector`` (a name, description file or Detector) replaces the store's
        recorded detector description, e.g. when its wires file cannot be found; it must describe
        the same geometry."""
        return cls(path, verify_crops=verify_crops, detector=detector)

    def __init__(self, path, *, verify_crops: bool = True, detector=None):
        self.path = Path(path)
        self.verify_crops = verify_crops
        m = _load_manifest(self.path)
        self._manifest = m
        self._geometry = None if detector is None else self._check_given_detector(detector)
        self._version = m["schema_version"]
        self._n_planes = len(m["views"])
        self._chunks = [self._open_chunk(c) for c in m["chunks"]]
        counts = [c["events"] for c in m["chunks"]]
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def _open_chunk(self, c: dict):
        """Memory-map one chunk after cheap checks against the manifest (sizes, index headers, last rows)."""
        for fname, meta in c["files"].items():
            f = self.path / fname
            if not f.is_file():
                raise StoreCorruptError(f"{f}: missing (listed in the manifest)")
            size = f.stat().st_size
            if size != meta["bytes"]:
                raise StoreCorruptError(f"{f}: {size} bytes, the manifest says {meta['bytes']} (truncated or overwritten)")
            if not fname.endswith((".pixels", ".truth")) and _digest(f) != meta["blake2b"]:
                raise StoreCorruptError(f"{f}: checksum mismatch (corrupt index file)")
        name, n_events = c["name"], c["events"]
        layouts = {
            "events": (n_events, EVENT_DTYPE, f"the manifest says {name} holds {n_events} events"),
            "planes": (n_events * self._n_planes, _plane_dtype(self._version),
                       f"{n_events} events x {self._n_planes} views need {n_events * self._n_planes}"),
            "vertices": (c["vertices"], _vertex_dtype(self._n_planes), f"the manifest says {c['vertices']}"),
        }
        arrays = {}
        for key, (rows, dtype, expected) in layouts.items():
            f = self.path / f"{name}.{key}.npy"
            try:
                a = np.load(f, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise StoreCorruptError(f"{f}: unreadable index ({exc})") from None
            if a.dtype != dtype:
                raise StoreCorruptError(f"{f}: rows are not {key} rows of a schema-{self._version} store "
                                        f"with {self._n_planes} views")
            if a.shape != (rows,):
                raise StoreCorruptError(f"{f}: {a.shape[0] if a.ndim == 1 else a.shape} rows, {expected}")
            arrays[key] = a
        # the index must end exactly where the data files end (one row read each)
        events, planes = arrays["events"], arrays["planes"]
        first_e, last_e, first_p, last_p = events[0], events[-1], planes[0], planes[-1]
        ends = {
            "events.npy": (int(first_e["vertex_start"]), int(last_e["vertex_start"]) + int(last_e["n_vertices"]),
                           c["vertices"], "vertex"),
            "pixels": (int(first_p["offset"]), int(last_p["offset"]) + int(last_p["stored"]),
                       c["stored_bytes"], "byte"),
            "truth": (int(first_p["truth_start"]), int(last_p["truth_start"]) + int(last_p["truth_bytes"]),
                      c["files"][f"{name}.truth"]["bytes"], "byte"),
        }
        for suffix, (first, end, size, unit) in ends.items():
            if first != 0 or end != size:
                raise StoreCorruptError(f"{self.path / (name + '.' + suffix)}: the index spans {unit}s {first}..{end}, "
                                        f"the chunk holds {size}")
        if self._manifest.get("compression", "none") == "none":
            for row in (first_p, last_p):
                stored, wires, drift = int(row["stored"]), int(row["wires"]), int(row["drift"])
                if stored != wires * drift:
                    raise StoreCorruptError(f"{self.path / (name + '.pixels')}: crops are not stored uncompressed "
                                            f"({stored} bytes for {wires}x{drift} pixels)")
        pixels_path = self.path / f"{name}.pixels"
        pixels = (np.memmap(pixels_path, dtype=np.uint8, mode="r") if c["stored_bytes"] > 0
                  else np.zeros(0, dtype=np.uint8))
        truth_path = self.path / f"{name}.truth"
        arrays["truth"] = (np.memmap(truth_path, dtype=np.uint8, mode="r") if truth_path.stat().st_size > 0
                           else np.zeros(0, dtype=np.uint8))
        return name, arrays, pixels

    # -- metadata ----------------------------------------------------------------------------
    def _check_given_detector(self, detector):
        from .detectors import get_detector

        det = get_detector(detector)
        m = self._manifest
        where = self.path / "manifest.json"
        if det.name != m["detector"] or list(det.views) != m["views"]:
            raise StoreError(f"{where}: the store holds detector {m['detector']!r} with views {m['views']}; "
                             f"the detector given is {det.name!r} with views {list(det.views)}")
        desc = m.get("detector_description")
        if isinstance(desc, dict):
            differ = description_differences(det, desc)
            if differ:
                raise StoreError(f"{where}: the detector given differs from the store's recorded description "
                                 f"in {differ}")
        return det

    @property
    def geometry(self):
        """The store's Detector: from its recorded description (the wires file found again if it
        moved, see :func:`detector_from_description`), else the built-in detector of its name; None
        for a detector known only by name. Read once, when first needed.

        Raises:
            StoreError: the description names a wires file that cannot be found.
        """
        if self._geometry is None:
            m = self._manifest
            desc = m.get("detector_description")
            if desc is not None:
                self._geometry = detector_from_description(desc, where=str(self.path / "manifest.json"),
                                                           near=(self.path, self.path.parent))
            else:
                from .detectors import get_detector, list_detectors

                self._geometry = get_detector(m["detector"]) if m["detector"] in list_detectors() else False
        return self._geometry or None

    @property
    def meta(self) -> dict:
        return {k: v for k, v in self._manifest.items() if k not in ("chunks", _DIGEST_KEY)}

    detector = property(lambda self: self._manifest["detector"])
    views = property(lambda self: list(self._manifest["views"]))
    drift_window = property(lambda self: self._manifest["drift_window"])
    pooling = property(lambda self: self._manifest["pooling"])
    pixel_cm = property(lambda self: self._manifest["pixel_cm"])
    compression = property(lambda self: self._manifest.get("compression", "none"))

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __repr__(self) -> str:
        return f"EventStore({str(self.path)!r}: {len(self)} events, detector {self.detector!r}, views {self.views})"

    def _locate(self, i: int):
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"{self.path}: event {i} out of range ({n} events)")
        i = i % n if n else i
        c = int(np.searchsorted(self._starts, i, side="right") - 1)
        return i, c, i - int(self._starts[c])

    def _plane(self, gi, c, j, k) -> PlaneImage:
        name, arrays, pixels = self._chunks[c]
        row = arrays["planes"][j * self._n_planes + k]
        shape = (int(row["wires"]), int(row["drift"]))
        off, stored = int(row["offset"]), int(row["stored"])

        def corrupt(suffix: str, problem: str) -> StoreCorruptError:  # messages built only when needed
            return StoreCorruptError(f"{self.path / (name + suffix)}: event {gi} plane {self.views[k]}: {problem}")

        if off + stored > len(pixels):
            raise corrupt(".pixels", f"crop at bytes {off}..{off + stored} lies beyond the file's {len(pixels)}")
        if self._manifest.get("compression", "none") == "zlib":
            try:
                raw = zlib.decompress(pixels[off : off + stored])
            except zlib.error as exc:
                raise corrupt(".pixels", f"crop does not inflate ({exc})") from None
            if len(raw) != shape[0] * shape[1]:
                raise corrupt(".pixels", f"crop inflates to {len(raw)} bytes, expected {shape[0] * shape[1]}")
            pix = np.frombuffer(raw, dtype=np.uint8).reshape(shape).copy()
        else:
            if stored != shape[0] * shape[1]:
                raise corrupt(".pixels", f"crop of {stored} bytes, its shape {shape} needs {shape[0] * shape[1]}")
            pix = np.array(pixels[off : off + stored]).reshape(shape)
        if self.verify_crops and (zlib.crc32(pix.tobytes()) & 0xFFFFFFFF) != int(row["crc32"]):
            raise corrupt(".pixels", "crop fails its CRC-32 check")
        truth = None
        code = int(row["truth_code"])
        if code != TRUTH_NONE:
            t0, tn = int(row["truth_start"]), int(row["truth_bytes"])
            if t0 + tn > len(arrays["truth"]):
                raise corrupt(".truth", f"truth map at bytes {t0}..{t0 + tn} lies beyond the file's "
                                        f"{len(arrays['truth'])}")
            blob = bytes(arrays["truth"][t0 : t0 + tn])
            # checked whatever verify_crops says: uncompressed truth has no other protection and costs little
            if self._version >= 2:
                if (zlib.crc32(blob) & 0xFFFFFFFF) != int(row["truth_crc32"]):
                    raise corrupt(".truth", "truth map fails its CRC-32 check")
                n_vertices = None
            else:  # no CRC: check what can be checked
                n_vertices = int(arrays["events"][j]["n_vertices"])
            try:
                truth = _decode_truth(code, blob, shape, n_vertices)
            except (zlib.error, ValueError, IndexError) as exc:
                raise corrupt(".truth", f"truth map does not decode ({exc})") from None
        return PlaneImage(self.views[k], pix, (int(row["origin_wire"]), int(row["origin_drift"])), truth)

    def plane(self, i: int, p: int) -> PlaneImage:
        """Plane ``p`` of event ``i``, without reading the other planes."""
        gi, c, j = self._locate(i)
        if not 0 <= p < self._n_planes:
            raise IndexError(f"{self.path}: plane {p} out of range 0..{self._n_planes - 1}")
        return self._plane(gi, c, j, p)

    def __getitem__(self, i: int) -> EventRecord:
        gi, c, j = self._locate(int(i))
        _, arrays, _ = self._chunks[c]
        ev = arrays["events"][j]
        v0, nv = int(ev["vertex_start"]), int(ev["n_vertices"])
        verts = [
            TruthVertex(VERTEX_KINDS[int(v["kind"])], np.array(v["position_cm"]), flags=int(v["flags"]),
                        parent=int(v["parent"]), planes=np.array(v["planes"], dtype=np.float64), pdg=int(v["pdg"]))
            for v in arrays["vertices"][v0 : v0 + nv]
        ]
        return EventRecord(
            run=int(ev["run"]), subrun=int(ev["subrun"]), event=int(ev["event"]), detector=self.detector,
            geometry=self.geometry, drift_window=self.drift_window, pooling=self.pooling,
            planes=[self._plane(gi, c, j, k) for k in range(self._n_planes)], vertices=verts,
            nu_pdg=int(ev["nu_pdg"]), interaction=_INTERACTIONS[int(ev["interaction"])],
            energy_gev=float(ev["energy_gev"]), tpc=int(ev["tpc"]),
        )

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def vertex_table(self) -> np.ndarray:
        """All truth vertices (structured array with the global event index in ``event``)."""
        parts = [np.asarray(a["vertices"]) for _, a, _ in self._chunks]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=_vertex_dtype(self._n_planes))

    def info(self) -> dict:
        files = [self.path / "manifest.json"] + [self.path / f for c in self._manifest["chunks"] for f in c["files"]]
        on_disk = sum(f.stat().st_size for f in files)
        pixels = sum(c["pixels"] for c in self._manifest["chunks"])
        return {
            "path": str(self.path), "events": len(self), "planes": self._n_planes, "views": self.views,
            "detector": self.detector, "drift_window": self.drift_window, "pooling": self.pooling,
            "pixel_cm": self.pixel_cm, "compression": self.compression, "pixels": int(pixels), "vertices": sum(c["vertices"] for c in self._manifest["chunks"]),
            "chunks": len(self._manifest["chunks"]), "bytes_on_disk": int(on_disk),
            "bytes_per_pixel": float(on_disk / pixels) if pixels else None,
            "bytes_per_event": float(on_disk / len(self)) if len(self) else None,
            "schema_version": self._manifest["schema_version"], "created_by": self._manifest.get("created_by"),
        }

    def verify(self) -> None:
        """Check the store on disk now: the manifest (its digest, its cross-checks) and every file's digest,
        pixels included (reads everything once)."""
        fresh = EventStore(self.path, verify_crops=False)
        m = fresh._manifest
        fresh.close()
        fixed = lambda man: {k: v for k, v in man.items() if k not in ("events", "chunks", _DIGEST_KEY)}  # noqa: E731
        opened = self._manifest["chunks"]
        if fixed(m) != fixed(self._manifest) or m["chunks"][: len(opened)] != opened:
            raise StoreCorruptError(f"{self.path / 'manifest.json'}: changed since the store was opened "
                                    "(other than by appended chunks)")
        for c in m["chunks"]:
            for fname, meta in c["files"].items():
                if _digest(self.path / fname) != meta["blake2b"]:
                    raise StoreCorruptError(f"{self.path / fname}: checksum mismatch")

    def close(self) -> None:
        self._chunks = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
