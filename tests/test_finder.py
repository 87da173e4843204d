"""VertexFinder mechanics, input forms, find/evaluate/show/export commands (with a small untrained model).

The figures of the bundled model are checked in test_default_model.py.
"""

import csv
import json
import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from vertexfinder.cli import main  # noqa: E402
from vertexfinder.errors import BadEventError, UnknownDetectorError  # noqa: E402
from vertexfinder.finder import FinderConfig, Vertex, VertexFinder  # noqa: E402
from vertexfinder.inputs import event_from_frame, frame_from_event  # noqa: E402
from vertexfinder.io.results import FIND_COLUMNS  # noqa: E402
from vertexfinder.io.store import EventStore  # noqa: E402
from vertexfinder.mapper import ImageMapper  # noqa: E402
from vertexfinder.records import EventRecord, PlaneImage  # noqa: E402
from vertexfinder.simulation import simulate  # noqa: E402
from vertexfinder.training import build_walker, config_from_toml  # noqa: E402

TINY = [
    "detector='test-detector'", "num_levels=3", "glimpse_size=[16, 16]", "num_steps=4", "max_step=32.0",
    "filters=[8, 16]", "encoder_units=16", "recurrent_units=16",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    keras.utils.set_random_seed(3)
    cfg = config_from_toml(None, TINY)
    model = build_walker(cfg)
    model.build()
    d = tmp_path_factory.mktemp("model")
    model.save(d / "walker.keras")
    (d / "config.json").write_text(json.dumps(cfg.to_dict()))
    return d


@pytest.fixture(scope="module")
def finder(model_dir):
    return VertexFinder.load(model_dir, seeds_per_plane=6, all_seeds_per_plane=8)


@pytest.fixture(scope="module")
def events():
    return [e for e in simulate("test-detector", "numu-cc", events=4, seed=11) if e.primary is not None]


@pytest.fixture(scope="module")
def store(tmp_path_factory, events):
    path = tmp_path_factory.mktemp("s") / "ev.vfstore"
    with EventStore.create(path, detector="test-detector", views=["U", "V", "Z"], drift_window=6, pooling="max") as w:
        w.extend(events)
    return path


def _same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert u.kind == v.kind and u.primary == v.primary
        assert u.score == pytest.approx(v.score, abs=1e-5)
        for pu, pv in zip(u.planes, v.planes):
            assert (pu is None) == (pv is None)
            if pu is not None:
                assert (pu.global_wire, pu.global_drift) == pytest.approx((pv.global_wire, pv.global_drift), abs=1e-3)


def test_primary_vertex_coordinates_agree_with_the_mapper(finder, events):
    mapper = ImageMapper("test-detector")
    for ev in events:
        vertices = finder.find(ev)
        assert len(vertices) == 1 and isinstance(vertices[0], Vertex)
        v = vertices[0]
        assert v.primary and v.kind == "interaction" and 0 <= v.score <= 1
        assert len(v.planes) == 3
        for p, pv in enumerate(v.planes):
            if pv is None:
                continue
            assert pv.view == mapper.views[p]
            if v.position_cm is not None:
                assert pv.tpc == v.tpc
            if pv.tpc >= 0 and 0 <= pv.wire < mapper.tpc_plane(p, pv.tpc).n_wires:
                # (tpc, wire, tick) lead back to the reported global pixel, and the channel reads that wire
                gw, gd = mapper.to_global(p, pv.tpc, int(math.floor(pv.wire)), int(math.floor(pv.tick)))
                assert abs(gw - math.floor(pv.global_wire)) <= 1 and abs(gd - math.floor(pv.global_drift)) <= 1
                assert pv.channel == mapper.tpc_plane(p, pv.tpc).channels[int(math.floor(pv.wire))]
        if v.position_cm is not None:
            # the 3D point (inside its TPC, within the fit's 1 cm tolerance) projects back near the planes
            assert mapper.detector.tpcs[v.tpc].contains(*v.position_cm, tolerance_cm=1.0)
            drift = mapper.tick_to_global_drift(v.tpc, mapper.detector.drift_ticks(v.tpc, v.position_cm[0]))
            drifts = [pv.global_drift for pv in v.planes if pv is not None]
            assert abs(drift - np.mean(drifts)) < finder.config.drift_tolerance_px + 1


def test_all_mode_starts_with_the_primary_and_is_deterministic(finder, events):
    a = finder.find(events[0], mode="all")
    b = finder.find(events[0], mode="all")
    _same(a, b)
    assert a[0].primary and all(not v.primary for v in a[1:])
    assert all(v.kind in ("interaction", "decay", "conversion") for v in a)
    assert all(v.position_cm is not None for v in a[1:])  # non-primary vertices need two planes to agree


def test_all_mode_names_each_vertex_s_parent_and_a_conversion_s_gap(finder, events):
    from vertexfinder.finder.relate import relate

    related = 0
    for ev, res in zip(events, finder.find_many(events, mode="all")):
        vertices = res.vertices
        assert vertices[0].primary and vertices[0].parent == -1
        if vertices[0].position_cm is None:  # no 3D primary, no tree
            assert all(v.parent == -1 for v in vertices)
            continue
        for i, v in enumerate(vertices[1:], 1):
            assert 0 <= v.parent < len(vertices) and v.parent != i  # a primary with a 3D point: every vertex has one
            assert vertices[v.parent].kind != "conversion"
            if v.kind == "conversion":
                assert v.gap_cm == pytest.approx(np.linalg.norm(v.position_cm - vertices[v.parent].position_cm))
            else:
                assert math.isnan(v.gap_cm)
            related += 1
        assert [v.parent for v in relate(vertices, ev, finder.mapper(ev))] == [v.parent for v in vertices]
        assert all(v.parent == -1 for v in finder.find(ev, mode="primary"))
    assert related  # the events have vertices besides the primary


def test_batched_events_give_the_same_vertices_as_one_by_one(finder, events):
    batched = finder.find_many(events, mode="all")
    for ev, res in zip(events, batched):
        _same(res.vertices, finder.find(ev, mode="all"))
        assert set(res.walks) == {0, 1, 2}
        assert all(w.shape == (finder.num_steps + 1, 2) for w in res.walks[0])


def test_every_input_form_gives_the_same_vertices(finder, events, tmp_path):
    """A frame, the record built from it, its event-store copy and its ROOT dump copy."""
    from vertexfinder.io.root import read_dump, write_dump

    mapper = ImageMapper("test-detector")
    frame, channels = frame_from_event(events[1], mapper)
    rec = event_from_frame(frame, channels, detector=mapper, run=1, event=7)
    # bytes above 250 saturate in the dump format (its own ADC limit)
    rec = EventRecord(1, 0, 7, rec.detector, 6, "max",
                      [PlaneImage(p.view, np.minimum(p.pixels, 250), p.origin) for p in rec.planes])
    expected = finder.find(rec, mode="all")
    assert expected
    with EventStore.create(tmp_path / "s.vfstore", detector="test-detector", views=["U", "V", "Z"], drift_window=6,
                           pooling="max") as w:
        w.append(rec)
    _same(finder.find(EventStore.open(tmp_path / "s.vfstore")[0], mode="all"), expected)
    write_dump(tmp_path / "d.root", [rec], mapper=mapper)
    (entry,) = list(read_dump(tmp_path / "d.root", mapper=mapper))
    _same(finder.find(entry.record, mode="all"), expected)


def test_other_pixel_sizes_are_resampled_to_the_model_pixel(finder):
    ev = next(iter(simulate("microboone", "numu-cc", events=1, seed=4)))
    mapper = ImageMapper("microboone")
    prep = finder.prepare(ev)
    for p, view in enumerate(prep):
        px = mapper.pixel_cm(p)
        np.testing.assert_allclose(view.factor, np.array(px) / finder.cm_per_pixel)
        assert view.pyramid.shape[0] == math.ceil(ev.planes[p].pixels.shape[0] * view.factor[0] - 1e-9)
    (v,) = finder.find(ev)
    for p, pv in enumerate(v.planes):
        if pv is not None and pv.found:  # found views: reported in the event's own global pixels
            w0, w1, d0, d1 = ev.planes[p].extent
            assert w0 - 40 <= pv.global_wire <= w1 + 40 and d0 - 40 <= pv.global_drift <= d1 + 40


def test_bad_inputs_give_clear_errors(finder, events):
    ev = events[0]
    with pytest.raises(ValueError, match="mode must be one of"):
        finder.find(ev, mode="everything")
    empty = EventRecord(1, 0, 3, "test-detector", 6, "max", [PlaneImage(v, np.zeros((4, 4), np.uint8), (0, 0)) for v in "UVZ"])
    with pytest.raises(BadEventError, match=r"\(1, 0, 3\): no charge"):
        finder.find(empty)
    two = EventRecord(1, 0, 4, "test-detector", 6, "max", ev.planes[:2])
    with pytest.raises(BadEventError, match="2 planes"):
        finder.find(two)
    unknown = EventRecord(1, 0, 5, "no-such-detector", 6, "max", ev.planes)
    with pytest.raises(UnknownDetectorError, match="no-such-detector"):
        finder.find(unknown)
    with pytest.raises(TypeError, match="EventRecord"):
        finder.find(ev.planes[0].pixels)
    with pytest.raises(FileNotFoundError, match="no such model"):
        VertexFinder.load("/nonexistent/model.keras")
    with pytest.raises(ValueError, match="seeds_per_plane"):
        FinderConfig(seeds_per_plane=0)


def test_find_command_writes_csv_and_root(model_dir, store, tmp_path, capsys):
    out = tmp_path / "v.csv"
    assert main(["find", str(store), "--model", str(model_dir), "--mode", "all", "-o", str(out), "-q"]) == 0
    with open(out) as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames) == FIND_COLUMNS
    assert {r["event"] for r in rows} == {str(e.event) for e in EventStore.open(store)}
    assert all(r["plane"] in ("U", "V", "Z") and r["kind"] in ("interaction", "decay", "conversion") for r in rows)
    import uproot

    root = tmp_path / "v.root"
    assert main(["find", str(store), "--model", str(model_dir), "--mode", "all", "-o", str(root), "-q"]) == 0
    with uproot.open(root) as f:
        tree = f["vertices"].arrays(library="np")
    assert len(tree["event"]) == len(rows)
    np.testing.assert_allclose(tree["global_wire"], [float(r["global_wire"]) for r in rows])
    assert not list(tmp_path.glob(".*.tmp"))
    assert main(["find", str(tmp_path / "missing.vfstore"), "--model", str(model_dir), "-o", str(out)]) == 1
    assert "missing.vfstore" in capsys.readouterr().err


