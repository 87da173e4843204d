"""MicroBooNE open samples (HDF5), written here in the samples' layout (one group per table, rows
grouped by event, ``event_id.seq_cnt``) with pulses along tracks through known 3D points, and read
back: ids, charge on the wires and ticks the points give, the truth's projections against
``nu_vtx_wire_pos``, decays and conversions and their parents, Pandora's vertex and slices, bad
events skipped and reported, broken files refused, and ``read_events`` dispatching to the reader.

Wire numbers and ticks of the written pulses are computed from the samples' own description of
the detector (``microboone_utils.py`` of uboone/OpenSamples: wire end points, planes at x = 0,
-0.3, -0.6 cm, x = (tick - 800) x 0.0549 cm from the first plane), not from the package's
geometry, so the test also checks that the package numbers MicroBooNE's wires as the files do.
"""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

import vertexfinder.io.microboone as microboone
from vertexfinder.errors import InputError
from vertexfinder.io.events import read_events
from vertexfinder.io.microboone import microboone_events
from vertexfinder.mapper import ImageMapper
from vertexfinder.records import (
    FLAG_CONVERSION,
    FLAG_COSMIC,
    FLAG_DECAY,
    FLAG_HADRONIC,
    FLAG_NU_PRIMARY,
    FLAG_PI0,
    vertex_visible,
)

RUN, SUBRUN = 7001, 3
PLANE_X = (0.0, -0.3, -0.6)  # cm, planes 0 (U), 1 (V), 2 (Z)
CM_PER_TICK = 0.0549
TRIGGER_TICK = 800
N_TICKS = 6400
WINDOW = 6  # drift window read with


# -- the samples' geometry, from their wire end points --------------------------------------------
def _wire_ends(plane: int, w: int):
    """The (y, z) end points of wire ``w`` (``wireStartPos``, ``wireEndPos``)."""
    if plane == 0:
        return (np.array([max(117.153 - 0.34641 * w, -115.505), max(-402.941 + 0.6 * w, 0.0352608)]),
                np.array([min(715.8006 - 0.34640 * w, 117.445), min(0.541 + 0.6 * w, 1036.96)]))
    if plane == 1:
        return (np.array([min(-115.213 + 0.34641 * w, 117.445), max(-402.941 + 0.6 * w, 0.0352608)]),
                np.array([max(-713.8606 + 0.34640 * w, -115.505), min(0.541 + 0.6 * w, 1036.96)]))
    return np.array([-115.53, 0.25 + 0.3 * w]), np.array([117.47, 0.25 + 0.3 * w])


def wire_coordinate(plane: int, y: float, z: float) -> float:
    """Continuous wire number of (y, z), wire ``w``'s line at ``w``: from the signed distances to the
    lines of two long wires (the wires are parallel, so the distance is linear in the number)."""
    def distance(w):
        a, b = _wire_ends(plane, w)
        d = (b - a) / np.linalg.norm(b - a)
        q = np.array([y, z]) - a
        return d[0] * q[1] - d[1] * q[0]

    w0, w1 = 1000, 1300
    d0, d1 = distance(w0), distance(w1)
    return w0 + (w1 - w0) * d0 / (d0 - d1)


def tick_of(plane: int, x: float) -> float:
    return TRIGGER_TICK + (x - PLANE_X[plane]) / CM_PER_TICK


def nearest_wires(xyz) -> list[int]:
    return [int(round(wire_coordinate(p, xyz[1], xyz[2]))) for p in range(3)]


# -- events ---------------------------------------------------------------------------------------
def unit(*v):
    v = np.array(v, dtype=np.float64)
    return v / np.linalg.norm(v)


V1 = np.array([120.0, 10.0, 500.0])
MU_END = V1 + 25 * unit(0.6, 0.3, 0.74)
MICHEL_END = MU_END + 3 * unit(-0.5, 0.5, 0.7)
CONV = V1 + 15 * unit(0.0, -0.6, 0.8)
PI_END = V1 + 8 * unit(-0.5, 0.2, 0.84)
MUP_END = PI_END + 4 * unit(0.3, -0.9, 0.3)
MU2_END = V1 + 6 * unit(0.2, 0.9, -0.4)
BREM = (PI_END + MUP_END) / 2  # a photon radiated by the mu+ ...
BREM_CONV = BREM + 10 * unit(0.0, 0.0, 1.0)  # ... converts here
COSMIC = (np.array([200.0, 60.0, 800.0]), np.array([205.0, 30.0, 806.0]))
PANDORA_NU = (121.0, 10.5, 501.0)
V2 = np.array([60.0, -40.0, 300.0])


