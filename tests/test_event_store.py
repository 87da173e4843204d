"""The event store: round trips, chunks, append, atomicity, corruption, versions."""

import json
import os
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vertexfinder.errors import BadEventError, StoreCorruptError, StoreError, StoreVersionError
from vertexfinder.io.store import EventStore
from vertexfinder.records import FLAG_NU_PRIMARY, EventRecord, PlaneImage, TruthVertex

VIEWS = ["U", "V", "Z"]


def make_record(rng, event, *, truth=True, n_vertices=3, shape=None):
    verts = []
    for i in range(n_vertices):
        verts.append(TruthVertex(["interaction", "decay", "conversion"][i % 3], rng.normal(size=3) * 100,
                                 flags=FLAG_NU_PRIMARY if i == 0 else 4, parent=-1 if i == 0 else 0,
                                 planes=rng.normal(size=(3, 2)) * 50 + 200, pdg=[14, 13, 22][i % 3]))
    planes = []
    for v in VIEWS:
        w, d = shape or (int(rng.integers(0, 40)), int(rng.integers(0, 40)))
        pix = rng.integers(0, 256, size=(w, d), dtype=np.uint8)
        pix[rng.random((w, d)) < 0.7] = 0
        t = None
        if truth and n_vertices:
            t = np.where(pix > 0, rng.integers(-1, n_vertices, size=(w, d)), -1).astype(np.int16)
        planes.append(PlaneImage(v, pix, (int(rng.integers(0, 3000)), int(rng.integers(0, 1500))), t))
    return EventRecord(run=7, subrun=int(rng.integers(0, 5)), event=event, detector="test-detector", drift_window=6,
                       pooling="max", planes=planes, vertices=verts, nu_pdg=14, interaction="CC",
                       energy_gev=float(rng.uniform(0.5, 5)), tpc=int(rng.integers(0, 4)))


def create(path, **kw):
    return EventStore.create(path, detector="test-detector", views=VIEWS, drift_window=6, pooling="max", **kw)


@pytest.fixture(params=["zlib", "none"])
def compression(request):
    return request.param


def assert_same(a, b):
    assert (a.run, a.subrun, a.event, a.detector, a.drift_window, a.pooling) == \
        (b.run, b.subrun, b.event, b.detector, b.drift_window, b.pooling)
    assert (a.nu_pdg, a.interaction, a.tpc) == (b.nu_pdg, b.interaction, b.tpc)
    assert np.float32(a.energy_gev) == np.float32(b.energy_gev) or (np.isnan(a.energy_gev) and np.isnan(b.energy_gev))
    for p, q in zip(a.planes, b.planes):
        assert p.view == q.view and p.origin == q.origin
        np.testing.assert_array_equal(p.pixels, q.pixels)
        if p.truth is None:
            assert q.truth is None
        else:
            np.testing.assert_array_equal(p.truth, q.truth)
    assert len(a.vertices) == len(b.vertices)
    for u, v in zip(a.vertices, b.vertices):
        assert (u.kind, u.flags, u.parent, u.pdg) == (v.kind, v.flags, v.parent, v.pdg)
        np.testing.assert_array_equal(u.position_cm, v.position_cm)
        np.testing.assert_array_equal(u.planes, v.planes)


def test_round_trip_over_many_chunks_and_random_access(tmp_path, compression):
    rng = np.random.default_rng(0)
    recs = [make_record(rng, e, truth=e % 3 != 0, n_vertices=e % 4) for e in range(23)]
    recs.append(EventRecord(7, 0, 99, "test-detector", 6, "max",
                            [PlaneImage(v, np.zeros((5, 4), np.uint8), (1, 2)) for v in VIEWS], energy_gev=float("nan")))
    path = tmp_path / "s.vfstore"
    with create(path, chunk_events=5, compression=compression) as w:
        assert w.extend(recs) == len(recs)
    store = EventStore.open(path)
    assert len(store) == len(recs) and store.info()["chunks"] == 5
    for i in rng.permutation(len(recs)):
        assert_same(recs[i], store[i])
    assert_same(recs[-1], store[-1])
    for k in range(3):
        got = store.plane(7, k)
        np.testing.assert_array_equal(got.pixels, store[7].planes[k].pixels)
    with pytest.raises(IndexError):
        store[len(recs)]
    with pytest.raises(IndexError):
        store[-len(recs) - 1]
    table = store.vertex_table()
    assert len(table) == sum(len(r.vertices) for r in recs)
    assert set(table["event"]) == {i for i, r in enumerate(recs) if r.vertices}


