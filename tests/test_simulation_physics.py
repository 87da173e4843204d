"""Physics validation of the simulation against the PDG's liquid-argon numbers."""

import math

import numpy as np
import pytest

from vertexfinder.mapper import ImageMapper
from vertexfinder.simulation import kernels
from vertexfinder.simulation.physics import range_table, recombination_box
from vertexfinder.simulation.response import ResponseConfig, drifted_charges, respond
from vertexfinder.simulation.transport import MICHEL_MAX, ME, Particle, Transport

WORLD = (-2000.0, 2000.0, -2000.0, 2000.0, -2000.0, 4000.0)


def _shoot(pdg, kinetic, n, *, seed=0, tagged=False, direction=(0.0, 0.0, 1.0)):
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        kernels.seed_kernels(seed * 100_003 + i)
        tr = Transport(WORLD, rng)
        tr.add_vertex("interaction", [0, 0, 0], 0, -1, 0)
        tr.push(Particle(pdg, np.zeros(3), np.array(direction, float), kinetic, 0, 0, tagged=tagged))
        out.append(tr.run())
    return out


@pytest.mark.parametrize("pdg,kinetic,csda", [(13, 100, 30), (13, 500, 217), (13, 1000, 441),
                                              (2212, 50, 2.3), (2212, 100, 7.8), (2212, 200, 25.9), (2212, 500, 115)])
def test_range_tables_match_csda(pdg, kinetic, csda):
    assert range_table(pdg).range_of(kinetic) == pytest.approx(csda, rel=0.05)


def test_transported_muon_path_matches_csda_range():
    # path length of the muon itself (not its delta rays or decay products) until it stops
    lengths = []
    for i in range(60):
        rng = np.random.default_rng(i)
        kernels.seed_kernels(i)
        tr = Transport(WORLD, rng)
        tr.capture_fraction = 1.0
        p = Particle(13, np.zeros(3), np.array([0.0, 0.0, 1.0]), 500.0, 0, 0)
        travelled = 0.0
        tr_step = tr._step
        def step(p_, *a, **k):
            nonlocal travelled
            status, path = tr_step(p_, *a, **k)
            travelled += path
            return status, path
        tr._step = step
        tr._hadron_or_muon(p)
        lengths.append(travelled)
    assert np.mean(lengths) == pytest.approx(217.0, rel=0.05)


def test_transported_proton_stops_at_csda_range():
    ends = []
    for (d, _) in _shoot(2212, 200.0, 80, seed=3):
        xyz, de, *_ , origin = d.arrays()
        ends.append(xyz[origin == 0, 2].max())
    # straggling and scattering make the projected range slightly shorter than the CSDA range
    assert np.median(ends) == pytest.approx(25.9, rel=0.05)


def test_mip_mean_dedx_is_2_1_mev_per_cm():
    per_cm = []
    for (d, _) in _shoot(13, 300.0, 40, seed=5):
        xyz, de, *_ = d.arrays()
        m = (xyz[:, 2] > 5) & (xyz[:, 2] < 55)
        per_cm.append(de[m].sum() / 50.0)
        h, _ = np.histogram(xyz[m, 2], bins=np.arange(5, 55.01, 1.0), weights=de[m])
    assert np.mean(per_cm) == pytest.approx(2.1, rel=0.10)


def test_mip_dedx_distribution_has_landau_like_skew():
    slices = []
    for (d, _) in _shoot(13, 300.0, 40, seed=6):
        xyz, de, *_ = d.arrays()
        m = (xyz[:, 2] > 5) & (xyz[:, 2] < 55)
        h, _ = np.histogram(xyz[m, 2], bins=np.arange(5, 55.01, 1.2), weights=de[m])
        slices += list(h / 1.2)
    slices = np.array(slices)
    # most slices sit near the most probable loss, below the mean; delta rays make a long tail
    assert 1.6 < np.median(slices) < 2.15
    assert np.mean(slices) > np.median(slices)
    assert np.percentile(slices, 99) > 1.5 * np.median(slices)


def test_recombination_mip_is_about_0_7():
    assert recombination_box(2.1) == pytest.approx(0.7, abs=0.02)
    assert recombination_box(20.0) < recombination_box(2.1)


def test_high_energy_photon_converts_after_18_cm():
    dist, pairs = [], 0
    for i in range(2000):
        tr = Transport(WORLD, np.random.default_rng([7, i]))
        tr.add_vertex("interaction", [0, 0, 0], 0, -1, 0)
        tr._photon(Particle(22, np.zeros(3), np.array([0.0, 0.0, 1.0]), 20_000.0, 0, 0, tagged=True))
        conv = [v for v in tr.vertices if v.kind == "conversion"]
        assert len(conv) == 1  # only the first interaction of a tagged photon is a vertex
        pairs += sorted(p.pdg for p in tr.stack) == [-11, 11]
        dist.append(np.linalg.norm(conv[0].position))
    assert pairs > 0.97 * 2000  # pair production dominates; the rest Compton-scatter
    assert np.mean(dist) == pytest.approx(18.0, abs=1.0)


def test_michel_spectrum_endpoint_and_mean():
    rng = np.random.default_rng(0)
    tr = Transport(WORLD, rng)
    e = np.array([tr._michel_energy() for _ in range(20_000)])
    assert e.max() <= MICHEL_MAX + 1e-9
    assert e.max() > 0.98 * MICHEL_MAX
    # x^2 (3 - 2x) has mean 0.7 of the endpoint
    assert e.mean() == pytest.approx(0.7 * MICHEL_MAX, rel=0.02)


