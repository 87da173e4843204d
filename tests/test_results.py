"""The find table: one row per vertex and plane, naming the readout plane as LArSoft does."""

import csv
import dataclasses

import numpy as np
import uproot

from vertexfinder.finder import PlaneVertex, Vertex
from vertexfinder.mapper import ImageMapper
from vertexfinder.records import EventRecord, PlaneImage
from vertexfinder.io.results import FIND_COLUMNS, vertex_rows, write_rows


def _found(mapper, xyz):
    planes = []
    for view in mapper.views:
        p = mapper.project(xyz, view)
        planes.append(PlaneVertex(view, p.global_wire, p.global_drift, p.tpc, p.wire, p.channel, p.tick, True))
    return Vertex("interaction", 0.9, tuple(planes), np.asarray(xyz), 0.1, planes[0].tpc, True)


def test_rows_name_the_larsoft_readout_plane_of_each_view(tmp_path):
    mapper = ImageMapper("dune-fd-1x2x6")
    det = mapper.detector
    minus = next(t for t in det.tpcs if t.side < 0)  # an APA's -x face: its U wires run like the +x face's V
    plus = next(t for t in det.tpcs if t.side > 0)
    points = [np.mean(np.reshape(t.box, (3, 2)), axis=1) for t in (minus, plus)]
    event = EventRecord(1, 0, 4, det, 6, "max", [PlaneImage(v, np.ones((2, 2), np.uint8), (0, 0)) for v in det.views])
    rows = vertex_rows(event, [_found(mapper, xyz) for xyz in points])
    by = {(r["tpc"], r["plane"]): r["plane_index"] for r in rows}
    assert by[(minus.index, "U")] == 1 and by[(minus.index, "V")] == 0 and by[(minus.index, "Z")] == 2
    assert by[(plus.index, "U")] == 0 and by[(plus.index, "V")] == 1 and by[(plus.index, "Z")] == 2
    for r in rows:  # the index is the one of the plane the row's wire belongs to
        plane = det.tpcs[r["tpc"]].planes[r["plane_index"]]
        xyz = points[r["vertex"]]
        assert plane.view == r["plane"]
        assert abs(float(plane.wire_coordinate(xyz[1], xyz[2])) - r["wire"]) < 1e-3

    write_rows(rows, tmp_path / "v.csv")
    with open(tmp_path / "v.csv") as f:
        table = list(csv.DictReader(f))
    assert tuple(table[0]) == FIND_COLUMNS
    assert [int(r["plane_index"]) for r in table] == [r["plane_index"] for r in rows]
    write_rows(rows, tmp_path / "v.root")
    with uproot.open(tmp_path / "v.root") as f:
        t = f["vertices"].arrays(library="np")
    assert t["plane_index"].tolist() == [r["plane_index"] for r in rows]
    assert t["plane_id"].tolist() == [det.views.index(r["plane"]) for r in rows]
    assert t["found"].tolist() == [1] * len(rows)


def test_a_plane_without_a_tpc_gets_plane_index_minus_one():
    mapper = ImageMapper("test-detector")
    det = mapper.detector
    event = EventRecord(1, 0, 4, "test-detector", 6, "max",
                        [PlaneImage(v, np.ones((2, 2), np.uint8), (0, 0)) for v in det.views])
    v = Vertex("decay", 0.5, (PlaneVertex("U", 10.0, 20.0), None, None))
    (row,) = vertex_rows(event, [v])
    assert row["plane_index"] == -1 and row["tpc"] == -1


def test_parent_and_gap_columns_round_trip_through_csv_and_root(tmp_path):
    mapper = ImageMapper("dune-fd-1x2x6")
    det = mapper.detector
    tpc = det.tpcs[0]
    centre = np.mean(np.reshape(tpc.box, (3, 2)), axis=1)
    primary = _found(mapper, centre)
    conversion = dataclasses.replace(_found(mapper, centre + [0.0, 0.0, 12.5]), kind="conversion", primary=False,
                                     parent=0, gap_cm=12.5)
    decay = dataclasses.replace(_found(mapper, centre + [0.0, 30.0, 0.0]), kind="decay", primary=False, parent=0)
    event = EventRecord(1, 0, 4, det, 6, "max", [PlaneImage(v, np.ones((2, 2), np.uint8), (0, 0)) for v in det.views])
    rows = vertex_rows(event, [primary, conversion, decay])
    assert FIND_COLUMNS[-3:] == ("parent", "gap_cm", "cosmic") and FIND_COLUMNS[3] == "slice"
    assert all(r["cosmic"] == 0 and r["slice"] == -1 for r in rows)
    expected = [(r["vertex"], {0: -1, 1: 0, 2: 0}[r["vertex"]], {1: 12.5}.get(r["vertex"], float("nan"))) for r in rows]
    np.testing.assert_array_equal([(r["vertex"], r["parent"], r["gap_cm"]) for r in rows], expected)  # NaN == NaN
    assert all(isinstance(r["parent"], int) for r in rows)
    assert len(rows) == 9  # three views each

    write_rows(rows, tmp_path / "v.csv")
    with open(tmp_path / "v.csv") as f:
        table = list(csv.DictReader(f))
    np.testing.assert_array_equal([(int(r["vertex"]), int(r["parent"]), float(r["gap_cm"])) for r in table], expected)

    write_rows(rows, tmp_path / "v.root")
    with uproot.open(tmp_path / "v.root") as f:
        tree = f["vertices"]
        assert tree["parent"].interpretation.from_dtype.kind == "i"
        t = tree.arrays(library="np")
    np.testing.assert_array_equal(np.stack([t["vertex"], t["parent"], t["gap_cm"]], axis=1), expected)
