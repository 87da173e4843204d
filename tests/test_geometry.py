"""Detectors, the channel map with wrapped wires, and the global-image mapper."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vertexfinder.detectors import detector_from_dict, get_detector, list_detectors
from vertexfinder.errors import BadEventError, DetectorSchemaError, GeometryError, UnknownDetectorError
from vertexfinder.mapper import ImageMapper

ROOT = Path(__file__).resolve().parents[1]
SBND = ROOT / "docs" / "detectors" / "sbnd.toml"
BUILTIN = ["dune-fd-1x2x6", "protodune-sp", "microboone", "sbnd", "test-detector"]


# -- detectors -----------------------------------------------------------------------------------


def test_builtin_detectors_are_listed():
    assert set(BUILTIN) <= set(list_detectors())


def test_dune_fd_1x2x6_numbers():
    d = get_detector("dune-fd-1x2x6")
    assert len(d.tpcs) == 24 and d.n_channels == 12 * 2560
    chan_plane = d.channel_plane(np.arange(d.n_channels))
    assert np.bincount(chan_plane).tolist() == [12 * 800, 12 * 800, 12 * 960]
    assert all(t.plane_for_view("Z").n_wires == 480 for t in d.tpcs)
    assert all([p.n_wires for p in t.planes] == [1149, 1148, 480] for t in d.tpcs)  # LArSoft's, per face
    seg = d.segment_table()
    per_channel = np.bincount(seg["channel"], minlength=d.n_channels)
    assert set(per_channel[chan_plane < 2]) == {2, 3}  # wrapped U/V: 2-3 segments
    assert set(per_channel[chan_plane == 2]) == {1}  # collection: unambiguous
    # a wrapped channel's segments alternate between the two faces of its APA
    for ch in (0, 123, 799, 800, 1450):
        segs = d.channel_segments(ch)
        sides = [d.tpcs[t].side for t, _, _ in segs]
        assert {d.tpcs[t].anode for t, _, _ in segs} == {0}
        assert set(sides) == {-1, 1}
    # the wire planes sit at LArSoft's x, not at one anode face: U, V, Z at 39.5, 34.8, 30.0 mm
    for t in d.tpcs:
        np.testing.assert_allclose([p.x_cm * t.side for p in t.planes], [3.95355, 3.47755, 3.00155], atol=1e-6)
        assert t.anode_x_cm == t.planes[0].x_cm


def test_other_builtin_numbers():
    pd = get_detector("protodune-sp")
    assert pd.n_channels == 15360 and len(pd.tpcs) == 6
    assert all(abs(t.cathode_x_cm) < 0.2 for t in pd.tpcs)  # inner faces only, drifting to the central cathode
    ub = get_detector("microboone")
    assert len(ub.tpcs) == 1 and ub.n_channels == 8256
    assert [p.n_wires for p in ub.tpcs[0].planes] == [2400, 2400, 3456]
    sb = get_detector("sbnd")
    assert sb.n_channels == 11264 and len(sb.tpcs) == 2
    assert [p.n_wires for p in sb.tpcs[0].planes] == [1984, 1984, 1664]
    assert sorted(t.side for t in sb.tpcs) == [-1, 1] and sb.trigger_offset_ticks == 400


def test_wrapped_dune_channel_is_one_wire_around_the_apa():
    """The segments of a wrapped channel join, end to end, at the APA's edges, changing face there."""
    d = get_detector("dune-fd-1x2x6")
    for ch in range(0, d.n_channels, 37):
        if d.channel_plane(ch) == 2:
            continue
        ends = [d.tpcs[t].plane_for_view(v).endpoints[w] for t, v, w in d.channel_segments(ch)]
        links = 0
        for i in range(len(ends)):
            for j in range(i):
                if np.sign(ends[i][0, 0]) == np.sign(ends[j][0, 0]):
                    continue  # same face
                gap = np.abs(ends[i][:, None, 1:] - ends[j][None, :, 1:])  # (y, z) between all end pairs
                links += bool(np.any((gap[..., 0] < 1.5) & (gap[..., 1] < 0.1)))
        assert links == len(ends) - 1, ch  # one wire: every segment joins the next around the edge


