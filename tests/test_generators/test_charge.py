"""Charge scale, normalisation and varied detector responses (generators.charge)."""

import numpy as np
import pytest

from generators.charge import REFERENCE_SCALE, ResponseSpec, charge_scale, normalise, vary_response


def event_images(seed=0, shape=(120, 200), tracks=5, mip=32.0):
    """Three plane images of straight tracks: per wire a Gaussian pulse along drift whose peak is a
    MIP-like charge (Gumbel around ``mip`` bytes; all below 128, so doubling never saturates)."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(3):
        x = np.zeros(shape)
        for _ in range(tracks):
            w0, w1 = np.sort(rng.integers(0, shape[0], 2))
            d0, d1 = rng.uniform(20, shape[1] - 20, 2)
            for w in range(w0, w1 + 1):
                d = d0 + (d1 - d0) * (w - w0) / max(w1 - w0, 1)
                amp = mip + 6 * rng.gumbel()
                x[w] = np.maximum(x[w], amp * np.exp(-0.5 * ((np.arange(shape[1]) - d) / 1.5) ** 2))
        images.append(np.clip(np.rint(x), 0, 255).astype(np.uint8))
    assert max(im.max() for im in images) < 128
    return images


def scaled(images, k):
    return [np.clip(np.rint(im * float(k)), 0, 255).astype(np.uint8) for im in images]


def with_noise_wires(images, n_rows, rng, peak=5):
    """Images with ``n_rows`` extra wires that carry only low-level noise (peaks <= ``peak`` bytes)."""
    return [np.vstack([im, rng.integers(0, peak + 1, (n_rows, im.shape[1])).astype(np.uint8)]) for im in images]


@pytest.mark.parametrize("k", [0.25, 0.5, 2.0])
def test_charge_scale_follows_the_gain(k):
    for seed in range(3):
        images = event_images(seed)
        s = charge_scale(images)
        assert 25 < s < 45  # near the MIP peak the images were drawn with
        # within the quantisation of the scaled bytes
        assert charge_scale(scaled(images, k)) == pytest.approx(k * s, rel=0.03, abs=0.6)


def test_charge_scale_ignores_wires_with_only_low_level_noise():
    images = event_images(1)
    s = charge_scale(images)
    track_wires = sum(int((im.max(axis=1) > 0).sum()) for im in images)
    noisy = with_noise_wires(images, track_wires // 3, np.random.default_rng(0))  # as many noise wires as track wires
    assert charge_scale(noisy) == pytest.approx(s, rel=0.05)


def heavy_event():
    """60 wires crossed by MIP-like tracks (~32 bytes) and 10 by a heavily ionising stopping proton (~200)."""
    rng = np.random.default_rng(5)
    im = np.zeros((70, 50), np.uint8)
    im[:60, 25] = np.clip(np.rint(32 + 4 * rng.standard_normal(60)), 1, 255)
    im[60:, 25] = np.clip(np.rint(200 + 20 * rng.standard_normal(10)), 1, 255)
    return [im]


def test_charge_scale_of_a_heavily_ionising_event_is_the_median_of_its_top_peaks():
    # the documented estimator: the 90th percentile lies in the proton's peaks, the MIP peaks are below the cut
    (im,) = heavy_event()
    peaks = im.max(axis=1)
    assert charge_scale([im]) == pytest.approx(np.median(peaks[peaks >= 0.3 * np.percentile(peaks, 90)]))


@pytest.mark.xfail(strict=True, reason="noise-only wires move the 90th percentile that sets the cut: adding them to an "
                   "event whose top 10% of wire peaks are heavily ionising changes its charge scale about sixfold "
                   "(the docstring says noise wires are below the cut 'however many there are')")
def test_charge_scale_ignores_noise_wires_when_a_few_wires_ionise_heavily():
    images = heavy_event()
    s = charge_scale(images)
    noisy = with_noise_wires(images, 70, np.random.default_rng(1))
    assert charge_scale(noisy) == pytest.approx(s, rel=0.1)


def test_charge_scale_is_nan_without_charge():
    assert np.isnan(charge_scale([np.zeros((10, 10), np.uint8), np.zeros((0, 5), np.uint8)]))
    assert np.isnan(charge_scale([]))


@pytest.mark.parametrize("gain", [0.3, 1.0, 2.5])
def test_normalise_brings_the_charge_scale_to_the_reference(gain):
    images = scaled(event_images(2), gain)
    out = normalise(images)
    assert all(o.dtype == np.uint8 and o.shape == im.shape for o, im in zip(out, images))
    assert charge_scale(out) == pytest.approx(REFERENCE_SCALE, rel=0.04)
    assert charge_scale(normalise(images, reference=60.0)) == pytest.approx(60.0, rel=0.04)
    # a known scale is used as given
    twice = normalise(images, reference=60.0, scale=2 * charge_scale(images))
    assert charge_scale(twice) == pytest.approx(30.0, rel=0.04)


def test_normalise_threshold_zeroes_the_pixels_below_it():
    images = event_images(3)
    plain = normalise(images, reference=50.0)
    cut = normalise(images, reference=50.0, threshold=6.0)
    for p, c in zip(plain, cut):
        assert c.dtype == np.uint8
        assert not np.any((c > 0) & (c < 6))
        np.testing.assert_array_equal(c[p >= 6], p[p >= 6])
        assert np.all(c[p < 6] == 0) and np.any((p > 0) & (p < 6))


def test_normalise_leaves_images_without_charge_and_at_the_reference_alone():
    empty = [np.zeros((5, 7), np.uint8)]
    np.testing.assert_array_equal(normalise(empty)[0], empty[0])
    images = event_images(4)
    out = normalise(images, reference=charge_scale(images))
    for o, im in zip(out, images):
        np.testing.assert_array_equal(o, im)
        assert o is not im  # a copy


@pytest.mark.parametrize("kw, match", [
    ({"probability": 1.5}, "probability"),
    ({"probability": -0.1}, "probability"),
    ({"gain": (2.0, 1.0)}, "gain"),
    ({"gain": (0.0, 1.0)}, "gain"),
    ({"smear_px": (-1.0, 1.0)}, "smear_px"),
    ({"noise": (3.0, 1.0)}, "noise"),
    ({"threshold": (-1.0, 0.0)}, "threshold"),
    ({"dead_fraction": (0.5, 0.1)}, "dead_fraction"),
])
def test_response_spec_rejects_bad_ranges(kw, match):
    with pytest.raises(ValueError, match=match):
        ResponseSpec(**kw)


def test_response_spec_ranges_become_float_pairs():
    spec = ResponseSpec(gain=[1, 3], noise=(0, 2))
    assert spec.gain == (1.0, 3.0) and spec.noise == (0.0, 2.0)
    assert all(isinstance(v, float) for v in spec.gain)


def only(**ranges):
    """A response that always varies, with only the given ranges (the others do nothing)."""
    base = dict(probability=1.0, gain=(1.0, 1.0), smear_px=(0.0, 0.0), noise=(0.0, 0.0), threshold=(0.0, 0.0),
                dead_fraction=(0.0, 0.0))
    return ResponseSpec(**{**base, **ranges})


def test_probability_zero_and_the_neutral_response_keep_the_images():
    images = event_images(0)
    for spec in (ResponseSpec(probability=0.0), only()):
        out = vary_response(images, np.random.default_rng(0), spec)
        for o, im in zip(out, images):
            np.testing.assert_array_equal(o, im)
            assert o is not im


def test_varied_responses_are_reproducible_and_keep_shapes_and_dtypes():
    images = event_images(1)
    spec = ResponseSpec(probability=1.0)
    a = vary_response(images, np.random.default_rng(7), spec)
    b = vary_response(images, np.random.default_rng(7), spec)
    c = vary_response(images, np.random.default_rng(8), spec)
    for x, y, im in zip(a, b, images):
        np.testing.assert_array_equal(x, y)
        assert x.shape == im.shape and x.dtype == np.uint8
    assert any(not np.array_equal(x, z) for x, z in zip(a, c))
    assert any(not np.array_equal(x, im) for x, im in zip(a, images))


def test_gain_two_doubles_the_charge_scale():
    images = event_images(2)
    out = vary_response(images, np.random.default_rng(0), only(gain=(2.0, 2.0)))
    assert charge_scale(out) == pytest.approx(2 * charge_scale(images), rel=0.02)
    for o, im in zip(out, images):
        np.testing.assert_array_equal(o, 2 * im.astype(np.int64))


def test_dead_wires_zero_whole_rows():
    images = event_images(3)
    out = vary_response(images, np.random.default_rng(1), only(dead_fraction=(0.5, 0.5)))
    dead_total = 0
    for o, im in zip(out, images):
        dead = ~np.all(o == im, axis=1)
        assert np.all(o[dead] == 0)  # a changed row is a whole zero row
        charged = im.max(axis=1) > 0
        dead_total += dead.sum()
        assert 0.25 < dead[charged].mean() < 0.75
    assert dead_total > 0


def test_smearing_noise_and_threshold_change_the_images_but_not_their_size():
    images = event_images(4)
    smeared = vary_response(images, np.random.default_rng(2), only(smear_px=(1.0, 1.0)))
    for s, im in zip(smeared, images):
        assert s.shape == im.shape and s.dtype == np.uint8
        assert (s > 0).sum() > (im > 0).sum()  # charge spread onto neighbours
    cut = vary_response(images, np.random.default_rng(3), only(noise=(2.0, 2.0), threshold=(3.0, 3.0)))
    for c in cut:
        assert not np.any((c > 0) & (c < 3))
