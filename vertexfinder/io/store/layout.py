"""The event store on disk: its files, their rows, the manifest and the checks a manifest must pass.

A store is a directory (conventionally ``*.vfstore``)::

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

The manifest lists every chunk file with its size and BLAKE2b digest, and carries the digest of
its own content (``manifest_blake2b``: BLAKE2b-128 of the manifest without that key, as JSON with
sorted keys and no spaces), so an edited or damaged manifest never opens (:func:`load_manifest`).

Compression: the pixels are one byte each (ADC, see :mod:`vertexfinder.encoding`); LArTPC crops
are mostly empty, so each crop is deflated on its own: about 27x smaller for DUNE events at ~1 ms
per event to inflate, and any event is still read alone (O(1)). ``compression="none"`` stores raw
bytes that are sliced straight from the memory map.

Versions: schema 2 added the manifest digest and the truth maps' CRC-32. Schema 1 stores still
open and read (with every cross-check, without those two checks), and chunks appended to them are
written in schema 1.

Per-event overhead: 33 bytes per event + 53 per plane (+ the truth maps) + (45 + 16 x planes) per
truth vertex, i.e. 192 bytes for a 3-plane event without truth and 285 with one vertex: 1M events
cost about 0.29 GB of index beside the pixels (``benchmarks/bench_store.py`` measures it).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import zlib
from pathlib import Path

import numpy as np

from ...errors import StoreCorruptError, StoreError, StoreVersionError
from ...records import DRIFT_POOLINGS, VERTEX_KINDS
from ...text import shown
from ..atomic import WRITER_FILE  # written in a partial store while it is built: who builds it, where


__all__ = [
    "FORMAT", "SCHEMA_VERSION", "READABLE_VERSIONS", "COMPRESSIONS", "INTERACTIONS", "DIGEST_KEY", "WRITER_FILE",
    "CHUNK_SUFFIXES", "EVENT_DTYPE", "PLANE_DTYPE_V1", "PLANE_DTYPE", "TRUTH_DTYPE", "TRUTH_NONE", "TRUTH_SPARSE",
    "TRUTH_DENSE_U8", "TRUTH_DENSE_I16", "chunk_name", "plane_dtype", "vertex_dtype", "encode_truth", "decode_truth",
    "file_digest", "manifest_digest", "check_manifest", "load_manifest", "check_chunk_index",
]

#: The manifest's ``format``.
FORMAT = "vertexfinder-event-store"
#: The schema version new stores are written in.
SCHEMA_VERSION = 2
#: versions this code reads (and appends to, in their own format)
READABLE_VERSIONS = (1, 2)
#: How a store's crops are stored.
COMPRESSIONS = ("zlib", "none")
#: ``EventRecord.interaction`` values, stored as their index.
INTERACTIONS = ("CC", "NC", "")
#: The manifest key holding the digest of the manifest's own content.
DIGEST_KEY = "manifest_blake2b"
#: The files of a chunk: ``<chunk name>.<suffix>``.
CHUNK_SUFFIXES = ("pixels", "events.npy", "planes.npy", "vertices.npy", "truth")
_HEX32 = re.compile(r"[0-9a-f]{32}")
#: Keys every manifest holds (``compression`` from schema 2; schema-1 stores without it are uncompressed).
_REQUIRED_KEYS = ("format", "schema_version", "created_by", "detector", "detector_description", "views",
                  "drift_window", "pooling", "pixel_cm", "compression", "events", "chunks")

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


def chunk_name(index: int) -> str:
    """The name of chunk ``index`` (its files are ``<name>.<suffix>``, :data:`CHUNK_SUFFIXES`)."""
    return f"chunk-{index:06d}"


def plane_dtype(version: int) -> np.dtype:
    """The plane rows of a store of schema ``version``."""
    return PLANE_DTYPE_V1 if version == 1 else PLANE_DTYPE


def vertex_dtype(n_planes: int) -> np.dtype:
    """The truth vertex rows of a store of ``n_planes`` views."""
    return np.dtype([
        ("event", "<u8"), ("kind", "u1"), ("flags", "<u4"), ("parent", "<i4"), ("pdg", "<i4"),
        ("position_cm", "<f8", (3,)), ("planes", "<f8", (n_planes, 2)),
    ])


def encode_truth(truth: np.ndarray, deflate: bool) -> tuple[int, bytes]:
    """(truth code, stored bytes) of one crop's truth map (vertex index per pixel, -1 none)."""
    if not deflate:
        flat = np.flatnonzero(truth.ravel() >= 0)
        t = np.empty(flat.size, dtype=TRUTH_DTYPE)
        t["pixel"] = flat
        t["vertex"] = truth.ravel()[flat]
        return TRUTH_SPARSE, t.tobytes()
    if truth.size == 0 or truth.max() < 254:
        return TRUTH_DENSE_U8, zlib.compress((truth + 1).astype(np.uint8).tobytes(), 1)
    return TRUTH_DENSE_I16, zlib.compress(truth.astype("<i2").tobytes(), 1)


