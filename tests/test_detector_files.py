"""Detectors described in files work wherever a built-in name does: records keep the Detector,
stores and dumps record its description (and find its wires file again), the commands run."""

import bz2
import csv
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import uproot

from vertexfinder.cli import main
from vertexfinder.detectors import get_detector
from vertexfinder.errors import RootFormatError, StoreError, UnknownDetectorError
from vertexfinder.inputs import event_from_frame, event_from_hits, frame_from_event
from vertexfinder.io.descriptions import WIRES_PATH_ENV
from vertexfinder.io.events import read_events, write_events
from vertexfinder.io.root import dump_mapper
from vertexfinder.io.store import EventStore
from vertexfinder.mapper import ImageMapper
from vertexfinder.records import EventRecord
from vertexfinder.simulation import simulate

REPO = Path(__file__).resolve().parents[1]
SBND_WIRES = REPO / "vertexfinder" / "detectors" / "wires" / "sbnd-wires-geometry-v0200.json.bz2"
TEST_DETECTOR = REPO / "vertexfinder" / "detectors" / "builtin" / "test-detector.toml"

SBND_NUMBERS = ('tick_us = 0.5\ndrift_velocity_cm_per_us = 0.1563\nticks_per_readout = 3400\n'
                'trigger_offset_ticks = 400\ncathode_x_cm = [-0.45, 0.45]\n')


def _wires_toml(folder: Path, name: str, wires: Path) -> Path:
    toml = folder / f"{name}.toml"
    toml.write_text(f'name = "{name}"\nwires = "{wires.name}"\n' + SBND_NUMBERS)
    return toml


def _parametric_toml(folder: Path, name: str) -> Path:
    toml = folder / f"{name}.toml"
    toml.write_text(TEST_DETECTOR.read_text().replace('name = "test-detector"', f'name = "{name}"'))
    return toml


def _unique_wires(folder: Path) -> Path:
    """SBND's wires as plain JSON: the same wires, a file whose SHA-256 no built-in file has."""
    path = folder / "my-wires.json"
    path.write_bytes(bz2.decompress(SBND_WIRES.read_bytes()))
    return path


# -- the README's quick start, literally, with a detector file -------------------------------------------


def test_quick_start_commands_work_with_a_detector_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    geo = tmp_path / "geometry"
    geo.mkdir()
    shutil.copy(SBND_WIRES, geo / "sbnd-wires.json.bz2")
    toml = _wires_toml(geo, "my-detector", geo / "sbnd-wires.json.bz2")
    det = str(toml)

    def run(*argv):
        return main([*argv] if argv[0] == "show" else [*argv, "-q"])

    assert run("simulate", "--detector", det, "--sample", "numu-cc", "--events", "2", "--seed", "3",
               "-o", "dump.root") == 0
    assert run("convert", "dump.root", "-o", "events.vfstore", "--detector", det) == 0
    assert run("find", "events.vfstore", "-o", "vertices.csv") == 0
    assert run("find", "dump.root", "--detector", det, "--mode", "all", "-o", "vertices.root") == 0
    ev = next(read_events("events.vfstore"))
    frame, channels = frame_from_event(ev)
    np.savez("frame.npz", frame=frame, channels=channels)
    assert run("find", "frame.npz", "--detector", det, "-o", "frame.csv") == 0
    rows, cols = np.nonzero(frame[:, ::6] > 20)
    np.savez("hits.npz", channel=channels[rows], peak_tick=cols * 6.0 + 3, integral=frame[rows, cols * 6] * 9.0)
    assert run("find", "hits.npz", "--detector", det, "-o", "hits.csv") == 0
    assert run("show", "dump.root", "--detector", det, "--event", "1", "-o", "event1.png") == 0
    assert run("evaluate", "events.vfstore", "--events", "2") == 0
    out = capsys.readouterr()
    assert "error" not in out.err

    with open("vertices.csv") as f:
        table = list(csv.DictReader(f))
    assert {r["event"] for r in table} == {"0", "1"}
    assert all(r["plane_index"] in ("0", "1", "2") for r in table)
    with uproot.open("vertices.root") as f:
        assert f["vertices"].num_entries > 0
    assert Path("event1.png").stat().st_size > 10_000
    for name in ("frame.csv", "hits.csv"):
        with open(name) as f:
            assert len(list(csv.DictReader(f))) >= 2


