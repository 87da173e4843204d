"""Refiner points: targets are the nearest visible vertex within the radius, classes are balanced."""

import numpy as np
import pytest

from generators.refine import RefineSpec, refine_targets, sample_refine_points, visible_vertices
from generators.truth import NONE_CLASS


def nearest_visible_reference(centres, vertices, visible, radius):
    """Slow reference: index of the nearest visible vertex within ``radius`` of each centre, -1 if none."""
    out = []
    for c in centres:
        best, best_d = -1, np.inf
        for j, v in enumerate(vertices):
            d = np.hypot(*(c - v))
            if visible[j] and d < best_d:
                best, best_d = j, d
        out.append(best if best_d <= radius else -1)
    return np.array(out)


def star_image(vertices, shape=(160, 160), arms=3, length=20, value=60):
    """Short straight tracks leaving every vertex (so each is visible), nothing else."""
    img = np.zeros(shape, np.uint8)
    for v in vertices:
        for a in np.linspace(0, 2 * np.pi, arms, endpoint=False) + 0.3:
            for r in np.arange(0, length, 0.5):
                w, d = np.floor(v + r * np.array([np.cos(a), np.sin(a)])).astype(int)
                if 0 <= w < shape[0] and 0 <= d < shape[1]:
                    img[w, d] = value
    return img


def check_consistent(pts, vertices, kinds, primary, radius):
    """Offsets, labels, primary flags and vertex indices agree with the vertices passed."""
    has = pts.vertex >= 0
    np.testing.assert_allclose(pts.offset[has], (vertices[pts.vertex[has]] - pts.centres[has]), atol=1e-4)
    assert np.all(pts.offset[~has] == 0)
    np.testing.assert_array_equal(pts.label[has], kinds[pts.vertex[has]])
    assert np.all(pts.label[~has] == NONE_CLASS)
    np.testing.assert_array_equal(pts.primary, (pts.vertex == primary) & has)
    assert np.all(np.linalg.norm(pts.offset, axis=1) <= radius + 1e-4)
    assert pts.offset.dtype == np.float32 and pts.primary.dtype == np.float32
    assert pts.label.dtype == np.int64 and pts.vertex.dtype == np.int64


def test_targets_are_the_nearest_visible_vertex_within_the_radius():
    rng = np.random.default_rng(0)
    vertices = np.array([[20.0, 20.0], [30.0, 22.0], [60.0, 60.0], [25.0, 30.0]])
    kinds = np.array([0, 1, 2, 0])
    visible = np.array([True, True, True, False])
    centres = rng.uniform(0, 80, (500, 2))
    pts = refine_targets(centres, vertices, kinds, visible, primary=0, radius=12.0)
    np.testing.assert_array_equal(pts.vertex, nearest_visible_reference(centres, vertices, visible, 12.0))
    assert {0, 1, 2, -1} <= set(pts.vertex)  # the draw covers every case
    check_consistent(pts, vertices, kinds, 0, 12.0)
    # a point on the invisible vertex goes to the nearest visible one (vertex 1, 9.4 pixels away), never to it
    on_hidden = refine_targets(vertices[3:], vertices, kinds, visible, primary=0, radius=12.0)
    assert on_hidden.vertex[0] == 1 and on_hidden.label[0] == 1 and on_hidden.primary[0] == 0
    np.testing.assert_allclose(on_hidden.offset[0], vertices[1] - vertices[3])


def test_no_visible_vertex_makes_every_point_none():
    vertices = np.array([[10.0, 10.0], [np.nan, np.nan]])
    pts = refine_targets(np.array([[10.0, 10.0], [11.0, 9.0]]), vertices, np.array([0, 1]), np.zeros(2, bool),
                         primary=0, radius=5.0)
    assert np.all(pts.label == NONE_CLASS) and np.all(pts.vertex == -1)
    assert np.all(pts.offset == 0) and np.all(pts.primary == 0)