def deposit(waves: dict, a, b, *, amplitude=6.0, sigma=2.0, step=0.1):
    """Add Gaussian pulses along the segment a -> b to ``waves`` {(plane, wire): waveform}."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    n = max(int(np.linalg.norm(b - a) / step), 1)
    for f in (np.arange(n) + 0.5) / n:
        x, y, z = a + f * (b - a)
        for p in range(3):
            w, t = int(round(wire_coordinate(p, y, z))), tick_of(p, x)
            wave = waves.setdefault((p, w), np.zeros(N_TICKS, np.float32))
            ticks = np.arange(int(t) - 8, int(t) + 9)
            wave[ticks] += amplitude * np.exp(-0.5 * ((ticks - t) / sigma) ** 2)


def particle(g4, parent, pdg, start, end, start_process, end_process):
    return dict(g4_id=g4, parent_id=parent, g4_pdg=pdg, category=7, start_position_corr=np.asarray(start, float),
                end_position_corr=np.asarray(end, float), start_process=start_process, end_process=end_process)


def first_event():
    """A nu_mu CC event: a muon decaying (Michel), a pi0 whose photon converts, a pi+ decaying to a
    mu+ that decays, a second muon captured by a nucleus (no decay), a proton; plus a cosmic track."""
    parts = {"muon": [(V1, MU_END)], "michel": [(MU_END, MICHEL_END)],
             "conversion": [(CONV, CONV + 6 * unit(0, -0.6, 0.8))],
             "pion": [(V1, PI_END), (PI_END, MUP_END), (MUP_END, MUP_END + 2 * unit(1, 0, 0))],
             "cosmic": [COSMIC]}
    waves = {key: {} for key in parts}
    for key, segments in parts.items():
        for a, b in segments:
            deposit(waves[key], a, b)
    particles = [
        particle(1, 0, 13, V1, MU_END, "primary", "muMinusCaptureAtRest"),
        particle(2, 1, 11, MU_END, MICHEL_END, "muMinusCaptureAtRest", "eIoni"),
        particle(3, -1, 111, V1, V1, "primary", "Decay"),
        particle(4, 3, 22, V1, CONV, "Decay", "conv"),
        particle(5, 4, 11, CONV, CONV + 6 * unit(0, -0.6, 0.8), "conv", "eIoni"),
        particle(6, 4, -11, CONV, CONV + 2 * unit(0, 0, 1), "conv", "annihil"),
        particle(7, 0, 2212, V1, V1 + 5 * unit(0, 0, 1), "primary", "protonInelastic"),
        particle(8, 0, 211, V1, PI_END, "primary", "Decay"),
        particle(9, 8, -13, PI_END, MUP_END, "Decay", "Decay"),
        particle(10, 9, -11, MUP_END, MUP_END + 2 * unit(1, 0, 0), "Decay", "annihil"),
        particle(11, 1, 11, (V1 + MU_END) / 2, (V1 + MU_END) / 2 + 1, "muIoni", "eIoni"),
        particle(12, 0, 13, V1, MU2_END, "primary", "muMinusCaptureAtRest"),
        particle(13, 12, 22, MU2_END, MU2_END + 3, "muMinusCaptureAtRest", "phot"),
        particle(14, 9, 22, BREM, BREM_CONV, "muBrems", "conv"),
        particle(15, 14, 11, BREM_CONV, BREM_CONV + 1, "conv", "eIoni"),
    ]
    pandora = [dict(slice_id=0, slice_pdg=13, nu_score=0.05, vtx=COSMIC[0]),
               dict(slice_id=1, slice_pdg=14, nu_score=0.9, vtx=PANDORA_NU),
               dict(slice_id=2, slice_pdg=12, nu_score=0.3, vtx=(10.0, 10.0, 10.0))]
    slice_of = {"muon": 1, "pion": 1, "cosmic": 0, "michel": -1, "conversion": None}  # None: no pandoraHit row
    return dict(ids=(RUN, SUBRUN, 11), vertex=V1, nu_pdg=14, is_cc=1, energy=1.25, waves=waves,
                particles=particles, pandora=pandora, slice_of=slice_of)


def second_event():
    """A nu_e NC event with one proton, no particle rows, and Pandora finding only a cosmic."""
    waves = {"proton": {}}
    deposit(waves["proton"], V2, V2 + 10 * unit(0.1, 0.2, 0.97))
    return dict(ids=(RUN, SUBRUN, 12), vertex=V2, nu_pdg=12, is_cc=0, energy=0.6, waves=waves, particles=[],
                pandora=[dict(slice_id=0, slice_pdg=13, nu_score=0.1, vtx=(5.0, 5.0, 5.0))], slice_of={})


def bad_event(event: int, kind: str):
    """Events the reader must skip: a wire out of range, a NaN, no charge."""
    waves = {"track": {}}
    deposit(waves["track"], V2, V2 + 3 * unit(0, 0, 1))
    ev = dict(ids=(RUN, SUBRUN, event), vertex=V2, nu_pdg=14, is_cc=1, energy=1.0, waves=waves, particles=[],
              pandora=[], slice_of={}, bad=kind)
    return ev


EVENTS = [first_event(), second_event(), bad_event(13, "wire"), bad_event(14, "nan"), bad_event(15, "empty")]


def summed(ev: dict) -> dict:
    """{(plane, wire): waveform} of all the event's tracks."""
    out: dict = {}
    for part in ev["waves"].values():
        for key, wave in part.items():
            out[key] = out.get(key, 0) + wave
    return out


