"""The simulation's API and command: samples, reproducibility, truth bookkeeping."""

import numpy as np
import pytest

from vertexfinder.cli import main
from vertexfinder.detectors import get_detector
from vertexfinder.io.root import read_dump
from vertexfinder.mapper import ImageMapper
from vertexfinder.records import FLAG_NU_PRIMARY, VERTEX_KINDS
from vertexfinder.simulation import SimulationConfig, simulate
from vertexfinder.simulation.sources import cosmic_muons


def _same(a, b):
    assert a.ids == b.ids and len(a.planes) == len(b.planes) and len(a.vertices) == len(b.vertices)
    for p, q in zip(a.planes, b.planes):
        assert p.origin == q.origin
        np.testing.assert_array_equal(p.pixels, q.pixels)
        np.testing.assert_array_equal(p.truth, q.truth)
    for u, v in zip(a.vertices, b.vertices):
        assert u.kind == v.kind and u.parent == v.parent and u.flags == v.flags
        np.testing.assert_array_equal(u.position_cm, v.position_cm)


def test_same_seed_same_events_and_different_seed_different_events():
    a = list(simulate("test-detector", "nu-mix", events=3, seed=5, fiducial_margin_cm=2.0))
    b = list(simulate("test-detector", "nu-mix", events=3, seed=5, fiducial_margin_cm=2.0))
    c = list(simulate("test-detector", "nu-mix", events=3, seed=6, fiducial_margin_cm=2.0))
    for x, y in zip(a, b):
        _same(x, y)
    assert any(not np.array_equal(x.vertices[0].position_cm, y.vertices[0].position_cm) for x, y in zip(a, c))


def test_event_depends_only_on_seed_and_index():
    whole = list(simulate("test-detector", "numu-cc", events=3, seed=2, fiducial_margin_cm=2.0))
    last = next(simulate("test-detector", "numu-cc", events=1, seed=2, first_event=2, fiducial_margin_cm=2.0))
    _same(whole[2], last)


def test_jobs_do_not_change_events():
    one = list(simulate("test-detector", "numu-cc", events=2, seed=9, jobs=1, fiducial_margin_cm=2.0))
    two = list(simulate("test-detector", "numu-cc", events=2, seed=9, jobs=2, fiducial_margin_cm=2.0))
    for x, y in zip(one, two):
        _same(x, y)


@pytest.mark.parametrize("sample", ["numu-cc", "nue-cc", "nc"])
def test_neutrino_samples_have_a_primary_and_consistent_truth(sample):
    for ev in simulate("dune-fd-1x2x6", sample, events=4, seed=1):
        prim = ev.primary
        assert prim is not None and prim.kind == "interaction" and prim.flags & FLAG_NU_PRIMARY
        assert ev.nu_pdg == (12 if sample == "nue-cc" else 14)
        assert ev.interaction == ("NC" if sample == "nc" else "CC")
        assert 0.3 <= ev.energy_gev <= 10.0
        assert ev.tpc == int(get_detector("dune-fd-1x2x6").tpc_of(prim.position_cm))
        for i, v in enumerate(ev.vertices):
            assert v.kind in VERTEX_KINDS
            assert v.parent < len(ev.vertices) and v.parent != i
            if i > 0:
                assert v.parent >= 0  # every secondary vertex descends from another one
        for plane in ev.planes:
            t = plane.truth
            assert t.shape == plane.pixels.shape
            assert np.all(plane.pixels[t >= 0] > 0)  # truth only where there is charge
            assert t.max(initial=-1) < len(ev.vertices)


@pytest.mark.slow
def test_nue_cc_makes_an_electron_shower_and_pi0_photons_make_conversions():
    kinds = []
    for ev in simulate("dune-fd-1x2x6", "nu-mix", events=30, seed=4):
        kinds += [v.kind for v in ev.vertices]
    assert "conversion" in kinds and "decay" in kinds and kinds.count("interaction") > 30


