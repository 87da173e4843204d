"""Parents and conversion gaps (vertexfinder.finder.relate) on hand-made events whose answer is known."""

import dataclasses
import math

import numpy as np
import pytest
from handmade import MAPPER, blank_images, event, found_vertex, paint_segment

from vertexfinder.finder.relate import relate, segment_coverage

PRIMARY = (10.0, 0.0, 4.0)
DECAY = (30.0, 0.0, 16.0)  # a muon from the primary stops here
NEARBY = (22.0, 12.0, 10.0)  # a secondary interaction nearer the decay than the primary, on no track to it


def _track_event(with_track: bool):
    images = blank_images()
    if with_track:
        paint_segment(images, PRIMARY, DECAY)
    vertices = [found_vertex("interaction", PRIMARY, primary=True), found_vertex("decay", DECAY),
                found_vertex("interaction", NEARBY)]
    return event(images), vertices


def test_a_decay_descends_from_the_vertex_its_track_comes_from():
    ev, vertices = _track_event(with_track=True)
    assert np.linalg.norm(np.subtract(DECAY, NEARBY)) < np.linalg.norm(np.subtract(DECAY, PRIMARY))
    out = relate(vertices, ev, MAPPER)
    assert [v.parent for v in out] == [-1, 0, 0]
    assert all(math.isnan(v.gap_cm) for v in out)  # no conversion, no gap
    for before, after in zip(vertices, out):  # nothing else changes
        assert (after.kind, after.score, after.primary, after.planes) == (before.kind, before.score, before.primary,
                                                                         before.planes)
        assert np.array_equal(after.position_cm, before.position_cm)


def test_without_a_track_the_nearest_vertex_is_the_parent():
    ev, vertices = _track_event(with_track=False)
    assert [v.parent for v in relate(vertices, ev, MAPPER)] == [-1, 2, 0]


CONV_PRIMARY = (10.0, 0.0, 3.0)
CONVERSION = (25.0, 0.0, 15.0)
SECONDARY = (15.0, 12.0, 10.0)  # nearer the primary than the conversion is: a candidate parent


def _shower_event(source):
    """A conversion whose shower (5 cm of charge) heads away from ``source``."""
    images = blank_images()
    direction = np.subtract(CONVERSION, source) / np.linalg.norm(np.subtract(CONVERSION, source))
    paint_segment(images, CONVERSION, np.add(CONVERSION, 5.0 * direction))
    vertices = [found_vertex("interaction", CONV_PRIMARY, primary=True), found_vertex("conversion", CONVERSION),
                found_vertex("interaction", SECONDARY)]
    return event(images), vertices


@pytest.mark.parametrize("source, parent", [(CONV_PRIMARY, 0), (SECONDARY, 2)])
def test_a_conversion_descends_from_the_vertex_its_shower_points_away_from(source, parent):
    ev, vertices = _shower_event(source)
    out = relate(vertices, ev, MAPPER)
    assert out[1].parent == parent
    assert out[1].gap_cm == pytest.approx(np.linalg.norm(np.subtract(CONVERSION, source)))
    assert out[0].parent == -1 and math.isnan(out[0].gap_cm)
    assert out[2].parent == 0 and math.isnan(out[2].gap_cm)


def test_the_relation_is_a_tree_rooted_at_the_primary():
    images = blank_images()
    points = [(10, 0, 4), (20, 5, 8), (30, -5, 12), (35, 10, 18), (40, -10, 20), (15, 20, 15)]
    kinds = ["interaction", "conversion", "decay", "interaction", "conversion", "decay"]
    for a in points[1:]:  # everything joined to everything: coverage alone decides nothing
        for b in points:
            paint_segment(images, a, b)
    vertices = [found_vertex(k, p, primary=i == 0) for i, (k, p) in enumerate(zip(kinds, points))]
    vertices.append(found_vertex("decay", (25, 0, 10), on_views=(2,)))  # no 3D point
    out = relate(vertices, event(images), MAPPER)
    to_root = [np.linalg.norm(np.subtract(p, points[0])) for p in points]
    assert out[0].parent == -1 and out[-1].parent == -1
    for i, v in enumerate(out[:-1]):
        if i:
            assert v.parent >= 0 and out[v.parent].kind != "conversion"
            assert v.parent == 0 or to_root[v.parent] < to_root[i]
        assert math.isnan(v.gap_cm) != (v.kind == "conversion")


def test_no_primary_with_a_3d_point_no_parents():
    ev, vertices = _track_event(with_track=True)
    assert [v.parent for v in relate(vertices[1:], ev, MAPPER)] == [-1, -1]
    single = found_vertex("interaction", PRIMARY, primary=True, on_views=(2,))
    assert [v.parent for v in relate([single] + vertices[1:], ev, MAPPER)] == [-1, -1, -1]
    assert relate([], ev, MAPPER) == []


def test_segment_coverage_counts_the_charged_share():
    images = blank_images()
    plane = event(images).planes[2]
    a, b = np.array([10.0, 50.0]), np.array([60.0, 50.0])
    assert segment_coverage(plane, a, b) == 0.0
    images[2][10:36, 50] = 80  # the first half of the segment
    half = segment_coverage(event(images).planes[2], a, b)
    assert half == pytest.approx(0.5, abs=0.05)
    images[2][36:61, 50] = 80
    assert segment_coverage(event(images).planes[2], a, b) == 1.0
    assert segment_coverage(plane, a, a + 1.0) == 1.0  # too short to tell
    assert segment_coverage(plane, np.array([-50.0, -50.0]), np.array([-10.0, -10.0])) == 0.0  # off the image


def test_an_earlier_relation_does_not_count():
    ev, vertices = _track_event(with_track=True)
    stale = [dataclasses.replace(v, parent=2, gap_cm=3.0) for v in vertices]
    assert [(v.parent, math.isnan(v.gap_cm)) for v in relate(stale, ev, MAPPER)] == [(-1, True), (0, True), (0, True)]
    assert [v.parent for v in relate(stale[1:], ev, MAPPER)] == [-1, -1]