def test_wrapped_channel_map_follows_the_physical_helix():
    """Walk a U wire of the parametric test detector around its APA and find the (tpc, wire) it lies on."""
    d = get_detector("test-detector")
    an = d.spec.anode
    pu = an.planes[0]
    n = pu.channels
    a = pu.angle_rad
    wp = n * pu.pitch_cm / (2 * math.cos(a))  # width covered by the wound wires
    xc, yc, zc = d.spec.anodes[0].center_cm
    z_lo, y_top = zc - wp / 2, yc + an.height_cm / 2
    tpc_of_side = {t.side: t for t in d.tpcs if t.anode == 0}
    for ch in (3, 25, 40, 77):
        visited = set()
        for y in np.linspace(y_top - 0.01, y_top - an.height_cm + 0.01, 4000):
            u = ((ch + 0.5) * 2 * wp / n + (y_top - y) * math.tan(a)) % (2 * wp)
            if u < wp:
                side, z = 1, z_lo + u
            else:
                side, z = -1, z_lo + 2 * wp - u
            t = tpc_of_side[side]
            plane = t.planes[0]  # the readout U plane of that face
            wire = int(math.floor(plane.wire_coordinate(y, z)))
            if 0 <= wire < plane.n_wires and abs(plane.wire_coordinate(y, z) - wire - 0.5) < 0.45:
                visited.add((t.index, wire))
        expected = {(t, w) for t, _, w in d.channel_segments(ch)}
        assert visited == expected


@pytest.mark.parametrize("name", BUILTIN)
def test_segments_lie_on_their_plane_one_pitch_apart(name):
    d = get_detector(name)
    for t in d.tpcs[:4]:
        for p in t.planes:
            np.testing.assert_allclose(p.endpoints[:, :, 0], p.x_cm, atol=1e-9)
            c = p.endpoints.mean(axis=1)
            mid = p.wire_coordinate(c[:, 1], c[:, 2])
            np.testing.assert_allclose(mid, np.arange(p.n_wires) + 0.5, atol=0.01 / p.pitch_cm)  # 0.1 mm
            y0, y1, z0, z1 = p.segments.T
            assert np.all(y0 <= y1) and np.all(z0 <= z1)


def test_detector_from_file_and_dict_round_trip(tmp_path):
    d = get_detector("dune-fd-1x2x6")
    path = tmp_path / "copy.json"
    path.write_text(json.dumps(d.spec.to_dict()))
    for other in (get_detector(str(path)), detector_from_dict(d.spec.to_dict())):
        assert [t.box for t in other.tpcs] == [t.box for t in d.tpcs]
        for a, b in zip(other.tpcs, d.tpcs):
            for p, q in zip(a.planes, b.planes):
                np.testing.assert_array_equal(p.channels, q.channels)


def test_sbnd_example_file_is_the_builtin_sbnd():
    d = get_detector(str(SBND))
    ref = get_detector("sbnd")
    assert d.name == "sbnd-example" and len(d.tpcs) == 2 and d.views == ("U", "V", "Z")
    for a, b in zip(d.tpcs, ref.tpcs):
        assert a.box == b.box
        for p, q in zip(a.planes, b.planes):
            np.testing.assert_array_equal(p.channels, q.channels)
            np.testing.assert_array_equal(p.endpoints, q.endpoints)
    minus = next(t for t in d.tpcs if t.side < 0)
    assert minus.planes[0].plane == "U" and minus.planes[0].view == "V"
    m = ImageMapper(d)
    assert m.drift_block(minus.index)[2]  # the -x facing TPC is flipped in drift
    assert m.wire_flipped("Z", minus.index) != m.wire_flipped("Z", 1 - minus.index)


def test_unknown_detector_names_the_builtins_and_suggests():
    with pytest.raises(UnknownDetectorError) as err:
        get_detector("dune-fd-1x2x7")
    msg = str(err.value)
    assert "dune-fd-1x2x6" in msg and "Did you mean" in msg
    assert isinstance(err.value, KeyError)


