"""The vertex score of ``all`` mode (vertexfinder.finder.secondary, vertexfinder.training.score): fitting, files,
the features of a match, and the finder choosing its vertices with it."""

import json

import numpy as np
import pytest

from vertexfinder.errors import ConfigError
from vertexfinder.finder.score import FEATURES, CandidateScorer
from vertexfinder.finder.secondary import SECONDARY_FEATURES, VertexScorer
from vertexfinder.training.score import fit_vertex_scorer

F = len(SECONDARY_FEATURES)


def synthetic_rows(n_events=100, seed=0):
    """Events of 10 matches; a vertex (distance 0.5 cm) has more charge where it projects and less
    'none', and 'log_walks' is pure noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_events):
        x = rng.normal(size=(10, F))
        real = rng.random(10) < 0.3
        x[real, SECONDARY_FEATURES.index("missing_charge")] += 2.5
        x[real, SECONDARY_FEATURES.index("none_mean")] -= 1.5
        rows.append((x, np.where(real, 0.5, rng.uniform(3, 40, size=10))))
    return rows


def test_the_fitted_vertex_score_tells_vertices_from_ghosts():
    result = fit_vertex_scorer(synthetic_rows(), radius_cm=2.0)
    w = dict(zip(SECONDARY_FEATURES, result.scorer.weights))
    assert w["missing_charge"] > 1.0 and w["none_mean"] < -0.5
    assert abs(w["log_walks"]) < 0.2 * w["missing_charge"]
    x = np.concatenate([r[0] for r in synthetic_rows(seed=1)])
    y = np.concatenate([r[1] for r in synthetic_rows(seed=1)]) <= 2.0
    p = result.scorer.probability(x)
    assert np.all((p >= 0) & (p <= 1))
    assert np.mean((p >= 0.5) == y) > 0.9  # held out
    assert result.scorer.bias < 0  # fewer vertices than ghosts
    assert "1000 matches" in result.summary()


def test_a_vertex_score_needs_both_kinds_of_match():
    rows = [(np.zeros((3, F)), np.array([10.0, 20.0, 30.0]))]
    with pytest.raises(ValueError, match="beyond 2"):
        fit_vertex_scorer(rows)
    with pytest.raises(ValueError, match="no matches"):
        fit_vertex_scorer([])


def test_a_vertex_scorer_round_trips_and_is_not_a_candidate_scorer(tmp_path):
    scorer = fit_vertex_scorer(synthetic_rows(20)).scorer
    path = tmp_path / "vertex_scorer.json"
    scorer.write(path)
    again = VertexScorer.read(path)
    assert again == scorer and again.bias == scorer.bias
    x = np.random.default_rng(3).normal(size=(5, F))
    np.testing.assert_allclose(again.probability(x), scorer.probability(x))
    # the two scores' files are not interchangeable
    with pytest.raises(ConfigError, match="vertex_scorer.json: not a candidate scorer.*features"):
        CandidateScorer.read(path)
    primary = CandidateScorer(FEATURES, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES), (0.0,) * len(FEATURES))
    primary.write(tmp_path / "scorer.json")
    with pytest.raises(ConfigError, match="scorer.json: not a vertex scorer.*features"):
        VertexScorer.read(tmp_path / "scorer.json")
    data = json.loads(path.read_text())
    data["bias"] = "high"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="vertex_scorer.json.*bias"):
        VertexScorer.read(path)


# -- the finder with a vertex score (tiny untrained models) -----------------------------------------------------------

keras = pytest.importorskip("keras")

from tests.test_finder_refiner import walker  # noqa: E402, F401 (a fixture)
from tests.test_scoring import make_finder, parts, store_and_model  # noqa: E402, F401 (a fixture)

MORE = {"secondary_clusters": 6, "secondary_none_max": 1.0}  # the tiny models' all mode needs these proposals


def flat(**weights):
    w = np.zeros(F)
    for name, value in weights.items():
        w[SECONDARY_FEATURES.index(name)] = value
    return VertexScorer(SECONDARY_FEATURES, (0.0,) * F, (1.0,) * F, tuple(w))


@pytest.mark.slow
def test_matches_are_recorded_with_their_features(parts):  # noqa: F811
    from vertexfinder.training.score import collect_matches

    events = parts[4]
    finder = make_finder(parts, **MORE)
    rows = collect_matches(finder, events)
    assert rows and finder.vertex_scorer is None  # the flat score used for recording is taken away again
    for x, d in rows:
        assert x.shape[1] == F and len(x) == len(d) and np.all(np.isfinite(x)) and np.all(d >= 0)
        views = x[:, SECONDARY_FEATURES.index("views")]
        missing = x[:, SECONDARY_FEATURES.index("missing_charge")]
        assert set(views) <= {2.0, 3.0}
        assert np.all(missing[views == 3] == 1.0) and np.all((missing >= 0) & (missing <= 1))
        assert np.all(x[:, SECONDARY_FEATURES.index("proposed_share")] <= 1.0)
    two = np.concatenate([x[x[:, 0] == 2, 1] for x, _ in rows])
    assert len(two) and two.min() < 1.0  # some two-view matches project onto empty pixels


@pytest.mark.slow
def test_the_finder_keeps_the_matches_its_vertex_score_rates_highest(parts):  # noqa: F811
    events = parts[4]
    finder = make_finder(parts, **MORE)
    finder.vertex_scorer = flat(missing_charge=4.0, none_mean=-2.0)
    results = finder.find_many(events, mode="all")
    kept = 0
    for r in results:
        others = [v for v in r.vertices if not v.primary]
        kept += len(others)
        assert all(v.score >= finder.config.secondary_min_score for v in others)
        assert [v.score for v in others] == sorted((v.score for v in others), reverse=True)
        rated = sorted(m.score for m in r.matches)
        for v in others:  # each vertex is one of the rated matches, with its probability as score
            assert min(abs(v.score - s) for s in rated) < 1e-9
    assert kept > 0
    # a higher cut keeps fewer; above 1 none
    strict = make_finder(parts, secondary_min_score=0.9, **MORE)
    strict.vertex_scorer = finder.vertex_scorer
    fewer = sum(len(r.vertices) - 1 for r in strict.find_many(events, mode="all"))
    assert fewer < kept
    none = make_finder(parts, secondary_min_score=1.01, **MORE)
    none.vertex_scorer = finder.vertex_scorer
    assert all(len(r.vertices) == 1 and r.vertices[0].primary for r in none.find_many(events, mode="all"))
    # use_vertex_scorer=False: the matches as without a score
    off = make_finder(parts, use_vertex_scorer=False, **MORE)
    off.vertex_scorer = finder.vertex_scorer
    plain = make_finder(parts, **MORE)
    for a, b in zip(off.find_many(events, mode="all"), plain.find_many(events, mode="all")):
        assert [v.position_cm.tolist() for v in a.vertices] == [v.position_cm.tolist() for v in b.vertices]
        assert not a.matches


@pytest.mark.slow
def test_train_scorer_vertices_writes_the_score_the_finder_then_loads(parts, tmp_path, capsys):  # noqa: F811
    from vertexfinder.cli import main
    from vertexfinder.finder import VertexFinder

    walker, cfg, refiner, _, events = parts
    store, folder = store_and_model(parts, tmp_path)
    args = ["train-scorer", str(store), "--model", str(folder), "-q", "--vertices", "--radius", "5"]
    assert main(args + [f"--set={k}={v}" for k, v in {"grid_seeds": 2, "seeds_per_plane": 6, **MORE}.items()]) == 0
    out = capsys.readouterr().out
    assert "matches" in out and "vertex_scorer.json" in out
    assert not (folder / "scorer.json").exists()
    scorer = VertexScorer.read(folder / "vertex_scorer.json")
    assert scorer.radius_cm == 5.0 and scorer.finder_options["secondary_clusters"] == 6
    assert VertexFinder.load(folder).vertex_scorer == scorer


def test_class_look_sees_every_view_and_takes_the_mean_class():
    from vertexfinder.finder.choose import class_look
    from vertexfinder.finder.types import PlaneVertex, Vertex

    def vertex(kind, primary=False, with_point=True, missing=False):
        planes = tuple(None if (missing and p == 2) else PlaneVertex(v, 10.0 * p, 5.0, found=p != 2)
                       for p, v in enumerate("UVZ"))
        return Vertex(kind, 0.9, planes, np.zeros(3) if with_point else None, primary=primary)

    opinion = {0: [0.1, 0.5, 0.4, 0.0], 1: [0.1, 0.5, 0.4, 0.0], 2: [0.0, 0.05, 0.95, 0.0]}  # mean: conversion
    calls = []

    def look(todo, steps):
        calls.append((len(todo), steps))
        for _, c in todo:
            c.probs = np.array(opinion[c.plane])

    events = [[vertex("interaction", primary=True), vertex("decay"), vertex("decay", with_point=False)],
              [vertex("interaction", missing=True)]]
    out = class_look(look, events, steps=2)
    assert calls == [(3 + 3 + 2, 2)]  # one call: the three views of the primary and of one vertex, two of the other
    assert out[0][2] == events[0][2]  # a vertex without a point stays
    mean = np.mean(list(opinion.values()), axis=0)  # (0.067, 0.35, 0.583, 0)
    assert out[0][0].kind == "interaction" and out[0][0].primary  # the primary stays an interaction ...
    np.testing.assert_allclose(out[0][0].class_probabilities, mean)
    assert out[0][1].kind == "conversion"
    np.testing.assert_allclose(out[0][1].class_probabilities, mean)
    assert out[1][0].kind == "decay"  # seen on U and V only
    np.testing.assert_allclose(out[1][0].class_probabilities, opinion[0])
    # ... unless the look is sure enough it is a conversion (or a decay)
    assert class_look(look, events, primary_kind_min=0.55)[0][0].kind == "conversion"
    assert class_look(look, events, primary_kind_min=0.6)[0][0].kind == "interaction"
    calls.clear()
    alone = [[vertex("decay", with_point=False)]]
    assert class_look(look, alone) == alone and not calls  # nothing to look at: no call


@pytest.mark.slow
def test_a_secondary_refiner_beside_the_model_looks_at_the_vertices_other_than_the_primary(parts, tmp_path):  # noqa: F811
    from tests.test_finder_refiner import RCFG, constant_refiner, save_model
    from vertexfinder.finder import VertexFinder

    walker, cfg, refiner, _, events = parts
    folder = save_model(tmp_path / "model", (walker, cfg), refiner)
    options = {"grid_seeds": 2, "seeds_per_plane": 6, **MORE}
    plain = VertexFinder.load(folder, **options)
    assert plain.secondary_refiner is None
    before = plain.find_many(events, mode="all")
    assert {v.kind for r in before for v in r.vertices if not v.primary} != {"conversion"}
    # a secondary refiner that says "conversion" everywhere and moves candidates 3 px along the wire
    constant_refiner(offset=(3.0, 0.0), kind=(0.0, 0.0, 6.0, 0.0)).save(folder / "secondary_refiner.keras")
    (folder / "secondary_refiner.json").write_text(json.dumps(RCFG.to_dict()))
    loaded = VertexFinder.load(folder, **options)
    assert loaded.secondary_refiner is not None
    after = loaded.find_many(events, mode="all")
    assert sum(len(r.vertices) - 1 for r in after) > 0
    for a, b in zip(before, after):  # the primary is the refiner's alone
        np.testing.assert_allclose(a.vertices[0].position_cm, b.vertices[0].position_cm)
        assert {v.kind for v in b.vertices if not v.primary} <= {"conversion"}
    moved = [v.position_cm for r in after for v in r.vertices if not v.primary]
    same = [v.position_cm for r in before for v in r.vertices if not v.primary]
    assert len(moved) != len(same) or not np.allclose(moved, same)  # its looks moved the candidates
    primary_mode = [r.vertices[0].position_cm for r in loaded.find_many(events)]
    np.testing.assert_allclose(primary_mode, [r.vertices[0].position_cm for r in before])
