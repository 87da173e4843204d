"""ROOT dumps in the historical layout: write -> read round trips, layout details, bad events, atomicity."""

import re

import numpy as np
import pytest
import uproot
from uproot.writing.identify import to_TAxis, to_TH2x

from vertexfinder.errors import BadEventError, RootFormatError
from vertexfinder.io.root import DumpEntry, read_dump, write_dump
from vertexfinder.mapper import ImageMapper
from vertexfinder.records import (
    FLAG_CONVERSION, FLAG_DECAY, FLAG_HADRONIC, FLAG_NU_PRIMARY, FLAG_PI0, EventRecord, PlaneImage, TruthVertex,
)

RAW = "event_{e}_run_{r}_subrun_{s}_plane_{p}_raw"


@pytest.fixture(scope="module")
def mapper():
    return ImageMapper("test-detector", drift_window=6)


def _point_in(tpc, rng):
    b = tpc.box
    return np.array([rng.uniform(b[0] + 1, b[1] - 1), rng.uniform(b[2] + 1, b[3] - 1), rng.uniform(b[4] + 1, b[5] - 1)])


def _records(mapper, n=4, *, seed=0, run=7, subrun=3, max_byte=250, truth=True):
    """Events with random crops inside the global image, a primary + decay + conversion, truth maps."""
    rng = np.random.default_rng(seed)
    det = mapper.detector
    out = []
    for e in range(n):
        tpc = det.tpcs[e % len(det.tpcs)]
        xyz = np.array([_point_in(tpc, rng) for _ in range(3)])
        proj = mapper.project_points(xyz)
        vertices = [
            TruthVertex("interaction", xyz[0], flags=FLAG_NU_PRIMARY | FLAG_HADRONIC | FLAG_PI0, planes=proj[0],
                        pdg=14),
            TruthVertex("decay", xyz[1], flags=FLAG_DECAY, parent=0, planes=proj[1], pdg=211),
            TruthVertex("conversion", xyz[2], flags=FLAG_CONVERSION, parent=0, planes=proj[2], pdg=22),
        ]
        planes = []
        for view in mapper.views:
            n_w, n_d = mapper.shape(view)
            w, d = int(rng.integers(5, 20)), int(rng.integers(5, 30))
            origin = (int(rng.integers(0, n_w - w)), int(rng.integers(0, n_d - d)))
            pixels = rng.integers(0, max_byte + 1, size=(w, d), dtype=np.uint8)
            tmap = rng.integers(-1, len(vertices), size=(w, d)) if truth else None
            planes.append(PlaneImage(view, pixels, origin, tmap))
        out.append(EventRecord(
            run, subrun, 10 + e, det.name, mapper.drift_window, mapper.pooling, planes, vertices,
            nu_pdg=(14, -12)[e % 2], interaction=("CC", "NC", "")[e % 3], energy_gev=1.5 + e, tpc=tpc.index,
        ))
    return out


def _rewrite(src, dst, *, directory="", drop=(), replace=None, branches=None):
    """Copy a dump's objects (flattened from its directory) into ``dst``, dropping/replacing some."""
    replace = replace or {}
    prefix = f"{directory}/" if directory else ""
    with uproot.open(src) as f, uproot.recreate(dst) as g:
        d = f["vertexdump"]
        for name, cls in d.iterclassnames(cycle=False):
            if name in drop:
                continue
            if name in replace:
                g[prefix + name] = replace[name]
            elif cls == "TObjString":  # uproot writes strings, not the TObjStrings it reads
                g[prefix + name] = str(d[name])
            elif cls == "TTree":
                t = d[name]
                keep = [b for b in t.keys() if branches is None or b in branches.get(name, t.keys())]
                types = {b: t[b].interpretation.numpy_dtype.newbyteorder("=") for b in keep}
                g.mktree(prefix + name, types).extend(t.arrays(keep, library="np"))
            else:
                g[prefix + name] = d[name]


def _th2(values, origin, dtype, *, width=1.0):
    """A TH2 built directly with uproot (dtype float32 -> TH2F)."""
    nx, ny = values.shape
    cells = np.zeros((nx + 2, ny + 2), dtype=dtype)
    cells[1:-1, 1:-1] = values
    return to_TH2x(
        None, "", cells.T.reshape(-1), float(values.size), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, None,
        to_TAxis("xaxis", "", nx, float(origin[0]), float(origin[0] + width * nx)),
        to_TAxis("yaxis", "", ny, float(origin[1]), float(origin[1] + ny)),
    )


