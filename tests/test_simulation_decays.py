"""Kinematics, kaon decays and K- absorption of the simulation, against PDG numbers and phase space."""

import math

import numpy as np
import pytest

from vertexfinder.records import FLAG_DECAY, FLAG_HADRONIC, FLAG_PI0
from vertexfinder.simulation import kernels
from vertexfinder.simulation.decays import KAON_DECAY_MODES, kaon_absorption_at_rest, kaon_decay
from vertexfinder.simulation.kinematics import phase_space, two_body_momentum
from vertexfinder.simulation.physics import dedx_mev_per_cm, particle_mass_mev, range_table
from vertexfinder.simulation.transport import Particle, Transport

WORLD = (-2000.0, 2000.0, -2000.0, 2000.0, -2000.0, 4000.0)
M_K = 493.677
AT_REST = np.array([M_K, 0.0, 0.0, 0.0])


def _mass(p4):
    return math.sqrt(max(p4[0] ** 2 - p4[1:] @ p4[1:], 0.0))


def test_phase_space_conserves_four_momentum_and_daughter_masses():
    rng = np.random.default_rng(0)
    parent = np.array([math.hypot(400.0, M_K), 0.0, 300.0, -264.6])
    masses = [139.57, 139.57, 134.98, 0.511]
    for _ in range(50):
        p4s = phase_space(parent, masses, rng)
        np.testing.assert_allclose(np.sum(p4s, axis=0), parent, atol=1e-6)
        np.testing.assert_allclose([_mass(q) for q in p4s], masses, atol=1e-4)


def test_three_body_phase_space_fills_the_dalitz_plot_uniformly():
    # flat Lorentz-invariant phase space: the m12^2 projection is the length of the m23^2 range
    rng = np.random.default_rng(1)
    m = [139.57039, 139.57039, 139.57039]
    m12 = np.array([_mass(a + b) ** 2 for a, b, _ in (phase_space(AT_REST, m, rng) for _ in range(20_000))])
    lo, hi = (m[0] + m[1]) ** 2, (M_K - m[2]) ** 2
    edges = np.linspace(lo, hi, 9)
    s = np.linspace(lo, hi, 4001)[1:-1]
    e2 = np.sqrt(s) / 2  # each of particles 1, 2 in the (12) frame
    e3 = (M_K**2 - s - m[2] ** 2) / (2 * np.sqrt(s))
    p2 = np.sqrt(np.clip(e2**2 - m[1] ** 2, 0, None))
    p3 = np.sqrt(np.clip(e3**2 - m[2] ** 2, 0, None))
    width = 4 * p2 * p3  # (m23^2)max - (m23^2)min
    expected = np.histogram(s, edges, weights=width)[0]
    expected = expected / expected.sum() * len(m12)
    got = np.histogram(m12, edges)[0]
    chi2 = float((((got - expected) ** 2) / expected).sum())
    assert chi2 < 25.0  # 8 bins: p ~ 1e-3


def test_kaon_branching_fractions_match_the_pdg_within_statistics():
    rng = np.random.default_rng(2)
    n = 20_000
    names = [kaon_decay(321, AT_REST, rng)[0] for _ in range(n)]
    total = sum(f for _, f, _ in KAON_DECAY_MODES)
    for name, fraction, _ in KAON_DECAY_MODES:
        f = fraction / total
        sigma = math.sqrt(f * (1 - f) / n)
        assert abs(names.count(name) / n - f) < 4 * sigma, name
    assert names.count("mu+ nu") / n == pytest.approx(0.636, abs=0.015)
    assert names.count("pi+ pi0") / n == pytest.approx(0.207, abs=0.012)


def test_kaon_decays_at_rest_give_the_two_body_momenta_and_conserve_charge():
    rng = np.random.default_rng(3)
    for _ in range(400):
        name, products = kaon_decay(321, AT_REST, rng)
        np.testing.assert_allclose(np.sum([q for _, q in products], axis=0), AT_REST, atol=1e-6)
        charge = sum(int(np.sign(pdg)) if abs(pdg) in (211, 321) else -int(np.sign(pdg)) if abs(pdg) in (11, 13) else 0
                     for pdg, _ in products)
        assert charge == 1, (name, [pdg for pdg, _ in products])
        pdgs = sorted(pdg for pdg, _ in products)
        if name == "mu+ nu":
            assert pdgs == [-13, 14]
            p = np.linalg.norm(products[0][1][1:])
            assert p == pytest.approx(235.5, abs=0.2)  # PDG: 235.5 MeV/c
        elif name == "pi+ pi0":
            assert pdgs == [111, 211]
            assert np.linalg.norm(products[0][1][1:]) == pytest.approx(205.1, abs=0.2)
    # K- decays to the charge conjugates (pi0 stays pi0)
    conjugates = {tuple(sorted(d if d == 111 else -d for d in daughters)) for _, _, daughters in KAON_DECAY_MODES}
    minus = {tuple(sorted(p for p, _ in kaon_decay(-321, AT_REST, rng)[1])) for _ in range(2000)}
    assert minus == conjugates
    with pytest.raises(ValueError, match="charged kaon"):
        kaon_decay(211, AT_REST, rng)


