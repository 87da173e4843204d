"""The class-rich samples (michel, pion, kaon, proton-decay, nc-pi0, cc-pi0, photon, class-mix):
each holds the vertices it promises, with the right parents, on every detector, from its seed."""

import math

import numpy as np
import pytest

from vertexfinder.cli import main
from vertexfinder.detectors import get_detector
from vertexfinder.records import FLAG_DECAY, FLAG_NU_PRIMARY, FLAG_PI0, VERTEX_KINDS
from vertexfinder.simulation import SAMPLES, SimulationConfig, kernels, simulate
from vertexfinder.simulation.enriched import ENRICHED_SAMPLES, enriched_source, neutrino_interaction_with_pi0
from vertexfinder.simulation.samples import CLASS_MIX, SAMPLE_DESCRIPTIONS
from vertexfinder.simulation.transport import _GAMMA_E, _GAMMA_MU, Particle, Transport

DETECTORS = ("dune-fd-1x2x6", "protodune-sp", "microboone", "sbnd", "test-detector")
NEW = (*ENRICHED_SAMPLES, "class-mix")
WORLD = (-2000.0, 2000.0, -2000.0, 2000.0, -2000.0, 4000.0)


def _same(a, b):
    assert a.ids == b.ids and len(a.planes) == len(b.planes) and len(a.vertices) == len(b.vertices)
    for p, q in zip(a.planes, b.planes):
        assert p.origin == q.origin
        np.testing.assert_array_equal(p.pixels, q.pixels)
        np.testing.assert_array_equal(p.truth, q.truth)
    for u, v in zip(a.vertices, b.vertices):
        assert (u.kind, u.parent, u.flags, u.pdg) == (v.kind, v.parent, v.flags, v.pdg)
        np.testing.assert_array_equal(u.position_cm, v.position_cm)


def _check_truth(ev):
    for i, v in enumerate(ev.vertices):
        assert v.kind in VERTEX_KINDS
        assert -1 <= v.parent < i  # a parent is made before its descendants
        if v.kind != "interaction" or not v.flags & FLAG_NU_PRIMARY:
            assert v.parent >= 0 or abs(v.pdg) == 13  # only a cosmic muon's decay comes from no vertex
    for plane in ev.planes:
        assert plane.truth.shape == plane.pixels.shape
        assert np.all(plane.pixels[plane.truth >= 0] > 0)
        assert plane.truth.max(initial=-1) < len(ev.vertices)


def _parent(ev, v):
    return ev.vertices[v.parent] if v.parent >= 0 else None


def _lit_near(ev, v, radius=2):
    """On how many planes charge lies within ``radius`` pixels of the vertex's projection."""
    n = 0
    for k, plane in enumerate(ev.planes):
        if not np.all(np.isfinite(v.planes[k])):
            continue
        w, d = np.floor(v.planes[k]).astype(int) - np.array(plane.origin)
        win = plane.pixels[max(w - radius, 0): w + radius + 1, max(d - radius, 0): d + radius + 1]
        n += win.size > 0 and win.max() > 0
    return n


def test_the_samples_are_listed_described_and_mixed():
    assert set(NEW) <= set(SAMPLES) and list(SAMPLE_DESCRIPTIONS) == list(SAMPLES)
    assert set(CLASS_MIX) <= set(SAMPLES) - {"class-mix"} and math.isclose(sum(CLASS_MIX.values()), 1.0)
    assert set(ENRICHED_SAMPLES) <= set(CLASS_MIX)
    with pytest.raises(ValueError, match="sample must be one of"):
        enriched_source("neutralino", get_detector("test-detector"), np.random.default_rng(0))


@pytest.mark.parametrize("sample", NEW)
def test_same_seed_same_events_different_seed_different_events(sample):
    a = list(simulate("test-detector", sample, events=3, seed=5))
    b = list(simulate("test-detector", sample, events=3, seed=5))
    c = list(simulate("test-detector", sample, events=3, seed=6))
    for x, y in zip(a, b):
        _same(x, y)
        _check_truth(x)
    assert any(sum(int(p.pixels.sum()) for p in x.planes) != sum(int(p.pixels.sum()) for p in y.planes)
               for x, y in zip(a, c))


@pytest.mark.parametrize("detector", DETECTORS)
def test_every_new_sample_runs_on_every_builtin_detector(detector):
    for sample in NEW:
        (ev,) = simulate(detector, sample, events=1, seed=3)
        assert ev.detector == detector
        _check_truth(ev)
        if sample != "michel" and sample != "class-mix":
            assert ev.primary is not None and ev.vertices[0] is ev.primary