def _read_all(path, mapper, **kw):
    entries = list(read_dump(path, mapper=mapper, **kw))
    assert all(isinstance(e, DumpEntry) for e in entries)
    return entries


# -- round trip -------------------------------------------------------------------------------------------------
def test_round_trip_field_by_field(tmp_path, mapper):
    records = _records(mapper, 5)
    path = tmp_path / "dump.root"
    assert write_dump(path, records, mapper=mapper) == 5
    entries = _read_all(path, mapper)
    assert [e.ids for e in entries] == [r.ids for r in records]
    for rec, entry in zip(records, entries):
        assert entry.error is None
        got = entry.record
        assert got.ids == rec.ids
        assert (got.detector, got.drift_window, got.pooling) == ("test-detector", 6, "max")
        assert (got.nu_pdg, got.interaction, got.tpc) == (rec.nu_pdg, rec.interaction, rec.tpc)
        assert got.energy_gev == pytest.approx(rec.energy_gev)
        assert [p.view for p in got.planes] == ["U", "V", "Z"]
        for a, b in zip(rec.planes, got.planes):
            assert b.origin == a.origin
            assert b.pixels.dtype == np.uint8
            np.testing.assert_array_equal(b.pixels, a.pixels)
            np.testing.assert_array_equal(b.truth, a.truth)
        assert len(got.vertices) == len(rec.vertices)
        for a, b in zip(rec.vertices, got.vertices):
            assert (b.kind, b.flags, b.parent, b.pdg) == (a.kind, a.flags, a.parent, a.pdg)
            np.testing.assert_allclose(b.position_cm, a.position_cm, atol=1e-4)
            np.testing.assert_allclose(b.planes, a.planes, atol=1e-4)
        assert got.primary is not None and got.primary.is_primary


def test_record_without_truth_reads_without_truth(tmp_path, mapper):
    records = _records(mapper, 2, truth=False)
    records = [EventRecord(r.run, r.subrun, r.event, r.detector, r.drift_window, r.pooling, r.planes)
               for r in records]
    path = tmp_path / "plain.root"
    write_dump(path, records, mapper=mapper)
    with uproot.open(path) as f:
        assert "TH2I" not in set(f.classnames().values())
    for entry in _read_all(path, mapper):
        rec = entry.record
        assert rec.vertices == () and all(p.truth is None for p in rec.planes)
        assert (rec.nu_pdg, rec.interaction, rec.tpc) == (0, "", -1) and np.isnan(rec.energy_gev)


def test_bytes_above_250_saturate_to_250(tmp_path, mapper):
    # The dump format maps ADC -5..250 onto the signed byte -128..127: 251..255 cannot be stored.
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    planes = [PlaneImage(v, pixels, (0, 0)) for v in mapper.views]
    rec = EventRecord(1, 0, 1, "test-detector", 6, "max", planes)
    path = tmp_path / "sat.root"
    write_dump(path, [rec], mapper=mapper)
    (entry,) = _read_all(path, mapper)
    got = entry.record.planes[0].pixels
    np.testing.assert_array_equal(got, np.minimum(pixels, 250))
    assert got.ravel()[250:].tolist() == [250] * 6