def hits_of(waves: dict):
    """One hit per wire: peak tick, RMS, integral."""
    rows = []
    for (p, w), wave in sorted(waves.items()):
        t = int(np.argmax(wave))
        rows.append((p, w, float(t), 2.0, float(wave.sum())))
    return rows


def tables_of(ev: dict) -> dict:
    """The event's rows of every table: {table: {column: values}}."""
    hits, pandora_hits = [], []
    wires = [(p, w, wave) for (p, w), wave in sorted(summed(ev).items())]  # one row per wire
    for key, waves in ev["waves"].items():
        for row in hits_of(waves):  # one hit per wire and track
            hit_id = len(hits)
            hits.append((hit_id, *row))
            s = ev["slice_of"].get(key, -1)
            if s is not None:
                pandora_hits.append((hit_id, s, -1))
    bad = ev.get("bad")
    if bad == "wire":
        wires.append((0, 2400, wires[0][2]))
        hits.append((len(hits), 0, 2400, 3000.0, 2.0, 100.0))
    elif bad == "nan":
        wave = wires[0][2].copy()
        wave[1234] = np.nan
        wires[0] = (wires[0][0], wires[0][1], wave)
        hits[0] = (*hits[0][:3], float("nan"), *hits[0][4:])
    elif bad == "empty":
        wires = [(2, 100, np.zeros(N_TICKS, np.float32))]
        hits, pandora_hits = [], []
    t = {}
    t["event_table"] = dict(
        is_cc=[ev["is_cc"]], nu_pdg=[ev["nu_pdg"]], nu_energy=np.float32([ev["energy"]]), lep_energy=np.float32([0.5]),
        nu_dir=[unit(0, 0, 1)], nu_vtx=[ev["vertex"] + (1.0, 0.0, 0.0)], nu_vtx_corr=[ev["vertex"]],
        nu_vtx_wire_pos=np.int32([nearest_wires(ev["vertex"])]), nu_vtx_wire_time=np.float32([4000.0]))
    t["wire_table"] = dict(tpc=np.int32([0] * len(wires)), local_plane=np.int32([r[0] for r in wires]),
                           local_wire=np.float32([r[1] for r in wires]),
                           adc=np.array([r[2] for r in wires], np.float32).reshape(-1, N_TICKS))
    t["hit_table"] = dict(hit_id=np.int32([h[0] for h in hits]), tpc=np.int32([0] * len(hits)),
                          local_plane=np.int32([h[1] for h in hits]), local_wire=np.int32([h[2] for h in hits]),
                          local_time=np.float32([h[3] for h in hits]), rms=np.float32([h[4] for h in hits]),
                          integral=np.float32([h[5] for h in hits]))
    t["pandoraHit_table"] = dict(hit_id=np.int32([h[0] for h in pandora_hits]),
                                 slice_id=np.int32([h[1] for h in pandora_hits]),
                                 pfp_id=np.int32([h[2] for h in pandora_hits]))
    t["particle_table"] = {k: [q[k] for q in ev["particles"]] for k in particle(0, 0, 0, V1, V1, "", "")}
    t["pandoraPrimary_table"] = {k: [q[k] for q in ev["pandora"]] for k in ("slice_id", "slice_pdg", "nu_score", "vtx")}
    return t


