"""VertexFinder with a refiner (tiny untrained models), and the views every 3D vertex reports."""

import json
import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from generators.features import walk_features  # noqa: E402
from generators.glimpses import Pyramid  # noqa: E402
from models import Refiner  # noqa: E402
from vertexfinder.finder import Candidate, Candidate3D, FinderConfig, VertexFinder  # noqa: E402
from vertexfinder.finder.report import vertex  # noqa: E402
from vertexfinder.mapper import ImageMapper  # noqa: E402
from vertexfinder.model import RefineConfig  # noqa: E402
from vertexfinder.simulation import simulate  # noqa: E402
from vertexfinder.training import build_refiner, build_walker, config_from_toml  # noqa: E402

TINY = [
    "detector='test-detector'", "num_levels=3", "glimpse_size=[16, 16]", "num_steps=4", "max_step=32.0",
    "filters=[8, 16]", "encoder_units=16", "recurrent_units=16",
]
RCFG = RefineConfig(detector="test-detector", num_levels=2, glimpse_size=(16, 16), filters=(8, 8), units=16, radius=6.0)
OPTIONS = dict(seeds_per_plane=6, all_seeds_per_plane=8)


@pytest.fixture(scope="module")
def walker():
    keras.utils.set_random_seed(3)
    cfg = config_from_toml(None, TINY)
    model = build_walker(cfg)
    model.build()
    return model, cfg


def constant_refiner(offset=(0.0, 0.0), kind=(0.0, 0.0, 0.0, 0.0), primary=0.0, seed=4):
    """A tiny refiner whose heads ignore the glimpse: offset ``radius * tanh(offset / radius)``, fixed logits."""
    keras.utils.set_random_seed(seed)
    r = build_refiner(RCFG)
    r.build()
    for head, bias in ((r.offset_head, offset), (r.kind_head, kind), (r.primary_head, (primary,))):
        kernel, _ = head.get_weights()
        head.set_weights([np.zeros_like(kernel), np.asarray(bias, np.float32)])
    return r


def expected_offset(offset):
    return RCFG.radius * np.tanh(np.asarray(offset) / RCFG.radius)


@pytest.fixture(scope="module")
def events():
    return [e for e in simulate("test-detector", "numu-cc", events=4, seed=11) if e.primary is not None]


def finder(walker, refiner=None, **options):
    model, cfg = walker
    return VertexFinder(model, cfg, FinderConfig(**{**OPTIONS, **options}), refiner=refiner,
                        refiner_config=None if refiner is None else RCFG)


def same_vertices(a, b, atol=1e-6):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert (u.kind, u.primary) == (v.kind, v.primary)
        assert u.score == pytest.approx(v.score, abs=atol)
        for pu, pv in zip(u.planes, v.planes):
            assert (pu is None) == (pv is None)
            if pu is not None:
                assert (pu.global_wire, pu.global_drift, pu.found) == pytest.approx(
                    (pv.global_wire, pv.global_drift, pv.found), abs=atol)


def test_a_finder_with_a_refiner_finds_vertices(walker, events):
    f = finder(walker, constant_refiner(kind=(3.0, 0.0, 0.0, 0.0), primary=1.0))
    for ev in events[:2]:
        for mode in ("primary", "all"):
            vertices = f.find(ev, mode=mode)
            assert vertices and vertices[0].primary
            assert all(v.kind in ("interaction", "decay", "conversion") and 0 <= v.score <= 1 for v in vertices)
            assert all(len(v.planes) == 3 for v in vertices)


def test_find_detailed_times_every_stage_in_order(walker, events):
    with_refiner = finder(walker, constant_refiner()).find_detailed(events[0], mode="all")
    assert list(with_refiner.stage_seconds) == ["prepare", "walk", "propose", "refine", "match", "choose", "report"]
    assert all(t >= 0 for t in with_refiner.stage_seconds.values())
    assert sum(with_refiner.stage_seconds.values()) <= with_refiner.seconds + 1e-6
    without = finder(walker).find_detailed(events[0])
    assert list(without.stage_seconds) == ["prepare", "walk", "match", "report"]  # no refiner: no proposals, no looks
    assert without.candidates == []  # the 3D candidates are scored at the second look only