def test_written_classes_axes_and_bins(tmp_path, mapper):
    (rec,) = _records(mapper, 1)
    path = tmp_path / "layout.root"
    write_dump(path, [rec], mapper=mapper)
    with uproot.open(path) as f:
        classes = f.classnames(cycle=False)
        for p in range(3):
            assert classes[f"vertexdump/event_10_run_7_subrun_3_plane_{p}_raw"] == "TH2C"
            assert classes[f"vertexdump/event_10_run_7_subrun_3_plane_{p}_truth"] == "TH2I"
        for tree in ("nu vertex", "nu vertex 2d", "vertices"):
            assert classes[f"vertexdump/{tree}"] == "TTree"
        plane = rec.planes[1]
        h = f["vertexdump/event_10_run_7_subrun_3_plane_1_raw"]
        w0, w1, d0, d1 = plane.extent
        np.testing.assert_array_equal(h.axis(0).edges(), np.arange(w0, w1 + 1))
        np.testing.assert_array_equal(h.axis(1).edges(), np.arange(d0, d1 + 1))
        cells = h.values(flow=True)
        # Under/overflow stay empty; bin (i + 1, j + 1) holds the signed byte ADC - 123.
        assert not cells[0].any() and not cells[-1].any() and not cells[:, 0].any() and not cells[:, -1].any()
        np.testing.assert_array_equal(cells[1:-1, 1:-1], plane.pixels.astype(int) - 123)
        t = f["vertexdump/event_10_run_7_subrun_3_plane_1_truth"].values()
        flags = np.array([v.flags for v in rec.vertices])
        expect = np.where(plane.truth >= 0, (plane.truth + 1) | (flags[plane.truth] << 16), 0)
        np.testing.assert_array_equal(t, expect)
        nu = f["vertexdump/nu vertex"].arrays(library="np")
        assert nu["fRun"].tolist() == [7] and nu["fEvent"].tolist() == [10] and nu["fCryo"].tolist() == [0]
        assert nu["fTpc"].tolist() == [rec.tpc] and nu["fInteraction"].tolist() == [0]
        nu2d = f["vertexdump/nu vertex 2d"].arrays(library="np")
        assert nu2d["fPlane"].tolist() == [2, 1, 0]
        for p, x, y in zip(nu2d["fPlane"], nu2d["fPosX"], nu2d["fPosY"]):
            proj = mapper.project(rec.primary.position_cm, int(p))
            assert (x, y) == pytest.approx((proj.wire, proj.tick))


@pytest.mark.parametrize("where", ["", "someModuleLabel"])
def test_objects_at_top_level_or_in_another_directory_read(tmp_path, mapper, where):
    records = _records(mapper, 3)
    written = tmp_path / "w.root"
    write_dump(written, records, mapper=mapper, directory=where)
    with uproot.open(written) as f:
        top = f.classnames(recursive=False, cycle=False)
        assert ("nu vertex" in top) == (where == "")
    got = _read_all(written, mapper)
    assert [e.ids for e in got] == [r.ids for r in records]
    for rec, entry in zip(records, got):
        np.testing.assert_array_equal(entry.record.planes[2].pixels, rec.planes[2].pixels)


# -- historical files: only the nu vertex trees -------------------------------------------------------------------
def test_2d_tree_only_gives_primary_vertex(tmp_path, mapper):
    records = _records(mapper, 4)
    path = tmp_path / "full.root"
    write_dump(path, records, mapper=mapper)
    historical = tmp_path / "historical.root"
    # No vertices tree and, as in the historical trees, no fSubRun / fEnergy branches.
    _rewrite(path, historical, directory="vertexdump", drop={"vertices"}, branches={
        "nu vertex": {"fRun", "fEvent", "fCryo", "fTpc", "fPdg", "fInteraction"},
        "nu vertex 2d": {"fRun", "fEvent", "fPlane", "fPosX", "fPosY"},
    })
    entries = _read_all(historical, mapper)
    assert [e.ids for e in entries] == [r.ids for r in records]
    for rec, entry in zip(records, entries):
        assert entry.error is None, entry.error
        got = entry.record
        assert len(got.vertices) == 1
        v = got.primary
        assert v.kind == "interaction" and v.flags == FLAG_NU_PRIMARY | FLAG_HADRONIC and v.parent == -1
        np.testing.assert_allclose(v.position_cm, rec.primary.position_cm, atol=0.05)
        np.testing.assert_allclose(v.planes, rec.primary.planes, atol=1e-6)
        assert got.tpc == rec.tpc and got.nu_pdg == rec.nu_pdg and np.isnan(got.energy_gev)
        # Without the vertices tree the truth maps are historical (PDG-coded): not decoded.
        assert all(p.truth is None for p in got.planes)
        np.testing.assert_array_equal(got.planes[0].pixels, rec.planes[0].pixels)


# -- bad events ---------------------------------------------------------------------------------------------------
def _errors(entries):
    return {e.ids: e.error for e in entries if e.record is None}


