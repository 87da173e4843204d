"""Pooling, resampling and cropping; the byte encoding; event-record validation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vertexfinder.encoding import adc_to_bytes, bytes_to_th2c, th2c_to_bytes
from vertexfinder.errors import BadEventError
from vertexfinder.imaging import crop_to_activity, pool_samples, resample_coordinates, resample_image
from vertexfinder.records import EventRecord, PlaneImage, TruthVertex


def pool_reference(wave, window, pooling):
    n = -(-wave.shape[1] // window)
    out = np.zeros((wave.shape[0], n), np.float32)
    for r in range(wave.shape[0]):
        for j in range(n):
            seg = wave[r, j * window : (j + 1) * window]
            if pooling == "max":
                out[r, j] = seg.max()
            elif pooling == "mean":
                out[r, j] = seg.mean()
            else:
                k = int(np.argmax(seg))
                out[r, j] = seg[max(k - 1, 0) : k + 2].mean()
    return out


@settings(max_examples=80, deadline=None)
@given(rows=st.integers(1, 4), samples=st.integers(1, 40), window=st.integers(1, 8),
       pooling=st.sampled_from(["max", "mean", "mean-around-max"]), seed=st.integers(0, 2**31))
def test_pooling_matches_reference(rows, samples, window, pooling, seed):
    wave = np.random.default_rng(seed).normal(size=(rows, samples)).astype(np.float32)
    np.testing.assert_allclose(pool_samples(wave, window=window, pooling=pooling),
                               pool_reference(wave, window, pooling), rtol=1e-5, atol=1e-6)


def test_pooling_with_another_sample_period_equals_native():
    rng = np.random.default_rng(0)
    wave = rng.normal(size=(2, 48)).astype(np.float32)
    native = pool_samples(wave, window=6, pooling="mean")
    same = pool_samples(wave, sample_us=0.5, pixel_us=3.0, pooling="mean")
    np.testing.assert_allclose(native, same)
    coarse = pool_samples(wave[:, ::4], sample_us=2.0, pixel_us=3.0, pooling="max", n_pixels=8)
    assert coarse.shape == (2, 8) and np.all(np.isin(coarse, wave[:, ::4]))  # every pixel takes a real sample
    with pytest.raises(ValueError, match="pooling"):
        pool_samples(wave, window=2, pooling="median")


@settings(max_examples=40, deadline=None)
@given(w=st.integers(1, 8), d=st.integers(1, 8), fw=st.sampled_from([0.25, 0.5, 2.0, 4.0]),
       fd=st.sampled_from([0.25, 0.5, 2.0, 4.0]), seed=st.integers(0, 2**31))
def test_resampling_conserves_charge_times_area(w, d, fw, fd, seed):
    # extents that output cells tile exactly; partial edge cells are averaged over what they cover
    img = np.random.default_rng(seed).random((4 * w, 4 * d)).astype(np.float32)
    out = resample_image(img, from_cm=(1.0, 1.0), to_cm=(fw, fd))
    assert out.shape == (int(4 * w / fw), int(4 * d / fd))
    assert out.sum() * fw * fd == pytest.approx(img.sum(), rel=1e-4)
    np.testing.assert_array_equal(resample_image(img, from_cm=(0.3, 0.5), to_cm=(0.3, 0.5)), img)


def test_resampled_point_lands_at_the_transformed_coordinate():
    img = np.zeros((40, 40), np.float32)
    img[20, 10] = 1.0
    out = resample_image(img, from_cm=(0.3, 0.5), to_cm=(0.48, 0.48))
    c = np.array(np.unravel_index(np.argmax(out), out.shape)) + 0.5
    expect = resample_coordinates([20.5, 10.5], from_cm=(0.3, 0.5), to_cm=(0.48, 0.48))
    assert np.all(np.abs(c - expect) <= 0.75)


def test_crop_to_activity():
    img = np.zeros((50, 60), np.uint8)
    img[10, 20] = img[30, 5] = 9
    crop, origin = crop_to_activity(img, margin=2)
    assert origin == (8, 3) and crop.shape == (25, 20)
    assert crop_to_activity(img, threshold=9)[0].size == 0
    assert crop_to_activity(np.zeros((5, 5), np.uint8))[0].shape == (0, 0)


def test_byte_encoding():
    np.testing.assert_array_equal(adc_to_bytes([-3.0, 0.4, 0.6, 254.6, 1e4]), [0, 0, 1, 255, 255])
    b = np.arange(256, dtype=np.uint8)
    back = th2c_to_bytes(bytes_to_th2c(b))
    np.testing.assert_array_equal(back[:251], b[:251])
    assert np.all(back[251:] == 250)
    np.testing.assert_array_equal(bytes_to_th2c(np.array([0, 123, 250], np.uint8)), [-123, 0, 127])
    np.testing.assert_array_equal(th2c_to_bytes(np.array([-128, -124, 0, 127], np.int8)), [0, 0, 123, 250])


def test_record_validation():
    pix = np.zeros((3, 4), np.uint8)
    with pytest.raises(BadEventError, match="uint8"):
        PlaneImage("U", pix.astype(np.int16), (0, 0))
    with pytest.raises(BadEventError, match="2D"):
        PlaneImage("U", np.zeros(3, np.uint8), (0, 0))
    with pytest.raises(BadEventError, match="truth map shape"):
        PlaneImage("U", pix, (0, 0), truth=np.zeros((2, 2), np.int16))
    with pytest.raises(BadEventError, match="kind"):
        TruthVertex("explosion", [0, 0, 0])
    planes = [PlaneImage(v, pix, (1, 2)) for v in "UVZ"]
    v0 = TruthVertex("interaction", [0, 0, 0], planes=np.zeros((3, 2)))
    with pytest.raises(BadEventError, match="parent"):
        EventRecord(1, 0, 1, "x", 6, "max", planes, [v0, TruthVertex("decay", [1, 1, 1], parent=1)])
    with pytest.raises(BadEventError, match="event"):
        EventRecord(1, 0, -1, "x", 6, "max", planes)
    ev = EventRecord(1, 0, 1, "x", 6, "max", planes, [v0])
    out = ev.planes[0].to_global((10, 10))
    assert out.shape == (10, 10) and out[1:4, 2:6].sum() == 0
    with pytest.raises(BadEventError, match="outside"):
        ev.planes[0].to_global((3, 3))