@pytest.mark.parametrize("edit,match", [
    (lambda d: d.pop("tick_us"), "tick_us"),
    (lambda d: d.update(colour="blue"), "colour"),
    (lambda d: d["anode"]["planes"][0].update(angle_deg=95.0), "angle_deg"),
    (lambda d: d["anode"].update(faces=1), "faces"),
    (lambda d: d["anode"]["planes"][2].update(wires_per_face=600), "do not fit"),
    (lambda d: d.update(views=["U", "V", "W"]), "view"),
])
def test_schema_errors_name_the_problem(edit, match):
    data = get_detector("test-detector").spec.to_dict()
    edit(data)
    with pytest.raises(DetectorSchemaError, match=match):
        detector_from_dict(data)


# -- mapper --------------------------------------------------------------------------------------


def test_dune_global_image_sizes_at_drift_window_6():
    m = ImageMapper("dune-fd-1x2x6", drift_window=6)
    assert m.shape("U") == (3922, 1514) and m.shape("V") == (3922, 1514) and m.shape("Z") == (2906, 1514)
    d = m.detector
    px = 0.1606 * 0.5 * 6
    n = math.ceil(4492 / 6)
    # six APAs along z: the collection wires of APA k start ~485 wires (232.39 cm / 0.479 cm) after APA k-1's
    first_z = [t.planes[2].endpoints[:, :, 2].min() for t in d.tpcs if t.side > 0 and t.anode % 2 == 0]
    assert m.shape("Z")[0] == round((first_z[-1] - first_z[0]) / 0.479) + 480
    # the historical hand-tuned constants, now derived: 404 U and 485 Z wires per APA along z
    t_next = next(t for t in d.tpcs if t.anode == 2 and t.side == 1)  # same height, next APA along z
    assert m.wire_offset("U", t_next.index) - m.wire_offset("U", 1) == 404
    assert m.wire_offset("Z", t_next.index) - m.wire_offset("Z", 1) == 485
    # in drift: two readout blocks, the -x one flipped, and between them the distance between the
    # two faces' wire planes of that view (U 7.4, V 7.9 cm: the other face's planes; Z 6.0 cm)
    for view in m.views:
        s0, n0, f0 = m.drift_block(0, view)
        s1, n1, f1 = m.drift_block(1, view)
        assert f0 and not f1 and n0 == n1 == n
        gap_cm = m.tpc_plane(view, 1).x_cm - m.tpc_plane(view, 0).x_cm
        assert abs((s1 - (s0 + n0)) - gap_cm / px) <= 1.0
    assert m.shape("Z")[1] == max(m.drift_block(1, v)[0] for v in m.views) + n


def test_views_collect_parallel_wires_and_flip_reversed_planes():
    """On the global wire axis of a view, a 3D line along the view's wires stays on one global wire."""
    for name in ("dune-fd-1x2x6", "protodune-sp", "sbnd"):
        m = ImageMapper(name)
        d = m.detector
        for v in m.views:
            a = d.view_angle_rad(v)
            along = np.array([0.0, math.cos(a), -math.sin(a)])  # wire direction of the view, (x, y, z)
            for t in d.tpcs:
                c = np.array([sum(t.box[:2]) / 2, sum(t.box[2:4]) / 2, sum(t.box[4:]) / 2])
                g = m.project_points(np.stack([c - 20 * along, c, c + 20 * along]))[:, m.view_index(v), 0]
                np.testing.assert_allclose(g, g[1], atol=2e-3)  # planes' fitted angles differ by < 0.01 deg
                # and one wire pitch across it is one global wire more
                across = np.array([0.0, math.sin(a), math.cos(a)]) * d.view_pitch_cm(v)
                assert m.project_points(c + across)[0, m.view_index(v), 0] - g[1] == pytest.approx(1.0, abs=5e-3)  # actual wire spacings vary by 0.2%


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(BUILTIN), window=st.sampled_from([1, 4, 6]), data=st.data())
def test_integer_round_trip(name, window, data):
    m = ImageMapper(name, drift_window=window)
    d = m.detector
    tpc = data.draw(st.integers(0, len(d.tpcs) - 1))
    view = data.draw(st.sampled_from(m.views))
    wire = data.draw(st.integers(0, m.tpc_plane(view, tpc).n_wires - 1))
    tick = data.draw(st.integers(0, d.ticks_per_readout - 1))
    gw, gd = m.to_global(view, tpc, wire, tick)
    assert 0 <= gw < m.shape(view)[0] and 0 <= gd < m.shape(view)[1]
    w2, t2 = m.to_local(view, gw, gd, tpc)
    assert w2 == wire and t2 == tick // window * window
    assert tpc in m.tpcs_at(view, int(gw), int(gd))
    assert m.to_global(view, tpc, w2, t2) == (gw, gd)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(BUILTIN + [str(SBND)]), data=st.data())