def test_mu_minus_capture_fraction_and_mu_plus_always_decays():
    minus = _shoot(13, 50.0, 400, seed=11)
    decays = sum(any(v.kind == "decay" for v in verts) for _, verts in minus)
    assert 1 - decays / 400 == pytest.approx(0.75, abs=0.05)
    plus = _shoot(-13, 50.0, 100, seed=12)
    assert all(any(v.kind == "decay" for v in verts) for _, verts in plus)
    # the Michel electron's charge is credited to the decay vertex
    d, verts = plus[0]
    origin = d.arrays()[4]
    k = next(i for i, v in enumerate(verts) if v.kind == "decay")
    assert np.any(origin == k)


def test_pi_plus_at_rest_decays_to_a_short_muon_then_a_michel():
    (d, verts), = _shoot(211, 30.0, 1, seed=13)
    kinds = [v.kind for v in verts]
    assert kinds.count("decay") == 2  # pi -> mu nu, then mu -> e nu nu


@pytest.mark.parametrize("energy", [300.0, 1000.0, 3000.0])
def test_shower_maximum_within_one_x0_of_expectation(energy):
    x0, ec = 14.0, 33.0
    profile = np.zeros(80)
    bins = np.arange(81) * 0.25 * x0
    for (d, _) in _shoot(11, energy, 25, seed=int(energy)):
        xyz, de, *_ = d.arrays()
        profile += np.histogram(xyz[:, 2], bins=bins, weights=de)[0]
    kernel = np.ones(3) / 3
    smooth = np.convolve(profile, kernel, mode="same")
    t_max = (np.argmax(smooth) + 0.5) * 0.25
    assert abs(t_max - (math.log(energy / ec) - 0.5)) <= 1.0


def test_about_3e4_electrons_per_collection_wire_for_perpendicular_mip():
    mapper = ImageMapper("dune-fd-1x2x6")
    det = mapper.detector
    t = det.tpcs[1]
    start = np.array([t.anode_x_cm + 2.0, 0.5 * (t.box[2] + t.box[3]), t.box[4] + 20.0])
    per_wire = []
    for i in range(20):
        rng = np.random.default_rng(i)
        kernels.seed_kernels(i)
        tr = Transport(det.bounds_cm.ravel(), rng)
        tr.delta_cut_mev = 1e9  # no delta rays leaving the wire: the mean loss stays on the track
        tr.add_vertex("interaction", start, 0, -1, 0)
        tr.push(Particle(13, start.copy(), np.array([0.0, 0.0, 1.0]), 300.0, 0, 0))
        d, _ = tr.run()
        xyz, de, dedx, tns, origin = d.arrays()
        keep, xyz, tpc, electrons, *_ = drifted_charges(mapper, ResponseConfig(), xyz, de, dedx, tns)
        plane = t.plane_for_view("Z")
        wires = np.floor(plane.wire_coordinate(xyz[:, 1], xyz[:, 2])).astype(int)
        q = np.bincount(wires, weights=electrons)
        w0 = int(np.floor(plane.wire_coordinate(start[1], start[2])))
        per_wire += list(q[w0 + 2 : w0 + 40])
    assert np.mean(per_wire) == pytest.approx(3.0e4, rel=0.1)


def _quiet():
    return ResponseConfig(noise_adc=0.0, coherent_noise_adc=0.0, crop_margin_pixels=1200)


def _muon_event(mapper, start, direction, seed=0):
    det = mapper.detector
    rng = np.random.default_rng(seed)
    kernels.seed_kernels(seed)
    tr = Transport(det.bounds_cm.ravel(), rng)
    tr.add_vertex("interaction", start, 0x10, -1, 0)
    tr.push(Particle(13, np.array(start, float), np.array(direction, float) / np.linalg.norm(direction), 400.0, 0, 0))
    d, verts = tr.run()
    return d.arrays(), verts, rng


def test_ghosts_appear_on_wrapped_planes_only():
    mapper = ImageMapper("dune-fd-1x2x6")
    t = mapper.detector.tpcs[1]
    start = [t.anode_x_cm + 30.0, 0.5 * (t.box[2] + t.box[3]), t.box[4] + 60.0]
    deposits, verts, rng = _muon_event(mapper, start, [0.3, 0.2, 1.0])
    planes, _ = respond(mapper, deposits, [v.position for v in verts], [0.0] * len(verts), rng, _quiet())
    for view, (pixels, origin, truth) in zip(mapper.views, planes):
        lit = pixels > 0
        # charge with no deposit of its own within 3 px: a ghost
        from scipy.ndimage import binary_dilation

        true_px = binary_dilation(truth >= 0, iterations=3)
        ghosts = int((lit & ~true_px).sum())
        if view == "Z":
            assert ghosts == 0
        else:
            assert ghosts > 50, view


@pytest.mark.slow
def test_truth_vertex_projections_land_on_charge():
    from vertexfinder.simulation import simulate

    hits = 0
    events = list(simulate("dune-fd-1x2x6", "numu-cc", events=12, seed=3,
                           response=ResponseConfig(noise_adc=0.0, coherent_noise_adc=0.0)))
    for ev in events:
        prim = ev.primary
        on = 0
        for v, plane in enumerate(ev.planes):
            w, d = np.floor(prim.planes[v]).astype(int) - np.array(plane.origin)
            win = plane.pixels[max(w - 1, 0) : w + 2, max(d - 1, 0) : d + 2]
            on += win.size > 0 and win.max() > 0
        hits += on >= 2
    assert hits >= 11


def test_decay_times_follow_the_muon_lifetime():
    # regression: the clock of a stopping particle must not run away as its velocity goes to zero
    times = []
    for _, verts in _shoot(-13, 200.0, 300, seed=21):
        times += [v.time_ns for v in verts if v.kind == "decay"]
    assert np.mean(times) == pytest.approx(2197.0, rel=0.15)