def test_missing_plane_histogram_is_reported_others_read(tmp_path, mapper):
    records = _records(mapper, 3)
    path, bad = tmp_path / "ok.root", tmp_path / "bad.root"
    write_dump(path, records, mapper=mapper)
    missing = RAW.format(e=11, r=7, s=3, p=1)
    _rewrite(path, bad, directory="vertexdump", drop={missing})
    entries = _read_all(bad, mapper)
    assert [e.ids for e in entries] == [r.ids for r in records]
    errors = _errors(entries)
    assert list(errors) == [(7, 3, 11)]
    msg = errors[(7, 3, 11)]
    assert "bad.root" in msg and "event 11" in msg and "run 7" in msg and missing in msg and "missing" in msg
    assert entries[0].record is not None and entries[2].record is not None


def test_th2f_instead_of_th2c_is_reported(tmp_path, mapper):
    records = _records(mapper, 3)
    path, bad = tmp_path / "ok.root", tmp_path / "bad.root"
    write_dump(path, records, mapper=mapper)
    name = RAW.format(e=12, r=7, s=3, p=0)
    plane = records[2].planes[0]
    _rewrite(path, bad, directory="vertexdump",
             replace={name: _th2(plane.pixels.astype(np.float32), plane.origin, np.float32)})
    with uproot.open(bad) as f:
        assert f.classnames(cycle=False)[f"vertexdump/{name}"] == "TH2F"
    errors = _errors(_read_all(bad, mapper))
    assert list(errors) == [(7, 3, 12)]
    assert "TH2F" in errors[(7, 3, 12)] and "TH2C" in errors[(7, 3, 12)] and "event 12" in errors[(7, 3, 12)]


def test_non_unit_axis_and_bad_truth_shape_are_reported(tmp_path, mapper):
    records = _records(mapper, 3)
    path, bad = tmp_path / "ok.root", tmp_path / "bad.root"
    write_dump(path, records, mapper=mapper)
    p0 = records[0].planes[2]
    p1 = records[1].planes[0]
    wide = _th2(p0.pixels.astype(np.int8), p0.origin, np.int8, width=2.0)
    short_truth = _th2(np.zeros((p1.shape[0] - 1, p1.shape[1]), np.int32), p1.origin, np.int32)
    _rewrite(path, bad, directory="vertexdump", replace={
        RAW.format(e=10, r=7, s=3, p=2): wide,
        "event_11_run_7_subrun_3_plane_0_truth": short_truth,
    })
    errors = _errors(_read_all(bad, mapper))
    assert set(errors) == {(7, 3, 10), (7, 3, 11)}
    assert "unit-width" in errors[(7, 3, 10)] and "event 10" in errors[(7, 3, 10)]
    assert "truth map" in errors[(7, 3, 11)] and "event 11" in errors[(7, 3, 11)]


def test_crop_outside_global_image_is_reported(tmp_path, mapper):
    rec = _records(mapper, 1)[0]
    n_w, n_d = mapper.shape("Z")
    planes = [PlaneImage(p.view, p.pixels, p.origin) for p in rec.planes]
    planes[2] = PlaneImage("Z", np.ones((4, 4), np.uint8), (n_w - 4, n_d - 4))  # flush with the far corner
    rec = EventRecord(1, 0, 5, rec.detector, 6, "max", planes)
    path = tmp_path / "edge.root"
    write_dump(path, [rec], mapper=mapper)
    assert _read_all(path, mapper)[0].record is not None
    # Read with a coarser drift window, the same crop no longer fits the global image.
    (entry,) = _read_all(path, ImageMapper("test-detector", drift_window=12))
    assert entry.record is None and "outside" in entry.error and "event 5" in entry.error


def test_vertex_rows_for_missing_event_are_reported(tmp_path, mapper):
    records = _records(mapper, 2)
    path, bad = tmp_path / "ok.root", tmp_path / "bad.root"
    write_dump(path, records, mapper=mapper)
    _rewrite(path, bad, directory="vertexdump",
             drop={f"event_11_run_7_subrun_3_plane_{p}_{w}" for p in range(3) for w in ("raw", "truth")})
    entries = _read_all(bad, mapper)
    assert [e.ids for e in entries] == [(7, 3, 10), (7, 3, 11)]
    assert entries[0].record is not None
    assert entries[1].record is None and "event 11" in entries[1].error and "no plane histograms" in entries[1].error


