"""The refiner model (models.refiner): shapes, the bounded offset, a .keras round trip, its loss."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from models import Refiner, RefineOffsetLoss, refine_function, refiner_losses  # noqa: E402


def small_refiner(**kw):
    opts = dict(num_levels=2, glimpse_size=(16, 16), num_features=8, filters=(8, 8), units=16, radius=6.0)
    return Refiner(**{**opts, **kw})


def inputs(rng, b=5):
    return {"glimpses": rng.integers(0, 256, (b, 2, 16, 16), dtype=np.uint8),
            "features": rng.random((b, 8)).astype(np.float32)}


def test_outputs_have_the_documented_shapes():
    m = small_refiner()
    out = m(inputs(np.random.default_rng(0)))
    assert set(out) == {"offset", "kind", "primary"}
    assert tuple(out["offset"].shape) == (5, 2)
    assert tuple(out["kind"].shape) == (5, 4)
    assert tuple(out["primary"].shape) == (5,)
    assert tuple(small_refiner(num_classes=3)(inputs(np.random.default_rng(0), 2))["kind"].shape) == (2, 3)


def test_the_offset_is_bounded_by_the_radius():
    m = small_refiner(radius=6.0)
    x = inputs(np.random.default_rng(1))
    assert np.all(np.abs(np.asarray(m(x)["offset"])) < 6.0)
    kernel, bias = m.offset_head.get_weights()
    for b in ([1e4, -1e4], [3.0, -2.0]):
        m.offset_head.set_weights([np.zeros_like(kernel), np.array(b, np.float32)])
        off = np.asarray(m(x)["offset"])
        want = 6.0 * np.tanh(np.array(b) / 6.0)  # radius * tanh(head / radius): near-linear for small outputs
        np.testing.assert_allclose(off, np.tile(want, (5, 1)), rtol=1e-5)
        assert np.all(np.abs(off) <= 6.0)


def test_keras_round_trip_in_safe_mode_gives_identical_outputs(tmp_path):
    m = small_refiner(stem_strides=2, coord_channels=False, radius=9.0)
    x = inputs(np.random.default_rng(2))
    a = m(x)
    path = tmp_path / "refiner.keras"
    m.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, Refiner)
    assert loaded.get_config() == m.get_config()
    assert (loaded.radius, loaded.glimpse_size, loaded.filters, loaded.stem_strides) == (9.0, (16, 16), (8, 8), 2)
    b = loaded(x)
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]))
    assert Refiner.from_config(m.get_config()).get_config() == m.get_config()


@pytest.mark.parametrize("compile", [True, False])
def test_refine_function_equals_direct_calls(compile):
    m = small_refiner()
    rng = np.random.default_rng(3)
    fn = refine_function(m, compile=compile)
    for b in (4, 7):  # two batch sizes through the same function
        x = inputs(rng, b)
        got = fn(x["glimpses"], x["features"])
        want = m(x, training=False)
        assert set(got) == set(want)
        for k in want:
            assert isinstance(got[k], np.ndarray)
            np.testing.assert_allclose(got[k], np.asarray(want[k]), rtol=1e-5, atol=1e-6)


def test_offset_loss_is_zero_for_perfect_predictions_and_grows_with_the_error():
    loss = RefineOffsetLoss(delta=1.0)
    rng = np.random.default_rng(4)
    y = rng.normal(size=(16, 2)).astype(np.float32) * 5
    assert float(loss(y, y)) == pytest.approx(0.0, abs=1e-7)
    values = [float(loss(y, y + np.float32(e) * np.array([1.0, -1.0], np.float32))) for e in (0.25, 0.5, 1.0, 2.0, 5.0)]
    assert all(a < b for a, b in zip(values, values[1:]))
    # Huber per component, summed over (wire, drift): quadratic below delta, linear above
    assert values[1] == pytest.approx(2 * 0.5 * 0.5**2, rel=1e-5)
    assert values[3] == pytest.approx(2 * (0.5 + 1.0), rel=1e-5)
    assert values[4] == pytest.approx(2 * (0.5 + 4.0), rel=1e-5)
    # one point with the error, the rest perfect: the mean over points
    one = y.copy()
    one[0] += 2.0
    assert float(loss(y, one)) == pytest.approx(2 * 1.5 / 16, rel=1e-5)


def test_losses_serialise_and_reject_bad_arguments():
    loss = RefineOffsetLoss(delta=0.5)
    clone = RefineOffsetLoss.from_config(loss.get_config())
    assert clone.delta == 0.5 and clone.get_config() == loss.get_config()
    losses = refiner_losses()
    assert set(losses) == {"offset", "kind", "primary"} and isinstance(losses["offset"], RefineOffsetLoss)
    with pytest.raises(ValueError, match="delta"):
        RefineOffsetLoss(delta=0.0)
    with pytest.raises(ValueError, match="radius"):
        small_refiner(radius=0.0)
    with pytest.raises(ValueError, match="num_classes"):
        small_refiner(num_classes=1)

