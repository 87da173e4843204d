"""Slices: restricting an event to a region (vertexfinder.slices), slice maps on planes and from hits,
the finder and the find/evaluate commands per slice (with a small untrained model), and the sparse
area-average resampling the finder's preparation uses."""

import csv
import dataclasses
import json
import math

import numpy as np
import pytest
from handmade import paint_segment

from vertexfinder.errors import BadEventError
from vertexfinder.imaging import resample_image
from vertexfinder.inputs import event_from_hits, frame_from_event
from vertexfinder.io.events import read_events
from vertexfinder.mapper import ImageMapper
from vertexfinder.records import EventRecord, PlaneImage, vertex_visible
from vertexfinder.simulation import SimulationConfig, simulate, simulate_event
from vertexfinder.slices import (
    COSMIC_SLICE,
    NEUTRINO_SLICE,
    neutrino_slice,
    region_masks,
    restrict,
    slice_ids,
    truth_slices,
    with_truth_slices,
)

DETECTOR = "test-detector"
MAPPER = ImageMapper(DETECTOR)


@pytest.fixture(scope="module")
def events():
    return [e for e in simulate(DETECTOR, "numu-cc", events=4, seed=11) if e.primary is not None]


def _halves(ev):
    """The event with slice maps: slice 0 on the lower half of each crop's wires, 1 on the upper,
    -1 where there is no charge (and 7 on one empty pixel: not a slice of the event)."""
    planes = []
    for p in ev.planes:
        s = np.where(np.arange(p.shape[0])[:, None] < p.shape[0] // 2, 0, 1) * np.ones(p.shape, np.int16)
        s = np.where(p.pixels > 0, s, -1).astype(np.int16)
        empty = np.argwhere(p.pixels == 0)
        if len(empty):
            s[tuple(empty[0])] = 7
        planes.append(dataclasses.replace(p, slices=s))
    return dataclasses.replace(ev, planes=planes)


# -- slice maps on planes, the reference vertex on records ---------------------------------------------------


def test_a_plane_s_slice_map_must_be_integers_of_the_pixels_shape():
    pix = np.ones((4, 5), np.uint8)
    p = PlaneImage("U", pix, (0, 0), slices=np.zeros((4, 5), np.int32))
    assert p.slices.dtype == np.int16 and p.slices.shape == (4, 5)
    assert PlaneImage("U", pix, (0, 0)).slices is None
    with pytest.raises(BadEventError, match=r"plane U: the slice map must be integers of the pixels' shape \(4, 5\); "
                                            r"Received: shape=\(5, 4\)"):
        PlaneImage("U", pix, (0, 0), slices=np.zeros((5, 4), np.int16))
    for dtype in (np.float32, bool):
        with pytest.raises(BadEventError, match=f"plane V: .*dtype={np.dtype(dtype)}"):
            PlaneImage("V", pix, (0, 0), slices=np.zeros((4, 5), dtype))


def test_records_carry_no_reference_vertex_unless_given(events):
    ev = events[0]
    assert ev.reference_vertex_cm is None
    assert EventRecord(1, 0, 0, DETECTOR, 6, "max", ev.planes).reference_vertex_cm is None
    assert dataclasses.replace(ev, reference_vertex_cm=(1.0, 2.0, 3.0)).reference_vertex_cm == (1.0, 2.0, 3.0)


# -- restrict: by slice number, masks, box ---------------------------------------------------------------------


def test_slice_ids_list_the_charged_slices_only(events):
    assert slice_ids(events[0]) == []  # no slice maps
    assert slice_ids(_halves(events[0])) == [0, 1]  # -1 and the 7 on an empty pixel left out


def test_restrict_by_slice_number_keeps_that_slice_s_charge(events):
    ev = _halves(events[0])
    for s in (0, 1):
        out = restrict(ev, s)
        assert out.ids == ev.ids and out.vertices is ev.vertices
        for p, q in zip(ev.planes, out.planes):
            assert q.origin == p.origin and q.pixels.dtype == np.uint8
            np.testing.assert_array_equal(q.pixels, np.where(p.slices == s, p.pixels, 0))
            np.testing.assert_array_equal(q.truth, p.truth)  # truth and slice maps kept
            np.testing.assert_array_equal(q.slices, p.slices)
        assert all((q.pixels > 0).any() for q in out.planes)  # each half holds charge
    empty = restrict(ev, 3)  # a slice the event does not have: nothing left
    assert all(not q.pixels.any() for q in empty.planes)


def test_restrict_by_masks_keeps_the_masked_pixels(events):
    ev = events[0]
    rng = np.random.default_rng(0)
    masks = [rng.random(p.shape) < 0.5 for p in ev.planes]
    out = restrict(ev, masks)
    for p, q, m in zip(ev.planes, out.planes, masks):
        np.testing.assert_array_equal(q.pixels, np.where(m, p.pixels, 0))
    assert [m.dtype for m in region_masks(ev, [m.astype(int) for m in masks])] == [np.dtype(bool)] * 3


def test_restrict_by_box_keeps_the_box_s_projection(events):
    for ev in events:
        truth = ev.primary
        tpc = MAPPER.detector.tpcs[ev.tpc]
        b = np.asarray(tpc.box, dtype=float).reshape(3, 2)
        box = np.stack([np.maximum(truth.position_cm - 6, b[:, 0] + 0.5),
                        np.minimum(truth.position_cm + 6, b[:, 1] - 0.5)], axis=1)  # inside the vertex's TPC
        out = restrict(ev, [tuple(r) for r in box])
        corners = np.array([[x, y, z] for x in box[0] for y in box[1] for z in box[2]])
        proj = MAPPER.project_points(corners)  # (8, views, 2) global pixels
        assert np.isfinite(proj).all()
        for v, (p, q) in enumerate(zip(ev.planes, out.planes)):
            lo, hi = proj[:, v].min(axis=0), proj[:, v].max(axis=0)
            w = np.arange(p.shape[0])[:, None] + p.origin[0]
            d = np.arange(p.shape[1])[None, :] + p.origin[1]
            outer = (w >= np.floor(lo[0])) & (w <= np.ceil(hi[0])) & (d >= np.floor(lo[1])) & (d <= np.ceil(hi[1]))
            inner = (w >= np.ceil(lo[0])) & (w <= np.floor(hi[0])) & (d >= np.ceil(lo[1])) & (d <= np.floor(hi[1]))
            assert not q.pixels[~outer].any()  # nothing outside the box's projection
            np.testing.assert_array_equal(q.pixels[inner], p.pixels[inner])  # everything inside it
            assert q.pixels[~outer].size and p.pixels[~outer].any()  # there was charge to remove
            # the true vertex's pixels (3 px around its projection) are kept
            tw, td = np.floor(truth.planes[v]).astype(int) - np.asarray(p.origin)
            sl = np.s_[max(tw - 3, 0):tw + 4, max(td - 3, 0):td + 4]
            np.testing.assert_array_equal(q.pixels[sl], p.pixels[sl])
        assert vertex_visible(out, truth)


def test_bad_regions_are_refused_with_clear_errors(events):
    ev = events[0]
    with pytest.raises(BadEventError, match=r"event 1/0/0: region=2 is a slice number, but the event has no slice "
                                            r"maps \(hit inputs need a 'slice' column\)"):
        restrict(ev, 2)
    with pytest.raises(BadEventError, match=r"2 region masks for 3 planes"):
        restrict(ev, [np.ones(p.shape, bool) for p in ev.planes[:2]])
    bad = [np.ones(p.shape, bool) for p in ev.planes]
    bad[1] = np.ones((3, 3), bool)
    with pytest.raises(BadEventError, match=rf"the region mask of plane V has shape \(3, 3\), the plane "
                                            rf"\({ev.planes[1].shape[0]}, {ev.planes[1].shape[1]}\)"):
        restrict(ev, bad)
    for box in ([(0, 1), (0, 1)], [(1, 0), (0, 1), (0, 1)], [(0, np.nan), (0, 1), (0, 1)], "everything", True,
                [(0, 1, 2), (0, 1, 2), (0, 1, 2)]):
        with pytest.raises(BadEventError, match=r"a region is a slice number, one mask per plane or a box "
                                                r"\(\(x_lo, x_hi\), \(y_lo, y_hi\), \(z_lo, z_hi\)\) in cm; Received"):
            restrict(ev, box)


# -- true slices of simulated events with cosmics ---------------------------------------------------------------


@pytest.fixture(scope="module")
def sbnd_event():
    """SBND, booster numu CC with the cosmics of a surface readout: a neutrino vertex, the
    neutrino's muon decay and a cosmic muon's decay (each with charge)."""
    return simulate_event(SimulationConfig("sbnd", "numu-cc", beam="booster", cosmics="auto"), 4, 0)


def test_true_slices_split_the_neutrino_s_charge_from_the_cosmics(sbnd_event):
    ev = sbnd_event
    cosmic = np.array([v.is_cosmic for v in ev.vertices])
    assert cosmic.any() and not cosmic.all()
    counts = {"neutrino": 0, "cosmic vertex": 0, "no vertex": 0}
    for p, s in zip(ev.planes, truth_slices(ev)):
        assert s.shape == p.shape
        t = p.truth
        charged = p.pixels > 0
        assert (s[~charged] == -1).all()
        nu = charged & (t >= 0) & ~cosmic[np.clip(t, 0, None)]
        cv = charged & (t >= 0) & cosmic[np.clip(t, 0, None)]
        none = charged & (t < 0)
        assert (s[nu] == NEUTRINO_SLICE).all() and (s[cv] == COSMIC_SLICE).all() and (s[none] == COSMIC_SLICE).all()
        counts["neutrino"] += int(nu.sum())
        counts["cosmic vertex"] += int(cv.sum())
        counts["no vertex"] += int(none.sum())
    assert min(counts.values()) > 0, counts
    sliced = with_truth_slices(ev)
    for p, q, s in zip(ev.planes, sliced.planes, truth_slices(ev)):
        np.testing.assert_array_equal(q.slices, s)
        np.testing.assert_array_equal(q.pixels, p.pixels)
    assert slice_ids(sliced) == [NEUTRINO_SLICE, COSMIC_SLICE]


def test_the_neutrino_slice_of_a_simulated_event_holds_no_cosmic_charge(sbnd_event):
    ev2, s = neutrino_slice(sbnd_event)
    assert s == NEUTRINO_SLICE
    out = restrict(ev2, s)
    cosmic = [i for i, v in enumerate(sbnd_event.vertices) if v.is_cosmic]
    for p in out.planes:
        assert not p.pixels[np.isin(p.truth, cosmic) | (p.truth < 0)].any()
        assert p.pixels[p.truth == 0].any()  # the neutrino vertex's charge is there


def test_the_neutrino_slice_of_given_slice_maps_is_the_one_around_the_true_vertex(events):
    ev = events[0]
    planes = []
    for p, xy in zip(ev.planes, ev.primary.planes):
        s = np.full(p.shape, 3, np.int16)
        w, d = np.floor(xy).astype(int) - np.asarray(p.origin)
        s[max(w - 4, 0):w + 5, max(d - 4, 0):d + 5] = 5
        planes.append(dataclasses.replace(p, slices=s))
    got, s = neutrino_slice(dataclasses.replace(ev, planes=planes))
    assert s == 5 and got.planes[0].slices is planes[0].slices  # the event's own maps are kept
    assert neutrino_slice(dataclasses.replace(ev, vertices=()))[1] is None
    no_truth = dataclasses.replace(ev, planes=[dataclasses.replace(p, truth=None) for p in ev.planes])
    assert neutrino_slice(no_truth)[1] is None
    with pytest.raises(BadEventError, match="plane U has no truth map"):
        truth_slices(no_truth)


# -- hits with slices -------------------------------------------------------------------------------------------

TPC = MAPPER.detector.tpcs[1]
ZPLANE = TPC.plane_for_view("Z")


def _hits():
    """(channels, peak ticks, integrals, slices): slice 0 on wires 10-13, slice 1 on wires 30-33,
    both on wire 20 at tick 300 (slice 1 with 4x the charge) and on wire 25 at tick 350 (slice 0
    with 4x the charge), an unsliced hit on wire 40."""
    ch, tick, q, s = [], [], [], []
    for w in range(10, 14):
        ch, tick, q, s = ch + [ZPLANE.channels[w]], tick + [200.0], q + [800.0], s + [0]
    for w in range(30, 34):
        ch, tick, q, s = ch + [ZPLANE.channels[w]], tick + [400.0], q + [800.0], s + [1]
    ch, tick, q, s = ch + [ZPLANE.channels[20]] * 2, tick + [300.0, 300.0], q + [500.0, 2000.0], s + [0, 1]
    ch, tick, q, s = ch + [ZPLANE.channels[25]] * 2, tick + [350.0, 350.0], q + [2000.0, 500.0], s + [0, 1]
    ch, tick, q, s = ch + [ZPLANE.channels[40]], tick + [100.0], q + [800.0], s + [-1]
    return np.array(ch), np.array(tick), np.array(q), np.array(s)


def _slice_at(rec, wire, tick):
    z = MAPPER.view_index("Z")
    gw, gd = MAPPER.to_global("Z", TPC.index, wire, int(tick))
    p = rec.planes[z]
    return int(p.slices[gw - p.origin[0], gd - p.origin[1]]), int(p.pixels[gw - p.origin[0], gd - p.origin[1]])


def test_hits_with_slices_give_slice_maps_of_the_strongest_hits():
    ch, tick, q, s = _hits()
    plain = event_from_hits(ch, tick, q, detector=MAPPER, width_ticks=3.0)
    rec = event_from_hits(ch, tick, q, detector=MAPPER, width_ticks=3.0, slices=s)
    assert all(p.slices is None for p in plain.planes)
    for a, b in zip(plain.planes, rec.planes):  # the pixels do not change
        assert a.origin == b.origin
        np.testing.assert_array_equal(a.pixels, b.pixels)
        assert b.slices is not None and b.slices.shape == b.pixels.shape
        assert (b.slices[b.pixels == 0] == -1).all()
    for w in range(10, 14):
        assert _slice_at(rec, w, 200)[0] == 0 and _slice_at(rec, w, 200)[1] > 0
    for w in range(30, 34):
        assert _slice_at(rec, w, 400)[0] == 1 and _slice_at(rec, w, 400)[1] > 0
    assert _slice_at(rec, 20, 300)[0] == 1  # slice 1 gives wire 20 the most charge
    assert _slice_at(rec, 25, 350)[0] == 0  # slice 0 gives wire 25 the most charge
    assert _slice_at(rec, 40, 100)[0] == -1
    z = rec.planes[MAPPER.view_index("Z")]
    assert set(np.unique(z.slices[z.pixels > 0])) == {-1, 0, 1}
    assert slice_ids(rec) == [0, 1]
    # restricting to a slice keeps its hits' pixels
    only1 = restrict(rec, 1).planes[MAPPER.view_index("Z")]
    np.testing.assert_array_equal(only1.pixels, np.where(z.slices == 1, z.pixels, 0))


def test_a_pixel_charged_mostly_by_an_unsliced_hit_has_no_slice():
    ch = np.array([ZPLANE.channels[20]] * 2)
    rec = event_from_hits(ch, [300.0, 300.0], [2000.0, 300.0], detector=MAPPER, width_ticks=3.0, slices=[-1, 0])
    assert _slice_at(rec, 20, 300)[0] == -1


@pytest.mark.parametrize("values, match", [
    ([0, 2.5], r"hit 1 \(channel \d+\) has slice 2\.5; slices are whole numbers from -1 \(none\) to 32767"),
    ([-2, 0], r"hit 0 \(channel \d+\) has slice -2; slices are whole"),
    ([0, 40000], r"hit 1 \(channel \d+\) has slice 40000"),
    ([0], r"slices must be one per hit; Received: 1 values for 2 hits"),
    (["a", "b"], r"hit slices must hold real numbers"),
])
def test_bad_hit_slices_are_refused(values, match):
    ch = [ZPLANE.channels[5], ZPLANE.channels[6]]
    with pytest.raises(BadEventError, match=match):
        event_from_hits(ch, [100.0, 100.0], [500.0, 500.0], detector=MAPPER, slices=values, source="hits.npz")


def test_a_hit_file_with_a_slice_array_is_read_with_slice_maps(tmp_path):
    ch, tick, q, s = _hits()
    np.savez(tmp_path / "hits.npz", channel=ch, peak_tick=tick, integral=q, width_ticks=np.full(len(ch), 3.0), slice=s)
    (rec,) = read_events(tmp_path / "hits.npz", detector=DETECTOR)
    want = event_from_hits(ch, tick, q, detector=MAPPER, width_ticks=3.0, slices=s)
    for a, b in zip(rec.planes, want.planes):
        np.testing.assert_array_equal(a.pixels, b.pixels)
        np.testing.assert_array_equal(a.slices, b.slices)
    assert slice_ids(rec) == [0, 1]


# -- the finder ------------------------------------------------------------------------------------------------

keras = pytest.importorskip("keras")

from tests.test_finder import finder, model_dir  # noqa: E402, F401 (fixtures)


def _points(vertices):
    return [(v.kind, v.primary, None if v.position_cm is None else tuple(np.round(v.position_cm, 4)),
             tuple(None if pv is None else (round(pv.global_wire, 3), round(pv.global_drift, 3)) for pv in v.planes))
            for v in vertices]


def _with_far_charge(ev):
    """The event on whole global images (origin 0) with a bright track added in the drift volume
    on the other side of the cathode from its true vertex."""
    images = [p.to_global(MAPPER.shape(p.view)) for p in ev.planes]
    x = 40.0 if ev.primary.position_cm[0] < 0 else -40.0
    paint_segment(images, (x, -25.0, 2.0), (x, 25.0, 45.0), charge=200)
    return dataclasses.replace(ev, planes=[PlaneImage(p.view, im, (0, 0)) for p, im in zip(ev.planes, images)])


def _box(ev, half=8.0):
    return [(c - half, c + half) for c in ev.primary.position_cm]


def test_what_is_found_in_a_region_does_not_depend_on_the_charge_outside_it(finder, events):
    changed = 0
    for ev in events:
        far = _with_far_charge(ev)
        box = _box(ev)
        # the added charge lies outside the box: the two events agree inside it
        for a, b in zip(restrict(ev, box).planes, restrict(far, box).planes):
            np.testing.assert_array_equal(a.to_global(MAPPER.shape(a.view)), b.to_global(MAPPER.shape(b.view)))
        want = _points(finder.find(ev, mode="all", region=box))
        assert want
        assert _points(finder.find(far, mode="all", region=box)) == want
        assert _points(finder.find(finder.restrict(far, box), mode="all")) == want
        many = finder.find_many([far, ev, far], mode="all", regions=[box, box, None])
        assert _points(many[0].vertices) == want and _points(many[1].vertices) == want
        assert _points(many[2].vertices) == _points(finder.find(far, mode="all"))
        changed += _points(finder.find(far, mode="all")) != _points(finder.find(ev, mode="all"))
    assert changed  # without a region the far charge does change what is found


def test_a_region_by_slice_number_and_by_masks(finder, events):
    ev = _halves(events[1])
    masks = [p.slices == 1 for p in ev.planes]
    assert _points(finder.find(ev, region=1)) == _points(finder.find(ev, region=masks))
    assert _points(finder.find(ev, region=1)) == _points(finder.find(restrict(ev, 1)))
    with pytest.raises(BadEventError, match="no slice maps"):
        finder.find(events[1], region=0)
    with pytest.raises(ValueError, match="one region per event: 1 regions for 2 events"):
        finder.find_many(events[:2], regions=[None])


def _hit_file(path, evs, *, slices=True):
    """A hit .npz of the events' charge (hits of events[k] in slice k)."""
    cols = {"channel": [], "peak_tick": [], "integral": [], "slice": []}
    for k, ev in enumerate(evs):
        frame, channels = frame_from_event(ev, MAPPER)
        rows, ticks = np.nonzero(frame[:, ::6] > 20)
        cols["channel"].append(channels[rows])
        cols["peak_tick"].append(ticks * 6.0 + 3)
        cols["integral"].append(frame[rows, ticks * 6] * 9.0)
        cols["slice"].append(np.full(len(rows), k))
    arrays = {k: np.concatenate(v) for k, v in cols.items()}
    if not slices:
        del arrays["slice"]
    np.savez(path, **arrays)
    return path


def _rows(path):
    with open(path) as f:
        reader = csv.DictReader(f)
        return list(reader), tuple(reader.fieldnames)


def test_find_per_slice_writes_one_primary_vertex_per_slice(model_dir, events, tmp_path, capsys):
    from vertexfinder.cli import main
    from vertexfinder.finder import VertexFinder
    from vertexfinder.io.results import FIND_COLUMNS

    assert "slice" in FIND_COLUMNS and "cosmic" in FIND_COLUMNS
    hits = _hit_file(tmp_path / "hits.npz", events[:2])
    out = tmp_path / "v.csv"
    assert main(["find", str(hits), "--detector", DETECTOR, "--model", str(model_dir), "--per-slice", "-o", str(out),
                 "-q"]) == 0
    assert "found vertices in 2 slices" in capsys.readouterr().out
    rows, columns = _rows(out)
    assert columns == FIND_COLUMNS
    assert sorted({r["slice"] for r in rows}) == ["0", "1"]
    (ev,) = read_events(hits, detector=DETECTOR)
    plain = VertexFinder.load(model_dir)
    for s in (0, 1):
        mine = [r for r in rows if r["slice"] == str(s)]
        assert {r["vertex"] for r in mine} == {"0"} and {r["primary"] for r in mine} == {"1"}
        assert {r["cosmic"] for r in mine} == {"0"}
        (v,) = plain.find(ev, region=s)
        want = {pv.view: pv.global_wire for pv in v.planes if pv is not None}
        assert {r["plane"]: float(r["global_wire"]) for r in mine} == pytest.approx(want, abs=1e-3)
    import uproot

    root = tmp_path / "v.root"
    assert main(["find", str(hits), "--detector", DETECTOR, "--model", str(model_dir), "--per-slice", "-o", str(root),
                 "-q"]) == 0
    with uproot.open(root) as f:
        tree = f["vertices"].arrays(["slice", "cosmic", "global_wire"], library="np")
    assert tree["slice"].tolist() == [int(r["slice"]) for r in rows] and not tree["cosmic"].any()
    np.testing.assert_allclose(tree["global_wire"], [float(r["global_wire"]) for r in rows])
    whole = tmp_path / "whole.csv"
    assert main(["find", str(hits), "--detector", DETECTOR, "--model", str(model_dir), "-o", str(whole), "-q"]) == 0
    assert {r["slice"] for r in _rows(whole)[0]} == {"-1"}  # without --per-slice: the whole event


def test_find_per_slice_without_slice_maps_says_so_and_finds_the_whole_event(model_dir, events, tmp_path, capsys):
    from vertexfinder.cli import main

    hits = _hit_file(tmp_path / "hits.npz", events[:1], slices=False)
    out = tmp_path / "v.csv"
    assert main(["find", str(hits), "--detector", DETECTOR, "--model", str(model_dir), "--per-slice", "-o", str(out),
                 "-q"]) == 0
    err = capsys.readouterr().err
    assert "--per-slice: 1 events have no slice maps" in err and "slice -1" in err
    rows, _ = _rows(out)
    assert rows and {r["slice"] for r in rows} == {"-1"} and {r["vertex"] for r in rows} == {"0"}


# -- evaluate per slice, and beside another reconstruction's vertex ------------------------------------------------


class _Spy:
    """The finder, remembering the events it was asked to find vertices in."""

    def __init__(self, finder):
        self.finder, self.seen = finder, []

    def mapper(self, ev):
        return self.finder.mapper(ev)

    def restrict(self, ev, region):
        return self.finder.restrict(ev, region)

    def find_iter(self, events, **kwargs):
        events = list(events)
        self.seen += events
        yield from self.finder.find_iter(events, **kwargs)


def test_evaluate_per_slice_restricts_each_event_to_its_neutrino_s_slice(finder, events):
    from vertexfinder.evaluation import evaluate, format_report

    spy = _Spy(finder)
    m = evaluate(spy, events, progress=False, per_slice=True)
    assert m["per_slice"] is True and m["detectors"] == [DETECTOR] and m["events_with_cosmics"] == 0
    assert m["events"] == len(events) and m["events_unusable"] == 0
    assert len(spy.seen) == len(events)
    for ev, seen in zip(events, spy.seen):
        for s, q in zip(truth_slices(ev), seen.planes):
            assert not q.pixels[s != NEUTRINO_SLICE].any()
            assert q.pixels[s == NEUTRINO_SLICE].all()
    report = format_report(m)
    assert f"detectors {DETECTOR}; events with cosmics 0; each event restricted to its neutrino's slice" in report
    whole = evaluate(finder, events, progress=False)
    assert whole["per_slice"] is False
    assert "restricted to its neutrino's slice" not in format_report(whole) and "reference" not in whole


def test_evaluate_reports_the_file_s_own_vertex_beside_ours(finder, events):
    from vertexfinder.evaluation import evaluate, format_report

    exact = [dataclasses.replace(ev, reference_vertex_cm=tuple(ev.primary.position_cm)) for ev in events]
    m = evaluate(finder, exact, progress=False)
    scored = m["events_scored"]
    assert scored >= 2
    ref = m["reference"]
    assert ref["events"] == scored
    assert ref["reference"]["within_1cm_3d"] == 1.0 and ref["reference"]["wrong_vertex_rate"] == 0.0
    for r in (1, 2, 5):  # every scored event has a reference: ours are the primary figures
        assert ref["ours"][f"within_{r}cm_3d"] == pytest.approx(m[f"primary_within_{r}cm_3d"])
    assert ref["ours"]["wrong_vertex_rate"] == pytest.approx(m["primary_wrong_vertex_rate"])
    # two events with a reference, one of them 3 cm off
    two = list(events)
    visible = [i for i, ev in enumerate(events) if vertex_visible(ev, ev.primary)][:2]
    off = events[visible[1]].primary.position_cm + np.array([0.0, 3.0, 0.0])
    two[visible[0]] = exact[visible[0]]
    two[visible[1]] = dataclasses.replace(events[visible[1]], reference_vertex_cm=tuple(off))
    m2 = evaluate(finder, two, progress=False)
    r2 = m2["reference"]
    assert r2["events"] == 2
    assert r2["reference"]["within_1cm_3d"] == 0.5 and r2["reference"]["within_5cm_3d"] == 1.0
    assert set(r2["ours"]) == set(r2["reference"])
    report = format_report(m2)
    assert "the file's own neutrino vertex (e.g. Pandora's) beside ours, 2 events:" in report
    line = next(line for line in report.splitlines() if line.strip().startswith("reference"))
    assert line.split()[1:] == ["0.500", "0.500", "1.000", "0.000"]
    assert any(line.strip().startswith("ours") for line in report.splitlines())


# -- resampling (sparse) against a dense area average --------------------------------------------------------------


def _dense_area_matrix(n_in, scale):
    n_out = math.ceil(n_in * scale - 1e-9)
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        lo, hi = o / scale, (o + 1) / scale  # the output cell in input pixels
        for i in range(n_in):
            m[o, i] = max(0.0, min(hi, i + 1) - max(lo, i))
    return m / m.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("shape", [(37, 53), (8, 120)])
@pytest.mark.parametrize("from_cm, to_cm", [
    ((0.3, 0.5), (0.47, 0.21)),  # coarser wires, finer drift
    ((0.47, 0.21), (0.3, 0.5)),  # finer wires, coarser drift
    ((0.3, 0.3), (0.7, 0.45)),  # both coarser
    ((0.479, 0.3), (0.4667, 0.28)),  # both a little finer
])
def test_resampling_is_the_dense_area_average(shape, from_cm, to_cm):
    rng = np.random.default_rng(7)
    img = (rng.random(shape) * (rng.random(shape) < 0.3)).astype(np.float32)  # sparse, like charge
    sw, sd = from_cm[0] / to_cm[0], from_cm[1] / to_cm[1]
    want = _dense_area_matrix(shape[0], sw) @ img.astype(np.float64) @ _dense_area_matrix(shape[1], sd).T
    got = resample_image(img, from_cm=from_cm, to_cm=to_cm)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


def test_evaluate_in_primary_mode_gives_the_primary_figures_only(finder, events):
    from vertexfinder.evaluation import evaluate, format_report

    whole = evaluate(finder, events, progress=False)
    primary = evaluate(finder, events, progress=False, mode="primary")
    assert primary["mode"] == "primary" and whole["mode"] == "all"
    for r in (1, 2, 5):  # the primary vertex is the same in both modes
        assert primary[f"primary_within_{r}cm_3d"] == pytest.approx(whole[f"primary_within_{r}cm_3d"])
    assert "efficiency" not in primary and "confusion" not in primary and "efficiency" in whole
    report = format_report(primary)
    assert "primary mode:" in report and "class accuracy" not in report and "detectors" in report
    with pytest.raises(ValueError, match="mode"):
        evaluate(finder, events, progress=False, mode="some")
