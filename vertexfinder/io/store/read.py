"""Reading an event store: :class:`EventStore`, a read-only, memory-mapped view of one.

Opening checks the manifest (its digest, its consistency, :func:`~.layout.load_manifest`), then
cross-checks it against the data, never reading the pixels: chunk names, event and vertex counts,
index shapes and dtypes, the views against the detector, the digests of the index files, and every
index value against its domain and the chunk's totals (:func:`~.layout.check_chunk_index`,
vectorised), so a store whose writer went wrong is refused even when its digests match. Each
crop's and each truth map's CRC-32, and the truth's vertex indices, are checked when it is read;
:meth:`EventStore.verify` re-reads the manifest and checks every digest and every CRC-32.
Pixel files are memory-mapped, so resident memory stays small however large the store; event ``i``
is found with a binary search over the chunks' event counts and read without touching other
events.
"""

from __future__ import annotations

import copy
import mmap
import zlib
from pathlib import Path

import numpy as np

from ...errors import StoreCorruptError, StoreError
from ...records import VERTEX_KINDS, EventRecord, PlaneImage, TruthVertex
from ..descriptions import description_differences, detector_from_description
from .layout import (
    DIGEST_KEY,
    EVENT_DTYPE,
    INTERACTIONS,
    TRUTH_NONE,
    check_chunk_index,
    decode_truth,
    file_digest,
    load_manifest,
    plane_dtype,
    vertex_dtype,
)
from .write import StoreWriter, create_store

