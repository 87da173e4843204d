"""The neutrino tagger (models.tagger, vertexfinder.training.tagger) and the finder using it."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from models import NeutrinoTagger, tagger_function, tagger_inputs  # noqa: E402
from tests.test_scoring import make_finder, parts, store_and_model  # noqa: E402, F401 (parts: a fixture)
from tests.test_finder_refiner import walker  # noqa: E402, F401 (a fixture)
from vertexfinder.finder.score import FEATURES, NEUTRINO_UNKNOWN  # noqa: E402


def tiny_tagger(spec, *, bias=0.0, seed=0):
    keras.utils.set_random_seed(seed)
    t = NeutrinoTagger(num_views=3, num_levels=spec.num_levels, glimpse_size=tuple(spec.glimpse_size), filters=(4,),
                       units=8)
    t(np.zeros((1, 3) + tuple(spec.glimpse_size) + (spec.num_levels,), np.float32))
    kernel, _ = t.logit.get_weights()
    t.logit.set_weights([kernel, np.array([bias], np.float32)])
    return t


def test_tagger_inputs_are_log_scaled_levels_last():
    g = np.zeros((2, 3, 4, 5, 6), np.uint8)
    g[0, 1, 2, 3, 4] = 255
    x = tagger_inputs(g)
    assert x.shape == (2, 3, 5, 6, 4) and x.dtype == np.float32
    assert x[0, 1, 3, 4, 2] == pytest.approx(1.0) and x.sum() == pytest.approx(1.0)


def test_each_probability_depends_on_its_own_stacks_only():
    t = NeutrinoTagger(num_views=3, num_levels=2, glimpse_size=(8, 8), filters=(4,), units=8)
    fn = tagger_function(t, rows=4)
    rng = np.random.default_rng(0)
    g = rng.integers(0, 255, size=(5, 3, 2, 8, 8)).astype(np.uint8)
    p = fn(g)
    assert p.shape == (5,) and np.all((p > 0) & (p < 1))
    np.testing.assert_allclose(fn(g[2:3]), p[2:3], atol=1e-6)  # padded alone or among others: the same
    g2 = g.copy()
    g2[1, 0] = 0  # another view of the stack changes its own answer
    assert not np.isclose(fn(g2)[1], p[1]) and np.allclose(fn(g2)[[0, 2, 3, 4]], p[[0, 2, 3, 4]], atol=1e-6)
    assert fn(np.zeros((0, 3, 2, 8, 8), np.uint8)).shape == (0,)


def test_the_tagger_round_trips_through_the_checked_loader(tmp_path):
    from vertexfinder.errors import ModelFileError
    from vertexfinder.model import load_keras_model

    t = NeutrinoTagger(num_views=3, num_levels=2, glimpse_size=(8, 8), filters=(4, 6), units=8)
    g = np.random.default_rng(1).integers(0, 255, size=(3, 3, 2, 8, 8)).astype(np.uint8)
    before = tagger_function(t)(g)
    t.save(tmp_path / "tagger.keras")
    again = load_keras_model(tmp_path / "tagger.keras", "tagger")
    assert isinstance(again, NeutrinoTagger) and again.filters == (4, 6)
    np.testing.assert_allclose(tagger_function(again)(g), before, atol=1e-6)
    with pytest.raises(ModelFileError, match="holds a NeutrinoTagger, not a vertexfinder refiner|refiner"):
        load_keras_model(tmp_path / "tagger.keras", "refiner")


@pytest.mark.slow
def test_the_finder_gives_the_tagger_probability_to_the_candidate_score(parts):  # noqa: F811
    from vertexfinder.finder import VertexFinder

    walker_model, cfg, refiner, rcfg, events = parts
    plain = make_finder(parts)
    spec = plain.spec
    for bias, expected in ((6.0, 1.0), (-6.0, 0.0)):
        tagger = tiny_tagger(spec, bias=bias)
        finder = VertexFinder(walker_model, cfg, plain.config, refiner=refiner, refiner_config=rcfg, tagger=tagger)
        res = finder.find_many(events)
        seen = [c.features[FEATURES.index("neutrino")] for r in res for c in r.candidates]
        assert seen and np.allclose(seen, expected, atol=0.05)
    seen = [c.features[FEATURES.index("neutrino")] for r in plain.find_many(events) for c in r.candidates]
    assert seen and np.all(np.array(seen) == NEUTRINO_UNKNOWN)  # no tagger
    wrong = NeutrinoTagger(num_views=3, num_levels=spec.num_levels + 1, glimpse_size=tuple(spec.glimpse_size),
                           filters=(4,), units=8)
    with pytest.raises(ValueError, match="glimpse stacks"):
        VertexFinder(walker_model, cfg, plain.config, refiner=refiner, refiner_config=rcfg, tagger=wrong)


@pytest.mark.slow
def test_examples_hold_the_candidates_and_the_true_vertex(parts):  # noqa: F811
    from vertexfinder.training.tagger import TaggerExamples, collect_examples, fit_tagger

    finder = make_finder(parts)
    events = parts[4]
    ex = collect_examples(finder, events)
    spec = finder.spec
    assert ex.stacks.shape[1:] == (3, spec.num_levels) + tuple(spec.glimpse_size)
    assert ex.stacks.dtype == np.uint8 and len(ex) == len(ex.events)
    # every event with a true primary gives at least its true vertex as a positive
    assert ex.labels.sum() >= len(set(ex.events.tolist())) and set(np.unique(ex.labels)) <= {0.0, 1.0}
    both = TaggerExamples.join([ex, ex])
    assert len(both) == 2 * len(ex) and len(set(both.events.tolist())) == 2 * len(set(ex.events.tolist()))
    model, history = fit_tagger(both, epochs=2, seed=3, filters=(4,), units=8)
    assert len(history["val_loss"]) >= 1 and np.all(np.isfinite(history["loss"]))
    again, _ = fit_tagger(both, epochs=2, seed=3, filters=(4,), units=8)
    x = both.stacks[:5]
    np.testing.assert_allclose(tagger_function(model)(x), tagger_function(again)(x), atol=1e-5)  # seeded


def test_train_tagger_command_writes_the_tagger_the_finder_then_loads(parts, tmp_path, capsys):  # noqa: F811
    import json

    from vertexfinder.cli import main
    from vertexfinder.finder import VertexFinder

    walker_model, cfg, refiner, _, events = parts
    store, folder = store_and_model(parts, tmp_path)
    assert VertexFinder.load(folder).tagger is None
    assert main(["train-tagger", str(store), str(store), "--model", str(folder), "-q", "--epochs", "1",
                 "--set", "grid_seeds=2", "--set", "seeds_per_plane=6"]) == 0
    out = capsys.readouterr().out
    assert "examples" in out and "tagger.keras" in out
    about = json.loads((folder / "tagger.json").read_text())
    assert about["stores"] == [str(store), str(store)] and about["examples"] > 0 and "val_loss" in about["history"]
    finder = VertexFinder.load(folder)
    assert isinstance(finder.tagger, NeutrinoTagger)
    assert main(["train-tagger", str(store), "--model", str(folder), "--set", "colour=3"]) != 0


def test_surface_detectors_get_their_own_candidate_score(parts, tmp_path):  # noqa: F811
    from tests.test_finder_refiner import save_model
    from vertexfinder.finder import VertexFinder
    from vertexfinder.finder.score import CandidateScorer
    from vertexfinder.simulation import simulate

    walker_model, cfg, refiner, _, events = parts
    folder = save_model(tmp_path / "model", (walker_model, cfg), refiner)
    n = len(FEATURES)
    under = CandidateScorer(FEATURES[:12], (0.0,) * 12, (1.0,) * 12, (1.0,) + (0.0,) * 11)
    surface = CandidateScorer(FEATURES, (0.0,) * n, (1.0,) * n, (0.0,) * (n - 1) + (2.0,))
    under.write(folder / "scorer.json")
    finder = VertexFinder.load(folder)
    assert finder.surface_scorer is None
    sbnd = next(simulate("sbnd", "numu-cc", events=1, seed=2, beam="booster"))
    assert finder.scorer_for(sbnd) is finder.scorer and finder.scorer_for(events[0]) is finder.scorer
    surface.write(folder / "scorer_surface.json")
    finder = VertexFinder.load(folder)
    assert finder.surface_scorer == surface and finder.scorer == under
    assert finder.scorer_for(sbnd) is finder.surface_scorer and finder.scorer_for(events[0]) is finder.scorer