def decode_truth(code: int, blob: bytes, shape, n_vertices: int | None = None) -> np.ndarray:
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


def file_digest(path: Path) -> str:
    """BLAKE2b-128 of a file's content, as the manifest records it."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def manifest_digest(manifest: dict) -> str:
    """BLAKE2b-128 of the manifest's canonical content (sorted keys, no spaces), its own digest left out."""
    body = {k: v for k, v in manifest.items() if k != DIGEST_KEY}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


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
        from ...detectors import get_detector, list_detectors

        if m["detector"] not in list_detectors():
            return  # a user's detector known only by name: nothing to compare with
        expected, source = list(get_detector(m["detector"]).views), f"built-in detector {m['detector']!r}"
    if m["views"] != expected:
        raise bad(f"views {m['views']} differ from {source}'s {shown(expected)}")


def check_manifest(m: dict, where, error=StoreCorruptError) -> None:
    """Types, ranges and internal consistency of a manifest; raises ``error("<where>: <problem>")``."""

    def bad(problem: str):
        return error(f"{where}: {problem}")

    required = [k for k in _REQUIRED_KEYS if k != "compression" or m.get("schema_version") != 1]
    missing = [k for k in required if k not in m]
    if missing:
        raise bad(f"has no {', '.join(missing)} (a manifest holds {', '.join(required)})")
    if not isinstance(m["created_by"], str):
        raise bad(f"created_by must be text; found {shown(m['created_by'])}")
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
    if pixel_cm is not None and not (isinstance(pixel_cm, list) and all(
            type(v) in (int, float) and math.isfinite(v) and v > 0 for v in pixel_cm)):
        raise bad(f"pixel_cm must be null or a list of positive numbers; found {shown(pixel_cm)}")
    _check_views(m, bad)
    chunks = m.get("chunks")
    if not isinstance(chunks, list):
        raise bad(f"chunks must be a list; found {shown(chunks)}")
    total = 0
    for i, c in enumerate(chunks):
        name = chunk_name(i)
        if not isinstance(c, dict):
            raise bad(f"chunk {i} must be an object; found {shown(c)}")
        if c.get("name") != name:
            raise bad(f"chunk {i} is named {shown(c.get('name'))}, expected {name!r} "
                      "(a duplicated, reordered, removed or foreign chunk)")
        for key, low in (("events", 1), ("vertices", 0), ("pixels", 0), ("stored_bytes", 0)):
            if not _is_count(c.get(key), low):
                raise bad(f"{name}: {key} must be an integer >= {low}; found {shown(c.get(key))}")
        files = c.get("files")
        expected = sorted(f"{name}.{suffix}" for suffix in CHUNK_SUFFIXES)
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


def load_manifest(root: Path) -> dict:
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
    digest = m.get(DIGEST_KEY)
    if digest is not None or version >= 2:  # schema 1 had no digest; a schema-1 manifest carrying one is checked
        if digest is None:
            raise StoreCorruptError(f"{mpath}: manifest has no {DIGEST_KEY} (edited or damaged)")
        if digest != manifest_digest(m):
            raise StoreCorruptError(f"{mpath}: manifest fails its checksum (edited or damaged)")
    check_manifest(m, mpath)
    return m


# -- a chunk's index: every value against its domain and the chunk's totals ---------------------------------------