def test_the_stages_called_one_by_one_give_what_find_gives(walker, events):
    """prepare -> walk -> propose -> refine -> match -> choose -> report, each by its public name."""
    from vertexfinder.finder import choose, match, propose, refine, report, walk

    f = finder(walker, constant_refiner(offset=(0.5, -0.5), primary=1.0))
    ev = events[1]
    views = f.prepare(ev)
    mapper = f.check(ev)
    prior = propose.beam_prior(mapper, views, f.config.beam_direction)
    (walked,) = walk.walk(f.step, f.spec, f.num_steps, [ev], [views], [mapper], "primary", f.config)
    f.propose(walked, views, prior)
    pyramids = {}
    f.refine([views], list(refine.to_refine([walked], "primary", f.config)), pyramids=pyramids)
    cands = match.primary_candidates(walked.primary, mapper, 3, f.config, prior)
    (final,) = choose.second_look(lambda todo, steps: f.refine([views], todo, steps=steps, pyramids=pyramids),
                                  [walked], [cands], 3, f.config, [prior])
    best, tried = choose.choose(final, mapper, prior)
    v = report.vertex(best, mapper, 3, kind="interaction", primary=True)
    same_vertices([v], f.find(ev))
    assert len(tried) == len(f.find_detailed(ev).candidates) > 0


def test_refine_moves_candidates_by_the_offset_at_every_step(walker, events):
    """VertexFinder.refine on hand-made candidates: each look moves a candidate by the refiner's offset; the class and
    primary heads replace its probabilities and join its rank."""
    off = (2.0, -1.5)
    f = finder(walker, constant_refiner(offset=off, kind=(0.0, 2.0, 0.0, -1.0), primary=-0.5), refine_steps=3,
               refine_weight=0.7)
    prepared = [f.prepare(events[0])]
    start = {p: v.origin + np.array(v.pyramid.shape) / 2 + 0.3 for p, v in enumerate(prepared[0])}
    clusters = [Candidate(p, start[p].copy(), 0.4, np.full(4, 0.25), 5) for p in range(3)]
    clusters.append(Candidate(1, start[1] + 7.0, 0.1, np.full(4, 0.25), 2))
    f.refine(prepared, [(0, c) for c in clusters])
    kind = np.exp([0.0, 2.0, 0.0, -1.0]) / np.exp([0.0, 2.0, 0.0, -1.0]).sum()
    prim = 1 / (1 + math.exp(0.5))
    for c, s in zip(clusters, [start[0], start[1], start[2], start[1] + 7.0]):
        factor = prepared[0][c.plane].factor
        np.testing.assert_allclose(c.position, s + 3 * expected_offset(off) / factor, atol=1e-5)
        np.testing.assert_allclose(c.probs, kind, rtol=1e-5)
        assert c.primary == pytest.approx(prim, rel=1e-5)
        assert c.rank == pytest.approx(c.score + 0.7 * prim, rel=1e-5)


def test_the_refiner_sees_the_glimpses_and_features_where_the_candidates_are(walker, events):
    f = finder(walker, constant_refiner(), refine_steps=2)
    calls = []

    def fake(glimpses, features):
        calls.append((glimpses.copy(), features.copy()))
        n = len(glimpses)
        return {"offset": np.tile([1.25, -0.5], (n, 1)).astype(np.float32), "kind": np.zeros((n, 4), np.float32),
                "primary": np.zeros(n, np.float32)}

    f.refine_fn = fake
    prepared = [f.prepare(ev) for ev in events[:2]]
    todo = []
    for e in range(2):
        for p, v in enumerate(prepared[e]):
            todo.append((e, Candidate(p, v.origin + np.array(v.pyramid.shape) / 3 + 0.6, 0.5, np.zeros(4), 3)))
    starts = [c.position.copy() for _, c in todo]
    f.refine(prepared, todo)
    assert len(calls) == 2
    for step, (glimpses, features) in enumerate(calls):
        for i, ((e, c), s) in enumerate(zip(todo, starts)):
            factor, origin = prepared[e][c.plane].factor, prepared[e][c.plane].origin
            pos = (s - origin) * factor + step * np.array([1.25, -0.5])  # model pixels at this look
            want = Pyramid(prepared[e][c.plane].image, f.refine_spec).extract(np.floor(pos[None]).astype(np.int64))[0]
            np.testing.assert_array_equal(glimpses[i], want)
            np.testing.assert_allclose(features[i], walk_features(pos[None], c.plane, 3, f.refine_spec, 1.0)[0],
                                       atol=1e-6)
        assert glimpses.shape == (len(todo), RCFG.num_levels, *RCFG.glimpse_size)
    for (_, c), s in zip(todo, starts):
        np.testing.assert_allclose(c.position, s + 2 * np.array([1.25, -0.5]), atol=1e-9)