def _resident_kb(path) -> int:
    """Resident kB of this process's mappings of ``path`` (``/proc/self/smaps``)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        lines = f.readlines()
    for line in lines:
        if "-" in line.split(" ", 1)[0]:
            inside = line.rstrip().endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def test_a_pass_over_the_store_lets_go_of_each_chunk_once_read(tmp_path):
    """Iterating holds one chunk's crops at a time (a find over any number of events in bounded
    memory), and the events read the same before and after their chunk was let go."""
    rng = np.random.default_rng(3)
    recs = [make_record(rng, e, shape=(400, 300)) for e in range(12)]
    path = tmp_path / "s.vfstore"
    with create(path, chunk_events=4, compression="none") as w:
        w.extend(recs)
    store = EventStore.open(path)
    first = path / "chunk-000000.pixels"
    seen = []
    for i, ev in enumerate(store):
        assert_same(recs[i], ev)
        seen.append(_resident_kb(first))
    assert seen[3] >= 4 * 3 * 400 * 300 // 1024 * 0.9  # its 4 events' crops were read through the mapping
    assert seen[4] < seen[3] / 10 and seen[-1] < seen[3] / 10  # ... and let go once the next chunk began
    for i in (0, 5, 11):
        assert_same(recs[i], store[i])  # a later read maps them again


def test_append_adds_events_after_the_existing_ones(tmp_path):
    rng = np.random.default_rng(1)
    first = [make_record(rng, e) for e in range(4)]
    more = [make_record(rng, e) for e in range(4, 9)]
    path = tmp_path / "s.vfstore"
    with create(path, chunk_events=3) as w:
        w.extend(first)
    with EventStore.append(path, chunk_events=2) as w:
        w.extend(more)
    store = EventStore.open(path)
    assert len(store) == 9
    for r, got in zip(first + more, store):
        assert_same(r, got)


def test_records_that_do_not_fit_the_store_are_rejected(tmp_path):
    rng = np.random.default_rng(2)
    rec = make_record(rng, 1)
    with create(tmp_path / "a.vfstore") as w:
        for bad, match in [
            (EventRecord(1, 0, 1, "dune-fd-1x2x6", 6, "max", rec.planes), "detector"),
            (EventRecord(1, 0, 1, "test-detector", 4, "max", rec.planes), "drift window"),
            (EventRecord(1, 0, 1, "test-detector", 6, "max", rec.planes[:2]), "views"),
        ]:
            with pytest.raises(BadEventError, match=match):
                w.append(bad)
        w.append(rec)


def test_exception_while_creating_leaves_nothing(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "s.vfstore"
    with pytest.raises(RuntimeError):
        with create(path, chunk_events=2) as w:
            w.extend(make_record(rng, e) for e in range(5))  # two chunks committed in the partial store
            raise RuntimeError("crash")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_existing_store_is_kept_unless_overwrite_and_replaced_only_on_success(tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / "s.vfstore"
    with create(path) as w:
        w.append(make_record(rng, 1))
    with pytest.raises(StoreError, match="exists"):
        create(path)
    with pytest.raises(RuntimeError):
        with create(path, overwrite=True) as w:
            w.append(make_record(rng, 2))
            raise RuntimeError
    assert EventStore.open(path)[0].event == 1  # the old store survives a failed overwrite
    with create(path, overwrite=True) as w:
        w.append(make_record(rng, 3))
    assert EventStore.open(path)[0].event == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.vfstore"]


def test_crash_during_append_keeps_the_last_committed_state(tmp_path):
    rng = np.random.default_rng(5)
    path = tmp_path / "s.vfstore"
    with create(path) as w:
        w.extend(make_record(rng, e) for e in range(3))
    # a chunk file written but never committed to the manifest (a crash before the manifest update)
    (path / "chunk-000001.pixels").write_bytes(b"\x01" * 100)
    (path / ".chunk-000001.events.npy.tmp").write_bytes(b"junk")
    store = EventStore.open(path)
    assert len(store) == 3
    store.verify()


def test_truncated_pixels_file_is_reported_with_its_name(tmp_path):
    rng = np.random.default_rng(6)
    path = tmp_path / "s.vfstore"
    with create(path) as w:
        w.extend(make_record(rng, e, shape=(20, 20)) for e in range(3))
    f = path / "chunk-000000.pixels"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(StoreCorruptError, match="chunk-000000.pixels"):
        EventStore.open(path)


def test_flipped_byte_in_a_crop_fails_on_read(tmp_path, compression):
    rng = np.random.default_rng(7)
    path = tmp_path / "s.vfstore"
    with create(path, compression=compression) as w:
        w.extend(make_record(rng, e, shape=(20, 20)) for e in range(3))
    f = path / "chunk-000000.pixels"
    data = bytearray(f.read_bytes())
    row = np.load(path / "chunk-000000.planes.npy")[3]  # event 1, plane U
    data[int(row["offset"]) + int(row["stored"]) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    store = EventStore.open(path)  # sizes are fine
    store[0]
    with pytest.raises(StoreCorruptError, match=r"event 1 plane U"):
        store[1]
    with pytest.raises(StoreCorruptError, match="checksum"):
        store.verify()


def test_flipped_byte_in_an_index_fails_on_open(tmp_path):
    rng = np.random.default_rng(8)
    path = tmp_path / "s.vfstore"
    with create(path) as w:
        w.extend(make_record(rng, e) for e in range(3))
    f = path / "chunk-000000.planes.npy"
    data = bytearray(f.read_bytes())
    data[-3] ^= 0x01
    f.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError, match="planes.npy"):
        EventStore.open(path)


def test_version_missing_and_corrupt_manifests(tmp_path):
    rng = np.random.default_rng(9)
    path = tmp_path / "s.vfstore"
    with create(path) as w:
        w.append(make_record(rng, 1))
    m = json.loads((path / "manifest.json").read_text())
    m["schema_version"] = 99
    (path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(StoreVersionError, match="99"):
        EventStore.open(path)
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(StoreCorruptError, match="manifest"):
        EventStore.open(path)
    os.remove(path / "manifest.json")
    with pytest.raises(StoreError, match="not an event store"):
        EventStore.open(path)
    with pytest.raises(StoreError, match="no such"):
        EventStore.open(tmp_path / "nothing")


def test_info_counts_bytes_on_disk(tmp_path):
    rng = np.random.default_rng(10)
    path = tmp_path / "s.vfstore"
    with create(path, chunk_events=4, compression="none") as w:
        w.extend(make_record(rng, e, truth=False, n_vertices=1, shape=(100, 100)) for e in range(10))
    info = EventStore.open(path).info()
    assert info["events"] == 10 and info["planes"] == 3 and info["detector"] == "test-detector"
    assert info["pixels"] == 10 * 3 * 100 * 100
    assert info["bytes_on_disk"] == sum(f.stat().st_size for f in path.iterdir())
    assert 1.0 < info["bytes_per_pixel"] < 1.05  # large crops: the index is a small overhead


@settings(max_examples=30, deadline=None)
@given(shapes=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=1, max_size=4),
       seed=st.integers(0, 2**31))
def test_round_trip_any_crop_shapes(tmp_path_factory, shapes, seed):
    rng = np.random.default_rng(seed)
    path = tmp_path_factory.mktemp("h") / "s.vfstore"
    recs = [make_record(rng, e, shape=s) for e, s in enumerate(shapes)]
    with create(path, chunk_events=2) as w:
        w.extend(recs)
    store = EventStore.open(path)
    for r, got in zip(recs, store):
        assert_same(r, got)


def test_compression_shrinks_sparse_crops(tmp_path):
    rng = np.random.default_rng(11)
    recs = [make_record(rng, e, truth=False, shape=(200, 200)) for e in range(3)]
    for r in recs:
        for p in r.planes:
            p.pixels[rng.random(p.pixels.shape) < 0.9] = 0  # ~3% lit, as LArTPC crops
    sizes = {}
    for codec in ("zlib", "none"):
        path = tmp_path / f"{codec}.vfstore"
        with create(path, compression=codec) as w:
            w.extend(recs)
        store = EventStore.open(path)
        for r, got in zip(recs, store):
            assert_same(r, got)
        sizes[codec] = store.info()["bytes_on_disk"]
        assert store.info()["compression"] == codec
    assert sizes["zlib"] < 0.3 * sizes["none"]
    with pytest.raises(ValueError, match="compression"):
        create(tmp_path / "x.vfstore", compression="lz77")


def test_truth_maps_with_many_vertices_round_trip(tmp_path, compression):
    rng = np.random.default_rng(12)
    rec = make_record(rng, 1, n_vertices=300, shape=(30, 30))
    assert max(p.truth.max() for p in rec.planes) >= 254  # needs more than one byte per pixel
    path = tmp_path / "s.vfstore"
    with create(path, compression=compression) as w:
        w.append(rec)
    assert_same(rec, EventStore.open(path)[0])


# -- the manifest protected: its digest, cross-checks against the data, old stores --------------------------------

def write_store(path, *, n_events=40, chunk_events=20, compression="zlib", schema=2, seed=20, **kw):
    """A store of ``n_events`` events; ``schema=1`` writes it in the format of schema-1 stores."""
    rng = np.random.default_rng(seed)
    recs = [make_record(rng, e, n_vertices=1 + e % 3, shape=(6, 5)) for e in range(n_events)]
    if schema == 1:  # an empty store turned schema 1, then filled by appending (written in its own format)
        with create(path, compression=compression, **kw):
            pass
        m = read_manifest(path)
        m["schema_version"] = 1
        del m["manifest_blake2b"]
        write_manifest(path, m)
        with EventStore.append(path, chunk_events=chunk_events) as w:
            w.extend(recs)
    else:
        with create(path, chunk_events=chunk_events, compression=compression, **kw) as w:
            w.extend(recs)
    return recs


def read_manifest(path):
    return json.loads((path / "manifest.json").read_text())


def write_manifest(path, m):
    (path / "manifest.json").write_text(json.dumps(m, indent=1))


def test_a_schema_1_store_opens_reads_and_appends_in_its_own_format(tmp_path):
    from vertexfinder.io.store.layout import PLANE_DTYPE_V1

    path = tmp_path / "old.vfstore"
    recs = write_store(path, schema=1, n_events=5, chunk_events=2)
    store = EventStore.open(path)
    assert store.info()["schema_version"] == 1 and "manifest_blake2b" not in read_manifest(path)
    for r, got in zip(recs, store):
        assert_same(r, got)
    store.verify()
    assert np.load(path / "chunk-000002.planes.npy").dtype == PLANE_DTYPE_V1


# each edit: (name, function editing the manifest dict in place, text the cross-check error names)
MANIFEST_EDITS = [
    ("drift_window", lambda m: m.update(drift_window=7), None),
    ("detector", lambda m: m.update(detector="dune-fd-1x2x6"), "detector_description"),
    ("pooling", lambda m: m.update(pooling="mean"), None),
    ("views", lambda m: m.update(views=["V", "U", "Z"]), "views"),
    ("no chunks", lambda m: m.update(chunks=[]), "its chunks hold 0"),
    ("duplicated chunk", lambda m: m["chunks"].__setitem__(1, m["chunks"][0]), "chunk 1 is named 'chunk-000000'"),
    ("19 events", lambda m: (m["chunks"][0].update(events=19), m.update(events=39)), "19 events"),
    ("21 events", lambda m: (m["chunks"][0].update(events=21), m.update(events=41)), "21 events"),
    ("total events", lambda m: m.update(events=41), "says 41 events"),
    ("foreign chunk", lambda m: m["chunks"].__setitem__(0, {
        **m["chunks"][0], "name": "../other.vfstore/chunk-000000",
        "files": {f"../other.vfstore/{k}": v for k, v in m["chunks"][0]["files"].items()}}), "foreign"),
]


@pytest.mark.parametrize("edit", MANIFEST_EDITS, ids=[e[0] for e in MANIFEST_EDITS])
def test_an_edited_manifest_is_refused_on_open_and_by_verify(tmp_path, edit):
    from vertexfinder.cli import main

    _, change, _ = edit
    path = tmp_path / "s.vfstore"
    (tmp_path / "other.vfstore").mkdir()
    write_store(path, detector_description={"name": "test-detector", "views": VIEWS})
    for chunk in ("chunk-000000",):  # the foreign store: same files, same sizes and digests
        for suffix in ("pixels", "events.npy", "planes.npy", "vertices.npy", "truth"):
            (tmp_path / "other.vfstore" / f"{chunk}.{suffix}").write_bytes((path / f"{chunk}.{suffix}").read_bytes())
    store = EventStore.open(path)
    m = read_manifest(path)
    change(m)
    write_manifest(path, m)
    with pytest.raises(StoreCorruptError, match=r"manifest\.json: manifest fails its checksum") as err:
        EventStore.open(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(StoreCorruptError, match="manifest.json"):
        store.verify()  # opened before the edit: verify looks at the store on disk
    assert main(["info", "--verify", str(path)]) == 1
    assert main(["info", str(path)]) == 1


@pytest.mark.parametrize("edit", [e for e in MANIFEST_EDITS if e[2]], ids=[e[0] for e in MANIFEST_EDITS if e[2]])
def test_the_manifest_is_cross_checked_against_the_data_in_schema_1_stores(tmp_path, edit):
    _, change, problem = edit
    path = tmp_path / "s.vfstore"
    (tmp_path / "other.vfstore").mkdir()
    write_store(path, schema=1, detector_description={"name": "test-detector", "views": VIEWS})
    EventStore.open(path)
    m = read_manifest(path)
    change(m)
    write_manifest(path, m)
    with pytest.raises(StoreCorruptError) as err:
        EventStore.open(path)
    assert str(path) in str(err.value) and problem in str(err.value) and "\n" not in str(err.value)


def test_index_files_that_do_not_match_the_manifest_are_refused(tmp_path):
    path = tmp_path / "s.vfstore"
    write_store(path, schema=1)
    m = read_manifest(path)
    # chunk 1's plane index under chunk 0's name, size and digest updated: intact, the right length, but not chunk 0's
    (path / "chunk-000000.planes.npy").write_bytes((path / "chunk-000001.planes.npy").read_bytes())
    m["chunks"][0]["files"]["chunk-000000.planes.npy"] = m["chunks"][1]["files"]["chunk-000001.planes.npy"]
    write_manifest(path, m)
    with pytest.raises(StoreCorruptError, match=r"chunk-000000\.(pixels|truth): the index spans bytes 0\.\.\d+, the chunk holds"):
        EventStore.open(path)
    # a plane index of a store with two views
    m["chunks"][0]["files"]["chunk-000000.planes.npy"] = m["chunks"][0]["files"]["chunk-000000.events.npy"]
    (path / "chunk-000000.planes.npy").write_bytes((path / "chunk-000000.events.npy").read_bytes())
    write_manifest(path, m)
    with pytest.raises(StoreCorruptError, match=r"chunk-000000\.planes\.npy: rows are not planes rows"):
        EventStore.open(path)


def test_views_that_are_not_the_detectors_are_refused_when_creating(tmp_path):
    with pytest.raises(ValueError, match="views"):
        EventStore.create(tmp_path / "s.vfstore", detector="test-detector", views=["Z", "U", "V"], drift_window=6,
                          pooling="max")
    with pytest.raises(ValueError, match="pooling"):
        EventStore.create(tmp_path / "s.vfstore", detector="test-detector", views=VIEWS, drift_window=6,
                          pooling="median")
    assert list(tmp_path.iterdir()) == []


def _same_store(a, b):
    assert a.meta == b.meta and a.manifest["chunks"] == b.manifest["chunks"] and len(a) == len(b)
    for i in (0, len(a) - 1):
        assert_same(a[i], b[i])


def test_random_bit_flips_of_the_manifest_never_open_a_different_store(tmp_path):
    path = tmp_path / "s.vfstore"
    write_store(path, n_events=6, chunk_events=3)
    reference = EventStore.open(path)
    original = (path / "manifest.json").read_bytes()
    rng = np.random.default_rng(2024)
    outcomes = {"refused": 0, "same": 0}
    for _ in range(200):
        data = bytearray(original)
        data[rng.integers(len(data))] ^= 1 << int(rng.integers(8))
        (path / "manifest.json").write_bytes(bytes(data))
        try:
            store = EventStore.open(path)
        except StoreError as exc:  # anything else (KeyError, IndexError, TypeError...) fails the test
            assert str(path) in str(exc) and "\n" not in str(exc)
            outcomes["refused"] += 1
        else:
            _same_store(reference, store)
            outcomes["same"] += 1
    assert outcomes["refused"] >= 190


def test_random_bit_flips_of_a_schema_1_manifest_raise_only_store_errors(tmp_path):
    """Without a digest a flip may go unnoticed, but the cross-checks never let it crash elsewhere."""
    path = tmp_path / "s.vfstore"
    write_store(path, schema=1, n_events=6, chunk_events=3)
    original = (path / "manifest.json").read_bytes()
    rng = np.random.default_rng(2025)
    for _ in range(200):
        data = bytearray(original)
        data[rng.integers(len(data))] ^= 1 << int(rng.integers(8))
        (path / "manifest.json").write_bytes(bytes(data))
        try:
            store = EventStore.open(path)
            store[0], store[len(store) - 1]
        except StoreError as exc:
            assert str(path) in str(exc)


def test_flipped_truth_bytes_fail_on_read_naming_store_event_and_truth(tmp_path, compression):
    path = tmp_path / "s.vfstore"
    recs = write_store(path, n_events=10, chunk_events=10, compression=compression)
    planes = np.load(path / "chunk-000000.planes.npy")
    f = path / "chunk-000000.truth"
    original = f.read_bytes()
    rng = np.random.default_rng(77)
    for _ in range(25):
        data = bytearray(original)
        at = int(rng.integers(len(data)))
        data[at] ^= 1 << int(rng.integers(8))
        f.write_bytes(bytes(data))
        row = int(np.flatnonzero((planes["truth_start"] <= at) & (at < planes["truth_start"] + planes["truth_bytes"]))[0])
        event, view = row // 3, VIEWS[row % 3]
        store = EventStore.open(path)  # truth is not read when opening
        with pytest.raises(StoreCorruptError, match=rf"chunk-000000\.truth: event {event} plane {view}: truth map"):
            store[event]
        assert_same(recs[(event + 1) % 10], store[(event + 1) % 10])


def test_creating_a_store_removes_partial_folders_of_dead_writers_only(tmp_path, capsys):
    import socket
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "s.vfstore"
    repo = Path(__file__).resolve().parents[1]
    # a writer killed while writing: two chunks committed in its partial folder, which is hidden
    killed = subprocess.run(
        [sys.executable, "-c",
         "import os, signal, sys, numpy as np\n"
         "sys.path.insert(0, os.environ['TESTS'])\n"
         "from test_event_store import create, make_record\n"
         "w = create(sys.argv[1], chunk_events=2)\n"
         "w.extend(make_record(np.random.default_rng(0), e) for e in range(5))\n"
         "print(os.getpid(), flush=True)\n"
         "os.kill(os.getpid(), signal.SIGKILL)\n", str(path)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(repo), "TESTS": str(repo / "tests")}, capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()
    (dead,) = tmp_path.iterdir()
    assert dead.name == f".s.vfstore.partial-{int(killed.stdout)}"
    assert len(read_manifest(dead)["chunks"]) == 2
    live_writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".s.vfstore.partial-{live_writer.pid}"
        live.mkdir()  # stamped a moment later
        finished = subprocess.Popen([sys.executable, "-c", "pass"])
        finished.wait()
        elsewhere = tmp_path / f".s.vfstore.partial-{finished.pid}"
        elsewhere.mkdir()  # a dead PID here, but the writer runs on another machine sharing the folder
        (elsewhere / ".writer.json").write_text(json.dumps({"host": socket.gethostname() + "-other",
                                                             "pid": finished.pid}))
        old_style = tmp_path / f"s.vfstore.partial-{finished.pid}"  # as writers named it before: visible
        old_style.mkdir()
        (old_style / ".writer.json").write_text(json.dumps({"host": socket.gethostname(), "pid": finished.pid}))
        unrelated = tmp_path / "t.vfstore.partial-999999999"  # not stamped: not ours
        unrelated.mkdir()
        with create(path) as w:
            w.append(make_record(np.random.default_rng(1), 1))
        assert not dead.exists() and not old_style.exists()
        assert live.is_dir() and elsewhere.is_dir() and unrelated.is_dir()
        assert capsys.readouterr() == ("", "")
        assert sorted(p.name for p in path.iterdir()) == sorted(
            ["manifest.json"] + [f"chunk-000000.{s}" for s in ("pixels", "events.npy", "planes.npy", "vertices.npy", "truth")])
    finally:
        live_writer.kill()
        live_writer.wait()


# -- values a buggy writer leaves, every digest sealed again (issue 21) -------------------------------------------

def _set(chunk, key, row, field, value=None, change=None):
    """A damage: one index value set (or changed by ``change(old)``), then every digest resealed."""
    from malformed import reseal_store, set_index_value  # tests/malformed.py: the corpus damages stores alike

    def damage(path):
        old = np.load(path / f"chunk-{chunk:06d}.{key}.npy")[field][row]
        set_index_value(path, chunk, key, row, field, change(old) if change else value)
        reseal_store(path)

    return damage


def _manifest(edit):
    from malformed import reseal_store

    return lambda path: reseal_store(path, edit)


# (id, compression, damage, what the one-line error says after the store's path); write_store's events have
# 1 + e % 3 vertices, so event 2's vertices are rows 3..5 of chunk 0, and chunk 1 starts at event 20
RESEALED = [
    ("interaction code 9", "zlib", _set(1, "events", 3, "interaction", 9),
     r"chunk-000001\.events\.npy: event 23: interaction code 9, expected 0\.\.2"),
    ("vertex kind 9", "zlib", _set(0, "vertices", 4, "kind", 9),
     r"chunk-000000\.vertices\.npy: event 2: vertex 1: kind code 9, expected 0\.\.2"),
    ("n_vertices 2**31", "zlib", _set(0, "events", 3, "n_vertices", 2**31),
     r"chunk-000000\.events\.npy: event 3: n_vertices 2147483648 ends its range at 2147483654, where the next one "
     r"starts at 7"),
    ("n_vertices 2**31 of a chunk's last event", "zlib", _set(1, "events", 19, "n_vertices", 2**31),
     r"chunk-000001\.events\.npy: the index spans vertices 0\.\.\d+, the chunk holds 40 \(event 39: vertex_start 39, "
     r"n_vertices 2147483648\)"),
    ("vertex_start", "zlib", _set(0, "events", 5, "vertex_start", change=lambda v: v + 1),
     r"chunk-000000\.events\.npy: event 5: vertex_start 10, expected 9, where the previous range ends"),
    ("parent out of range", "zlib", _set(0, "vertices", 4, "parent", 7),
     r"chunk-000000\.vertices\.npy: event 2: vertex 1: parent 7, expected -1 or another of the event's 3 vertices"),
    ("parent of itself", "none", _set(0, "vertices", 4, "parent", 1),
     r"chunk-000000\.vertices\.npy: event 2: vertex 1: parent 1, expected"),
    ("vertex row of another event", "zlib", _set(1, "vertices", 0, "event", 7),
     r"chunk-000001\.vertices\.npy: event 20: vertex 0: its row says event 7"),
    ("crop offset", "zlib", _set(0, "planes", 7, "offset", change=lambda v: v + 3),
     r"chunk-000000\.planes\.npy: event 2 plane V: offset \d+, expected \d+, where the previous range ends"),
    ("crop size", "none", _set(0, "planes", 7, "stored", change=lambda v: v + 3),
     r"chunk-000000\.planes\.npy: event 2 plane V: stored 33 ends its range at \d+, where the next one starts at \d+"),
    ("crop shape of an uncompressed store", "none", _set(0, "planes", 10, "wires", 7),
     r"chunk-000000\.pixels: event 3 plane V: crops are not stored uncompressed \(30 bytes for 7x5 pixels\)"),
    ("crop shape against the chunk's pixels", "zlib", _set(0, "planes", 10, "drift", 6),
     r"chunk-000000\.planes\.npy: the crops hold 1806 pixels, the manifest says chunk-000000 holds 1800"),
    ("truth code 9", "zlib", _set(0, "planes", 4, "truth_code", 9),
     r"chunk-000000\.planes\.npy: event 1 plane V: truth_code 9, expected one of \(0, 2, 3\) in a 'zlib' store"),
    ("sparse truth code in a deflated store", "zlib", _set(0, "planes", 4, "truth_code", 1),
     r"event 1 plane V: truth_code 1, expected one of \(0, 2, 3\)"),
    ("tpc", "zlib", _set(0, "events", 3, "tpc", -5), r"chunk-000000\.events\.npy: event 3: tpc -5, expected -1"),
    ("energy", "zlib", _set(0, "events", 3, "energy_gev", -np.inf),
     r"chunk-000000\.events\.npy: event 3: energy_gev -inf, expected a finite value >= 0 or NaN"),
    ("manifest without pixel_cm", "zlib", _manifest(lambda m: m.pop("pixel_cm")),
     r"manifest\.json: has no pixel_cm \(a manifest holds format, .*pixel_cm"),
    ("manifest without detector_description", "zlib", _manifest(lambda m: m.pop("detector_description")),
     r"manifest\.json: has no detector_description"),
    ("manifest created_by a number", "zlib", _manifest(lambda m: m.update(created_by=5)),
     r"manifest\.json: created_by must be text; found 5"),
    ("pixel_cm infinite", "zlib", _manifest(lambda m: m.update(pixel_cm=[0.5, float("inf")])),
     r"manifest\.json: pixel_cm must be null or a list of positive numbers"),
]


@pytest.mark.parametrize("case", RESEALED, ids=[c[0] for c in RESEALED])
def test_index_values_resealed_by_a_buggy_writer_are_refused_naming_store_event_and_value(tmp_path, capsys, case):
    from vertexfinder.cli import main

    _, compression, damage, expected = case
    path = tmp_path / "s.vfstore"
    write_store(path, compression=compression)
    damage(path)
    with pytest.raises(StoreCorruptError) as err:
        EventStore.open(path)
    message = str(err.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert re.search(expected, message), message
    capsys.readouterr()
    assert main(["info", str(path)]) == 1
    err_lines = capsys.readouterr().err.splitlines()
    assert len(err_lines) == 1 and str(path) in err_lines[0] and re.search(expected, err_lines[0])


def test_a_truth_map_resealed_over_a_vertex_the_event_lacks_is_refused_on_read(tmp_path):
    import zlib

    from malformed import reseal_store, set_index_value

    path = tmp_path / "s.vfstore"
    recs = write_store(path, n_events=10, chunk_events=10, compression="none")  # sparse (pixel, vertex) pairs
    planes = np.load(path / "chunk-000000.planes.npy")
    row = int(np.flatnonzero(planes["truth_bytes"] > 0)[4])
    start, n = int(planes["truth_start"][row]), int(planes["truth_bytes"][row])
    data = bytearray((path / "chunk-000000.truth").read_bytes())
    pairs = np.frombuffer(bytes(data[start:start + n]), dtype=[("pixel", "<u4"), ("vertex", "<i2")]).copy()
    pairs["vertex"][0] = 3  # event row // 3 has 1 + (row // 3) % 3 <= 3 vertices
    data[start:start + n] = pairs.tobytes()
    (path / "chunk-000000.truth").write_bytes(bytes(data))
    set_index_value(path, 0, "planes", row, "truth_crc32", zlib.crc32(pairs.tobytes()) & 0xFFFFFFFF)
    reseal_store(path)
    store = EventStore.open(path)
    event, view = row // 3, VIEWS[row % 3]
    expected = (rf"s\.vfstore/chunk-000000\.truth: event {event} plane {view}: truth map refers to vertices -?\d+\.\.3, "
                rf"expected -1 \(none\) or one of the event's {1 + event % 3}")
    with pytest.raises(StoreCorruptError, match=expected):
        store[event]
    assert_same(recs[event - 1], store[event - 1])


@pytest.mark.parametrize("field,problem", [("crc32", "crop fails its CRC-32 check"),
                                           ("truth_crc32", "truth map fails its CRC-32 check")])
def test_a_crc_resealed_wrong_passes_open_but_fails_info_verify(tmp_path, capsys, compression, field, problem):
    from vertexfinder.cli import main

    path = tmp_path / "s.vfstore"
    write_store(path, compression=compression)
    _set(1, "planes", 13, field, change=lambda v: v ^ 1)(path)  # event 24, plane V
    store = EventStore.open(path)  # opening reads no pixels
    assert main(["info", str(path)]) == 0
    capsys.readouterr()
    suffix = "pixels" if field == "crc32" else "truth"
    expected = f"{path}/chunk-000001.{suffix}: event 24 plane V: {problem}"
    assert main(["info", "--verify", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].endswith(expected), err
    with pytest.raises(StoreCorruptError) as exc:
        store.verify()
    assert str(exc.value) == expected


def test_find_refuses_a_store_resealed_over_an_interaction_code_naming_it(tmp_path, capsys):
    from vertexfinder.cli import main

    path = tmp_path / "s.vfstore"
    write_store(path, n_events=6, chunk_events=6)
    _set(0, "events", 4, "interaction", 9)(path)
    out = tmp_path / "found.csv"
    assert main(["find", str(path), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and f"{path}/chunk-000000.events.npy: event 4: interaction code 9" in err[0], err
    assert "internal error" not in err[0] and not out.exists()


def test_what_a_store_would_refuse_is_not_written(tmp_path):
    rng = np.random.default_rng(3)
    with create(tmp_path / "s.vfstore") as w:
        for change, match in [(dict(tpc=-2), "tpc must be -1"), (dict(energy_gev=-1.0), "energy_gev must be"),
                              (dict(energy_gev=float("inf")), "energy_gev must be")]:
            rec = make_record(rng, 1)
            bad = EventRecord(**{**{k: getattr(rec, k) for k in ("run", "subrun", "event", "detector", "drift_window",
                                                                 "pooling", "planes", "vertices", "nu_pdg",
                                                                 "interaction", "energy_gev", "tpc")}, **change})
            with pytest.raises(BadEventError, match=match):
                w.append(bad)
        rec = make_record(rng, 2)
        truth = rec.planes[0].truth.copy()
        truth[0, 0] = -3  # deflated as vertex + 1 in a byte, it would read back as vertex 253
        planes = [PlaneImage(rec.planes[0].view, rec.planes[0].pixels, rec.planes[0].origin, truth), *rec.planes[1:]]
        with pytest.raises(BadEventError, match=r"plane U truth refers to vertices -3\.\."):
            w.append(EventRecord(7, 0, 2, "test-detector", 6, "max", planes, rec.vertices))
        w.append(make_record(rng, 3))
    assert len(EventStore.open(tmp_path / "s.vfstore")) == 1