def write_sample(path, events=EVENTS, *, scalar_shape=(1,), strings="vlen", drop=(), tables=None):
    """Write ``events`` as an open sample at ``path``: scalar columns (rows,) + ``scalar_shape``,
    strings variable-length ("vlen") or fixed-length ("fixed"); ``drop``: (table, dataset) pairs
    left out; ``tables``: the tables written (default: all)."""
    per_event = [tables_of(ev) for ev in events]
    names = tables or list(per_event[0])
    with h5py.File(path, "w") as h5:
        for name in names:
            g = h5.create_group(name)
            ids, seq_cnt, columns = [], [], {}
            for seq, (ev, t) in enumerate(zip(events, per_event)):
                cols = t[name]
                n = len(next(iter(cols.values())))
                if n == 0:
                    continue  # an event without rows in a table has no seq_cnt entry
                ids += [ev["ids"]] * n
                seq_cnt.append((seq, n))
                for k, v in cols.items():
                    columns.setdefault(k, []).extend(list(v))
            datasets = {"event_id": np.array(ids, np.int32).reshape(-1, 3),
                        "event_id.seq_cnt": np.array(seq_cnt, np.int64).reshape(-1, 2)}
            for k, values in columns.items():
                a = np.array(values, dtype=object if strings == "vlen" else "S24") if k.endswith("_process") \
                    else np.array(values)
                datasets[k] = a.reshape(-1, *scalar_shape) if a.ndim == 1 else a
            for k, a in datasets.items():
                if (name, k) not in drop:
                    vlen = k.endswith("_process") and strings == "vlen"
                    g.create_dataset(k, data=a, dtype=h5py.string_dtype() if vlen else None)
    return path


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return write_sample(tmp_path_factory.mktemp("microboone") / "open.h5")


@pytest.fixture(scope="module")
def mapper():
    return ImageMapper("microboone", drift_window=WINDOW)


@pytest.fixture(scope="module")
def from_wires(sample):
    messages = []
    return list(microboone_events(sample, source="wires", report=messages.append)), messages


@pytest.fixture(scope="module")
def from_hits(sample):
    messages = []
    return list(microboone_events(sample, source="hits", report=messages.append)), messages


def image(record, mapper, v):
    """The global image of plane ``v``."""
    return record.planes[v].to_global(mapper.shape(v))


# -- tests ----------------------------------------------------------------------------------------
def test_events_ids_and_default_source(from_wires, sample):
    records, _ = from_wires
    assert [r.ids for r in records] == [(RUN, SUBRUN, 11), (RUN, SUBRUN, 12)]
    assert all(r.detector == "microboone" and r.drift_window == WINDOW and r.pooling == "max" for r in records)
    default = list(microboone_events(sample, report=lambda m: None))  # the file has wires: read them
    assert [np.array_equal(a.planes[2].pixels, b.planes[2].pixels) for a, b in zip(default, records)] == [True, True]