def _digest(ev) -> str:
    """SHA-256 of an event's crops, origins, truth maps and truth vertices (kind, position, parent)."""
    import hashlib

    h = hashlib.sha256()
    for p in ev.planes:
        h.update(np.ascontiguousarray(p.pixels).tobytes())
        h.update(np.asarray(p.origin, np.int64).tobytes())
        if p.truth is not None:
            h.update(np.ascontiguousarray(p.truth).tobytes())
    for v in ev.vertices:
        h.update(v.kind.encode())
        h.update(np.asarray(v.position_cm, np.float64).tobytes())
        h.update(np.int64(v.parent).tobytes())
    return h.hexdigest()


def test_the_fixed_test_sample_is_still_what_nu_mix_seed_2027_makes():
    """Existing samples must not change: the fixed test sample (``vertexfinder simulate --detector
    dune-fd-1x2x6 --sample nu-mix --events 500 --seed 2027``) begins with these two events (digests of
    data/test.vfstore as made before the class-rich samples were added)."""
    got = [_digest(ev)[:16] for ev in simulate("dune-fd-1x2x6", "nu-mix", events=2, seed=2027)]
    assert got == ["4bd77c4119744f27", "9d38baa192f6851d"]


# -- michel ---------------------------------------------------------------------------------------

def _michel_muons(detector, n, seed):
    """Transport the muons of ``n`` michel events: (pdg, where its charge ends, vertices) each."""
    det = get_detector(detector)
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        kernels.seed_kernels(seed * 1000 + i)
        interaction, [(pos, d, kinetic, pdg, t)] = enriched_source("michel", det, rng)
        assert interaction is None
        tr = Transport(det.bounds_cm.ravel(), rng)
        muon = Particle(pdg, pos, d, kinetic, -1, -1, t)
        end = []
        step = tr._step

        def hooked(p, *args, _step=step, _muon=muon, _end=end, _tr=tr):
            status, path = _step(p, *args)
            if p is _muon and status == kernels.STOPPED and _tr.deposits.xyz:
                _end.append(_tr.deposits.xyz[-1][-1].copy())  # the muon's last deposit
            return status, path

        tr._step = hooked
        tr.push(muon)
        _, vertices = tr.run()
        out.append((pdg, end[0] if end else None, vertices, det))
    return out


def test_michel_muons_stop_in_the_detector_and_every_stopping_mu_plus_decays_where_it_stops():
    muons = _michel_muons("sbnd", 80, seed=1)
    plus = [(end, verts, det) for pdg, end, verts, det in muons if pdg == -13 and end is not None
            and det.tpc_of(end) >= 0]
    assert len(plus) >= 30
    near = 0
    for end, verts, _ in plus:
        decays = [v for v in verts if v.kind == "decay" and v.pdg == -13]
        near += any(np.linalg.norm(v.position - end) < 0.5 for v in decays)  # within 5 mm
        assert all(v.parent == -1 for v in decays)  # a cosmic muon comes from no vertex
    assert near >= 0.9 * len(plus)
    stopped = sum(end is not None for _, end, _, _ in muons)
    assert stopped >= 0.9 * len(muons)  # they are made to stop inside
    # mu+/mu- = 1.25 at sea level
    assert sum(pdg == -13 for pdg, *_ in muons) / len(muons) == pytest.approx(1.25 / 2.25, abs=0.17)


@pytest.mark.slow
def test_michel_events_hold_decay_vertices_on_charge_and_no_primary():
    events = list(simulate("sbnd", "michel", events=30, seed=2))
    decays = [(ev, v) for ev in events for v in ev.vertices if v.kind == "decay"]
    assert all(ev.primary is None for ev in events)
    # 5/9 mu+ all decay, 4/9 mu- decay 25% of the time: 2/3 of the events have a Michel decay
    assert 12 <= len(decays) <= 28
    assert all(abs(v.pdg) == 13 and v.parent == -1 and v.flags & FLAG_DECAY for _, v in decays)
    assert sum(_lit_near(ev, v) >= 2 for ev, v in decays) >= 0.9 * len(decays)


# -- pions, kaons, proton decay ---------------------------------------------------------------------