def test_one_point_wire_coordinates_are_those_of_the_array_path(name, data):
    # the 3D fit calls wire_coordinate one point at a time (plain floats); arrays take NumPy's path
    d = get_detector(name)
    t = d.tpcs[data.draw(st.integers(0, len(d.tpcs) - 1))]
    plane = t.planes[data.draw(st.integers(0, len(t.planes) - 1))]
    y = data.draw(st.floats(t.box[2] - 20.0, t.box[3] + 20.0))
    z = data.draw(st.floats(t.box[4] - 20.0, t.box[5] + 20.0))
    one = plane.wire_coordinate(y, z)
    assert isinstance(one, float)
    assert math.isclose(one, float(plane.wire_coordinate(np.array([y]), np.array([z]))[0]), rel_tol=0, abs_tol=1e-9)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(BUILTIN + [str(SBND)]), data=st.data())
def test_the_points_of_a_wire_at_a_drift_time_see_that_wire_and_hold_the_point(name, data):
    m = ImageMapper(name, drift_window=6)
    t = m.detector.tpcs[data.draw(st.integers(0, len(m.detector.tpcs) - 1))]
    f = [data.draw(st.floats(0.05, 0.95)) for _ in range(3)]
    xyz = np.array([t.box[0] + f[0] * (t.box[1] - t.box[0]), t.box[2] + f[1] * (t.box[3] - t.box[2]),
                    t.box[4] + f[2] * (t.box[5] - t.box[4])])
    view = data.draw(st.sampled_from(m.views))
    p = m.project(xyz, view)
    pts = m.wire_points(view, p.global_wire, p.global_drift, step_cm=0.3)
    assert len(pts) > 1
    # the point itself is on the line, within half a step
    assert np.min(np.linalg.norm(pts - xyz, axis=1)) <= 0.15 + 1e-6
    # every point lies in a TPC and is seen on that view at the same wire and drift
    proj = m.project_points(pts)[:, m.view_index(view)]
    assert np.all(np.isfinite(proj))
    mine = m.detector.tpc_of(pts) == t.index
    np.testing.assert_allclose(proj[mine, 0], p.global_wire, atol=0.02)
    np.testing.assert_allclose(proj[mine, 1], p.global_drift, atol=1e-6)
    assert m.wire_points(view, -50.0, p.global_drift).shape == (0, 3)  # no TPC covers it


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(BUILTIN + [str(SBND)]), data=st.data())
def test_one_point_projection_in_a_known_tpc_is_the_array_projection(name, data):
    # wire tiles project the ends of each straight piece through its TPC's plain-float maps
    m = ImageMapper(name, drift_window=data.draw(st.sampled_from([1, 6])))
    t = m.detector.tpcs[data.draw(st.integers(0, len(m.detector.tpcs) - 1))]
    f = [data.draw(st.floats(0.0, 1.0)) for _ in range(3)]
    xyz = np.array([t.box[0] + f[0] * (t.box[1] - t.box[0]), t.box[2] + f[1] * (t.box[3] - t.box[2]),
                    t.box[4] + f[2] * (t.box[5] - t.box[4])])
    one = np.array(m.project_in(xyz, t.index))
    assert one.shape == (len(m.views), 2)
    if m.detector.tpc_of(xyz[None])[0] == t.index:
        np.testing.assert_allclose(one, m.project_points(xyz[None])[0], rtol=0, atol=1e-9)
    for v in range(len(m.views)):  # and the maps back: a global drift's x, a global wire's local wire
        maps = m._one_point(v, t.index)
        assert math.isclose(maps.x_of(maps.drift_of(xyz[0])), xyz[0], abs_tol=1e-9)
        assert math.isclose(maps.global_of(maps.wire_of(one[v, 0])), one[v, 0], abs_tol=1e-9)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(BUILTIN + [str(SBND)]), data=st.data())