# -- files that are not dumps -------------------------------------------------------------------------------------
def test_non_root_file_raises_naming_the_file(tmp_path, mapper):
    bad = tmp_path / "notroot.root"
    bad.write_bytes(b"this is not ROOT")
    with pytest.raises(RootFormatError, match="notroot.root"):
        read_dump(bad, mapper=mapper)
    with pytest.raises(RootFormatError, match="absent.root"):
        read_dump(tmp_path / "absent.root", mapper=mapper)


def test_root_file_without_dump_raises(tmp_path, mapper):
    other = tmp_path / "other.root"
    with uproot.recreate(other) as f:
        f["somehist"] = (np.ones(3), np.arange(4.0))
        f["dir/another"] = (np.ones(3), np.arange(4.0))
    with pytest.raises(RootFormatError, match="other.root.*no vertex dump"):
        read_dump(other, mapper=mapper)


# -- writing ------------------------------------------------------------------------------------------------------
def test_write_is_atomic(tmp_path, mapper):
    records = _records(mapper, 2)
    path = tmp_path / "out.root"
    write_dump(path, iter(records), mapper=mapper)
    assert [p.name for p in tmp_path.iterdir()] == ["out.root"]

    def failing():
        yield records[0]
        raise RuntimeError("simulation crashed")

    target = tmp_path / "never.root"
    with pytest.raises(RuntimeError, match="simulation crashed"):
        write_dump(target, failing(), mapper=mapper)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out.root"]


def test_write_rejects_records_the_format_cannot_hold(tmp_path, mapper):
    rec = _records(mapper, 1)[0]
    path = tmp_path / "x.root"
    with pytest.raises(BadEventError, match="written twice"):
        write_dump(path, [rec, rec], mapper=mapper)
    with pytest.raises(BadEventError, match="drift_window"):
        write_dump(path, [rec], mapper=ImageMapper("test-detector", drift_window=12))
    assert list(tmp_path.iterdir()) == []


# -- a historical dump written without this package: nu vertex 2d with only fPlane, fPosX, fPosY ----------------
def _historical_dump(path, mapper, n=4, seed=3, *, nu2d_rows=None, apart=None):
    """A dump as the framework's dump module wrote it, made here with uproot alone: TH2C per event and
    plane in 'vertexdump', a 'nu vertex' tree (fRun, fEvent, fCryo, fTpc, fPdg, fInteraction) and a
    'nu vertex 2d' tree of only fPlane, fPosX, fPosY (planes 2, 1, 0 per event, events in the order of
    'nu vertex'). Event number ``apart`` (0..n-1) has its plane-0 wire moved by half the plane, so its
    2D positions do not meet in 3D. Returns the true vertices."""
    rng = np.random.default_rng(seed)
    det = mapper.detector
    nu = {b: [] for b in ("fRun", "fEvent", "fCryo", "fTpc", "fPdg", "fInteraction")}
    nu2d = {"fPlane": [], "fPosX": [], "fPosY": []}
    truth = []
    with uproot.recreate(path) as f:
        for e in range(n):
            tpc = det.tpcs[e % len(det.tpcs)]
            xyz = _point_in(tpc, rng)
            truth.append(xyz)
            for p in range(3):
                pix = rng.integers(-128, 127, size=(6, 8)).astype(np.int8)
                w, d = mapper.project_points(xyz)[0, p].astype(int)
                f[f"vertexdump/event_{100 + e}_run_5_subrun_0_plane_{p}_raw"] = _th2(pix, (w - 3, d - 4), np.int8)
            for k, v in zip(nu, (5, 100 + e, 0, tpc.index, 14, e % 2)):
                nu[k].append(v)
            for p in (2, 1, 0):
                # the vertex's wire and tick in that TPC's plane of this view, from the geometry alone
                plane = tpc.plane_for_view(mapper.views[p])
                nu2d["fPlane"].append(p)
                wire = float(plane.wire_coordinate(xyz[1], xyz[2]))
                if e == apart and p == 0:
                    wire = (wire + plane.n_wires / 2) % plane.n_wires
                nu2d["fPosX"].append(wire)
                nu2d["fPosY"].append(float(det.drift_ticks(tpc.index, xyz[0], plane=plane.index)))
        f.mktree("vertexdump/nu vertex", {k: np.int32 for k in nu}).extend(
            {k: np.asarray(v, np.int32) for k, v in nu.items()})
        rows = slice(None) if nu2d_rows is None else nu2d_rows
        f.mktree("vertexdump/nu vertex 2d", {"fPlane": np.int32, "fPosX": np.float64, "fPosY": np.float64}).extend(
            {"fPlane": np.asarray(nu2d["fPlane"], np.int32)[rows], "fPosX": np.asarray(nu2d["fPosX"])[rows],
             "fPosY": np.asarray(nu2d["fPosY"])[rows]})
    return truth


