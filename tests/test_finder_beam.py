"""The beam-direction prior (vertexfinder.finder.beam) and the candidates the finder proposes with it."""

import math

import numpy as np
import pytest

from vertexfinder.finder.beam import UpstreamProfile, beam_view, cluster_ends, crossings, upstream_ends, wire_tiles
from vertexfinder.detectors import get_detector


@pytest.mark.parametrize("name", ["dune-fd-1x2x6", "microboone", "sbnd", "test-detector"])
def test_the_beam_view_of_a_beam_along_z_is_the_collection_view(name):
    det = get_detector(name)
    v, sign = beam_view(det, (0.0, 0.0, 1.0))
    assert det.views[v] == det.collection_view
    assert sign == (1 if math.cos(det.view_angle_rad(v)) > 0 else -1)
    assert beam_view(det, (0.0, 0.0, -2.0)) == (v, -sign)  # a beam the other way: upstream is the other side


def test_no_beam_view_without_a_beam_or_for_a_beam_along_the_drift():
    det = get_detector("dune-fd-1x2x6")
    assert beam_view(det, None) is None
    assert beam_view(det, (1.0, 0.0, 0.0)) is None  # the drift axis carries no wire coordinate
    assert beam_view(det, (0.0, 0.0, 0.0)) is None
    assert beam_view(det, (float("nan"), 0.0, 1.0)) is None


def test_upstream_profile_is_the_share_of_charge_before_the_point():
    img = np.zeros((10, 4))
    img[0, 0] = 1.0  # wire 0
    img[5, 1] = 2.0  # wire 5
    img[9, 3] = 1.0  # wire 9
    forward = UpstreamProfile(img, origin_wire=100.0, sign=1, margin=2.0)
    assert forward(100.0) == 0.0
    assert forward(103.0) == pytest.approx(0.25)  # wire 0 is more than 2 wires upstream of 103
    assert forward(102.5) == 0.0  # within the margin
    assert forward(108.0) == pytest.approx(0.75)
    assert forward(500.0) == pytest.approx(1.0) and forward(-50.0) == 0.0
    backward = UpstreamProfile(img, origin_wire=100.0, sign=-1, margin=2.0)  # upstream = higher wires
    assert backward(110.0) == 0.0
    assert backward(107.0) == pytest.approx(0.25)  # wire 9 only
    assert backward(102.0) == pytest.approx(0.75)
    assert UpstreamProfile(np.zeros((3, 3)), 0.0, 1)(2.0) == 0.0


def test_upstream_ends_are_the_first_wire_of_the_biggest_clusters():
    img = np.zeros((60, 40), dtype=np.uint8)
    img[20:50, 10] = 30  # a track along the wire axis starting at wire 20, drift 10
    img[20, 11] = 10  # its first wire holds charge at drift 10 (30) and 11 (10)
    img[30:40, 30:32] = 20  # a second cluster starting at wire 30
    img[2, 2] = 5  # a speck upstream of everything: less than 5% of the charge
    ends = upstream_ends(img, sign=1)
    assert ends.shape == (2, 2)
    np.testing.assert_allclose(ends[0], [20.5, (10.5 * 30 + 11.5 * 10) / 40])
    np.testing.assert_allclose(ends[1], [30.5, 31.0])
    back = upstream_ends(img, sign=-1)
    assert back[0][0] == pytest.approx(49.5)  # the other end when the beam comes from the other side
    assert upstream_ends(np.zeros((5, 5)), 1).shape == (0, 2)
    assert len(upstream_ends(img, 1, max_clusters=1)) == 1


