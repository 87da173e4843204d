"""Cosmic muons: surface detectors, the cosmic rate and simulation (``cosmics="auto"``), the cosmic
flag of true and found vertices, the wider primary search at the surface and the evaluation's
cosmic figures."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from vertexfinder.cli import main
from vertexfinder.detectors import get_detector
from vertexfinder.detectors._schema import load_detector_file, parse_detector
from vertexfinder.errors import DetectorSchemaError
from vertexfinder.finder import PlaneVertex, Vertex
from vertexfinder.finder.config import SURFACE_WIDENED, FinderConfig
from vertexfinder.finder.relate import flag_cosmic
from vertexfinder.mapper import ImageMapper
from vertexfinder.records import FLAG_COSMIC, FLAG_NU_PRIMARY, EventRecord, PlaneImage, TruthVertex
from vertexfinder.simulation import SimulationConfig, simulate, simulate_event
from vertexfinder.simulation import sources
from vertexfinder.simulation.sources import COSMIC_FLUX_PER_CM2_MIN, cosmic_muons, cosmic_rate

REPO = Path(__file__).resolve().parents[1]
TEST_DETECTOR = REPO / "vertexfinder" / "detectors" / "builtin" / "test-detector.toml"
from tests.test_simulation_api import _same  # noqa: E402

SBND_WIRES = REPO / "vertexfinder" / "detectors" / "wires" / "sbnd-wires-geometry-v0200.json.bz2"
SBND_NUMBERS = ('tick_us = 0.5\ndrift_velocity_cm_per_us = 0.1563\nticks_per_readout = 3400\n'
                'trigger_offset_ticks = 400\ncathode_x_cm = [-0.45, 0.45]\n')


# -- surface detectors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, surface", [("sbnd", True), ("microboone", True), ("protodune-sp", True),
                                           ("dune-fd-1x2x6", False), ("test-detector", False)])
def test_builtin_detectors_say_whether_they_are_at_the_surface(name, surface):
    det = get_detector(name)
    assert det.surface is surface
    assert det.spec.to_dict()["surface"] is surface


def _parametric(folder, extra=""):
    path = folder / "mine.toml"
    path.write_text(TEST_DETECTOR.read_text().replace('name = "test-detector"', f'name = "mine"\n{extra}'))
    return path


def _wires(folder, extra=""):
    path = folder / "wired.toml"
    path.write_text(f'name = "wired"\n{extra}\nwires = "{SBND_WIRES.as_posix()}"\n' + SBND_NUMBERS)
    return path


@pytest.mark.parametrize("write", [_parametric, _wires])
def test_surface_in_description_files_defaults_to_false_and_round_trips(tmp_path, write):
    assert load_detector_file(write(tmp_path)).surface is False
    spec = load_detector_file(write(tmp_path, "surface = true"))
    assert spec.surface is True
    data = spec.to_dict()
    assert data["surface"] is True
    again = parse_detector(data)
    assert again == spec and again.surface is True
    assert parse_detector({**data, "surface": False}) != spec  # the key takes part in the description
    json_file = tmp_path / "mine.json"
    json_file.write_text(json.dumps(data))
    assert get_detector(json_file).surface is True


@pytest.mark.parametrize("write", [_parametric, _wires])
@pytest.mark.parametrize("value", ['"yes"', "1", "0", "[true]"])
def test_a_surface_that_is_not_a_bool_is_refused(tmp_path, write, value):
    path = write(tmp_path, f"surface = {value}")
    with pytest.raises(DetectorSchemaError, match=rf"{path.name}.*'surface' must be bool; Received: surface="):
        load_detector_file(path)


def test_a_surface_that_is_not_a_bool_is_refused_in_plain_data():
    data = get_detector("test-detector").spec.to_dict()
    with pytest.raises(DetectorSchemaError, match=r"detector description <dict>: 'surface' must be bool"):
        parse_detector({**data, "surface": "true"})


# -- the cosmic rate and the muons drawn ---------------------------------------------------------------------------


def _hand_rate(det, *, ticks, offset, tick_us, v_cm_us, flux=1.0):
    b = det.bounds_cm
    drift_us = max(t.drift_cm for t in det.tpcs) / v_cm_us
    area = (b[0, 1] - b[0, 0] + 200.0) * (b[2, 1] - b[2, 0] + 200.0)
    window = drift_us + offset * tick_us + (ticks - offset) * tick_us
    return flux / 60.0 / 1e6 * area * window


def test_cosmic_rate_is_the_flux_over_the_top_and_the_readable_window():
    assert COSMIC_FLUX_PER_CM2_MIN == 1.0
    sbnd = get_detector("sbnd")
    want = _hand_rate(sbnd, ticks=3400, offset=400, tick_us=0.5, v_cm_us=0.1563)
    assert cosmic_rate(sbnd) == pytest.approx(want, rel=1e-9)
    assert 20.0 < want < 22.0  # ~21 muons drawn per SBND readout
    uboone = get_detector("microboone")
    assert cosmic_rate(uboone) == pytest.approx(_hand_rate(uboone, ticks=6400, offset=800, tick_us=0.5,
                                                           v_cm_us=0.1098), rel=1e-9)


def test_cosmic_rate_scales_with_the_flux_and_the_readout(tmp_path, monkeypatch):
    sbnd = get_detector("sbnd")
    base = cosmic_rate(sbnd)
    monkeypatch.setattr(sources, "COSMIC_FLUX_PER_CM2_MIN", 2.5)
    assert cosmic_rate(sbnd) == pytest.approx(2.5 * base, rel=1e-12)
    monkeypatch.undo()
    short = get_detector(_parametric(tmp_path))
    long_path = tmp_path / "long.toml"
    long_path.write_text(TEST_DETECTOR.read_text().replace('name = "test-detector"', 'name = "long"')
                         .replace("ticks_per_readout = 600", "ticks_per_readout = 1200"))
    longer = get_detector(long_path)
    b = short.bounds_cm
    area = (b[0, 1] - b[0, 0] + 200.0) * (b[2, 1] - b[2, 0] + 200.0)
    assert cosmic_rate(longer) - cosmic_rate(short) == pytest.approx(area * 600 * 0.5 / 60e6, rel=1e-9)


def test_the_number_of_muons_drawn_is_poisson_with_the_rate(monkeypatch):
    sbnd = get_detector("sbnd")
    monkeypatch.setattr(sources, "_box_entry", lambda pos, d, bounds: pos)  # keep every muon drawn
    rng = np.random.default_rng(12)
    counts = np.array([len(cosmic_muons(sbnd, rng)) for _ in range(400)])
    rate = cosmic_rate(sbnd)
    assert abs(counts.mean() - rate) < 4 * math.sqrt(rate / len(counts))
    assert counts.var() == pytest.approx(rate, rel=0.25)  # Poisson: variance = mean
    assert len(cosmic_muons(sbnd, rng, 7)) == 7


def test_the_muons_kept_enter_the_detector_downwards_within_the_window():
    det = get_detector("sbnd")
    b = det.bounds_cm
    muons = cosmic_muons(det, np.random.default_rng(3), 200)
    assert 0 < len(muons) < 200  # those missing the active volume are left out
    drift_us = max(t.drift_cm for t in det.tpcs) / det.drift_velocity_cm_per_us
    for pos, d, e, pdg, t_ns in muons:
        assert np.all(pos >= b[:, 0] - 1e-3) and np.all(pos <= b[:, 1] + 1e-3)
        assert np.linalg.norm(d) == pytest.approx(1.0) and d[1] < 0
        assert e >= 200.0 and pdg in (13, -13)
        assert -drift_us - 400 * 0.5 <= t_ns / 1000.0 <= 3000 * 0.5


# -- simulation with cosmics ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["sometimes", -1, 2.5, True, None, "5"])
def test_cosmics_must_be_a_count_or_auto(value):
    with pytest.raises(ValueError, match=r"cosmics must be an integer >= 0 or 'auto'"):
        SimulationConfig(cosmics=value)


@pytest.mark.parametrize("value", ["auto", 0, 4])
def test_cosmics_accepts_a_count_or_auto(value):
    assert SimulationConfig(cosmics=value).cosmics == value


@pytest.mark.parametrize("detector, cosmics, drawn", [
    ("sbnd", "auto", [None]),  # a Poisson number at the surface
    ("dune-fd-1x2x6", "auto", []),  # none underground
    ("test-detector", "auto", []),
    ("dune-fd-1x2x6", 3, [3]),  # a given number anywhere
    ("sbnd", 0, []),
])
def test_auto_draws_cosmics_at_the_surface_only(monkeypatch, detector, cosmics, drawn):
    from vertexfinder.simulation import api

    calls = []
    monkeypatch.setattr(api, "cosmic_muons", lambda det, rng, n=None: calls.append(n) or [])
    simulate_event(SimulationConfig(detector, "gun", particle="proton", energy_mev=(50.0, 50.0), cosmics=cosmics),
                   1, 0)
    assert calls == drawn


def test_auto_on_dune_fd_is_the_event_without_cosmics():
    auto = simulate_event(SimulationConfig("dune-fd-1x2x6", "numu-cc", cosmics="auto"), 2, 0)
    _same(auto, simulate_event(SimulationConfig("dune-fd-1x2x6", "numu-cc", cosmics=0), 2, 0))
    with_some = simulate_event(SimulationConfig("dune-fd-1x2x6", "numu-cc", cosmics=3), 2, 0)
    assert len(with_some.vertices) > len(auto.vertices)  # cosmics would have shown
    assert not any(v.is_cosmic for v in auto.vertices)


def test_cosmics_leave_the_neutrino_s_part_of_the_event_as_it_was():
    """The event's own particles are transported before the cosmics: with the same seed and index
    its vertices are the same with or without cosmic muons, and come first."""
    cfg = SimulationConfig("sbnd", "numu-cc", beam="booster")
    plain = simulate_event(dataclasses.replace(cfg, cosmics=0), 13, 0)
    busy = simulate_event(dataclasses.replace(cfg, cosmics=5), 13, 0)
    assert not any(v.is_cosmic for v in plain.vertices) and len(plain.vertices) >= 2
    n = len(plain.vertices)
    assert len(busy.vertices) > n
    assert [v.is_cosmic for v in busy.vertices] == [False] * n + [True] * (len(busy.vertices) - n)
    for u, v in zip(plain.vertices, busy.vertices):
        assert (u.kind, u.flags, u.parent, u.pdg) == (v.kind, v.flags, v.parent, v.pdg)
        np.testing.assert_array_equal(u.position_cm, v.position_cm)
        np.testing.assert_array_equal(u.planes, v.planes)
        assert not v.flags & FLAG_COSMIC
    assert busy.primary is busy.vertices[0] and not busy.primary.is_cosmic
    assert (busy.nu_pdg, busy.interaction, busy.energy_gev, busy.tpc) == (plain.nu_pdg, plain.interaction,
                                                                          plain.energy_gev, plain.tpc)
    for i, v in enumerate(busy.vertices[n:], n):
        assert v.flags & FLAG_COSMIC and not v.flags & FLAG_NU_PRIMARY
        assert v.parent == -1 or busy.vertices[v.parent].is_cosmic  # a cosmic's vertices descend from cosmics
    # the cosmic muons bring charge the neutrino's event did not have
    assert sum(int((p.pixels > 0).sum()) for p in busy.planes) > sum(int((p.pixels > 0).sum()) for p in plain.planes)


def test_truth_vertex_is_cosmic_reads_the_flag():
    assert TruthVertex("decay", (0, 0, 0), flags=FLAG_COSMIC).is_cosmic
    assert not TruthVertex("interaction", (0, 0, 0), flags=FLAG_NU_PRIMARY).is_cosmic
    assert FLAG_COSMIC not in (FLAG_NU_PRIMARY, 1, 2, 4, 8) and FLAG_COSMIC & (FLAG_COSMIC - 1) == 0


def test_simulate_command_takes_cosmics_auto(tmp_path):
    from vertexfinder.io.store import EventStore

    out = tmp_path / "sim.vfstore"
    assert main(["simulate", "--detector", "sbnd", "--sample", "numu-cc", "--beam", "booster", "--cosmics", "auto",
                 "--events", "1", "--seed", "4", "-o", str(out), "-q"]) == 0
    (got,) = list(EventStore.open(out))
    (want,) = list(simulate("sbnd", "numu-cc", events=1, seed=4, beam="booster", cosmics="auto"))
    _same(got, want)
    assert any(v.is_cosmic for v in got.vertices) and not got.primary.is_cosmic


@pytest.mark.parametrize("value", ["lots", "-1", "2.5"])
def test_simulate_command_refuses_other_cosmics(value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--cosmics", value, "-o", "never.vfstore"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--cosmics" in err and "'auto'" in err and repr(value) in err


# -- the cosmic flag of found vertices -------------------------------------------------------------------------


def _v(parent=-1, primary=False, kind="decay"):
    return Vertex(kind, 0.5, (None, None, None), np.zeros(3), 0.1, 0, primary, parent=parent)


def test_vertices_not_descending_from_the_primary_are_cosmic():
    vertices = [_v(primary=True, kind="interaction"),  # 0: the primary
                _v(parent=0),  # 1: its daughter
                _v(parent=1, kind="conversion"),  # 2: its granddaughter
                _v(),  # 3: no parent
                _v(parent=3),  # 4: descends from 3
                _v(parent=6),  # 5, 6: a loop of parents that never reaches the primary
                _v(parent=5)]
    out = flag_cosmic(vertices)
    assert [v.cosmic for v in out] == [False, False, False, True, True, True, True]
    for a, b in zip(vertices, out):  # nothing else changes
        assert (a.kind, a.parent, a.primary, a.score) == (b.kind, b.parent, b.primary, b.score)


def test_without_a_primary_every_vertex_is_cosmic():
    vertices = [_v(kind="interaction"), _v(parent=0), _v(parent=1)]
    assert [v.cosmic for v in flag_cosmic(vertices)] == [True, True, True]
    assert flag_cosmic([]) == []
    assert [v.cosmic for v in flag_cosmic([_v(primary=True, kind="interaction")])] == [False]


# -- the wider search at the surface ---------------------------------------------------------------------------


def test_the_primary_search_is_wider_on_surface_detectors():
    assert set(SURFACE_WIDENED) == {"seeds_per_plane", "refine_candidates", "candidates_per_plane",
                                    "choice_candidates"}
    cfg = FinderConfig(surface_search=2.4, seeds_per_plane=7, refine_candidates=3, candidates_per_plane=5,
                       choice_candidates=4)
    wide = cfg.for_detector(get_detector("sbnd"))
    assert (wide.seeds_per_plane, wide.refine_candidates, wide.candidates_per_plane, wide.choice_candidates) == (
        17, 7, 12, 10)  # 16.8, 7.2, 12, 9.6 rounded
    for f in dataclasses.fields(FinderConfig):
        if f.name not in SURFACE_WIDENED + ("points_for_primary",):
            assert getattr(wide, f.name) == getattr(cfg, f.name), f.name
    for name in ("dune-fd-1x2x6", "test-detector"):
        assert cfg.for_detector(get_detector(name)) == cfg
    plain = FinderConfig(surface_search=1, surface_points=False)
    assert plain.for_detector(get_detector("microboone")) == plain
    assert wide.points_for_primary and not cfg.points_for_primary  # the proposer's points join the primary's
    assert not FinderConfig(surface_points=False).for_detector(get_detector("sbnd")).points_for_primary
    default = FinderConfig()
    k = default.surface_search
    assert k > 1 and default.for_detector(get_detector("protodune-sp")).seeds_per_plane == round(k * default.seeds_per_plane)


@pytest.mark.parametrize("value", [0.5, 0, -2, float("nan"), float("inf")])
def test_surface_search_below_one_is_refused(value):
    with pytest.raises(ValueError, match="surface_search must be a finite number >= 1"):
        FinderConfig(surface_search=value)


def test_the_finder_widens_its_search_for_surface_events_only(monkeypatch):
    """A batch mixing detectors is found in parts: the surface events with the wider budgets."""
    from vertexfinder.finder import VertexFinder

    class Fake:
        find_batch = VertexFinder.find_batch

        def __init__(self, config):
            self.config = config
            self.calls = []

        def _find_batch(self, events, mode):
            self.calls.append([ev.detector for ev in events])
            return [(ev.event, self.config.seeds_per_plane, mode) for ev in events]

    def record(detector, n):
        views = get_detector(detector).views
        planes = [PlaneImage(v, np.ones((2, 2), np.uint8), (0, 0)) for v in views]
        return EventRecord(1, 0, n, detector, 6, "max", planes)

    cfg = FinderConfig(seeds_per_plane=5, surface_search=2.0)
    fake = Fake(cfg)
    events = [record("test-detector", 0), record("sbnd", 1), record("test-detector", 2), record("microboone", 3)]
    assert fake.find_batch(events, "all") == [(0, 5, "all"), (1, 10, "all"), (2, 5, "all"), (3, 10, "all")]
    assert sorted(map(sorted, fake.calls)) == [["microboone", "sbnd"], ["test-detector", "test-detector"]]
    assert fake.config is cfg  # restored


# -- the evaluation's cosmic figures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sbnd_event():
    """SBND, booster numu CC and a surface readout's cosmics: the neutrino vertex, the neutrino's
    muon decay and a cosmic muon's decay, all visible."""
    return simulate_event(SimulationConfig("sbnd", "numu-cc", beam="booster", cosmics="auto"), 4, 0)