def test_visible_vertices_need_charge_within_visible_px():
    img = np.zeros((50, 50), np.uint8)
    img[10, 10] = 5
    img[0, 0] = 7
    vertices = np.array([
        [10.5, 12.5],    # charge 2 pixels away
        [10.5, 20.5],    # charge 10 pixels away
        [np.nan, 3.0],   # not on this plane
        [-2.5, -2.5],    # off the image, charge at the corner within reach
        [-9.0, -9.0],    # off the image, far from everything
        [80.0, 80.0],    # beyond the far edge
    ])
    np.testing.assert_array_equal(visible_vertices(img, vertices, 3.0), [True, False, False, True, False, False])
    np.testing.assert_array_equal(visible_vertices(img, vertices[1:2], 10.0), [True])


def test_points_around_vertices_have_consistent_targets():
    vertices = np.array([[40.0, 40.0], [110.0, 50.0], [60.0, 120.0]])
    kinds = np.array([0, 1, 2])
    img = star_image(vertices)
    spec = RefineSpec(radius=10.0)
    pts = sample_refine_points(img, vertices, kinds, 600, spec, np.random.default_rng(1), primary=0)
    assert pts.centres.shape == (600, 2) and pts.offset.shape == (600, 2)
    check_consistent(pts, vertices, kinds, 0, spec.radius)
    np.testing.assert_array_equal(pts.vertex, nearest_visible_reference(pts.centres, vertices, [True] * 3, 10.0))
    # every vertex is a target, and some points are none
    assert set(pts.vertex) == {-1, 0, 1, 2}
    # offsets look like the walks': mostly within a few pixels
    has = pts.vertex >= 0
    assert np.median(np.linalg.norm(pts.offset[has], axis=1)) < 4.0


def test_none_fraction_one_gives_none_points_on_charge_away_from_vertices():
    vertices = np.array([[30.0, 30.0]])
    img = star_image(vertices, length=8)
    img[100:140, 20:140:7] = 40  # plenty of charge far from the vertex
    spec = RefineSpec(radius=10.0, none_fraction=1.0)
    pts = sample_refine_points(img, vertices, np.array([0]), 300, spec, np.random.default_rng(2), primary=0)
    assert np.all(pts.label == NONE_CLASS) and np.all(pts.vertex == -1)
    assert np.all(pts.offset == 0) and np.all(pts.primary == 0)
    assert np.all(np.linalg.norm(pts.centres - vertices[0], axis=1) > spec.radius)
    # the none points lie on charge
    cells = np.floor(pts.centres).astype(int)
    assert np.all(img[cells[:, 0], cells[:, 1]] > 0)


def test_an_image_without_visible_vertices_gives_only_none_points():
    img = np.zeros((40, 40), np.uint8)
    img[5:8, 5:30] = 50
    vertices = np.array([[30.0, 35.0], [np.nan, np.nan]])  # no charge near the first, the second is elsewhere
    pts = sample_refine_points(img, vertices, np.array([0, 1]), 50, RefineSpec(none_fraction=0.0),
                               np.random.default_rng(3), primary=0)
    assert np.all(pts.label == NONE_CLASS) and np.all(np.isfinite(pts.centres))
    cells = np.floor(pts.centres).astype(int)
    assert np.all(img[cells[:, 0], cells[:, 1]] > 0)
    blank = sample_refine_points(np.zeros((40, 30), np.uint8), vertices, np.array([0, 1]), 20, RefineSpec(),
                                 np.random.default_rng(3), primary=0)
    assert np.all(blank.label == NONE_CLASS)
    assert np.all((blank.centres >= 0) & (blank.centres <= [40, 30]))


