"""RefineDataset: batches of refiner points from an event source (tiny simulated test-detector events)."""

import itertools
import pickle

import numpy as np
import pytest

from generators.dataset import RefineDataset
from generators.features import flip_batch, num_walk_features
from generators.glimpses import GlimpseSpec
from generators.refine import RefineSpec
from generators.charge import ResponseSpec
from generators.truth import NONE_CLASS

SPEC = RefineSpec(glimpse=GlimpseSpec(num_levels=2, glimpse_size=(16, 16)), radius=8.0)
B = 32


@pytest.fixture(scope="module")
def events():
    from vertexfinder.simulation import simulate

    return list(simulate("test-detector", "numu-cc", events=4, seed=1))


def dataset(events, **kw):
    opts = dict(spec=SPEC, batch_size=B, batches_per_epoch=4, seed=1, events_per_batch=4)
    return RefineDataset(events, **{**opts, **kw})


def same_batch(a, b):
    for part_a, part_b in zip(a, b):
        assert part_a.keys() == part_b.keys()
        for k in part_a:
            np.testing.assert_array_equal(part_a[k], part_b[k])


def test_batches_have_the_documented_shapes_and_dtypes(events):
    ds = dataset(events)
    assert len(ds) == 4
    x, y = ds[0]
    assert x["glimpses"].shape == (B, 2, 16, 16) and x["glimpses"].dtype == np.uint8
    assert x["features"].shape == (B, num_walk_features(3, SPEC.glimpse)) and x["features"].dtype == np.float32
    assert y["offset"].shape == (B, 2) and y["offset"].dtype == np.float32
    assert y["kind"].shape == (B,) and y["kind"].dtype == np.int32
    assert y["primary"].shape == (B,) and y["primary"].dtype == np.float32
    assert x["glimpses"].any()
    # plane one-hot and task 1 (the refiner is asked for the vertex where it looks)
    assert np.all(x["features"][:, :3].sum(axis=1) == 1) and np.all(x["features"][:, 3] == 1)
    assert set(np.unique(y["kind"])) <= {0, 1, 2, NONE_CLASS} and set(np.unique(y["primary"])) <= {0.0, 1.0}
    with pytest.raises(IndexError, match="out of range"):
        ds[4]


def test_targets_of_none_points_are_zero_and_offsets_within_the_radius(events):
    ds = dataset(events)
    for i in range(len(ds)):
        _, y = ds[i]
        none = y["kind"] == NONE_CLASS
        assert np.all(y["offset"][none] == 0) and np.all(y["primary"][none] == 0)
        assert np.all(np.linalg.norm(y["offset"], axis=1) <= SPEC.radius + 1e-4)
    kinds = np.concatenate([ds[i][1]["kind"] for i in range(len(ds))])
    assert (kinds == NONE_CLASS).any() and (kinds == 0).any()


def test_batches_are_reproducible_from_seed_epoch_and_index(events):
    a, b = dataset(events), dataset(events)
    for i in (0, 2):
        same_batch(a[i], b[i])
    assert not np.array_equal(a[0][0]["glimpses"], a[1][0]["glimpses"])
    assert not np.array_equal(a[0][1]["offset"], a[1][1]["offset"])
    assert not np.array_equal(dataset(events, seed=2)[0][1]["offset"], a[0][1]["offset"])
    first = a[1]
    a.on_epoch_end()
    assert a.epoch == 1 and not np.array_equal(a[1][1]["offset"], first[1]["offset"])  # a new epoch, new points
    same_batch(a.generate(0, 1), first)
    # workers get a copy without the cache, which gives the same batches
    clone = pickle.loads(pickle.dumps(a))
    assert len(clone._cache) == 0 and len(a._cache) > 0
    same_batch(clone[3], a[3])


def test_mirrors_and_transposes_move_glimpses_features_and_offsets_together(events):
    """Every augmented row is one of the 8 mirror/transpose images of the same row without augmentation."""
    plain = dataset(events, augment=False)[0]
    aug = dataset(events, augment=True)[0]
    for k in ("kind", "primary"):
        np.testing.assert_array_equal(plain[1][k], aug[1][k])
    seen = set()
    for r in range(B):
        row_in = {k: v[r : r + 1, None] for k, v in plain[0].items()}
        row_t = {"step": plain[1]["offset"][r : r + 1, None]}
        match = None
        for fw, fd, tr in itertools.product((False, True), repeat=3):
            xi, yi = flip_batch(row_in, row_t, np.array([fw]), np.array([fd]), np.array([tr]))
            if (np.array_equal(xi["glimpses"][0, 0], aug[0]["glimpses"][r])
                    and np.allclose(xi["features"][0, 0], aug[0]["features"][r], atol=1e-6)
                    and np.array_equal(yi["step"][0, 0], aug[1]["offset"][r])):
                match = (fw, fd, tr)
                break
        assert match is not None, f"row {r}: augmented glimpse, features and offset do not agree"
        seen.add(match)
    assert len(seen) > 3  # the draw mixes the transforms


def test_a_gain_changes_the_glimpses_but_not_the_targets(events):
    base = dataset(events)
    gain = dataset(events, response=ResponseSpec(probability=1.0, gain=(2.0, 2.0), smear_px=(0.0, 0.0),
                                                 noise=(0.0, 0.0), threshold=(0.0, 0.0), dead_fraction=(0.0, 0.0)))
    # normalising to a scale above every event's only brightens pixels (none vanishes)
    brighter = dataset(events, normalise=1000.0)
    for i in range(2):
        x, y = base[i]
        for other in (gain, brighter):
            xo, yo = other[i]
            for k in y:
                np.testing.assert_array_equal(yo[k], y[k])
            np.testing.assert_array_equal(xo["features"], x["features"])
            assert np.all(xo["glimpses"] >= x["glimpses"]) and np.any(xo["glimpses"] > x["glimpses"])
            np.testing.assert_array_equal(xo["glimpses"] > 0, x["glimpses"] > 0)


def test_a_varied_response_is_redrawn_every_epoch(events):
    ds = dataset(events, response=ResponseSpec(probability=1.0), augment=False)
    a = ds[0]
    same_batch(dataset(events, response=ResponseSpec(probability=1.0), augment=False)[0], a)
    plain = dataset(events, augment=False)[0]
    assert not np.array_equal(a[0]["glimpses"], plain[0]["glimpses"])
    ds.on_epoch_end()
    assert not np.array_equal(ds[0][0]["glimpses"], a[0]["glimpses"])


def test_generate_with_a_response_depends_only_on_seed_epoch_and_index(events):
    ds = dataset(events, response=ResponseSpec(probability=1.0), augment=False)
    early = ds.generate(1, 0)  # asked for epoch 1 while the dataset is in epoch 0
    ds.on_epoch_end()
    same_batch(early, ds[0])


def test_bad_options_raise(events):
    for kw in ({"batch_size": 0}, {"batches_per_epoch": 0}, {"events_per_batch": 0}):
        with pytest.raises(ValueError, match=">= 1"):
            dataset(events, **kw)
    with pytest.raises(ValueError, match="empty"):
        dataset([])