__all__ = ["EventStore", "store_events"]


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
        return create_store(path, detector=detector, views=views, drift_window=drift_window, pooling=pooling,
                            pixel_cm=pixel_cm, detector_description=detector_description,
                            chunk_events=chunk_events, overwrite=overwrite, compression=compression)

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
        m = load_manifest(self.path)
        self._manifest = m
        self._geometry = None if detector is None else self._check_given_detector(detector)
        self._version = m["schema_version"]
        self._n_planes = len(m["views"])
        firsts = [0]  # the store index of each chunk's first event (Python ints: checked against the data first)
        for c in m["chunks"]:
            firsts.append(firsts[-1] + c["events"])
        self._chunks = [self._open_chunk(c, first) for c, first in zip(m["chunks"], firsts)]
        self._starts = np.array(firsts, dtype=np.int64)

    def _open_chunk(self, c: dict, first_event: int):
        """Memory-map one chunk after checks against the manifest (sizes, index digests, every index value)."""
        for fname, meta in c["files"].items():
            f = self.path / fname
            if not f.is_file():
                raise StoreCorruptError(f"{f}: missing (listed in the manifest)")
            size = f.stat().st_size
            if size != meta["bytes"]:
                raise StoreCorruptError(f"{f}: {size} bytes, the manifest says {meta['bytes']} (truncated or overwritten)")
            if not fname.endswith((".pixels", ".truth")) and file_digest(f) != meta["blake2b"]:
                raise StoreCorruptError(f"{f}: checksum mismatch (corrupt index file)")
        name, n_events = c["name"], c["events"]
        layouts = {
            "events": (n_events, EVENT_DTYPE, f"the manifest says {name} holds {n_events} events"),
            "planes": (n_events * self._n_planes, plane_dtype(self._version),
                       f"{n_events} events x {self._n_planes} views need {n_events * self._n_planes}"),
            "vertices": (c["vertices"], vertex_dtype(self._n_planes), f"the manifest says {c['vertices']}"),
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
        # every value against its domain and the chunk's totals (vectorised over the index read above)
        check_chunk_index(arrays, c, root=self.path, first_event=first_event, views=self._manifest["views"],
                          compression=self.compression, truth_bytes=c["files"][f"{name}.truth"]["bytes"])
        pixels = _mapped(self.path / f"{name}.pixels")
        arrays["truth"] = _mapped(self.path / f"{name}.truth")
        return name, arrays, pixels

    def _release(self, c: int) -> None:
        """Let go of the pages of chunk ``c``'s crops and truth maps this process has read (they stay
        in the page cache; a later read maps them again)."""
        _, arrays, pixels = self._chunks[c]
        for a in (pixels, arrays["truth"]):
            mapping = getattr(a.base, "obj", None)  # np.frombuffer's memoryview of the mmap
            if isinstance(mapping, mmap.mmap):
                mapping.madvise(mmap.MADV_DONTNEED)

    # -- metadata ----------------------------------------------------------------------------
    def _check_given_detector(self, detector):
        from ...detectors import get_detector

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
        moved, see :func:`~vertexfinder.io.descriptions.detector_from_description`), else the built-in
        detector of its name; None for a detector known only by name. Read once, when first needed.

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
                from ...detectors import get_detector, list_detectors

                self._geometry = get_detector(m["detector"]) if m["detector"] in list_detectors() else False
        return self._geometry or None

    @property
    def meta(self) -> dict:
        return {k: v for k, v in self._manifest.items() if k not in ("chunks", DIGEST_KEY)}

    @property
    def manifest(self) -> dict:
        """A copy of the manifest as opened: the metadata, and per chunk its counts and files' sizes and digests."""
        return copy.deepcopy(self._manifest)

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
            n_vertices = int(arrays["events"][j]["n_vertices"])
            if self._version >= 2 and (zlib.crc32(blob) & 0xFFFFFFFF) != int(row["truth_crc32"]):
                raise corrupt(".truth", "truth map fails its CRC-32 check")
            try:  # schema 1 has no CRC: its sparse pairs are sanity-checked
                truth = decode_truth(code, blob, shape, n_vertices if self._version < 2 else None)
            except (zlib.error, ValueError, IndexError) as exc:
                raise corrupt(".truth", f"truth map does not decode ({exc})") from None
            if truth.size and (truth.min() < -1 or truth.max() >= n_vertices):  # a writer's values, CRC or not
                raise corrupt(".truth", f"truth map refers to vertices {int(truth.min())}..{int(truth.max())}, "
                                        f"expected -1 (none) or one of the event's {n_vertices}")
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
            nu_pdg=int(ev["nu_pdg"]), interaction=INTERACTIONS[int(ev["interaction"])],
            energy_gev=float(ev["energy_gev"]), tpc=int(ev["tpc"]),
        )

    def __iter__(self):
        """The events in order. Each chunk's crops are let go once its events are read, so a pass
        over a store of any size holds one chunk's pages at a time (``find`` over 100k events needs
        the memory of ``find`` over 500)."""
        for c in range(len(self._chunks)):
            for i in range(int(self._starts[c]), int(self._starts[c + 1])):
                yield self[i]
            self._release(c)

    def vertex_table(self) -> np.ndarray:
        """All truth vertices (structured array with the global event index in ``event``)."""
        parts = [np.asarray(a["vertices"]) for _, a, _ in self._chunks]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=vertex_dtype(self._n_planes))

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
        """Check the store on disk now: the manifest (its digest, its cross-checks), every index value,
        every file's digest, pixels included, and every crop's and truth map's CRC-32 (reads everything
        once; a store resealed over wrong values or a wrong CRC fails here, naming the event and plane)."""
        fresh = EventStore(self.path, verify_crops=True)  # opening checks every index value
        try:
            m = fresh._manifest
            fixed = lambda man: {k: v for k, v in man.items() if k not in ("events", "chunks", DIGEST_KEY)}  # noqa: E731
            opened = self._manifest["chunks"]
            if fixed(m) != fixed(self._manifest) or m["chunks"][: len(opened)] != opened:
                raise StoreCorruptError(f"{self.path / 'manifest.json'}: changed since the store was opened "
                                        "(other than by appended chunks)")
            for c in m["chunks"]:
                for fname, meta in c["files"].items():
                    if file_digest(self.path / fname) != meta["blake2b"]:
                        raise StoreCorruptError(f"{self.path / fname}: checksum mismatch")
            for c, first in enumerate(fresh._starts[:-1]):
                for j in range(m["chunks"][c]["events"]):
                    for k in range(fresh._n_planes):
                        fresh._plane(int(first) + j, c, j, k)  # inflates, checks the CRC-32s and truth values
        finally:
            fresh.close()

    def close(self) -> None:
        self._chunks = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False



def _mapped(path: Path) -> np.ndarray:
    """A file's bytes, memory-mapped read-only (the array's ``base`` is a memoryview of the mmap);
    empty files give an empty array."""
    if path.stat().st_size == 0:
        return np.zeros(0, dtype=np.uint8)
    with open(path, "rb") as f:
        return np.frombuffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), dtype=np.uint8)


def store_events(path, *, detector=None, drift_window=None, pooling=None, report=None):
    """The events of the store at ``path``, in order. A store records its own detector, drift window
    and pooling (the options other formats' readers take are ignored) and holds no bad events."""
    yield from EventStore.open(path)  # in order, each chunk let go once read