def test_candidates_are_refined_before_the_3d_fit(walker, events):
    """The best primary candidates of every plane reach the 3D match moved by refine_steps offsets
    (the candidates proposed without walks, which exist only with a refiner, are left out here)."""
    off = (1.5, 0.0)
    seen = {}
    refiner = constant_refiner(offset=off)
    plain = finder(walker, refiner, refine=False)
    refined = finder(walker, refiner, refine_steps=2, refine_candidates=2)
    for ev in events[:2]:
        for name, f in (("plain", plain), ("refined", refined)):
            candidates = f.find_detailed(ev).plane_candidates  # what the 3D match saw
            seen.setdefault(name, []).append([(c.plane, c.position.copy(), c.size) for c in candidates
                                              if not c.proposed])
    assert len(seen["plain"]) == len(seen["refined"]) == 2
    assert all(len(clusters) > 3 for clusters in seen["plain"])
    for before, after in zip(seen["plain"], seen["refined"]):
        assert [(p, n) for p, _, n in before] == [(p, n) for p, _, n in after]
        rank = {p: 0 for p in range(3)}
        for (p, x, _), (_, y, _) in zip(before, after):
            moved = 2 * expected_offset(off) if rank[p] < 2 else np.zeros(2)  # only the two best of a plane
            np.testing.assert_allclose(y - x, moved, atol=1e-5)
            rank[p] += 1


def test_refine_false_leaves_the_walks_clusters(walker, events):
    without = finder(walker)
    switched_off = finder(walker, constant_refiner(offset=(3.0, 3.0), primary=5.0), refine=False)
    moving = finder(walker, constant_refiner(offset=(3.0, 3.0), primary=5.0))
    differs = False
    for ev in events:
        for mode in ("primary", "all"):
            same_vertices(switched_off.find(ev, mode=mode), without.find(ev, mode=mode))
        a, b = moving.find(ev), without.find(ev)
        differs |= any(pa is not None and pb is not None and abs(pa.global_wire - pb.global_wire) > 1.0
                       for pa, pb in zip(a[0].planes, b[0].planes))
    assert differs  # the refiner does move the answer when it is on


def test_a_refiner_that_stays_put_keeps_the_positions(walker, events):
    """Zero offset and p(primary) ~ 0: ranks and positions are the walks' own; only class probabilities change
    (without the second look at the 3D point's projections, which fits the point again from them)."""
    without = finder(walker)
    still = finder(walker, constant_refiner(kind=(0.0, 0.0, 4.0, 0.0), primary=-40.0), refine_3d=False)
    for ev in events:
        a, b = still.find(ev), without.find(ev)
        same_vertices(a, b, atol=1e-4)
        assert a[0].class_probabilities[2] > 0.8 and b[0].class_probabilities[2] < 0.8


def save_model(folder, walker, refiner=None):
    model, cfg = walker
    folder.mkdir()
    model.save(folder / "walker.keras")
    (folder / "config.json").write_text(json.dumps(cfg.to_dict()))
    if refiner is not None:
        refiner.save(folder / "refiner.keras")
        (folder / "refiner.json").write_text(json.dumps(RCFG.to_dict()))
    return folder