def _found(mapper, xyz, *, primary=False, cosmic=False, kind="decay"):
    xyz = np.asarray(xyz, dtype=np.float64)
    planes = []
    for view in mapper.views:
        p = mapper.project(xyz, view)
        planes.append(PlaneVertex(view, p.global_wire, p.global_drift, p.tpc, p.wire, p.channel, p.tick))
    return Vertex(kind, 0.5, tuple(planes), xyz, 0.1, mapper.project(xyz, mapper.views[0]).tpc, primary,
                  parent=-1 if primary else 0, cosmic=cosmic)


class _StandIn:
    """What evaluate needs of a finder: find_iter in ``all`` mode and the events' mapper; the found
    vertices of each event are given."""

    def __init__(self, found):
        self.found = found

    def mapper(self, ev):
        return ImageMapper(ev.get_detector(), drift_window=ev.drift_window, pooling=ev.pooling)

    def find_iter(self, events, mode, on_skip=None):
        from vertexfinder.finder import FindResult

        for ev in events:
            yield ev, FindResult(list(self.found.get(ev.event, [])), seconds=0.01)


def test_evaluate_counts_events_with_cosmics_and_scores_the_cosmic_flag(sbnd_event):
    from vertexfinder.evaluation import evaluate, format_report

    ev = sbnd_event
    kinds = [(v.kind, v.is_cosmic) for v in ev.vertices]
    assert kinds == [("interaction", False), ("decay", False), ("decay", True)]
    mapper = ImageMapper("sbnd")
    plain = dataclasses.replace(simulate_event(SimulationConfig("sbnd", "numu-cc", beam="booster"), 4, 0), event=1)
    right = [_found(mapper, ev.vertices[0].position_cm, primary=True, kind="interaction"),
             _found(mapper, ev.vertices[1].position_cm, cosmic=False),
             _found(mapper, ev.vertices[2].position_cm, cosmic=True)]
    m = evaluate(_StandIn({0: right, 1: right[:2]}), [ev, plain], progress=False)
    assert m["detectors"] == ["sbnd"] and m["events_with_cosmics"] == 1 and m["per_slice"] is False
    assert m["cosmic_flag"] == {"cosmic": {"right": 1.0, "vertices": 1}, "neutrino": {"right": 1.0, "vertices": 2}}
    assert "detectors sbnd; events with cosmics 1" in format_report(m)
    assert "cosmic flag right: cosmic vertices 1.000 (1), the neutrino's 1.000 (2)" in format_report(m)
    wrong = [right[0], dataclasses.replace(right[1], cosmic=True), dataclasses.replace(right[2], cosmic=False)]
    m = evaluate(_StandIn({0: wrong}), [ev], progress=False)
    assert m["cosmic_flag"] == {"cosmic": {"right": 0.0, "vertices": 1}, "neutrino": {"right": 0.0, "vertices": 1}}


def test_evaluate_lists_every_detector_and_has_no_cosmic_flag_underground(sbnd_event):
    from vertexfinder.evaluation import evaluate

    small = next(simulate("test-detector", "numu-cc", events=1, seed=11))
    m = evaluate(_StandIn({}), [small, sbnd_event], progress=False)
    assert m["detectors"] == ["sbnd", "test-detector"] and m["events_with_cosmics"] == 1
    m = evaluate(_StandIn({0: [_found(ImageMapper("test-detector"), small.vertices[0].position_cm, cosmic=True)]}),
                 [small], progress=False)
    assert "cosmic_flag" not in m and m["events_with_cosmics"] == 0