def test_evaluate_command_prints_and_writes_the_figures(model_dir, store, tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["evaluate", str(store), "--model", str(model_dir), "--json", str(out), "-q"]) == 0
    m = json.loads(out.read_text())
    for key in ("events", "primary_within_1cm_3d", "primary_within_2cm_3d", "primary_within_5cm_3d",
                "primary_within_1cm_2d", "class_accuracy", "confusion", "ms_per_event", "events_primary_not_visible"):
        assert key in m, key
    assert m["events"] == len(EventStore.open(store))
    assert set(m["primary_within_1cm_2d"]) == {"U", "V", "Z"}
    assert "primary vertex within" in capsys.readouterr().out


def test_show_command_draws_the_event(model_dir, store, tmp_path):
    out = tmp_path / "e.png"
    assert main(["show", str(store), "--event", "1", "--model", str(model_dir), "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_exported_savedmodel_gives_the_same_steps(model_dir, finder, tmp_path):
    import tensorflow as tf

    out = tmp_path / "export"
    assert main(["export", "--model", str(model_dir), "--format", "savedmodel", str(out)]) == 0
    loaded = tf.saved_model.load(str(out))
    fn = loaded.signatures["serving_default"]
    m = finder.model
    rng = np.random.default_rng(0)
    g = rng.integers(0, 120, (5, m.num_levels, *m.glimpse_size), dtype=np.uint8)
    f = rng.random((5, m.num_features)).astype(np.float32)
    s = rng.normal(size=(5, m.recurrent_units)).astype(np.float32)
    got = fn(glimpses=tf.constant(g), features=tf.constant(f), state=tf.constant(s))
    want, state = m.step(g, f, s)
    for k in ("step", "kind", "distance"):
        np.testing.assert_allclose(got[k].numpy(), np.asarray(want[k]), atol=1e-5)
    np.testing.assert_allclose(got["state"].numpy(), np.asarray(state), atol=1e-5)
    assert json.loads((out / "vertexfinder.json").read_text())["num_levels"] == m.num_levels


def test_exported_onnx_folder_finds_what_the_keras_model_finds(model_dir, finder, store, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "onnx"
    assert main(["export", "--model", str(model_dir), "--format", "onnx", str(out)]) == 0
    assert "load them with --backend onnxruntime" in capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*.onnx")) == ["walker.onnx"]  # a walker without a refiner
    onnx = VertexFinder.load(out, backend="onnxruntime", seeds_per_plane=6, all_seeds_per_plane=8)
    assert onnx.refiner is None and onnx.backend == "onnxruntime"
    for ev in EventStore.open(store):
        a, b = finder.find(ev, mode="all"), onnx.find(ev, mode="all")
        assert len(a) == len(b)
        for va, vb in zip(a, b):
            assert (va.position_cm is None) == (vb.position_cm is None) and va.kind == vb.kind
            for pa, pb in zip(va.planes, vb.planes):
                assert (pa is None) == (pb is None)
                if pa is not None:
                    assert abs(pa.global_wire - pb.global_wire) < 1e-3 and abs(pa.global_drift - pb.global_drift) < 1e-3
    assert main(["export", "--model", str(model_dir), "--format", "onnx", str(out)]) == 1  # exists
    assert "exists" in capsys.readouterr().err
