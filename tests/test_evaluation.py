"""evaluate's figures per view, for parents and for conversion gaps, on a hand-made event whose
figures are counted by hand (a stand-in finder returns the found vertices)."""

import dataclasses
import math

import numpy as np
import pytest
from handmade import MAPPER, blank_images, event, found_vertex, paint_blob, truth_vertex

from vertexfinder.evaluation import evaluate, format_report, match_found, score_parents
from vertexfinder.finder import FindResult
from vertexfinder.records import VERTEX_KINDS

P, D, C, S = (10.0, 0.0, 4.0), (30.0, 0.0, 16.0), (20.0, -10.0, 16.0), (15.0, 15.0, 8.0)
C2, G, H = (35.0, 20.0, 20.0), (40.0, -20.0, 6.0), (42.0, -25.0, 2.0)
FAKE = (25.0, 25.0, 20.0)  # no true vertex near it, in 3D or on any view
TRUTH = [("interaction", P, -1), ("decay", D, 0), ("conversion", C, 0), ("interaction", S, 0),
         ("conversion", C2, 3), ("decay", G, 6), ("interaction", H, 0)]
GAP_C = math.dist(C, P)  # the true gaps
GAP_C2 = math.dist(C2, S)


def _event():
    images = blank_images()
    for _, xyz, _ in TRUTH:
        paint_blob(images, xyz)
    truth = [truth_vertex(k, xyz, parent=parent, primary=i == 0) for i, (k, xyz, parent) in enumerate(TRUTH)]
    return event(images, truth)


def _moved(vertex, shift_cm):
    """The vertex with its 3D point moved (its views stay where they were)."""
    return dataclasses.replace(vertex, position_cm=vertex.position_cm + np.asarray(shift_cm))


def _found():
    return [
        _moved(found_vertex("interaction", P, primary=True), [0.3, 0, 0]),  # the primary: never scored for its parent
        _moved(found_vertex("decay", D, parent=0, wire_offsets_px=(0, 3, 0)), [0, 0, 1.5]),  # right; 1.4 cm off on V
        _moved(found_vertex("conversion", C, parent=0, gap_cm=GAP_C + 0.4), [0, 0, 0.5]),  # right
        found_vertex("conversion", C2, parent=0, gap_cm=GAP_C2 - 1.5),  # wrong: its photon came from S (found: 5)
        found_vertex("interaction", FAKE, parent=0),  # matches nothing
        _moved(found_vertex("interaction", S, parent=0), [0.5, 0, 0]),  # right
        found_vertex("decay", G, parent=0),  # its true parent H is not found: not scored
    ]


class _StandIn:
    """What evaluate needs of a finder: find_iter in ``all`` mode and the events' mapper."""

    def __init__(self, found):
        self.found = found

    def mapper(self, ev):
        return MAPPER

    def find_iter(self, events, mode, on_skip=None):
        assert mode == "all"
        for ev in events:
            yield ev, FindResult(list(self.found), seconds=0.01)


@pytest.fixture(scope="module")
def figures():
    return evaluate(_StandIn(_found()), [_event()], progress=False)


def test_matching_is_the_confusion_matrix_s():
    assert match_found(_event(), _found()) == {0: 0, 1: 1, 2: 2, 3: 4, 5: 3, 6: 5}


def test_parent_accuracy_counted_by_hand(figures):
    assert figures["parent_accuracy"] == pytest.approx(3 / 4)
    assert figures["parent_accuracy_by_class"] == pytest.approx({"interaction": 1.0, "decay": 1.0, "conversion": 0.5})
    assert figures["parent_counts"] == {"interaction": {"scored": 1, "parent_not_found": 0},
                                        "decay": {"scored": 1, "parent_not_found": 1},
                                        "conversion": {"scored": 2, "parent_not_found": 0}}


