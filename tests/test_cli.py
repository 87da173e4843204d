"""The command line, run in-process through main([...])."""

import json

import numpy as np
import pytest

from vertexfinder.cli import main
from vertexfinder.detectors import list_detectors
from vertexfinder.io.root import write_dump
from vertexfinder.io.store import EventStore
from vertexfinder.mapper import ImageMapper
from vertexfinder.records import FLAG_NU_PRIMARY, EventRecord, PlaneImage, TruthVertex


def _records(mapper, n, seed=0):
    rng = np.random.default_rng(seed)
    det = mapper.detector
    out = []
    for e in range(n):
        t = det.tpcs[rng.integers(len(det.tpcs))]
        xyz = [rng.uniform(t.box[0] + 1, t.box[1] - 1), rng.uniform(t.box[2] + 1, t.box[3] - 1),
               rng.uniform(t.box[4] + 1, t.box[5] - 1)]
        proj = mapper.project_points(xyz)[0]
        planes = []
        for v, view in enumerate(mapper.views):
            w, d = proj[v].astype(int)
            shape = mapper.shape(view)
            w0, d0 = max(w - 5, 0), max(d - 5, 0)
            nw, nd = min(10, shape[0] - w0), min(12, shape[1] - d0)
            pix = rng.integers(0, 200, size=(nw, nd), dtype=np.uint8)
            planes.append(PlaneImage(view, pix, (w0, d0)))
        vtx = TruthVertex("interaction", xyz, flags=FLAG_NU_PRIMARY | 1, planes=proj, pdg=14)
        out.append(EventRecord(1, 0, e, det.name, mapper.drift_window, mapper.pooling, planes, [vtx],
                               nu_pdg=14, interaction="CC", energy_gev=2.5, tpc=t.index))
    return out


def test_detectors_prints_builtin_names(capsys):
    assert main(["detectors"]) == 0
    assert capsys.readouterr().out.split() == list_detectors()