#: The truth codes a store of each compression holds (the writer deflates dense maps, or keeps sparse pairs).
_TRUTH_CODES = {"zlib": (TRUTH_NONE, TRUTH_DENSE_U8, TRUTH_DENSE_I16), "none": (TRUTH_NONE, TRUTH_SPARSE)}


def _first(mask: np.ndarray) -> int | None:
    hit = np.flatnonzero(mask)
    return int(hit[0]) if hit.size else None


def _tiling(start: np.ndarray, count: np.ndarray, total: int):
    """Where ranges ``[start, start + count)``, one per row, fail to tile ``0..total`` in row order
    (as the writer lays out vertices, crops and truth maps): None, or (row, field, problem) with
    field "start" or "count", the value to blame, or "total" (in order, but not spanning the chunk)."""
    start, count = start.astype(np.uint64), count.astype(np.uint64)
    end = start + count  # a sum that wraps is caught by the bounds below
    r = _first(start[1:] != end[:-1])
    if r is not None:
        nxt = r + 1  # rows r and r + 1 disagree: a wrong count of r leaves r + 1 in line with what follows it
        follows = end[nxt] == (start[nxt + 1] if nxt + 1 < len(start) else total)
        if follows:
            return r, "count", f"ends its range at {int(end[r])}, where the next one starts at {int(start[nxt])}"
        return nxt, "start", f"expected {int(end[r])}, where the previous range ends"
    if len(start) and (start[0] != 0 or end[-1] != total):
        return (0 if start[0] != 0 else len(start) - 1), "total", f"{int(start[0])}..{int(end[-1])}"
    r = _first((start > total) | (count > total))
    if r is not None:
        return r, "count", f"runs beyond the chunk's {total}"
    return None


