"""The learned candidate score (vertexfinder.finder.score, vertexfinder.training.score): fitting, files, and the finder using it."""

import json

import numpy as np
import pytest

from vertexfinder.errors import ConfigError
from vertexfinder.finder.score import FEATURES, CandidateScorer
from vertexfinder.training.score import fit, top_choice

F = len(FEATURES)


def synthetic_rows(n_events=300, seed=0):
    """Events of 6 candidates; the right one (distance 0.5 cm) has the highest 'primary_sum' plus noise,
    and 'share_sum' is pure noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_events):
        x = rng.normal(size=(6, F))
        d = rng.uniform(5, 50, size=6)
        right = rng.integers(6)
        x[right, FEATURES.index("primary_sum")] += 3.0
        d[right] = 0.5
        rows.append((x, d))
    return rows


def test_the_fitted_score_finds_the_informative_feature():
    rows = synthetic_rows()
    scorer = fit(rows, radius_cm=2.0)
    w = dict(zip(FEATURES, scorer.weights))
    assert w["primary_sum"] > 1.0
    assert abs(w["share_sum"]) < 0.3 * w["primary_sum"]
    held_out = synthetic_rows(seed=1)
    assert np.mean(top_choice(held_out, scorer) <= 2.0) > 0.85
    noise_only = lambda x: np.atleast_2d(x)[:, FEATURES.index("share_sum")]  # noqa: E731
    assert np.mean(top_choice(held_out, noise_only) <= 2.0) < 0.35
    assert scorer.events == len(rows) and scorer.radius_cm == 2.0


def test_fit_needs_an_event_with_a_right_candidate():
    rows = [(np.zeros((3, F)), np.array([10.0, 20.0, 30.0]))]
    with pytest.raises(ValueError, match="within 2"):
        fit(rows)


def test_a_scorer_of_the_first_features_scores_the_first_columns():
    """A scorer fitted before later features existed (the bundled one of 12) reads rows of all of them."""
    full = fit(synthetic_rows(80))
    k = 12
    short = CandidateScorer(FEATURES[:k], full.mean[:k], full.scale[:k], full.weights[:k])
    x = np.random.default_rng(5).normal(size=(7, F))
    np.testing.assert_allclose(short(x), short(x[:, :k]))
    x2 = x.copy()
    x2[:, k:] += 100.0  # the later columns do not move its score
    np.testing.assert_allclose(short(x2), short(x))
    assert not np.allclose(full(x2), full(x)) or np.allclose(full.weights[k:], 0)


def test_face_and_cathode_distances():
    from vertexfinder.detectors import get_detector
    from vertexfinder.finder.score import CATHODE_CAP_CM, FACE_CAP_CM, cathode_distance, face_distance

    det = get_detector("sbnd")
    b = det.bounds_cm
    centre = b.mean(axis=1)
    assert face_distance(centre, det) == FACE_CAP_CM
    top = centre.copy()
    top[1] = b[1, 1] - 4.0
    assert face_distance(top, det) == pytest.approx(4.0)
    upstream = centre.copy()
    upstream[2] = b[2, 0] + 2.5
    assert face_distance(upstream, det) == pytest.approx(2.5)
    outside = centre.copy()
    outside[1] = b[1, 1] + 10
    assert face_distance(outside, det) == 0.0
    near = centre.copy()
    near[0] = 3.45  # SBND's cathode surfaces are at |x| = 0.45 cm
    assert cathode_distance(near, det) == pytest.approx(3.0)
    near[0] = 150.0
    assert cathode_distance(near, det) == CATHODE_CAP_CM


def test_a_scorer_round_trips_through_its_file(tmp_path):
    scorer = fit(synthetic_rows(50))
    path = tmp_path / "scorer.json"
    scorer.write(path)
    again = CandidateScorer.read(path)
    assert again == scorer
    x = np.random.default_rng(3).normal(size=(5, F))
    np.testing.assert_allclose(again(x), scorer(x))
    assert not list(tmp_path.glob(".*tmp*"))  # written through a temporary, renamed


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(features=list(FEATURES[1:])), "features"),  # not the first names
    (lambda d: d.update(features=[]), "features"),
    (lambda d: d.update(weights=d["weights"][:-1]), "weights"),
    (lambda d: d.update(scale=[0.0] * F), "scale"),
    (lambda d: d.update(mean=["a"] * F), "mean"),
    (lambda d: d.update(colour="red"), "colour"),
    (lambda d: d.update(finder_options={"colour": 1}), "finder_options"),
])
def test_a_damaged_scorer_file_is_refused_naming_it(tmp_path, change, message):
    data = json.loads(json.dumps(fit(synthetic_rows(30)).__dict__, default=list))
    change(data)
    path = tmp_path / "scorer.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=f"scorer.json.*{message}"):
        CandidateScorer.read(path)
    path.write_text("[1, 2")
    with pytest.raises(ConfigError, match="scorer.json"):
        CandidateScorer.read(path)


# -- the finder with a scorer (tiny untrained models) --------------------------------------------------------------

keras = pytest.importorskip("keras")

from tests.test_finder_refiner import RCFG, constant_refiner, walker  # noqa: E402, F401 (walker: a fixture)


@pytest.fixture(scope="module")
def parts(walker):  # noqa: F811
    from vertexfinder.simulation import simulate

    model, cfg = walker
    events = [e for e in simulate("test-detector", "numu-cc", events=6, seed=11) if e.primary is not None]
    return model, cfg, constant_refiner(offset=(0.5, -0.5), primary=1.0), RCFG, events


def store_and_model(parts, tmp_path):
    """The parts' events as an event store, and the walker and refiner saved as a model folder."""
    from tests.test_finder_refiner import save_model
    from vertexfinder.io.store import EventStore

    walker, cfg, refiner, _, events = parts
    store = tmp_path / "ev.vfstore"
    with EventStore.create(store, detector="test-detector", views=["U", "V", "Z"], drift_window=6, pooling="max") as w:
        w.extend(events)
    return store, save_model(tmp_path / "model", (walker, cfg), refiner)