def test_historical_2d_tree_without_ids_converts(tmp_path, mapper):
    from vertexfinder.io.events import convert
    from vertexfinder.io.store import EventStore

    path = tmp_path / "historical.root"
    truth = _historical_dump(path, mapper)
    with uproot.open(path) as f:
        assert set(f["vertexdump/nu vertex 2d"].keys()) == {"fPlane", "fPosX", "fPosY"}
    reports = []
    summary = convert([path], tmp_path / "h.vfstore", detector="test-detector", progress=False,
                      report=reports.append)
    assert summary["converted"] == 4 and reports == []
    store = EventStore.open(tmp_path / "h.vfstore")
    for i, xyz in enumerate(truth):
        rec = store[i]
        assert rec.ids == (5, 0, 100 + i) and rec.interaction == ("CC", "NC")[i % 2]
        np.testing.assert_allclose(rec.primary.position_cm, xyz, atol=0.05)


def test_an_event_whose_2d_truth_does_not_meet_in_3d_keeps_its_images(tmp_path, mapper):
    """Issue 21: the event was skipped whole, images and all; its truth is dropped and reported instead."""
    from vertexfinder.encoding import th2c_to_bytes
    from vertexfinder.io.events import convert, read_events
    from vertexfinder.io.store import EventStore

    path = tmp_path / "apart.root"
    truth = _historical_dump(path, mapper, apart=1)
    entries = _read_all(path, mapper)
    assert [e.error for e in entries] == [None] * 4
    assert [e.truth_dropped is None for e in entries] == [True, False, True, True]
    kept = entries[1].record
    assert kept.ids == (5, 0, 101) and kept.vertices == () and kept.primary is None
    assert kept.nu_pdg == 14 and kept.interaction == "NC"  # the neutrino's tree is not in doubt
    with uproot.open(path) as f:  # the images, as dumped
        for p, plane in enumerate(kept.planes):
            hist = f[f"vertexdump/event_101_run_5_subrun_0_plane_{p}_raw"]
            np.testing.assert_array_equal(plane.pixels, th2c_to_bytes(hist.values()))
    assert re.fullmatch(r"tree 'nu vertex 2d': the 2D vertex positions .* do not meet in 3D \(residual [\d.]+ cm > "
                        r"[\d.]+ cm\); the event is kept without its truth vertex", entries[1].truth_dropped)
    reports = []
    assert [r.event for r in read_events(path, detector="test-detector", report=reports.append)] == [100, 101, 102, 103]
    assert len(reports) == 1 and reports[0].startswith(f"truth dropped {path} run 5 subrun 0 event 101: ")
    reports = []
    summary = convert([path], tmp_path / "a.vfstore", detector="test-detector", progress=False,
                      report=reports.append)
    assert summary["converted"] == 4 and summary["skipped"] == 0 and summary["errors"] == []
    assert summary["truth_dropped"] == reports and len(reports) == 1
    assert reports[0].startswith(f"truth dropped {path} run 5 subrun 0 event 101: tree 'nu vertex 2d': the 2D vertex")
    assert "do not meet in 3D" in reports[0] and "\n" not in reports[0]
    store = EventStore.open(tmp_path / "a.vfstore")
    assert store[1].ids == (5, 0, 101) and store[1].vertices == ()
    for a, b in zip(store[1].planes, kept.planes):
        assert a.origin == b.origin
        np.testing.assert_array_equal(a.pixels, b.pixels)
    np.testing.assert_allclose(store[2].primary.position_cm, truth[2], atol=0.05)