def test_a_model_folder_with_a_refiner_is_loaded_with_it(walker, events, tmp_path):
    refiner = constant_refiner(offset=(1.0, -2.0), primary=0.5)
    refiner.kind_head.set_weights([np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32),
                                   np.zeros(4, np.float32)])  # a class head that looks at the glimpse
    folder = save_model(tmp_path / "with", walker, refiner)
    loaded = VertexFinder.load(folder, **OPTIONS)
    assert isinstance(loaded.refiner, Refiner) and loaded.refiner_config == RCFG
    x = {"glimpses": np.random.default_rng(1).integers(0, 200, (3, 2, 16, 16), dtype=np.uint8),
         "features": np.random.default_rng(2).random((3, 8)).astype(np.float32)}
    for k, v in refiner(x).items():
        np.testing.assert_allclose(np.asarray(loaded.refiner(x)[k]), np.asarray(v), rtol=1e-5, atol=1e-6)
    in_memory = finder(walker, refiner)
    for ev in events[:2]:
        same_vertices(loaded.find(ev, mode="all"), in_memory.find(ev, mode="all"), atol=1e-4)
    # without the two files (or with only one of them) there is no refiner
    assert VertexFinder.load(save_model(tmp_path / "without", walker), **OPTIONS).refiner is None
    half = save_model(tmp_path / "half", walker, refiner)
    (half / "refiner.json").unlink()
    assert VertexFinder.load(half, **OPTIONS).refiner is None
    # a refiner file Keras cannot read is named
    broken = save_model(tmp_path / "broken", walker, refiner)
    (broken / "refiner.keras").write_bytes(b"not a keras file")
    with pytest.raises(ValueError, match="refiner.keras"):
        VertexFinder.load(broken, **OPTIONS)


def test_a_refiner_needs_its_configuration(walker):
    model, cfg = walker
    with pytest.raises(ValueError, match="refiner_config"):
        VertexFinder(model, cfg, refiner=constant_refiner())


def check_views(v, mapper):
    """Every view of a vertex with a 3D point: found or projected, all at the 3D point's drift time."""
    assert all(pv is not None for pv in v.planes), v.planes
    for p, pv in enumerate(v.planes):
        proj = mapper.project(v.position_cm, p)
        assert pv.view == mapper.views[p]
        assert abs(pv.global_drift - proj.global_drift) < 1e-6
        assert pv.tpc == v.tpc
        if not pv.found:  # a projected view sits at the projection
            assert abs(pv.global_wire - proj.global_wire) < 1e-6
    assert sum(pv.found for pv in v.planes) >= 2  # a 3D point needs two found views


def test_every_view_of_a_3d_vertex_shares_its_drift_time(walker, events):
    mapper = ImageMapper("test-detector")
    checked = 0
    for f in (finder(walker), finder(walker, constant_refiner(offset=(0.5, 0.5)))):
        for ev in events:
            for v in f.find(ev, mode="all"):
                if v.position_cm is None or mapper.detector.tpc_of(v.position_cm) < 0:
                    continue  # see test_a_3d_vertex_just_outside_its_tpc_reports_every_view
                check_views(v, mapper)
                checked += 1
    assert checked >= 4


def project_in_tpc(mapper, xyz, tpc, view):
    """Global (wire, drift) of a 3D point on a view through the planes of a given TPC (also outside its box)."""
    v = mapper.view_index(view)
    k = int(mapper.plane_index(v, tpc))
    plane = mapper.detector.tpcs[tpc].planes[k]
    wire = float(plane.wire_coordinate(xyz[1], xyz[2]))
    tick = float(mapper.detector.drift_ticks(tpc, xyz[0], plane=k))
    return float(mapper.wire_to_global(v, tpc, wire)), float(mapper.tick_to_global_drift(tpc, tick, v))


def test_a_3d_vertex_just_outside_its_tpc_reports_every_view(walker):
    mapper = ImageMapper("test-detector")
    f = finder(walker)
    point = np.array([20.0, 30.5, 10.0])  # 0.5 cm above TPC 1 (y up to 30 cm)
    assert mapper.detector.tpc_of(point) == -1
    seen = {view: project_in_tpc(mapper, point, 1, view) for view in ("U", "Z")}
    bp = mapper.backproject(seen)
    assert bp.inside and bp.tpc == 1 and bp.residual_cm < 0.01  # the finder's 3D match takes this point
    np.testing.assert_allclose(bp.position_cm, point, atol=0.01)
    combo = (Candidate(0, np.array(seen["U"]), 0.5, np.full(4, 0.25), 4), None,
             Candidate(2, np.array(seen["Z"]) + [0.0, 0.3], 0.5, np.full(4, 0.25), 4))
    v = vertex(Candidate3D(0.0, combo, bp), mapper, 3, kind="interaction", primary=True)
    assert v.position_cm is not None and v.tpc == 1
    assert all(pv is not None for pv in v.planes)  # fails: the V view is None
    assert v.planes[0].global_drift == v.planes[2].global_drift