def make_finder(parts, scorer=None, **options):
    from vertexfinder.finder import FinderConfig, VertexFinder

    walker, cfg, refiner, rcfg, _ = parts
    # the tiny untrained walker's 6 walks per view need the grid's to give every event 3D candidates
    return VertexFinder(walker, cfg, FinderConfig(seeds_per_plane=6, **{"grid_seeds": 2, **options}), refiner=refiner,
                        refiner_config=rcfg, scorer=scorer)


def test_collect_records_the_candidates_the_finder_chooses_among(parts):
    from vertexfinder.training.score import collect

    events = parts[4]
    finder = make_finder(parts)
    rows = collect(finder, events)
    assert 0 < len(rows) <= len(events)
    for x, d in rows:
        assert x.shape[1] == F and len(x) == len(d) and len(x) <= finder.config.choice_candidates
        assert np.all(np.isfinite(x)) and np.all(d >= 0)
        assert set(x[:, FEATURES.index("views")]) <= {2.0, 3.0}
    # the hand-set choice is the candidate the finder reports; an event without 3D candidates has
    # no row, and its primary vertex no 3D point
    for ev in events:
        one = collect(finder, [ev])
        found = finder.find(ev)
        if not one:
            assert not found or found[0].position_cm is None
            continue
        best = np.linalg.norm(found[0].position_cm - ev.primary.position_cm)
        assert np.min(np.abs(one[0][1] - best)) < 1e-6


