"""The proposer: targets and crops (generators.proposals), the network (models.Proposer), its run
(vertexfinder.training.proposer) and its point proposals in the finder (vertexfinder.finder.points)."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from generators.proposals import (ProposalSpec, crop, half_resolution, proposal_peaks,  # noqa: E402
                                  proposal_targets, sample_crop)

SPEC = ProposalSpec(crop=32)


def image_with_tracks():
    img = np.zeros((40, 48), np.uint8)
    img[10, 5:30] = 40  # a track from (10, 5) to (10, 29)
    img[10:30, 29] = 40  # ... turning at (10, 29)
    return img


def test_a_visible_vertex_marks_its_cell_with_its_place_and_class():
    img = image_with_tracks()
    verts = np.array([[10.5, 29.5], [10.5, 5.2], [35.0, 40.0], [np.nan, np.nan]])  # the last two: no charge there
    kinds = np.array([1, 0, 2, 0])
    score, offset, kind = proposal_targets(img, verts, kinds, SPEC)
    assert score.shape == (10, 12) and score.sum() == 2
    assert score[2, 7] == 1 and score[2, 1] == 1
    np.testing.assert_allclose(offset[2, 7], (1.0, 10.5 / 4 - 2, 29.5 / 4 - 7))
    assert tuple(kind[2, 7]) == (1.0, 1.0) and tuple(kind[2, 1]) == (1.0, 0.0)
    assert offset[..., 0].sum() == 2 and kind[..., 0].sum() == 2  # the masks mark only those cells


def test_half_resolution_pools_and_pads_to_whole_cells():
    img = image_with_tracks()[:, :46]
    half = half_resolution(img, 4)
    assert half.shape == (20, 24)  # 46 drift pixels padded to 48
    assert half[5, 14] == 40 and half.max() == 40
    np.testing.assert_array_equal(half[:, :23], img.reshape(20, 2, 23, 2).max(axis=(1, 3)))
    rng = np.random.default_rng(0)
    for shape in [(37, 21), (8, 8), (5, 3), (130, 67)]:  # every pixel of each 2x2 block counts, odd sizes padded
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        padded = np.pad(img, ((0, -shape[0] % 4), (0, -shape[1] % 4)))
        w, d = padded.shape
        half = half_resolution(img, 4)
        assert half.dtype == np.uint8
        np.testing.assert_array_equal(half, padded.reshape(w // 2, 2, d // 2, 2).max(axis=(1, 3)))


def test_crops_are_zero_padded_beyond_the_image_and_start_on_cells():
    img = image_with_tracks()
    part = crop(img, (-8, 40), 32)
    assert part.shape == (32, 32)
    np.testing.assert_array_equal(part[8:, :8], img[:24, 40:48])
    assert not part[:8].any() and not part[:, 8:].any()
    rng = np.random.default_rng(0)
    corners = [sample_crop(img, np.array([[10.5, 29.5]]), np.array([1]), SPEC, rng) for _ in range(20)]
    assert all(c[0] % 4 == 0 and c[1] % 4 == 0 for c in corners)
    assert sum(abs(c[0] + 16 - 10.5) <= 16 and abs(c[1] + 16 - 29.5) <= 16 for c in corners) >= 12  # mostly near it


def test_peaks_are_local_maxima_above_the_threshold_best_first():
    score = np.full((6, 6), -10.0)
    score[1, 1], score[1, 2], score[4, 4] = 2.0, 1.0, 0.5
    offset = np.full((6, 6, 2), 0.25)
    kind = np.zeros((6, 6, 3))
    kind[4, 4] = (0.0, 3.0, 0.0)
    pts, prob, cls = proposal_peaks(score, offset, kind, cell=4, threshold=0.5)
    np.testing.assert_allclose(pts, [[5.0, 5.0], [17.0, 17.0]])  # (1, 2) is not a maximum: its neighbour is higher
    assert prob[0] > prob[1] >= 0.5 and cls.shape == (2, 3) and np.argmax(cls[1]) == 1
    assert len(proposal_peaks(score, offset, kind, threshold=0.99)[0]) == 0


@pytest.fixture(scope="module")
def events():
    from vertexfinder.simulation import simulate

    return list(simulate("test-detector", "numu-cc", events=6, seed=21))


def test_proposal_batches_are_reproducible_and_their_targets_lie_on_charge(events):
    from generators.dataset import ProposalDataset

    ds = ProposalDataset(events, spec=ProposalSpec(crop=64), batch_size=8, batches_per_epoch=3, seed=5)
    x, y = ds[1]
    x2, y2 = ProposalDataset(events, spec=ProposalSpec(crop=64), batch_size=8, batches_per_epoch=3, seed=5)[1]
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y["score"], y2["score"])
    assert x.shape == (8, 32, 32) and y["score"].shape == (8, 16, 16) and y["score"].sum() > 0
    for b, i, j in np.argwhere(y["score"] > 0):  # a target cell (4x4 px) has charge within 3 px: flips kept them aligned
        assert x[b, max(2 * i - 2, 0) : 2 * i + 4, max(2 * j - 2, 0) : 2 * j + 4].any()


@pytest.mark.slow
def test_a_proposer_run_is_loaded_by_the_finder_and_its_points_reach_the_refiner(tmp_path, events):
    import keras

    from vertexfinder.finder import FinderConfig, VertexFinder
    from vertexfinder.model import ProposerConfig, load_keras_model
    from vertexfinder.training import build_refiner, config_from_toml, train_proposer
    from vertexfinder.training.walker import build_walker

    cfg = ProposerConfig(detector="test-detector", sample="numu-cc", validation_events=2, crop=64, batch_size=4,
                         steps_per_epoch=2, epochs=1, filters=(8, 8, 8), dilations=(1, 2))
    run = tmp_path / "prop"
    train_proposer(cfg, run, verbose=0)
    assert ProposerConfig.read(run / "proposer.json") == cfg
    proposer = load_keras_model(run / "proposer.keras", "proposer")
    assert proposer.filters == (8, 8, 8)
    out = proposer(np.zeros((1, 20, 24), np.uint8))
    assert out["score"].shape == (1, 10, 12) and out["offset"].shape == (1, 10, 12, 2) and out["kind"].shape == (1, 10, 12, 3)

    keras.utils.set_random_seed(3)
    wcfg = config_from_toml(None, ["detector='test-detector'", "num_levels=3", "glimpse_size=[16, 16]",
                                   "num_steps=3", "filters=[8]", "encoder_units=8", "recurrent_units=8"])
    walker = build_walker(wcfg)
    walker.build()
    from vertexfinder.model import RefineConfig

    rcfg = RefineConfig(detector="test-detector", num_levels=2, glimpse_size=(16, 16), filters=(8,), units=8)
    refiner = build_refiner(rcfg)
    refiner.build()
    with_points = VertexFinder(walker, wcfg, FinderConfig(seeds_per_plane=4, all_seeds_per_plane=4, point_threshold=0.0,
                                                          points_per_view=5),
                               refiner=refiner, refiner_config=rcfg, proposer=proposer)
    ev = next(e for e in events if e.primary is not None)
    views = with_points.prepare(ev)
    from vertexfinder.finder.points import point_proposals

    got = point_proposals(with_points.proposal_fn, views, with_points.config)
    assert got and all(len(pts) == 5 and cls.shape == (5, 3) for pts, _, cls in got.values())
    for p, (pts, _, _) in got.items():  # global coordinates on the view's image
        lo, hi = views[p].origin, views[p].to_global(np.array(views[p].image.shape) + 4)
        assert np.all((pts >= lo) & (pts <= hi))
    from vertexfinder.finder import propose, walk

    mapper = with_points.check(ev)
    (walked,) = walk.walk(with_points.step, with_points.spec, with_points.num_steps, [ev], [views], [mapper], "all",
                          with_points.config)
    before = len(walked.secondary)
    with_points.propose(walked, views, propose.beam_prior(mapper, views, None), "all")
    points = [c for c in walked.secondary[before:] if c.hint is not None]
    assert len(points) == 5 * len(got) and all(c.proposed for c in points)
    assert len(with_points.find_detailed(ev, mode="all").vertices) >= 1