def test_project_then_backproject(name, data):
    m = ImageMapper(name, drift_window=6)
    d = m.detector
    t = d.tpcs[data.draw(st.integers(0, len(d.tpcs) - 1))]
    f = [data.draw(st.floats(0.02, 0.98)) for _ in range(3)]
    xyz = np.array([t.box[0] + f[0] * (t.box[1] - t.box[0]), t.box[2] + f[1] * (t.box[3] - t.box[2]),
                    t.box[4] + f[2] * (t.box[5] - t.box[4])])
    pr = {v: m.project(xyz, v) for v in m.views}
    assert all(p.tpc == t.index for p in pr.values())
    # each plane reads the charge after drifting to its own wires; the global drift is shared
    for v, p in pr.items():
        plane = m.tpc_plane(v, t.index)
        dist = (xyz[0] - plane.x_cm) * t.side
        assert math.isclose(p.tick, d.trigger_offset_ticks + dist / d.cm_per_tick, rel_tol=1e-12, abs_tol=1e-9)
    assert math.isclose(pr["Z"].tick, float(d.drift_ticks(t.index, xyz[0])))
    drifts = [p.global_drift for p in pr.values()]
    assert max(drifts) - min(drifts) <= 1.0
    for v, p in pr.items():
        if p.channel >= 0:
            assert (t.index, v, int(math.floor(p.wire))) in d.channel_segments(p.channel)
    bp = m.backproject({v: (p.global_wire, p.global_drift) for v, p in pr.items()})
    np.testing.assert_allclose(bp.position_cm, xyz, atol=1e-6)
    assert bp.residual_cm < 1e-6 and bp.inside
    for pair in (("U", "Z"), ("V", "Z")):
        bp2 = m.backproject({v: (pr[v].global_wire, pr[v].global_drift) for v in pair})
        np.testing.assert_allclose(bp2.position_cm, xyz, atol=1e-6)
    arr = m.project_points(xyz[None])[0]
    np.testing.assert_allclose(arr[:, 0], [pr[v].global_wire for v in m.views])


def test_backproject_needs_two_angles_and_reports_disagreement():
    m = ImageMapper("test-detector")
    p = {v: m.project([10.0, 5.0, 12.0], v) for v in m.views}
    with pytest.raises(GeometryError, match="two views"):
        m.backproject({"Z": (p["Z"].global_wire, p["Z"].global_drift)})
    def residual(shift):
        moved = {v: (q.global_wire + (shift if v == "U" else 0.0), q.global_drift) for v, q in p.items()}
        return m.backproject(moved).residual_cm

    assert residual(0.0) < 1e-9
    assert residual(3.0) > 0.1  # 3 wires (1.4 cm) of disagreement on U
    assert residual(3.0) == pytest.approx(10 * residual(0.3), rel=1e-6)  # linear in the disagreement


def test_outside_points_and_bad_indices():
    m = ImageMapper("test-detector")
    assert m.project([1000.0, 0.0, 0.0], "U").tpc == -1
    with pytest.raises(GeometryError, match="TPC 9"):
        m.to_global("U", 9, 0, 0)
    with pytest.raises(GeometryError, match="tick"):
        m.to_global("U", 0, 0, 10**6)
    with pytest.raises(GeometryError, match="unknown view"):
        m.shape("W")


# -- global images -------------------------------------------------------------------------------