def test_detectors_details_prints_dune_image_sizes(capsys):
    assert main(["detectors", "--details"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("dune-fd-1x2x6"))
    assert "U 3922x1514" in line and "Z 2906x1514" in line and "30720" in line  # LArSoft geometry (wires file)


def test_convert_then_info_round_trip(tmp_path, capsys):
    mapper = ImageMapper("test-detector", drift_window=6)
    records = _records(mapper, 5)
    src = tmp_path / "dump.root"
    write_dump(src, records, mapper=mapper)
    out = tmp_path / "events.vfstore"
    assert main(["convert", str(src), "-o", str(out), "--detector", "test-detector", "-q"]) == 0
    assert "converted 5 events" in capsys.readouterr().out
    assert main(["info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["events"] == 5 and info["planes"] == 3 and info["detector"] == "test-detector"
    assert info["bytes_on_disk"] > sum(p.pixels.size for r in records for p in r.planes)
    assert info["bytes_per_pixel"] > 1.0
    store = EventStore.open(out)
    for rec, got in zip(records, store):
        assert got.ids == rec.ids
        for a, b in zip(rec.planes, got.planes):
            assert a.origin == b.origin
            np.testing.assert_array_equal(a.pixels, b.pixels)
        np.testing.assert_allclose(got.primary.position_cm, rec.primary.position_cm, atol=0.05)


def test_convert_missing_input_is_one_line_error(tmp_path, capsys):
    out = tmp_path / "x.vfstore"
    assert main(["convert", str(tmp_path / "nope.root"), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope.root" in err[0] and "Traceback" not in err[0]
    assert not out.exists()


def test_convert_not_root_file_leaves_no_store(tmp_path, capsys):
    bad = tmp_path / "bad.root"
    bad.write_bytes(b"not a root file at all")
    out = tmp_path / "x.vfstore"
    assert main(["convert", str(bad), "-o", str(out), "-q"]) == 1
    assert "bad.root" in capsys.readouterr().err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [bad]


def test_convert_onto_an_existing_store_names_the_command_lines_option(tmp_path, capsys):
    """Issue 21: the command line said "pass overwrite=True" (the API's words); it says --overwrite, and the API
    keeps its own words."""
    from vertexfinder.errors import StoreError
    from vertexfinder.io.events import convert

    mapper = ImageMapper("test-detector", drift_window=6)
    src = tmp_path / "dump.root"
    write_dump(src, _records(mapper, 2), mapper=mapper)
    out = tmp_path / "events.vfstore"
    assert main(["convert", str(src), "-o", str(out), "--detector", "test-detector", "-q"]) == 0
    capsys.readouterr()
    assert main(["convert", str(src), "-o", str(out), "--detector", "test-detector", "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "events.vfstore: exists (use --overwrite)" in err and "overwrite=True" not in err
    assert main(["convert", str(src), "-o", str(out), "--detector", "test-detector", "-q", "--overwrite"]) == 0
    assert len(EventStore.open(out)) == 2
    with pytest.raises(StoreError, match=r"events\.vfstore: exists \(pass overwrite=True to replace it\)"):
        convert([src], out, detector="test-detector", progress=False)


def test_find_reports_charge_cropped_from_a_long_frame_without_counting_it_skipped(tmp_path, capsys):
    """Issue 21: a frame longer than the readout window is read; what lay outside it is reported on stderr, and
    the event is not counted as skipped."""
    mapper = ImageMapper("test-detector", drift_window=6)
    plane = mapper.detector.tpcs[1].plane_for_view("Z")
    channels = np.array([plane.channels[w] for w in range(10, 30)])
    frame = np.zeros((len(channels), 900), np.float32)  # 1.5 readout windows
    frame[:, 200:260] = 60.0
    frame[:3, 700:705] = 40.0  # beyond the window (600 ticks)
    np.savez(tmp_path / "long.npz", frame=frame, channels=channels)
    out = tmp_path / "v.csv"
    assert main(["find", str(tmp_path / "long.npz"), "--detector", "test-detector", "-o", str(out), "-q"]) == 0
    captured = capsys.readouterr()
    assert out.exists() and "found vertices in 1 events" in captured.out and "skipped" not in captured.out
    assert captured.err.strip() == (f"cropped {tmp_path / 'long.npz'}: event 0: 15 samples on 3 channels held charge "
                                    "outside the test-detector readout window 0..599 (ticks 700.5..704.5): 600 ADC "
                                    "summed over samples, 0.826% of the frame's charge, dropped")


def test_info_on_missing_store_is_one_line_error(tmp_path, capsys):
    assert main(["info", str(tmp_path / "none.vfstore")]) == 1
    err = capsys.readouterr().err.strip()
    assert "none.vfstore" in err and "\n" not in err


def test_debug_flag_shows_traceback(tmp_path):
    with pytest.raises(Exception):
        main(["--debug", "info", str(tmp_path / "none.vfstore")])


def test_find_and_evaluate_take_finder_options(tmp_path, capsys):
    import csv

    store = tmp_path / "ev.vfstore"
    assert main(["simulate", "--detector", "dune-fd-1x2x6", "--sample", "nc-pi0", "--events", "3", "--seed", "5",
                 "-o", str(store), "-q"]) == 0

    def kinds(*options):
        out = tmp_path / f"found{len(options)}.csv"
        assert main(["find", str(store), "--mode", "all", "-o", str(out), "-q", *options]) == 0
        with open(out) as f:
            return {(r["event"], r["vertex"]): r["primary"] for r in csv.DictReader(f)}

    every = kinds()
    primaries = kinds("--set", "secondary_min_score=1.01")  # no vertex but the primary passes this cut
    assert len(every) > len(primaries) == 3 and set(primaries.values()) == {"1"}
    capsys.readouterr()
    assert main(["evaluate", str(store), "-q", "--set", "colour=3"]) != 0
    err = capsys.readouterr().err
    assert "--set" in err and "colour" in err
    assert main(["evaluate", str(store), "-q", "--set", "points_per_view"]) != 0
    assert "key=value" in capsys.readouterr().err
