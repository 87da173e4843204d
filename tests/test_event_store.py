"""The event store: round trips, chunks, append, atomicity, corruption, versions."""

import json
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vertexfinder.errors import BadEventError, StoreCorruptError, StoreError, StoreVersionError
from vertexfinder.records import FLAG_NU_PRIMARY, EventRecord, PlaneImage, TruthVertex
from vertexfinder.store import EventStore

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