def test_image_from_tpcs_places_and_flips():
    m = ImageMapper("test-detector", drift_window=6)
    for tpc in (0, 1):
        plane = m.tpc_plane("Z", tpc)
        img = np.zeros((plane.n_wires, 600), np.float32)
        img[7, 125] = 50.0
        out = m.image_from_tpcs("Z", {tpc: img})
        gw, gd = m.to_global("Z", tpc, 7, 125)
        assert out[gw, gd] == 50.0 and np.count_nonzero(out) == 1
    with pytest.raises(BadEventError, match="shape"):
        m.image_from_tpcs("Z", {0: np.zeros((3, 600))})


def test_frames_put_wrapped_charge_on_every_segment():
    m = ImageMapper("test-detector", drift_window=6)
    d = m.detector
    ch = 5  # a U channel of APA 0
    frame = np.zeros((1, 600), np.float32)
    frame[0, 300] = 40.0
    imgs = m.images_from_frame(frame, [ch])
    lit = sum(np.count_nonzero(i) for i in imgs)
    assert lit == len(d.channel_segments(ch)) >= 2
    for t, view, w in d.channel_segments(ch):
        gw, gd = m.to_global(view, t, w, 300)
        assert imgs[m.view_index(view)][gw, gd] == 40.0
    # a collection channel lights one pixel
    zc = d.tpcs[1].plane_for_view("Z").channels[10]
    imgs = m.images_from_frame(frame, [zc])
    assert sum(np.count_nonzero(i) for i in imgs) == 1


def test_disambiguation_keeps_only_the_true_segment():
    m = ImageMapper("test-detector", drift_window=6)
    d = m.detector
    xyz = np.array([20.0, 10.0, 11.0])
    pr = {v: m.project(xyz, v) for v in m.views}
    tick = int(pr["Z"].tick)
    chans = [pr[v].channel for v in m.views]
    frame = np.zeros((3, 600), np.float32)
    frame[:, tick] = 60.0
    ghosts = m.images_from_frame(frame, chans)
    clean = m.images_from_frame(frame, chans, disambiguate=True)
    for v in ("U", "V"):
        k = m.view_index(v)
        assert np.count_nonzero(ghosts[k]) > 1  # the channel's other segments: ghosts
        assert np.count_nonzero(clean[k]) == 1
        gw, gd = int(math.floor(pr[v].global_wire)), int(math.floor(pr[v].global_drift))
        assert clean[k][gw, gd] == 60.0
    np.testing.assert_array_equal(clean[m.view_index("Z")], ghosts[m.view_index("Z")])
    # with no collection charge at all, nothing wrapped survives
    zero_coll = frame.copy()
    zero_coll[2] = 0
    gone = m.images_from_frame(zero_coll, chans, disambiguate=True)
    assert np.count_nonzero(gone[0]) == 0 and np.count_nonzero(gone[1]) == 0


def test_frames_at_another_tick_period_land_in_the_same_pixel():
    m = ImageMapper("test-detector", drift_window=6)
    ch = [d for d in [m.detector.tpcs[1].plane_for_view("Z").channels[3]]]
    native = np.zeros((1, 600), np.float32)
    native[0, 240:244] = 30.0  # 2 us of signal at 0.5 us ticks
    coarse = np.zeros((1, 150), np.float32)
    coarse[0, 60] = 30.0  # the same 2 us as one 2 us sample
    a = m.images_from_frame(native, ch)[2]
    b = m.images_from_frame(coarse, ch, tick_us=2.0)[2]
    assert np.array_equal(np.argwhere(a > 0), np.argwhere(b > 0))


def test_bad_frames():
    m = ImageMapper("test-detector")
    with pytest.raises(BadEventError, match="one row per channel"):
        m.images_from_frame(np.zeros((2, 10)), [1])
    with pytest.raises(BadEventError, match="out of range"):
        m.images_from_frame(np.zeros((1, 10)), [10**6])
    with pytest.raises(BadEventError, match="more than one row"):
        m.images_from_frame(np.zeros((2, 10)), [3, 3])