def test_crossings_place_points_where_the_charge_crosses_a_drift_row():
    img = np.zeros((100, 20))
    img[10:13, 5] = 1.0  # a narrow crossing: wires 10-12
    img[40:64, 6] = 1.0  # a wide one (24 wires): three points 8 wires apart
    img[80, 15] = 9.0  # on another row, out of reach
    pts = crossings(img, 5.5, half_width=1, spacing=8, max_points=10)
    np.testing.assert_allclose(pts, [11.5, 44.0, 52.0, 60.0])  # the centres of wires 40-47, 48-55, 56-63
    assert len(crossings(img, 5.5, max_points=2)) == 2
    assert crossings(img, 15.2, half_width=0).tolist() == [80.5]
    assert crossings(img, 500.0).size == 0 and crossings(img, -9.0).size == 0


def test_finder_config_checks_the_beam_options():
    from vertexfinder.finder import FinderConfig

    assert FinderConfig(beam_direction=[0, 0.1, 1]).beam_direction == (0.0, 0.1, 1.0)
    assert FinderConfig(beam_direction=None).beam_direction is None
    for bad in ([0, 0, 0], [1, 2], [0, float("inf"), 1]):
        with pytest.raises(ValueError, match="beam_direction"):
            FinderConfig(beam_direction=bad)
    with pytest.raises(ValueError, match="beam_weight"):
        FinderConfig(beam_weight=-1.0)
    for name in ("tile_anchors", "tiles", "crossings", "drift_candidates"):
        with pytest.raises(ValueError, match=name):
            FinderConfig(**{name: -1})
        assert getattr(FinderConfig(**{name: 0}), name) == 0


def test_cluster_ends_are_the_two_ends_of_each_big_cluster():
    img = np.zeros((80, 80), dtype=np.uint8)
    for k in range(30):  # a diagonal track from (10, 10) to (39, 39)
        img[10 + k, 10 + k] = 20
    img[60:62, 50:70] = 40  # a band along the drift axis: wires 60-61, drift 50-69
    img[5, 70] = 50  # one bright pixel: too small a cluster
    ends = cluster_ends(img)
    assert ends.shape == (4, 2)
    got = {tuple(e) for e in np.round(ends, 1)}
    assert {(10.5, 10.5), (39.5, 39.5)} <= got
    band = sorted(e[1] for e in ends if e[0] > 55)
    np.testing.assert_allclose(band, [50.5, 69.5])  # the band's two ends along its axis
    assert len(cluster_ends(img, max_clusters=1)) == 2
    assert cluster_ends(np.zeros((4, 4))).shape == (0, 2)


def test_wire_tiles_put_the_other_views_where_the_anchor_view_is_in_3d():
    """From the true vertex on one view, the tiles along its wire reach the true vertex on the
    others: the views' charge meets there."""
    from vertexfinder.evaluation import vertex_visible
    from vertexfinder.mapper import ImageMapper
    from vertexfinder.simulation import simulate

    events = [e for e in simulate("dune-fd-1x2x6", "numu-cc", events=6, seed=3)
              if e.primary is not None and vertex_visible(e, e.primary, min_planes=3)]
    assert len(events) >= 3
    reached = 0
    for ev in events:
        m = ImageMapper(ev.detector, drift_window=ev.drift_window, pooling=ev.pooling)
        images = [(p.pixels, np.ones(2), np.asarray(p.origin, dtype=np.float64)) for p in ev.planes]
        z = m.view_index("Z")
        tiles = wire_tiles(m, images, z, ev.primary.planes[z], max_points=8)
        assert set(tiles) <= {0, 1, 2} - {z}
        for pts in tiles.values():
            assert pts.shape[1] == 2 and len(pts) <= 8
        reached += all(v in tiles and np.min(np.linalg.norm(tiles[v] - ev.primary.planes[v], axis=1)) <= 2.0
                       for v in range(3) if v != z)
        # nothing where the other views have no charge
        empty = [(np.zeros_like(p.pixels), np.ones(2), np.asarray(p.origin, dtype=np.float64)) for p in ev.planes]
        assert wire_tiles(m, empty, z, ev.primary.planes[z]) == {}
    assert reached >= len(events) - 1
