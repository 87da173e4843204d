"""WalkBatch: walks of many planes gathered for one rollout, their tags kept in order."""

import numpy as np
import pytest

from generators.glimpses import GlimpseSpec, Pyramid
from generators.rollout import WalkBatch, rollout

SPEC = GlimpseSpec(num_levels=2, glimpse_size=(8, 8))


def pyramids(n=3, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = (rng.random((40, 30)) < 0.2).astype(np.uint8) * rng.integers(1, 255, (40, 30), dtype=np.uint8)
        out.append(Pyramid(img, SPEC))
    return out


def fake_step(glimpses, features, state):
    """A NumPy "model": the step depends on what it sees and on its state, which counts its calls."""
    n = len(glimpses)
    state = np.zeros(n) if state is None else state + 1
    brightness = glimpses.reshape(n, -1).mean(axis=1) / 255.0
    step = np.stack([brightness + 0.1 * state, features[:, -1] - 0.5 + features[:, 3]], axis=1)
    return {"step": step, "kind": np.tile(state[:, None], (1, 4))}, state


def filled_batch():
    pyr = pyramids()
    batch = WalkBatch(n_planes=3)
    k = [batch.add_pyramid(p) for p in pyr]
    batch.add(k[0], [[5.5, 6.5], [10.0, 3.0]], plane=0, task=1.0, owner=0, target=[[1.0, 2.0], [3.0, 4.0]])
    batch.add(k[2], [[20.0, 20.0]], plane=2, task=0.0, owner=1, target=[[5.0, 6.0]])
    batch.add(k[1], [[30.0, 1.0], [0.5, 0.5], [12.0, 25.0]], plane=1, task=[1.0, 0.0, 1.0], owner=1,
              target=np.full((3, 2), 7.0))
    return pyr, batch


def test_tags_travel_with_the_walks_in_the_order_they_were_added():
    _, batch = filled_batch()
    assert len(batch) == 6
    np.testing.assert_array_equal(batch.tag("which"), [0, 0, 2, 1, 1, 1])
    np.testing.assert_array_equal(batch.tag("planes"), [0, 0, 2, 1, 1, 1])
    np.testing.assert_array_equal(batch.tag("task"), [1, 1, 0, 1, 0, 1])
    assert batch.tag("task").dtype == np.float32
    np.testing.assert_array_equal(batch.tag("owner"), [0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(batch.tag("target"), [[1, 2], [3, 4], [5, 6], [7, 7], [7, 7], [7, 7]])
    np.testing.assert_array_equal(batch.tag("starts")[2:4], [[20, 20], [30, 1]])


def test_batch_rollout_equals_rollout_of_the_concatenated_walks():
    pyr, batch = filled_batch()
    got = batch.rollout(fake_step, SPEC, 4)
    starts = np.array([[5.5, 6.5], [10.0, 3.0], [20.0, 20.0], [30.0, 1.0], [0.5, 0.5], [12.0, 25.0]])
    want = rollout(fake_step, pyr, np.array([0, 0, 2, 1, 1, 1]), starts, np.array([0, 0, 2, 1, 1, 1]), 3, SPEC, 4,
                   task=np.array([1, 1, 0, 1, 0, 1], np.float32))
    for key in ("positions", "glimpses", "features"):
        np.testing.assert_array_equal(got[key], want[key])
    assert len(got["outputs"]) == 4
    for a, b in zip(got["outputs"], want["outputs"]):
        np.testing.assert_array_equal(a["step"], b["step"])
    # the walks moved, and saw what their own pyramid holds at their own positions
    assert not np.allclose(got["positions"][:, -1], starts)
    centres = np.floor(got["positions"][2, :-1]).astype(np.int64)
    np.testing.assert_array_equal(got["glimpses"][2], pyr[2].extract(centres))
    # the task and plane enter the features
    np.testing.assert_array_equal(got["features"][:, 0, 3], [1, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(got["features"][:, 0, :3].argmax(axis=1), [0, 0, 2, 1, 1, 1])


def test_rollout_options_pass_through_the_batch():
    pyr, batch = filled_batch()

    def stop(g, f, state):
        return {"step": np.tile([0.1, 0.0], (len(g), 1))}, state

    res = batch.rollout(stop, SPEC, 3, stop_below=0.5)  # every step is too short: no walk moves
    np.testing.assert_array_equal(res["positions"][:, -1], batch.tag("starts"))


def test_walks_given_as_positions_start_at_their_first_position():
    pyr = pyramids(1)
    batch = WalkBatch(n_planes=3)
    k = batch.add_pyramid(pyr[0])
    positions = np.array([[[3.0, 4.0], [9.0, 9.0]], [[7.0, 1.0], [2.0, 2.0]]])  # (M, T, 2)
    batch.add(k, positions, plane=1, label=[0, 3])
    res = batch.rollout(lambda g, f, s: ({"step": np.ones((len(g), 2))}, s), SPEC, 2)
    np.testing.assert_array_equal(res["positions"][:, 0], positions[:, 0])
    np.testing.assert_array_equal(res["positions"][:, -1], positions[:, 0] + 2)
    np.testing.assert_array_equal(batch.tag("label"), [0, 3])


def test_walks_on_an_unknown_pyramid_raise():
    batch = WalkBatch(n_planes=3)
    with pytest.raises(IndexError, match="pyramid 0 was not added"):
        batch.add(0, [[1.0, 1.0]], plane=0)
    batch.add_pyramid(pyramids(1)[0])
    for bad in (1, -1):
        with pytest.raises(IndexError, match="was not added"):
            batch.add(bad, [[1.0, 1.0]], plane=0)
    assert len(batch) == 0


def test_inconsistent_tags_raise():
    batch = WalkBatch(n_planes=3)
    k = batch.add_pyramid(pyramids(1)[0])
    batch.add(k, [[1.0, 1.0]], plane=0, owner=0)
    with pytest.raises(ValueError, match="same tags"):
        batch.add(k, [[2.0, 2.0]], plane=0)
    with pytest.raises(ValueError, match="same tags"):
        batch.add(k, [[2.0, 2.0]], plane=0, owner=1, label=3)
    assert len(batch) == 1 and list(batch.tag("owner")) == [0]


def test_an_empty_batch_has_empty_tags():
    batch = WalkBatch(n_planes=3)
    assert len(batch) == 0
    assert batch.tag("starts").shape == (0, 2) and batch.tag("which").shape == (0,)