def test_conversion_gap_counted_by_hand(figures):
    gap = figures["conversion_gap"]
    assert gap["conversions"] == 2
    assert gap["within_1cm"] == pytest.approx(0.5)  # +0.4 cm within, -1.5 cm not
    assert gap["median_cm"] == pytest.approx((0.4 - 1.5) / 2)
    assert gap["width68_cm"] == pytest.approx(0.68 * 1.9 / 2)  # (84th - 16th percentile) / 2 of two values


def test_efficiency_and_purity_per_view_counted_by_hand(figures):
    two_of_three = {"1cm": 2 / 3, "2cm": 2 / 3}  # interactions: H not found, the fake found
    for view in MAPPER.views:
        assert figures["efficiency_2d"]["interaction"][view] == pytest.approx(two_of_three)
        assert figures["purity_2d"]["interaction"][view] == pytest.approx(two_of_three)
        assert figures["efficiency_2d"]["conversion"][view] == pytest.approx({"1cm": 1.0, "2cm": 1.0})
        assert figures["purity_2d"]["conversion"][view] == pytest.approx({"1cm": 1.0, "2cm": 1.0})
    off = 3 * MAPPER.pixel_cm("V")[0]  # the decay D is found 3 wires away on V only
    assert 1.0 < off <= 2.0
    for table in ("efficiency_2d", "purity_2d"):
        assert figures[table]["decay"]["U"] == pytest.approx({"1cm": 1.0, "2cm": 1.0})
        assert figures[table]["decay"]["V"] == pytest.approx({"1cm": 0.5, "2cm": 1.0})
        assert figures[table]["decay"]["Z"] == pytest.approx({"1cm": 1.0, "2cm": 1.0})


def test_existing_figures_are_still_there(figures):
    assert figures["efficiency"]["decay"] == pytest.approx({"1cm": 0.5, "2cm": 1.0})  # D 1.5 cm off in 3D
    assert figures["primary_within_1cm_3d"] == 1.0
    assert figures["efficiency_counts"] == {"interaction": 3, "decay": 2, "conversion": 2}
    report = format_report(figures)
    assert "parent accuracy 0.750 of 4" in report and "conversion gap within 1 cm of the true gap 0.500 of 2" in report
    assert "decay          V      1.000    1.000" not in report and "decay          V      0.500    1.000" in report


def test_a_found_conversion_without_a_gap_is_not_within(figures):
    found = _found()
    found[2] = dataclasses.replace(found[2], parent=-1, gap_cm=float("nan"))
    counts = {k: {"scored": 0, "right": 0, "parent_not_found": 0} for k in VERTEX_KINDS}
    gaps = []
    score_parents(_event(), found, counts, gaps)
    assert counts["conversion"] == {"scored": 2, "right": 0, "parent_not_found": 0}
    assert len(gaps) == 2 and math.isnan(gaps[0]) and gaps[1] == pytest.approx(-1.5)
    figures = evaluate(_StandIn(found), [_event()], progress=False)
    assert figures["conversion_gap"]["within_1cm"] == 0.0
    assert figures["conversion_gap"]["median_cm"] == pytest.approx(-1.5)
    assert figures["parent_accuracy"] == pytest.approx(2 / 4)


def test_vertices_of_events_without_a_primary_are_scored_too(figures):
    """A stopping muon's Michel decay, in an event with no neutrino vertex: its vertices count for
    the classes, the confusion and the parents, and the event for no primary figure."""
    images = blank_images()
    for _, xyz, _ in TRUTH[1:3]:
        paint_blob(images, xyz)
    no_primary = event(images, [truth_vertex("decay", D), truth_vertex("conversion", C)])
    found = [found_vertex("decay", D), found_vertex("interaction", FAKE)]
    m = evaluate(_StandIn(found), [no_primary], progress=False)
    assert m["events_without_primary_truth"] == 1 and m["events_scored"] == 0
    assert m["efficiency_counts"] == {"interaction": 0, "decay": 1, "conversion": 1}
    assert m["efficiency"]["decay"]["2cm"] == 1.0 and m["efficiency"]["conversion"]["2cm"] == 0.0
    assert m["purity"]["interaction"]["2cm"] == 0.0 and m["class_accuracy"] == 1.0
