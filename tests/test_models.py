"""The walker model: shapes, stepwise inference, serialization round trips, a short training run."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from models import DistanceLoss, GlimpseEncoder, StepLoss, Walker, per_walk_loss, walker_losses  # noqa: E402


def assert_layer_roundtrip(obj, inputs, tmp_path, **call_kwargs):
    """Save a layer or model in a .keras file, reload it in safe mode, compare config and outputs."""
    if isinstance(obj, keras.Model):
        model = obj
    else:
        model = keras.Sequential([obj]) if not call_kwargs else None
    if model is None:
        raise TypeError("wrap multi-input layers in a model")
    a = model(inputs)  # builds the weights
    path = tmp_path / "roundtrip.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.get_config() == model.get_config()
    b = loaded(inputs)
    if isinstance(a, dict):
        for k in a:
            np.testing.assert_allclose(np.asarray(a[k]), np.asarray(b[k]), rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
    return loaded


def small_walker(**kw):
    opts = dict(num_levels=3, glimpse_size=(16, 16), num_features=10, filters=(8, 8, 16), encoder_units=32,
                recurrent_units=32, max_step=32.0)
    opts.update(kw)
    return Walker(**opts)


def batch(rng, b=3, t=5):
    return {"glimpses": rng.integers(0, 256, (b, t, 3, 16, 16), dtype=np.uint8),
            "features": rng.random((b, t, 10)).astype(np.float32)}


def test_walker_shapes_and_step_limit():
    rng = np.random.default_rng(0)
    m = small_walker()
    out = m(batch(rng))
    assert tuple(out["step"].shape) == (3, 5, 2) and tuple(out["kind"].shape) == (3, 5, 4)
    assert tuple(out["distance"].shape) == (3, 5)
    assert np.all(np.abs(np.asarray(out["step"])) <= 32.0)


def test_stepwise_inference_equals_the_sequence_call():
    rng = np.random.default_rng(1)
    m = small_walker()
    x = batch(rng)
    seq = m(x)
    state = m.initial_state(3)
    for t in range(5):
        out, state = m.step(x["glimpses"][:, t], x["features"][:, t], state)
        for k in ("step", "kind", "distance"):
            np.testing.assert_allclose(np.asarray(out[k]), np.asarray(seq[k])[:, t], rtol=1e-5, atol=1e-5)


def test_inference_padded_to_a_few_batch_sizes_gives_each_walk_what_it_gives_alone():
    """step_function pads the walks to a multiple of ``rows`` (bounded memory over many events); each walk's
    outputs and the state carried between steps are those of the unpadded call, bit for bit."""
    from models import step_function

    rng = np.random.default_rng(4)
    m = small_walker()
    x = batch(rng, b=37, t=3)
    plain, padded = step_function(m, rows=1), step_function(m, rows=16)
    s1 = s2 = None
    for t in range(3):
        a, s1 = plain(x["glimpses"][:, t], x["features"][:, t], s1)
        b, s2 = padded(x["glimpses"][:, t], x["features"][:, t], s2)
        assert tuple(np.asarray(s2).shape) == (48, 32)  # the state keeps the padded size between steps
        for k in a:
            assert b[k].shape == a[k].shape and np.array_equal(a[k], b[k])


@pytest.mark.parametrize("options", [{}, {"stem_strides": 2, "filters": (8, 16), "coord_channels": True},
                                     {"shared_levels": True, "filters": (8, 16)}])
def test_walker_roundtrip(tmp_path, options):
    rng = np.random.default_rng(2)
    m = small_walker(**options)
    x = batch(rng)
    loaded = assert_layer_roundtrip(m, x, tmp_path)
    assert isinstance(loaded, Walker) and loaded.max_step == 32.0
    assert loaded.get_config() == m.get_config()


def test_coordinate_channels_are_inputs_of_the_stem():
    enc = GlimpseEncoder(num_levels=1, glimpse_size=(16, 16), filters=(4,), units=8, coord_channels=True)
    assert enc.get_config()["coord_channels"] is True
    g = np.zeros((2, 1, 16, 16), np.uint8)
    f = np.zeros((2, 0), np.float32)
    out = np.asarray(enc(g, f))
    assert out.shape == (2, 8)
    stem = enc.stem.kernel.shape
    assert stem[2] == 1 + 2  # one level and the two coordinate channels


def test_encoder_roundtrip(tmp_path):
    rng = np.random.default_rng(3)
    g_in = keras.Input((3, 16, 16), dtype="uint8")
    f_in = keras.Input((10,))
    enc = GlimpseEncoder(num_levels=3, glimpse_size=(16, 16), filters=(8, 16), units=24)
    model = keras.Model([g_in, f_in], enc(g_in, f_in))
    x = [rng.integers(0, 256, (4, 3, 16, 16), dtype=np.uint8), rng.random((4, 10)).astype(np.float32)]
    path = tmp_path / "enc.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(loaded(x)), atol=1e-6)
    assert GlimpseEncoder.from_config(enc.get_config()).get_config() == enc.get_config()


@pytest.mark.parametrize("kwargs,match", [
    (dict(glimpse_size=(4, 4)), "glimpse_size"),
    (dict(num_levels=0), "num_levels"),
    (dict(stem_strides=3), "stem_strides"),
    (dict(glimpse_size=(16, 16), filters=(8, 8, 8, 8), stem_strides=2), "glimpse_size"),
])
def test_encoder_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GlimpseEncoder(**kwargs)


def test_walker_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Received"):
        Walker(max_step=0)


def test_losses_roundtrip_and_per_walk_loss_agrees():
    rng = np.random.default_rng(4)
    targets = {"step": rng.normal(size=(6, 5, 2)).astype(np.float32) * 20,
               "kind": rng.integers(0, 4, (6, 5)), "distance": rng.random((6, 5)).astype(np.float32) * 100}
    outputs = {"step": rng.normal(size=(6, 5, 2)).astype(np.float32) * 20,
               "kind": rng.normal(size=(6, 5, 4)).astype(np.float32), "distance": rng.random((6, 5)).astype(np.float32) * 4}
    losses = walker_losses(max_step=64.0)
    total = (float(losses["step"](targets["step"], outputs["step"]))
             + float(losses["kind"](targets["kind"], outputs["kind"]))
             + 0.5 * float(losses["distance"](targets["distance"], outputs["distance"])))
    assert per_walk_loss(targets, outputs).mean() == pytest.approx(total, rel=1e-4)
    for cls in (StepLoss, DistanceLoss):
        obj = cls() if cls is DistanceLoss else cls(max_step=12.0)
        assert cls.from_config(obj.get_config()).get_config() == obj.get_config()


@pytest.mark.slow
def test_a_short_training_run_lowers_the_loss():
    from generators.dataset import WalkDataset
    from generators.glimpses import GlimpseSpec
    from generators.walks import WalkSpec
    from vertexfinder.simulation import simulate

    keras.utils.set_random_seed(0)
    events = [e for e in simulate("test-detector", "numu-cc", events=6, seed=2, fiducial_margin_cm=2.0)
              if e.primary is not None and all(p.pixels.size for p in e.planes)]
    ds = WalkDataset(events, glimpse=GlimpseSpec(num_levels=3, glimpse_size=(16, 16)),
                     walk=WalkSpec(num_steps=5, max_step=32.0), batch_size=32, batches_per_epoch=10, seed=0)
    m = small_walker()
    m.compile(optimizer=keras.optimizers.Adam(3e-3), loss=walker_losses(32.0),
              loss_weights={"step": 1.0, "kind": 1.0, "distance": 0.5})
    x, y = ds.generate(99, 0)[:2]
    before = m.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    m.fit(ds, epochs=3, verbose=0)
    after = m.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    assert after < 0.8 * before