@pytest.mark.slow
def test_the_finder_reports_the_candidate_its_scorer_ranks_first(parts):
    from vertexfinder.training.score import collect

    events = parts[4]
    rows = collect(make_finder(parts), events)
    picked = []
    for sign in (1.0, -1.0):  # most charge upstream wins (a perverse score), then least
        weights = np.zeros(F)
        weights[FEATURES.index("upstream")] = sign
        scorer = CandidateScorer(FEATURES, (0.0,) * F, (1.0,) * F, tuple(weights))
        finder = make_finder(parts, scorer)
        chosen = []
        for ev, (x, d) in zip(events, rows):
            v = finder.find(ev)[0]
            dist = np.linalg.norm(v.position_cm - ev.primary.position_cm)
            assert dist == pytest.approx(d[int(np.argmax(scorer(x)))], abs=1e-6)
            chosen.append(dist)
        picked.append(chosen)
    assert picked[0] != picked[1]  # the two scores choose differently somewhere
    hand = make_finder(parts).find_many(events)
    off = make_finder(parts, scorer, use_scorer=False).find_many(events)
    for a, b in zip(hand, off):  # use_scorer=False: the hand-set sum
        np.testing.assert_allclose(a.vertices[0].position_cm, b.vertices[0].position_cm)


def test_train_scorer_command_writes_the_scorer_the_finder_then_loads(parts, tmp_path, capsys):
    from tests.test_finder_refiner import save_model
    from vertexfinder.cli import main
    from vertexfinder.finder import VertexFinder

    walker, cfg, refiner, _, events = parts
    store, folder = store_and_model(parts, tmp_path)
    assert main(["train-scorer", str(store), "--model", str(folder), "-q", "--set", "choice_candidates=3",
                 "--set", "grid_seeds=2"]) == 0  # the tiny walker needs the grid's walks (make_finder)
    out = capsys.readouterr().out
    assert "hand-set score" in out and "learned" in out and "scorer.json" in out
    scorer = CandidateScorer.read(folder / "scorer.json")
    assert scorer.events >= 1
    assert scorer.finder_options == {"choice_candidates": 3, "grid_seeds": 2}  # how its candidates were made
    assert VertexFinder.load(folder).scorer == scorer
    assert VertexFinder.load(folder, use_scorer=False).scorer == scorer  # loaded, not used

    bare = save_model(tmp_path / "bare", (walker, cfg))
    assert main(["train-scorer", str(store), "--model", str(bare)]) != 0
    assert "needs a model with a refiner" in capsys.readouterr().err
    assert not (bare / "scorer.json").exists()
    assert main(["train-scorer", str(store), "--model", str(folder), "--radius", "0"]) != 0
    assert "--radius" in capsys.readouterr().err
    assert main(["train-scorer", str(store), "--model", str(folder), "--set", "colour=3"]) != 0
    assert "--set" in capsys.readouterr().err and CandidateScorer.read(folder / "scorer.json") == scorer


@pytest.mark.slow
def test_secondary_proposals_add_vertices_but_leave_the_primary_alone(parts):
    events = parts[4]
    plain = make_finder(parts).find_many(events, mode="all")
    more = make_finder(parts, secondary_clusters=6, secondary_none_max=1.0).find_many(events, mode="all")
    assert sum(len(r.vertices) for r in more) > sum(len(r.vertices) for r in plain)
    for a, b in zip(plain, more):
        np.testing.assert_allclose(a.vertices[0].position_cm, b.vertices[0].position_cm)
        assert a.vertices[0].primary and b.vertices[0].primary


@pytest.mark.slow
def test_primary_candidates_lists_what_the_finder_chose_among(parts):
    from vertexfinder.training.score import collect

    events = parts[4]
    finder = make_finder(parts)
    rows = collect(finder, events)
    for ev, (x, d) in zip(events, rows):
        cands = finder.primary_candidates(ev)
        assert len(cands) == len(x)
        scores = [c["score"] for c in cands]
        assert scores == sorted(scores, reverse=True)
        assert list(cands[0]["features"]) == list(FEATURES)
        np.testing.assert_allclose(cands[0]["position_cm"], finder.find(ev)[0].position_cm)
        dist = sorted(np.linalg.norm(c["position_cm"] - ev.primary.position_cm) for c in cands)
        np.testing.assert_allclose(dist, sorted(d), atol=1e-9)
    with pytest.raises(ValueError, match="refine_3d"):
        make_finder(parts, refine_3d=False).primary_candidates(events[0])
    with pytest.raises(ValueError, match="refine_3d"):
        collect(make_finder(parts, refine_3d=False), events)