@pytest.mark.parametrize("sample,hadrons", [("pion", (211, -211)), ("kaon", (321, -321))])
def test_pion_and_kaon_decays_descend_from_the_vertex_that_made_them(sample, hadrons):
    events = list(simulate("sbnd", sample, events=40, seed=3))
    seen = {"decay": 0, "muon decay": 0}
    for ev in events:
        assert ev.primary is ev.vertices[0] and ev.primary.flags == FLAG_NU_PRIMARY
        for v in ev.vertices:
            parent = _parent(ev, v)
            if v.kind == "decay" and abs(v.pdg) in (211, 321):
                seen["decay"] += 1
                # the hadron came from the primary, a hadronic interaction or (a pion) a kaon decay
                assert parent.kind == "interaction" or (abs(v.pdg) == 211 and abs(parent.pdg) == 321)
            elif v.kind == "decay" and abs(v.pdg) == 13:
                seen["muon decay"] += 1
                assert parent.kind == "decay" and abs(parent.pdg) in (211, 321)
            elif v.kind == "conversion":
                assert parent.flags & FLAG_PI0
    assert seen["decay"] >= 5 and seen["muon decay"] >= 3
    pdgs = {abs(ev.vertices[0].pdg) for ev in events}
    assert pdgs == {0}  # the gun's origin records no particle


def test_proton_decay_kaons_decay_with_their_parents_right():
    events = list(simulate("sbnd", "proton-decay", events=40, seed=4))
    k_decays = 0
    for ev in events:
        _check_truth(ev)
        assert ev.primary is ev.vertices[0]
        for i, v in enumerate(ev.vertices):
            parent = _parent(ev, v)
            if v.kind == "decay" and v.pdg == 321:
                k_decays += 1
                assert v.parent == 0 or (parent.kind == "interaction" and parent.pdg == 321)
            elif v.kind == "decay" and v.pdg == -13:  # mu+ from K+ -> mu+ nu or from pi+ -> mu+ nu
                assert parent.kind == "decay" and parent.pdg in (321, 211)
            elif v.kind == "decay" and v.pdg == 211:
                assert parent.pdg == 321 or parent.kind == "interaction"
            elif v.kind == "conversion":
                assert parent.flags & FLAG_PI0 and parent.pdg in (321, 211, -211, 2212)
    assert k_decays >= 0.8 * len(events)  # 88% decay, the rest interact first


@pytest.mark.slow
def test_proton_decay_kaon_fates_and_pi0_modes_match_expectations():
    events = list(simulate("dune-fd-1x2x6", "proton-decay", events=600, seed=8))
    kd = [(ev, v) for ev in events for v in ev.vertices if v.kind == "decay" and v.pdg == 321]
    direct = [v for ev, v in kd if v.parent == 0]
    n = len(events)
    # ~11% of the 105 MeV K+ interact before they stop or decay (interaction length 111 cm, range 14 cm)
    assert len(direct) / n == pytest.approx(0.885, abs=0.04)
    # K+ decays holding a pi0: pi+ pi0 20.67%, Ke3 5.07%, Kmu3 3.35%, pi+ pi0 pi0 1.76% = 30.9%
    f = sum(bool(v.flags & FLAG_PI0) for _, v in kd) / len(kd)
    assert f == pytest.approx(0.309, abs=3 * math.sqrt(0.309 * 0.691 / len(kd)))
    # the muon of K+ -> mu+ nu at rest (236 MeV/c) travels 54 cm: most mu+ decays lie 45-60 cm from the K+ decay
    gaps = [np.linalg.norm(w.position_cm - v.position_cm) for ev, v in kd for w in ev.vertices
            if w.kind == "decay" and w.pdg == -13 and ev.vertices[w.parent] is v]
    assert np.median(gaps) == pytest.approx(52.0, abs=5.0)


# -- pi0s and photons -------------------------------------------------------------------------------

@pytest.mark.parametrize("sample,current", [("nc-pi0", "NC"), ("cc-pi0", "CC")])
@pytest.mark.slow
def test_pi0_samples_hold_a_pi0_and_conversions_whose_parent_made_the_pi0(sample, current):
    events = list(simulate("sbnd", sample, events=12, seed=5))
    from_primary = 0
    for ev in events:
        _check_truth(ev)
        assert ev.interaction == current and ev.nu_pdg == 14
        assert ev.primary is ev.vertices[0] and ev.primary.flags & FLAG_PI0
        conv = [v for v in ev.vertices if v.kind == "conversion"]
        assert all(_parent(ev, v).flags & FLAG_PI0 for v in conv)
        assert all(v.pdg == 22 for v in conv)
        from_primary += any(v.parent == 0 for v in conv)
    assert from_primary >= 0.8 * len(events)  # unless both photons leave the detector