def test_a_dump_records_its_detector_and_disagreement_is_refused(tmp_path, capsys):
    toml = _parametric_toml(tmp_path, "my-test-detector")
    records = list(simulate(str(toml), "numu-cc", events=2, seed=1))
    assert all(r.detector == "my-test-detector" and r.geometry is not None for r in records)
    dump = tmp_path / "dump.root"
    write_events(records, dump, detector=str(toml), drift_window=6, pooling="max")
    toml.unlink()  # the dump alone says what it was made with
    back = list(read_events(dump))
    assert [r.ids for r in back] == [r.ids for r in records]
    assert back[0].detector == "my-test-detector" and back[0].geometry.name == "my-test-detector"
    for a, b in zip(records, back):
        for pa, pb in zip(a.planes, b.planes):
            assert pa.origin == pb.origin
            np.testing.assert_array_equal(np.minimum(pa.pixels, 250), pb.pixels)
    # the same geometry under its built-in name is the same detector; another geometry is not
    assert len(list(read_events(dump, detector="test-detector"))) == 2
    with pytest.raises(RootFormatError, match=r"dump\.root: made with detector 'my-test-detector'.*'sbnd'"):
        dump_mapper(dump, detector="sbnd")
    with pytest.raises(RootFormatError, match="drift_window=6, not 4"):
        dump_mapper(dump, drift_window=4)
    assert main(["find", str(dump), "--detector", "microboone", "-o", str(tmp_path / "x.csv"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "dump.root" in err and "my-test-detector" in err and "\n" == err[-1] and err.count("\n") == 1


# -- records keep the Detector ----------------------------------------------------------------------------


def test_records_from_a_description_file_keep_the_detector(tmp_path):
    toml = _parametric_toml(tmp_path, "my-test-detector")
    rec = next(simulate(str(toml), "numu-cc", events=1, seed=2))
    assert rec.detector == "my-test-detector"
    assert rec.get_detector() is get_detector(str(toml))
    frame, channels = frame_from_event(rec)
    for made in (event_from_frame(frame, channels, detector=str(toml)),
                 event_from_hits(channels[:3], [100.0, 200.0, 300.0], [500.0] * 3, detector=str(toml))):
        assert made.detector == "my-test-detector" and made.get_detector() is rec.get_detector()
    again = EventRecord(1, 0, 2, str(toml), 6, "max", rec.planes)  # a file path as the detector
    assert again.detector == "my-test-detector" and again.geometry is rec.geometry
    with pytest.raises(UnknownDetectorError):  # the name alone does not find it: the record must carry it
        get_detector(rec.detector)


def test_records_pickle_as_their_description_and_come_back_with_the_same_detector(tmp_path):
    toml = _wires_toml(tmp_path, "my-sbnd", _unique_wires(tmp_path))
    rec = next(simulate(str(toml), "gun", events=1, seed=4, particle="mu-", energy_mev=(300.0, 300.0)))
    blob = pickle.dumps(rec)
    assert len(blob) < 100_000 + sum(p.pixels.nbytes + (0 if p.truth is None else p.truth.nbytes) for p in rec.planes)
    back = pickle.loads(blob)
    assert back.geometry is rec.geometry and back.ids == rec.ids


# -- stores find their wires file again -------------------------------------------------------------------


def _store_with_moved_wires(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    wires = _unique_wires(tmp_path)
    toml = _wires_toml(tmp_path, "my-sbnd", wires)
    rec = next(simulate(str(toml), "gun", events=1, seed=4, particle="mu-", energy_mev=(300.0, 300.0)))
    store = data / "events.vfstore"
    write_events([rec], store, detector=str(toml), drift_window=6, pooling="max")
    desc = EventStore.open(store).meta["detector_description"]
    assert desc["wires"] == str(wires.resolve()) and len(desc["wires_sha256"]) == 64
    return store, wires, toml, rec


def test_a_store_finds_its_moved_wires_file_by_name_or_content(tmp_path, monkeypatch):
    store, wires, toml, rec = _store_with_moved_wires(tmp_path)
    moved = store.parent / wires.name  # beside the store: found by name
    wires.rename(moved)
    toml.unlink()
    got = EventStore.open(store)[0]
    assert got.detector == "my-sbnd" and Path(got.get_detector().wires_file) == moved.resolve()
    elsewhere = tmp_path / "geometry-archive"
    elsewhere.mkdir()
    moved.rename(elsewhere / "renamed.json")  # renamed, in a listed folder: found by content
    monkeypatch.setenv(WIRES_PATH_ENV, str(elsewhere))
    got = EventStore.open(store)[0]
    assert Path(got.get_detector().wires_file) == (elsewhere / "renamed.json").resolve()
    assert ImageMapper(got.get_detector()).shape("Z") == ImageMapper(rec.get_detector()).shape("Z")


def test_a_store_whose_wires_file_is_gone_says_what_is_missing(tmp_path, monkeypatch):
    store, wires, toml, _ = _store_with_moved_wires(tmp_path)
    sha = EventStore.open(store).meta["detector_description"]["wires_sha256"]
    wires.unlink()
    monkeypatch.delenv(WIRES_PATH_ENV, raising=False)
    s = EventStore.open(store)  # opening and info need no geometry
    assert s.info()["events"] == 1
    with pytest.raises(StoreError) as err:
        s[0]
    msg = str(err.value)
    assert "manifest.json" in msg and "my-sbnd" in msg and "my-wires.json" in msg and sha in msg
    assert WIRES_PATH_ENV in msg and "\n" not in msg
    # the detector given explicitly replaces the recorded one, if it is the same geometry
    copy = tmp_path / "again.json"
    copy.write_bytes(bz2.decompress(SBND_WIRES.read_bytes()))
    assert EventStore.open(store, detector=_wires_toml(tmp_path, "my-sbnd", copy))[0].detector == "my-sbnd"
    with pytest.raises(StoreError, match="holds detector 'my-sbnd'"):
        EventStore.open(store, detector="sbnd")