def test_wire_charge_lands_on_the_wires_and_ticks_of_the_pulses(from_wires, mapper):
    records, _ = from_wires
    for record, ev in zip(records, EVENTS):
        waves = summed(ev)
        for v in range(3):
            assert mapper.wire_offset(v, 0) == 0 and not mapper.wire_flipped(v, 0)  # global wire = local wire
            img = image(record, mapper, v)
            start = mapper.drift_block(0, v)[0]
            mine = {w: wave for (p, w), wave in waves.items() if p == v}
            assert set(np.flatnonzero(img.any(axis=1))) == {w for w, wave in mine.items() if wave.max() >= 0.5}
            for w, wave in mine.items():  # max pooling: the pixel of the peak tick holds the peak
                assert img[w, start + int(np.argmax(wave)) // WINDOW] == min(round(float(wave.max())), 255)


def test_truth_vertex_projects_onto_nu_vtx_wire_pos_and_onto_its_charge(from_wires, mapper):
    records, _ = from_wires
    for record, ev in zip(records, EVENTS):
        nu = record.primary
        assert nu is record.vertices[0] and nu.kind == "interaction" and nu.parent == -1
        assert nu.flags & FLAG_NU_PRIMARY and nu.flags & FLAG_HADRONIC and not nu.flags & FLAG_COSMIC
        np.testing.assert_allclose(nu.position_cm, ev["vertex"], atol=1e-4)  # nu_vtx_corr, not nu_vtx
        # nu_vtx_wire_pos: LArSoft's nearest wire, whose centre is at global wire + 0.5
        assert np.all(np.abs(nu.planes[:, 0] - (np.array(nearest_wires(ev["vertex"])) + 0.5)) <= 0.5 + 1e-6)
        for v in range(3):
            start = mapper.drift_block(0, v)[0]
            assert nu.planes[v, 1] == pytest.approx(start + tick_of(v, ev["vertex"][0]) / WINDOW, abs=1e-3)
        assert vertex_visible(record, nu, min_planes=3)
        assert record.nu_pdg == ev["nu_pdg"] and record.interaction == ("CC" if ev["is_cc"] else "NC")
        assert record.energy_gev == pytest.approx(ev["energy"]) and record.tpc == 0
    assert records[1].vertices == records[1].vertices[:1]  # no particle rows: the neutrino vertex only


def test_decays_and_conversions_with_their_parents(from_wires):
    record = from_wires[0][0]
    expect = {  # name: kind, pdg, position, flags, parent's name
        "nu": ("interaction", 14, V1, FLAG_NU_PRIMARY | FLAG_HADRONIC | FLAG_PI0, None),  # a pi0 among the primaries
        "michel": ("decay", 13, MU_END, FLAG_DECAY, "nu"),  # the mu- captured at rest, decaying in orbit
        "pion": ("decay", 211, PI_END, FLAG_DECAY, "nu"),
        "mu+": ("decay", -13, MUP_END, FLAG_DECAY, "pion"),  # the pi+'s mu+
        "pi0 photon": ("conversion", 22, CONV, FLAG_CONVERSION, "nu"),  # its parent, the pi0, has no vertex
        "brems": ("conversion", 22, BREM_CONV, FLAG_CONVERSION, "pion"),  # radiated by the mu+, not made by its decay
    }
    index = {}
    for name, (kind, pdg, position, flags, _) in expect.items():
        at = [i for i, v in enumerate(record.vertices) if np.allclose(v.position_cm, position, atol=1e-6)]
        assert len(at) == 1, name
        index[name] = at[0]
        v = record.vertices[at[0]]
        assert (v.kind, v.pdg, v.flags) == (kind, pdg, flags), name
        assert np.all(np.isfinite(v.planes)) and v.planes.shape == (3, 2)
    for name, (*_, parent) in expect.items():
        v = record.vertices[index[name]]
        assert v.parent == (-1 if parent is None else index[parent]), name
        assert v.parent < index[name]  # parents come first
    # no vertex for: the pi0's decay (where it is made), the second muon's nuclear capture (no
    # electron), the proton's inelastic end, the delta ray
    assert len(record.vertices) == len(expect)


def test_pandora_reference_vertex(from_wires):
    first, second = from_wires[0]
    assert first.reference_vertex_cm == pytest.approx(PANDORA_NU)  # the neutrino slice with the highest nu_score
    assert second.reference_vertex_cm is None  # Pandora found only a cosmic


def test_hits_land_on_the_wires_and_carry_pandora_slices(from_hits, from_wires, mapper):
    records, _ = from_hits
    assert [r.ids for r in records] == [r.ids for r in from_wires[0]]
    first = records[0]
    assert [len(r.vertices) for r in records] == [len(r.vertices) for r in from_wires[0]]
    assert first.reference_vertex_cm == pytest.approx(PANDORA_NU)
    waves = EVENTS[0]["waves"]
    for v in range(3):
        img = image(first, mapper, v)
        wires_with_hits = {w for part in waves.values() for (p, w) in part if p == v}
        assert set(np.flatnonzero(img.any(axis=1))) == wires_with_hits
        plane = first.planes[v]
        assert plane.slices is not None and plane.slices.shape == plane.pixels.shape
        assert np.all(plane.slices[plane.pixels == 0] == -1)
        assert set(np.unique(plane.slices[plane.pixels > 0])) <= {-1, 0, 1}
        w0, d0 = plane.origin
        start = mapper.drift_block(0, v)[0]
        for key, expected in (("cosmic", 0), ("muon", 1)):
            only = set(waves[key]) - {k for other, part in waves.items() if other != key for k in part}
            for p, w in sorted(k for k in only if k[0] == v)[:5]:  # wires only this track crosses
                d = start + int(np.argmax(waves[key][(p, w)])) // WINDOW
                assert plane.slices[w - w0, d - d0] == expected, (key, v, w)
    assert all(p.slices is not None and np.all(p.slices == -1) for p in records[1].planes)  # no pandoraHit rows


@pytest.mark.parametrize("source", ["wires", "hits"])
def test_bad_events_are_skipped_and_reported(source, sample):
    messages = []
    records = list(microboone_events(sample, source=source, report=messages.append))
    assert [r.event for r in records] == [11, 12]
    skipped = [m for m in messages if m.startswith("skipped ")]
    assert len(skipped) == 3, messages
    for m, event in zip(skipped, (13, 14, 15)):
        assert f"{sample} run {RUN} subrun {SUBRUN}: event {event}" in m
    assert "2400" in skipped[0] and "local_wire" in skipped[0]
    assert "nan" in skipped[1]
    assert ("no charge" if source == "wires" else "empty") in skipped[2]


def test_waveforms_read_in_blocks_give_the_same_event(sample, from_wires, monkeypatch):
    monkeypatch.setattr(microboone, "_WIRE_ROWS", 3)  # many blocks per event, wires kept across them
    records = list(microboone_events(sample, source="wires", report=lambda m: None))
    for a, b in zip(records, from_wires[0]):
        assert all(np.array_equal(p.pixels, q.pixels) and p.origin == q.origin for p, q in zip(a.planes, b.planes))


@pytest.mark.parametrize("scalar_shape, strings", [((), "fixed"), ((1,), "fixed")])
def test_other_column_layouts(tmp_path, scalar_shape, strings):
    path = write_sample(tmp_path / "flat.h5", EVENTS[:2], scalar_shape=scalar_shape, strings=strings)
    records = list(microboone_events(path, source="hits", report=lambda m: None))
    assert [r.event for r in records] == [11, 12]
    assert sorted(v.kind for v in records[0].vertices) == ["conversion"] * 2 + ["decay"] * 3 + ["interaction"]


def test_files_without_wires_are_read_from_hits(tmp_path):
    path = write_sample(tmp_path / "nowire.h5", EVENTS[:2],
                        tables=["event_table", "hit_table", "pandoraHit_table", "particle_table"])
    records = list(microboone_events(path))
    assert [r.event for r in records] == [11, 12] and records[0].planes[0].slices is not None
    assert records[0].reference_vertex_cm is None  # no pandoraPrimary_table
    with pytest.raises(InputError, match="wire_table"):
        list(microboone_events(path, source="wires"))


@pytest.mark.parametrize("tables, drop, match", [
    (["wire_table"], (), "no table 'event_table'"),
    (None, [("wire_table", "event_id.seq_cnt")], r"'wire_table' has no dataset 'event_id.seq_cnt'"),
    (None, [("wire_table", "adc")], r"'wire_table' has no dataset 'adc'"),
    (None, [("particle_table", "end_process")], r"'particle_table' has no dataset 'end_process'"),
])
def test_structural_problems_raise(tmp_path, tables, drop, match):
    path = write_sample(tmp_path / "broken.h5", EVENTS[:2], tables=tables, drop=drop)
    with pytest.raises(InputError, match=match) as info:
        list(microboone_events(path))
    assert str(path) in str(info.value)


def test_counts_that_do_not_match_the_rows_raise(tmp_path):
    path = write_sample(tmp_path / "counts.h5", EVENTS[:2])
    with h5py.File(path, "a") as h5:
        h5["hit_table/event_id.seq_cnt"][0, 1] += 1
    with pytest.raises(InputError, match=r"hit_table/event_id.seq_cnt: the counts add up to"):
        list(microboone_events(path, source="hits"))


def test_not_hdf5_and_wrong_detector_and_source_raise(tmp_path, sample):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an HDF5 file")
    with pytest.raises(InputError, match="not a readable HDF5 file"):
        list(microboone_events(junk))
    with pytest.raises(InputError, match="detector='microboone'"):
        list(microboone_events(sample, detector="dune-fd-1x2x6"))
    with pytest.raises(InputError, match="source must be one of"):
        list(microboone_events(sample, source="pixels"))


def test_read_events_reads_h5_and_hdf5(sample, tmp_path, from_wires):
    messages = []
    records = list(read_events(sample, report=messages.append))  # detector None: microboone
    assert [r.ids for r in records] == [r.ids for r in from_wires[0]]
    assert sum(m.startswith("skipped ") for m in messages) == 3
    copy = shutil.copy(sample, tmp_path / "open.hdf5")
    assert [r.event for r in read_events(copy, report=lambda m: None)] == [11, 12]