def test_historical_2d_tree_of_the_wrong_length_is_refused(tmp_path, mapper):
    path = tmp_path / "short.root"
    _historical_dump(path, mapper, nu2d_rows=slice(0, 11))
    with pytest.raises(RootFormatError, match=r"short\.root: tree 'nu vertex 2d' has no fRun/fEvent, so its entries "
                                              r"are matched by position .* needs 12 entries, it has 11"):
        read_dump(path, mapper=mapper)


# -- values that are not what the layout allows -----------------------------------------------------------------
@pytest.mark.parametrize("tree,branch,value,match", [
    ("nu vertex", "fTpc", 999, r"fTpc=999, expected -1 \(unknown\) or a TPC of test-detector \(0\.\.3\)"),
    ("nu vertex", "fInteraction", 7, r"fInteraction=7, expected 0 \(CC\), 1 \(NC\) or -1"),
    ("nu vertex", "fCryo", 2, r"fCryo=2, expected 0"),
    ("nu vertex", "fEnergy", np.inf, r"fEnergy=inf GeV"),
    ("vertices", "fX", np.nan, r"tree 'vertices' has vertex 0 at \[nan, .*positions must be finite"),
    ("vertices", "fY", 1e30, r"tree 'vertices' has vertex 0 at \[.*1e\+30.*\] cm, outside test-detector"),
    ("vertices", "fZ", -500.0, r"outside test-detector"),
    ("vertices", "fFlags", -3, r"vertex flags \[-3, .*expected 0\.\.32767"),
])
def test_bad_tree_values_make_the_event_bad(tmp_path, mapper, tree, branch, value, match):
    records = _records(mapper, 3)
    path, bad = tmp_path / "ok.root", tmp_path / "bad.root"
    write_dump(path, records, mapper=mapper)
    with uproot.open(path) as f:
        t = f[f"vertexdump/{tree}"]
        arrays = t.arrays(library="np")
        types = {b: t[b].interpretation.numpy_dtype.newbyteorder("=") for b in t.keys()}
    first = np.flatnonzero((arrays["fEvent"] == 11))[0]  # the second event's first entry
    arrays[branch] = arrays[branch].astype(types[branch])
    arrays[branch][first] = value
    _rewrite(path, bad, directory="vertexdump", drop={tree})
    with uproot.update(bad) as g:
        g.mktree(f"vertexdump/{tree}", types).extend(arrays)
    entries = _read_all(bad, mapper)
    errors = _errors(entries)
    assert list(errors) == [(7, 3, 11)], errors
    assert re.search(match, errors[(7, 3, 11)]) and "bad.root" in errors[(7, 3, 11)]


def test_fractional_ids_in_a_tree_are_refused(tmp_path, mapper):
    path = tmp_path / "floaty.root"
    write_dump(path, _records(mapper, 2), mapper=mapper)
    bad = tmp_path / "bad.root"
    _rewrite(path, bad, directory="vertexdump", drop={"nu vertex"})
    with uproot.update(bad) as g:
        g.mktree("vertexdump/nu vertex", {"fRun": np.float64, "fEvent": np.float64}).extend(
            {"fRun": np.array([7.0, 7.0]), "fEvent": np.array([10.0, 11.5])})
    with pytest.raises(RootFormatError, match=r"bad\.root: tree 'nu vertex' branch 'fEvent' entry 1 is 11\.5, "
                                              r"expected a whole number"):
        read_dump(bad, mapper=mapper)


def test_convert_refuses_the_same_file_twice_and_skips_repeated_events(tmp_path, mapper):
    from vertexfinder.errors import InputError
    from vertexfinder.io.events import convert
    from vertexfinder.io.store import EventStore

    a = tmp_path / "a.root"
    write_dump(a, _records(mapper, 20), mapper=mapper)
    with pytest.raises(InputError, match=r"a\.root: given twice"):
        convert([a, a], tmp_path / "x.vfstore", progress=False)
    b = tmp_path / "b.root"
    b.write_bytes(a.read_bytes())
    reports = []
    summary = convert([a, b], tmp_path / "ab.vfstore", progress=False, report=reports.append)
    assert summary["converted"] == 20 and summary["skipped"] == 20 and len(reports) == 20
    assert all("b.root" in r and "already converted from" in r and "a.root" in r for r in reports)
    store = EventStore.open(tmp_path / "ab.vfstore")
    assert len({store[i].ids for i in range(len(store))}) == len(store) == 20
