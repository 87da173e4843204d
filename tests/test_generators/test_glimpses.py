"""Glimpse kernels against the NumPy reference, and their invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generators.glimpses import GlimpseSpec, Pyramid, extract_glimpses, glimpse_coordinates

from .reference import glimpses_reference, pool_reference, pyramid_reference

specs = st.builds(
    GlimpseSpec,
    num_levels=st.integers(1, 4),
    glimpse_size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    scale=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    pyramid_pooling=st.sampled_from(["max", "mean"]),
)


@st.composite
def images(draw):
    w, d = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, size=(w, d), dtype=np.uint8)
    img[rng.random((w, d)) < 0.6] = 0
    return img


@settings(max_examples=80, deadline=None)
@given(img=images(), spec=specs, data=st.data())
def test_extract_matches_reference(img, spec, data):
    n = data.draw(st.integers(1, 6))
    centres = np.array([[data.draw(st.integers(-20, img.shape[0] + 20)), data.draw(st.integers(-20, img.shape[1] + 20))]
                        for _ in range(n)], dtype=np.int64)
    got = extract_glimpses(img, centres, spec)
    assert got.dtype == np.uint8 and got.shape == (n, spec.num_levels, *spec.glimpse_size)
    np.testing.assert_array_equal(got, glimpses_reference(img, centres, spec))


@settings(max_examples=60, deadline=None)
@given(img=images(), spec=specs)
def test_pyramid_levels_equal_pooled_images(img, spec):
    pyr = Pyramid(img, spec)
    np.testing.assert_array_equal(pyr.levels[0], img)  # finest level is the image itself
    for got, ref in zip(pyr.levels, pyramid_reference(img, spec)):
        np.testing.assert_array_equal(got, ref)


@settings(max_examples=60, deadline=None)
@given(img=images(), data=st.data())
def test_finest_level_is_the_plain_crop_and_outside_is_zero(img, data):
    spec = GlimpseSpec(num_levels=2, glimpse_size=(6, 4), scale=(2, 2))
    c = np.array([[data.draw(st.integers(-10, 50)), data.draw(st.integers(-10, 50))]])
    g = extract_glimpses(img, c, spec)[0, 0]
    padded = np.zeros((img.shape[0] + 40, img.shape[1] + 40), dtype=np.uint8)
    padded[20:-20, 20:-20] = img
    w0, d0 = c[0, 0] - 3 + 20, c[0, 1] - 2 + 20
    if 0 <= w0 and w0 + 6 <= padded.shape[0] and 0 <= d0 and d0 + 4 <= padded.shape[1]:
        np.testing.assert_array_equal(g, padded[w0 : w0 + 6, d0 : d0 + 4])


def test_coarse_level_is_pooled_crop_and_covers_field_of_view():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(300, 280), dtype=np.uint8)
    spec = GlimpseSpec(num_levels=3, glimpse_size=(8, 8), scale=(2, 2), pyramid_pooling="max")
    c = np.array([[150, 140]])
    g = extract_glimpses(img, c, spec)[0]
    corner = glimpse_coordinates(c, spec)[0, 2]
    crop = img[corner[0] : corner[0] + 32, corner[1] : corner[1] + 32]
    np.testing.assert_array_equal(g[2], pool_reference(crop, 4, 4, "max"))
    assert spec.field_of_view() == (32, 32)


def test_rectangular_glimpses_and_scales():
    img = np.arange(60 * 50, dtype=np.int64).reshape(60, 50) % 251
    img = img.astype(np.uint8)
    spec = GlimpseSpec(num_levels=2, glimpse_size=(8, 4), scale=(2, 3), pyramid_pooling="mean")
    g = extract_glimpses(img, np.array([[30, 25]]), spec)
    assert g.shape == (1, 2, 8, 4)
    np.testing.assert_array_equal(g, glimpses_reference(img, np.array([[30, 25]]), spec))


def test_bad_inputs_raise():
    spec = GlimpseSpec()
    with pytest.raises(ValueError, match="uint8"):
        extract_glimpses(np.zeros((4, 4), np.float32), np.zeros((1, 2), np.int64), spec)
    with pytest.raises(ValueError, match="2D"):
        extract_glimpses(np.zeros((4,), np.uint8), np.zeros((1, 2), np.int64), spec)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        extract_glimpses(np.zeros((4, 4), np.uint8), np.zeros((3,), np.int64), spec)
    with pytest.raises(ValueError, match="integers"):
        extract_glimpses(np.zeros((4, 4), np.uint8), np.zeros((1, 2)), spec)
    with pytest.raises(ValueError, match="pooling"):
        GlimpseSpec(pyramid_pooling="median")
    with pytest.raises(ValueError, match="num_levels"):
        GlimpseSpec(num_levels=0)


def test_import_generators_loads_neither_tensorflow_nor_vertexfinder():
    import subprocess
    import sys

    code = "import generators, generators.glimpses, generators.walks, sys; print('\\n'.join(sys.modules))"
    mods = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    assert "generators.glimpses" in mods
    assert "tensorflow" not in mods and "vertexfinder" not in mods