def test_gun_uses_pdg_names_and_energy():
    ev = next(simulate("dune-fd-1x2x6", "gun", events=1, seed=3, particle="proton", energy_mev=(200.0, 200.0)))
    assert ev.primary is not None
    lit = sum(int((p.pixels > 0).sum()) for p in ev.planes)
    assert lit > 50
    with pytest.raises(ValueError, match="unknown particle"):
        SimulationConfig(sample="gun", particle="protonium")
    with pytest.raises(ValueError, match="sample must be one of"):
        SimulationConfig(sample="neutralino")


def test_cosmics_rate_and_time_spread_on_protodune():
    det = get_detector("protodune-sp")
    rng = np.random.default_rng(0)
    counts = [len(cosmic_muons(det, rng)) for _ in range(20)]
    assert 10 <= np.mean(counts) <= 90  # tens per readout
    times = np.array([m[4] for _ in range(20) for m in cosmic_muons(det, rng)]) / 1000.0
    drift_us = 360.0 / det.drift_velocity_cm_per_us
    window_end = (det.ticks_per_readout - det.trigger_offset_ticks) * det.tick_us
    # from the time whose cathode charge reaches the anode at the readout's first tick
    window_start = -drift_us - det.trigger_offset_ticks * det.tick_us
    assert times.min() >= window_start - 1.0 and times.max() <= window_end
    # spread over the whole window: both early (before the trigger) and late muons
    assert (times < -0.5 * drift_us).mean() > 0.1 and (times > 0.5 * window_end).mean() > 0.1


def test_simulate_command_writes_a_root_dump_that_reads_back(tmp_path, capsys):
    out = tmp_path / "sim.root"
    assert main(["simulate", "--detector", "test-detector", "--sample", "numu-cc", "--events", "3", "--seed", "4",
                 "-o", str(out), "-q"]) == 0
    assert "simulated 3 numu-cc events" in capsys.readouterr().out
    mapper = ImageMapper("test-detector", drift_window=6)
    entries = list(read_dump(out, mapper=mapper))
    assert [e.error for e in entries] == [None] * 3
    direct = list(simulate("test-detector", "numu-cc", events=3, seed=4))
    for e, d in zip(entries, direct):
        assert e.record.ids == d.ids
        for p, q in zip(e.record.planes, d.planes):
            np.testing.assert_array_equal(p.pixels, np.minimum(q.pixels, 250))


def test_simulate_command_writes_an_event_store(tmp_path, capsys):
    from vertexfinder.io.store import EventStore

    out = tmp_path / "sim.vfstore"
    assert main(["simulate", "--detector", "test-detector", "--sample", "gun", "--particle", "mu+",
                 "--energy-mev", "150", "--events", "2", "--seed", "1", "-o", str(out), "-q"]) == 0
    store = EventStore.open(out)
    assert len(store) == 2 and store.detector == "test-detector"
    direct = list(simulate("test-detector", "gun", events=2, seed=1, particle="mu+", energy_mev=(150.0, 150.0)))
    for got, want in zip(store, direct):
        _same(got, want)
    assert main(["simulate", "--detector", "test-detector", "--events", "1", "-o", str(out), "-q"]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["simulate", "--sample", "gun", "--particle", "unobtainium", "-o", str(tmp_path / "x"), "-q"]) == 1
    assert "unknown particle" in capsys.readouterr().err


def test_a_hadronic_system_at_the_mass_floor_is_boosted_below_the_speed_of_light():
    # regression: DUNE nu-mix seed 101 event 4266 raised "math domain error" (|beta| >= 1)
    (ev,) = simulate("dune-fd-1x2x6", "nu-mix", events=1, seed=101, first_event=4266)
    assert ev.event == 4266 and ev.primary is not None


def test_failing_events_are_skipped_and_reported(monkeypatch):
    from vertexfinder.simulation import api

    real = api.simulate_event

    def flaky(config, seed, index):
        if index == 1:
            raise ValueError("broken event")
        return real(config, seed, index)

    monkeypatch.setattr(api, "simulate_event", flaky)
    errors = []
    got = list(simulate("test-detector", "numu-cc", events=3, seed=1, errors=errors))
    assert [e.event for e in got] == [0, 2]
    assert errors == ["event 1 (seed 1): ValueError: broken event"]
    with pytest.raises(ValueError, match="broken event"):
        list(simulate("test-detector", "numu-cc", events=3, seed=1))