def check_chunk_index(arrays: dict, chunk: dict, *, root: Path, first_event: int, views, compression: str,
                      truth_bytes: int) -> None:
    """Every value of one chunk's index against its domain and the chunk's totals, vectorised.

    ``arrays``: the chunk's ``events``, ``planes`` and ``vertices`` rows (shapes and dtypes already
    checked); ``chunk``: its manifest entry; ``first_event``: the store index of its first event;
    ``truth_bytes``: the size of its truth file. Checked: interaction and vertex kind codes within
    their tables, TPC and energy within their domains, vertex ranges, crop bytes and truth bytes
    tiling the chunk's vertices, pixels file and truth file in order, crop sizes summing to the
    chunk's pixels, truth codes of the store's compression, each vertex row in its event's range
    and each parent one of its event's other vertices. Raises StoreCorruptError naming the index
    file, the event and the value.
    """
    name, n_p = chunk["name"], len(views)
    events, planes, vertices = arrays["events"], arrays["planes"], arrays["vertices"]

    def path(suffix: str) -> Path:
        return root / f"{name}.{suffix}"

    def event_error(suffix: str, row: int, problem: str) -> StoreCorruptError:
        return StoreCorruptError(f"{path(suffix)}: event {first_event + row}: {problem}")

    def plane_error(row: int, problem: str) -> StoreCorruptError:
        return StoreCorruptError(f"{path('planes.npy')}: event {first_event + row // n_p} plane {views[row % n_p]}: "
                                 f"{problem}")

    # events: codes, domains, their vertex ranges
    r = _first(events["interaction"] >= len(INTERACTIONS))
    if r is not None:
        raise event_error("events.npy", r, f"interaction code {events['interaction'][r]}, expected "
                                           f"0..{len(INTERACTIONS) - 1} ({', '.join(map(repr, INTERACTIONS))})")
    r = _first(events["tpc"] < -1)
    if r is not None:
        raise event_error("events.npy", r, f"tpc {events['tpc'][r]}, expected -1 (unknown) or a TPC index")
    energy = events["energy_gev"]
    r = _first(~(np.isnan(energy) | (np.isfinite(energy) & (energy >= 0))))
    if r is not None:
        raise event_error("events.npy", r, f"energy_gev {energy[r]}, expected a finite value >= 0 or NaN (unknown)")
    v_start, v_count = events["vertex_start"], events["n_vertices"]
    ranges = (
        ("events.npy", v_start, v_count, chunk["vertices"], "vertices", ("vertex_start", "n_vertices"), 1),
        ("pixels", planes["offset"], planes["stored"], chunk["stored_bytes"], "bytes", ("offset", "stored"), n_p),
        ("truth", planes["truth_start"], planes["truth_bytes"], truth_bytes, "bytes", ("truth_start", "truth_bytes"),
         n_p),
    )
    for suffix, start, count, total, unit, fields, per_event in ranges:
        found = _tiling(start, count, total)
        if found is None:
            continue
        row, field, problem = found
        error = (lambda rw, text: event_error("events.npy", rw, text)) if per_event == 1 else plane_error
        if field == "total":  # in order but not spanning the data: the chunk's files do not match
            raise StoreCorruptError(
                f"{path(suffix)}: the index spans {unit} {problem}, the chunk holds {total} (event "
                f"{first_event + row // per_event}: {fields[0]} {int(start[row])}, {fields[1]} {int(count[row])})")
        value = start[row] if field == "start" else count[row]
        raise error(row, f"{fields[0] if field == 'start' else fields[1]} {int(value)}"
                         f"{', ' if field == 'start' else ' '}{problem}")

    # planes: crop sizes and truth codes
    pixels = planes["wires"].astype(np.uint64) * planes["drift"].astype(np.uint64)
    if compression == "none":
        r = _first(planes["stored"] != pixels)
        if r is not None:
            raise StoreCorruptError(f"{path('pixels')}: event {first_event + r // n_p} plane {views[r % n_p]}: crops "
                                    f"are not stored uncompressed ({int(planes['stored'][r])} bytes for "
                                    f"{int(planes['wires'][r])}x{int(planes['drift'][r])} pixels)")
    r = _first(pixels > chunk["pixels"])
    if r is not None:
        raise plane_error(r, f"crop of {int(planes['wires'][r])}x{int(planes['drift'][r])} pixels, more than the "
                             f"chunk's {chunk['pixels']}")
    if int(pixels.sum(dtype=np.uint64)) != chunk["pixels"]:
        raise StoreCorruptError(f"{path('planes.npy')}: the crops hold {int(pixels.sum(dtype=np.uint64))} pixels, "
                                f"the manifest says {name} holds {chunk['pixels']}")
    codes = planes["truth_code"]
    allowed = _TRUTH_CODES[compression]
    r = _first(~np.isin(codes, allowed))
    if r is not None:
        raise plane_error(r, f"truth_code {codes[r]}, expected one of {allowed} in a {compression!r} store")
    t_bytes = planes["truth_bytes"]
    r = _first(((codes == TRUTH_NONE) & (t_bytes != 0))
               | ((codes == TRUTH_SPARSE) & ((t_bytes % TRUTH_DTYPE.itemsize != 0)
                                             | (t_bytes // TRUTH_DTYPE.itemsize > pixels))))
    if r is not None:
        raise plane_error(r, f"truth_bytes {int(t_bytes[r])} for truth_code {codes[r]} and {int(pixels[r])} pixels")

    # vertices: codes, their event, their parents
    if not len(vertices):
        return
    owner = np.repeat(np.arange(len(events)), v_count.astype(np.int64))  # the ranges tile: one owner per row
    local = np.arange(len(vertices)) - v_start.astype(np.int64)[owner]

    def vertex_error(row: int, problem: str) -> StoreCorruptError:
        return event_error("vertices.npy", int(owner[row]), f"vertex {int(local[row])}: {problem}")

    r = _first(vertices["kind"] >= len(VERTEX_KINDS))
    if r is not None:
        raise vertex_error(r, f"kind code {vertices['kind'][r]}, expected 0..{len(VERTEX_KINDS) - 1} "
                              f"({', '.join(VERTEX_KINDS)})")
    r = _first(vertices["event"] != (owner + first_event).astype(np.uint64))
    if r is not None:
        raise vertex_error(r, f"its row says event {vertices['event'][r]}")
    parent, n_of = vertices["parent"].astype(np.int64), v_count.astype(np.int64)[owner]
    r = _first(~((parent == -1) | ((parent >= 0) & (parent < n_of) & (parent != local))))
    if r is not None:
        raise vertex_error(r, f"parent {parent[r]}, expected -1 or another of the event's {n_of[r]} vertices")