def test_forcing_a_pi0_draws_until_the_interaction_holds_one():
    det = get_detector("dune-fd-1x2x6")
    rng = np.random.default_rng(0)
    for current in ("NC", "CC"):
        for _ in range(20):
            it = neutrino_interaction_with_pi0(det, rng, current=current)
            assert it.flags & FLAG_PI0 and any(p.pdg == 111 for p in it.primaries) and it.ccnc == current
    with pytest.raises(RuntimeError, match="no nu_mu NC interaction with a pi0"):
        neutrino_interaction_with_pi0(det, rng, current="NC", max_tries=0)


def test_pi0_photons_convert_after_the_attenuation_length_of_their_energy():
    det = get_detector("dune-fd-1x2x6")
    rng = np.random.default_rng(1)
    gaps, expected = [], []
    m_pi0 = 134.9768
    while len(gaps) < 1500:
        it = neutrino_interaction_with_pi0(det, rng, current="NC")
        for pr in it.primaries:
            if pr.pdg != 111:
                continue
            tr = Transport(WORLD, np.random.default_rng([9, len(gaps)]))
            tr.add_vertex("interaction", np.zeros(3), FLAG_NU_PRIMARY | FLAG_PI0, -1, 14)
            p = np.linalg.norm(pr.p4[1:])
            tr._pi0(Particle(111, np.zeros(3), pr.p4[1:] / p, pr.p4[0] - m_pi0, 0, 0))
            photons = list(tr.stack)
            tr.stack.clear()
            assert len(photons) == 2 and all(g.tagged and g.parent == 0 for g in photons)
            for g in photons:
                e, n0 = g.kinetic_mev, len(tr.vertices)
                tr._photon(g)
                (conv,) = [v for v in tr.vertices[n0:] if v.kind == "conversion"]  # its first interaction only
                assert conv.parent == 0  # the interaction that made the pi0
                gaps.append(np.linalg.norm(conv.position))
                mu = math.exp(np.interp(math.log(e), np.log(_GAMMA_E), np.log(_GAMMA_MU))) * 1.396  # 1/cm
                expected.append(1.0 / mu)
    gaps, expected = np.array(gaps), np.array(expected)
    # 9/7 X0 = 18 cm is the high-energy limit; pi0 photons of a few hundred MeV go somewhat further
    assert 18.0 < gaps.mean() < 26.0
    assert gaps.mean() == pytest.approx(expected.mean(), abs=3 * gaps.std() / math.sqrt(len(gaps)))


@pytest.mark.slow
def test_single_photons_convert_once_with_the_primary_as_parent():
    events = list(simulate("dune-fd-1x2x6", "photon", events=30, seed=6))
    gaps = []
    for ev in events:
        assert ev.primary is ev.vertices[0]
        conv = [v for v in ev.vertices if v.kind == "conversion"]
        assert [v.parent for v in conv] in ([0], [])
        assert all(v.kind != "decay" for v in ev.vertices)
        gaps += [np.linalg.norm(v.position_cm - ev.primary.position_cm) for v in conv]
    assert len(gaps) >= 27
    assert 8.0 < np.mean(gaps) < 45.0  # ~20-27 cm for 50-1000 MeV photons, 30 events


# -- class-mix and the command ----------------------------------------------------------------------

@pytest.mark.slow
def test_class_mix_draws_its_components_at_their_shares():
    events = list(simulate("test-detector", "class-mix", events=400, seed=9, fiducial_margin_cm=2.0))
    no_primary = sum(ev.primary is None for ev in events) / len(events)  # michel events
    assert no_primary == pytest.approx(CLASS_MIX["michel"], abs=3 * math.sqrt(0.05 * 0.95 / 400))
    neutrino = sum(ev.nu_pdg != 0 for ev in events) / len(events)
    share = CLASS_MIX["nu-mix"] + CLASS_MIX["nc-pi0"] + CLASS_MIX["cc-pi0"]
    assert neutrino == pytest.approx(share, abs=3 * math.sqrt(share * (1 - share) / 400))


def test_simulate_command_makes_the_new_samples(tmp_path, capsys):
    from vertexfinder.io.store import EventStore

    out = tmp_path / "pdk.vfstore"
    assert main(["simulate", "--detector", "test-detector", "--sample", "proton-decay", "--events", "2",
                 "--seed", "3", "-o", str(out), "-q"]) == 0
    assert "simulated 2 proton-decay events" in capsys.readouterr().out
    for got, want in zip(EventStore.open(out), simulate("test-detector", "proton-decay", events=2, seed=3)):
        _same(got, want)
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    text = "".join(capsys.readouterr().out.split())  # argparse wraps lines at hyphens
    assert all(f"{name}:" in text for name in NEW)
    with pytest.raises(ValueError, match="sample must be one of"):
        SimulationConfig(sample="pdk")