def _stopped(pdg, n, seed):
    """Transport ``n`` particles of ``pdg`` that are at rest; (transport, vertex 0 index) each."""
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        kernels.seed_kernels(seed * 1000 + i)
        tr = Transport(WORLD, rng)
        tr.add_vertex("interaction", [0, 0, 0], 0x10, -1, 0)
        tr._at_rest(Particle(pdg, np.zeros(3), np.array([0.0, 0.0, 1.0]), 0.0, 0, 0, time_ns=5.0))
        out.append(tr)
    return out


def test_a_k_plus_at_rest_makes_one_decay_vertex_whose_products_descend_from_it():
    modes_with_pi0, times = 0, []
    for tr in _stopped(321, 300, seed=4):
        decays = [v for v in tr.vertices if v.kind == "decay"]
        assert len(decays) == 1
        v = decays[0]
        assert v.parent == 0 and v.pdg == 321 and v.flags & FLAG_DECAY
        assert all(p.origin == 1 and p.parent == 1 for p in tr.stack)  # the products are credited to it
        assert all(abs(p.pdg) not in (12, 14) for p in tr.stack)  # neutrinos are not followed
        assert all(p.time_ns == v.time_ns for p in tr.stack)
        has_pi0 = any(p.pdg == 111 for p in tr.stack)
        assert bool(v.flags & FLAG_PI0) == has_pi0
        modes_with_pi0 += has_pi0
        times.append(v.time_ns - 5.0)
    # pi+ pi0, Ke3, Kmu3, pi+ pi0 pi0: 30.9% of K+ decays hold a pi0
    assert modes_with_pi0 / 300 == pytest.approx(0.309, abs=0.08)
    # exponential delays with the K+ lifetime (mean and spread both 12.38 ns)
    assert np.mean(times) == pytest.approx(12.38, rel=0.2) and np.std(times) == pytest.approx(12.38, rel=0.25)


def test_a_k_minus_at_rest_is_absorbed_into_a_hyperon_and_a_pion():
    pions = 0
    for tr in _stopped(-321, 200, seed=5):
        assert [v.kind for v in tr.vertices] == ["interaction", "interaction"]
        v = tr.vertices[1]
        assert v.parent == 0 and v.pdg == -321 and v.flags & FLAG_HADRONIC
        pdgs = [p.pdg for p in tr.stack]
        assert sum(abs(p) in (3122, 3212, 3222, 3112) for p in pdgs) == 1
        pions += sum(p in (211, -211, 111) for p in pdgs) == 1
    assert pions == 200
    # two-body at rest: Sigma pi gives the pion ~170 MeV/c, Lambda pi ~245 MeV/c
    rng = np.random.default_rng(6)
    momenta = [np.linalg.norm(q[1:]) for _ in range(500) for pdg, q in kaon_absorption_at_rest(rng) if abs(pdg) == 211]
    assert 150 < np.median(momenta) < 280


def test_kaon_decay_distance_follows_its_proper_time_as_it_slows_down():
    # proper time to stop, integrated here from Bethe-Bloch: a 105 MeV K+ (p -> K+ nu) ages ~0.95 ns
    t = np.geomspace(1.0, 105.19, 4000)
    m = particle_mass_mev(321)
    per_mev = m / (np.sqrt(t * (t + 2 * m)) * 29.9792458 * dedx_mev_per_cm(t, m))
    to_stop = float(np.sum(0.5 * (per_mev[1:] + per_mev[:-1]) * np.diff(t)))
    table = range_table(321)
    tabulated = float(np.interp(105.19, table.kinetic_mev, table.proper_time_ns))
    assert tabulated == pytest.approx(to_stop, rel=0.05)
    rng = np.random.default_rng(7)
    d = np.array([table.decay_distance_cm(105.19, rng.exponential(12.38)) for _ in range(20_000)])
    in_flight = np.isfinite(d)
    assert in_flight.mean() == pytest.approx(1 - math.exp(-tabulated / 12.38), abs=0.006)  # ~7%
    assert np.all(d[in_flight] <= table.range_of(105.19) + 1e-9)
    # more decays near the end of the range than a constant decay length would give
    assert np.median(d[in_flight]) > 0.5 * table.range_of(105.19)


def test_two_body_momentum_of_pion_decay_at_rest():
    assert two_body_momentum(139.57039, 105.6583755, 0.0) == pytest.approx(29.79, abs=0.01)


def test_k_plus_from_proton_decay_decays_in_flight_as_often_as_its_proper_time_says():
    # 105 MeV K+: 7.4% decay before stopping (a constant decay length from the start would give 5%);
    # 1 - exp(-13.6 / 111) = 11.5% interact first
    fate = {"_decay_in_flight": 0, "_inelastic": 0, "_at_rest": 0}
    n = 4000
    for i in range(n):
        tr = Transport(WORLD, np.random.default_rng([12, i]))
        kernels.seed_kernels(12_000 + i)
        kaon = Particle(321, np.zeros(3), np.array([0.0, 0.0, 1.0]), 105.19, 0, 0)
        first = []
        for name in fate:
            method = getattr(tr, name)

            def hooked(p, *args, _method=method, _name=name, _first=first, _kaon=kaon):
                if p is _kaon:
                    _first.append(_name)
                return _method(p, *args)

            setattr(tr, name, hooked)
        tr.add_vertex("interaction", np.zeros(3), 0x10, -1, 0)
        tr._hadron_or_muon(kaon)
        fate[first[0]] += 1
    assert fate["_decay_in_flight"] / n == pytest.approx(0.074, abs=0.012)
    assert fate["_inelastic"] / n == pytest.approx(0.115, abs=0.02)