def test_invisible_vertices_are_never_targets():
    vertices = np.array([[40.0, 40.0], [46.0, 40.0], [100.0, 100.0]])  # the second has no charge of its own
    kinds = np.array([0, 1, 2])
    img = np.zeros((160, 160), np.uint8)
    img[40:42, 30:38] = 50  # charge near the first (within 3 pixels), more than 3 pixels from the second
    img[100, 100:110] = 50
    assert list(visible_vertices(img, vertices, 3.0)) == [True, False, True]
    spec = RefineSpec(radius=10.0, uniform_fraction=0.5, sigmas=(3.0,), sigma_weights=(1.0,))
    pts = sample_refine_points(img, vertices, kinds, 800, spec, np.random.default_rng(4), primary=0)
    assert 1 not in set(pts.vertex) and 1 not in set(pts.label)
    # points near the hidden vertex went to the visible one beside it
    d = np.linalg.norm(pts.centres[:, None] - vertices[None], axis=-1)
    near_hidden = d.argmin(axis=1) == 1
    assert near_hidden.sum() > 20 and np.all(pts.vertex[near_hidden & (pts.vertex >= 0)] == 0)


def test_secondary_vertices_are_drawn_class_first():
    """Six secondary interactions and one decay: the decay gets about as many points as all six together."""
    primary = np.array([[80.0, 80.0]])
    secondary = np.array([[20.0, 20.0], [20.0, 140.0], [140.0, 20.0], [140.0, 140.0], [80.0, 20.0], [20.0, 80.0]])
    decay = np.array([[140.0, 80.0]])
    vertices = np.concatenate([primary, secondary, decay])
    kinds = np.array([0] * 7 + [1])
    img = star_image(vertices, shape=(170, 170), length=10)
    spec = RefineSpec(radius=10.0, none_fraction=0.0, uniform_fraction=0.0, sigmas=(1.0,), sigma_weights=(1.0,),
                      primary_fraction=0.5)
    n = 4000
    pts = sample_refine_points(img, vertices, kinds, n, spec, np.random.default_rng(5), primary=0)
    counts = np.bincount(pts.vertex + 1, minlength=len(vertices) + 1)[1:]
    n_primary, n_interactions, n_decay = counts[0], counts[1:7].sum(), counts[7]
    # expected: 1/2 primary, 1/4 the interaction class, 1/4 the decay class (binomial sd ~ 27 points)
    assert abs(n_primary - n / 2) < 150
    assert abs(n_decay - n / 4) < 120 and abs(n_interactions - n / 4) < 120
    assert abs(n_decay - n_interactions) < 160
    assert np.all(counts[1:7] > 0.5 * n / 24)  # within a class, every vertex is drawn
    # the only visible vertex takes every vertex point
    solo = sample_refine_points(star_image(primary), primary, np.array([0]), 200,
                                RefineSpec(none_fraction=0.0, primary_fraction=0.1), np.random.default_rng(6),
                                primary=0)
    assert np.all(solo.vertex[np.linalg.norm(solo.offset, axis=1) > 0] == 0)
    assert solo.primary.mean() > 0.9


def test_points_are_reproducible_from_the_seed():
    vertices = np.array([[40.0, 40.0], [110.0, 50.0]])
    img = star_image(vertices)
    a = sample_refine_points(img, vertices, np.array([0, 1]), 100, RefineSpec(), np.random.default_rng(9), primary=0)
    b = sample_refine_points(img, vertices, np.array([0, 1]), 100, RefineSpec(), np.random.default_rng(9), primary=0)
    c = sample_refine_points(img, vertices, np.array([0, 1]), 100, RefineSpec(), np.random.default_rng(10), primary=0)
    for name in ("centres", "offset", "label", "primary", "vertex"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.centres, c.centres)


@pytest.mark.parametrize("kw, match", [
    ({"radius": 0.0}, "radius"),
    ({"sigmas": (1.0, -2.0)}, "sigmas"),
    ({"sigmas": (1.0, 2.0), "sigma_weights": (1.0,)}, "weight"),
    ({"none_fraction": 1.5}, "none_fraction"),
    ({"primary_fraction": -0.1}, "primary_fraction"),
    ({"uniform_fraction": 2.0}, "uniform_fraction"),
])
def test_refine_spec_rejects_bad_values(kw, match):
    with pytest.raises(ValueError, match=match):
        RefineSpec(**kw)
