"""MicroBooNE public open samples (HDF5): one EventRecord per event, read one event at a time.

The files (MicroBooNE simulation of BNB neutrinos overlaid on beam-off cosmic data, written by
LArSoft's ``HDF5Maker``) hold one HDF5 group per table. Every table has ``event_id`` (rows,
3: run, subrun, event) and ``event_id.seq_cnt`` (one row per event that has rows in the table:
its index in ``event_table``, and how many rows it has; rows are grouped by event, in order, so an
event's rows start at the sum of the counts before it; an event with no rows has no entry).
Columns of one value per row are (rows,) or (rows, 1). Each event is read through these counts,
a slice per dataset: a file of tens of GB is never read whole, and a ``wire_table/adc`` dataset
is read a few hundred wires at a time.

What an event is made of:

================  ===========================================================================
charge            ``source="wires"``: ``wire_table`` (``local_plane``, ``local_wire``, ``tpc``,
                  ``adc`` of 6400 samples of 0.5 us from detector tick 0), through
                  :func:`vertexfinder.inputs.event_from_frame`. The waveforms are the
                  deconvolved signals of LArSoft's ``recob::Wire`` (positive on every plane,
                  zero outside regions of interest), so there is no pedestal to subtract; a
                  wire whose median sample is above 10 ADC is taken for raw digits and makes
                  the event bad. ``source="hits"``: ``hit_table`` (``local_plane``,
                  ``local_wire``, ``tpc``, ``local_time``: peak tick, ``rms``: width in ticks,
                  ``integral``: ADC x ticks), through :func:`vertexfinder.inputs.event_from_hits`,
                  each hit's Pandora slice (``pandoraHit_table``: ``hit_id`` -> ``slice_id``,
                  -1 for none) giving the planes' ``slices`` maps. Default: wires when the file
                  has a ``wire_table``, else hits.
channels          ``local_plane`` 0, 1, 2 are the detector's readout planes U, V, Z of TPC
                  ``tpc`` and ``local_wire`` their LArSoft wire numbers, which the built-in
                  ``microboone`` geometry shares (channel = 0, 2400, 4800 + wire).
ids               ``event_table/event_id``.
truth             ``event_table``: the neutrino vertex at ``nu_vtx_corr`` (the position as
                  reconstruction sees it: space charge and the interaction time folded in), an
                  "interaction" with FLAG_NU_PRIMARY | FLAG_HADRONIC (| FLAG_PI0 when a primary
                  pi0 is listed), ``nu_pdg``, ``is_cc`` ("CC"/"NC"), ``nu_energy`` (GeV).
                  ``particle_table``: a "decay" (FLAG_DECAY; | FLAG_PI0 with a pi0 among the
                  products) at ``end_position_corr`` of a particle whose ``end_process`` is a
                  decay (``Decay``, ``DecayWithSpin``, ``muMinusCaptureAtRest``,
                  ``muPlusCaptureAtRest``) and that has a listed daughter made by it (for a
                  muon captured at rest: an electron, i.e. decay in orbit, not nuclear capture);
                  pi0, eta and Sigma0 decays at their production point are not vertices. A
                  "conversion" (FLAG_CONVERSION) at the end of a photon whose ``end_process`` is
                  ``conv`` and that has a listed ``conv`` daughter (secondary hadronic
                  interactions are not read as vertices). The table lists only the
                  particles that left hits and their ancestors, so a listed daughter is a
                  visible one. Each vertex's parent is the vertex its particle comes from: the
                  decay or conversion that made it or one of its ancestors, else the neutrino
                  vertex for a primary (``parent_id`` 0 or -1). Every vertex's ``planes`` are its
                  projections by the mapper.
Pandora           ``pandoraPrimary_table``: the vertex ``vtx`` of the neutrino slice
                  (``slice_pdg`` 12 or 14; the highest ``nu_score`` of several) becomes
                  ``EventRecord.reference_vertex_cm`` (None without one).
================  ===========================================================================

Time. Waveform samples and hit times are ticks of the readout window (tick 0 is the first
sample; the trigger is at tick 800); each plane's tick is its own (LArSoft's
``ConvertXToTicks(x, plane)``), as the mapper reads it. The mapper drifts charge between the wire
planes (0.3 cm apart) at the bulk drift speed where LArSoft uses the faster drift of the gaps'
fields, so on planes V and Z the two may differ by a few ticks (under a drift pixel).

Cosmic rays. The cosmic-ray activity of these samples is recorded data (the overlay); it has no
truth in the file, and every listed particle descends from the simulated neutrino, so no vertex
here is flagged FLAG_COSMIC.

Problems. A missing table or dataset, counts (``event_id.seq_cnt``) that do not add up to the rows,
or a detector that is not MicroBooNE's raise :class:`~vertexfinder.errors.InputError` naming the
file and the table. A bad event (a plane, TPC or wire out of range, NaN samples or times, no
charge, truth that does not parse) is skipped and passed to ``report(message)``, the message
naming the file, the run, subrun and event, and the value.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import BadEventError, InputError
from ..records import (
    DEFAULT_DRIFT_WINDOW,
    FLAG_CONVERSION,
    FLAG_DECAY,
    FLAG_HADRONIC,
    FLAG_NU_PRIMARY,
    FLAG_PI0,
    TruthVertex,
)

__all__ = ["SOURCES", "MICROBOONE_WIRES", "DECAY_PROCESSES", "microboone_events"]

#: What an event's charge is read from.
SOURCES = ("wires", "hits")
#: Wires of the planes ``local_plane`` 0, 1, 2 (U, V, Z) of a MicroBooNE open sample.
MICROBOONE_WIRES = (2400, 2400, 3456)
#: Geant4 processes that end a particle in a decay (and make its decay products).
DECAY_PROCESSES = ("Decay", "DecayWithSpin", "muMinusCaptureAtRest", "muPlusCaptureAtRest")
_CAPTURE_AT_REST = ("muMinusCaptureAtRest", "muPlusCaptureAtRest")
_CONVERSION_PROCESS = "conv"
_PI0, _PHOTON = 111, 22
_PROMPT_DECAYS = (111, 221, 3212)  # pi0, eta, Sigma0: they decay where they are made
_SEQ_CNT = "event_id.seq_cnt"
#: Wire waveforms read at once (rows of 6400 samples): bounds the memory of an event's reading.
_WIRE_ROWS = 512
#: A wire whose median sample is above this many ADC holds raw digits (a pedestal), not signals.
_BASELINE_ADC = 10.0
_ADC_CHARGED = 0.5  # a sample below this makes no pixel (it encodes to byte 0)

_REQUIRED = {
    "event_table": ("event_id",),
    "wire_table": ("event_id", "local_plane", "local_wire", "adc"),
    "hit_table": ("event_id", "local_plane", "local_wire", "local_time", "integral"),
    "pandoraHit_table": ("event_id", "hit_id", "slice_id"),
    "particle_table": ("event_id", "g4_id", "parent_id", "g4_pdg", "end_position_corr", "start_process",
                       "end_process"),
    "pandoraPrimary_table": ("event_id", "slice_pdg", "nu_score", "vtx"),
}
_TRUTH = ("nu_vtx_corr", "nu_pdg", "is_cc", "nu_energy")
_OPTIONAL = ("tpc", "rms", *_TRUTH)  # read when a table has them

_log = logging.getLogger("vertexfinder")


def microboone_events(path, *, detector="microboone", drift_window=DEFAULT_DRIFT_WINDOW, pooling="max",
                      source=None, report=None):
    """The events of a MicroBooNE open sample (module docstring), in file order, as EventRecords.

    Args:
        path: the ``.h5`` file.
        detector: a MicroBooNE detector: name, description file or Detector (None: ``microboone``).
        drift_window, pooling: how ticks are pooled into drift pixels (None: 6, "max").
        source: "wires" (``wire_table``) or "hits" (``hit_table``); None: wires when the file has
            them, else hits.
        report: called with the one-line message of each bad event skipped ("skipped ...") and of
            charge cropped from an event (default: a warning on the ``vertexfinder`` logger).

    Raises:
        InputError: not a readable HDF5 file, a table or dataset missing or inconsistent, an unknown
            ``source``, or a detector without MicroBooNE's wires.
    """
    from ..mapper import ImageMapper

    try:
        import h5py
    except ImportError:
        raise ModuleNotFoundError("reading MicroBooNE open samples (HDF5) needs h5py: pip install h5py") from None
    p = Path(path)
    report = report or _log.warning
    mapper = ImageMapper("microboone" if detector is None else detector,
                         drift_window=DEFAULT_DRIFT_WINDOW if drift_window is None else drift_window,
                         pooling=pooling or "max")
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    try:
        h5 = h5py.File(p, "r")
    except OSError as exc:
        raise InputError(f"{p}: not a readable HDF5 file ({' '.join(str(exc).split())})") from None
    with h5:
        sample = _Sample(p, h5, mapper, source)
        for seq in range(sample.n_events):
            ids = sample.ids(seq)
            label = f"{p} run {ids[0]} subrun {ids[1]}"  # the inputs' messages add ": event E"
            try:
                record = sample.event(seq, ids, label, report)
            except BadEventError as exc:
                report(f"skipped {exc}")
            else:
                yield record


class _Table:
    """One table of an open file, read by event through its ``event_id.seq_cnt``."""

    def __init__(self, path: Path, group, name: str, n_events: int, required: tuple[str, ...]):
        self.path, self.group, self.name = path, group, name
        for key in (*required, _SEQ_CNT):
            if key not in group:
                raise InputError(f"{path}: table {name!r} has no dataset {key!r}; found {sorted(group.keys())}")
        ids = group["event_id"]
        if len(ids.shape) != 2 or ids.shape[1] != 3:
            raise InputError(f"{path}: {name}/event_id must be (rows, 3): run, subrun, event; Received: shape "
                             f"{ids.shape}")
        self.n_rows = int(ids.shape[0])
        seq_cnt = self._numbers(_SEQ_CNT, group[_SEQ_CNT][()], "iu")
        if seq_cnt.ndim != 2 or seq_cnt.shape[1] != 2:
            raise InputError(f"{path}: {name}/{_SEQ_CNT} must be (events, 2): event index, rows; Received: shape "
                             f"{seq_cnt.shape}")
        seq, count = seq_cnt[:, 0].astype(np.int64), seq_cnt[:, 1].astype(np.int64)
        if len(seq) and (seq.min() < 0 or seq.max() >= n_events or np.any(np.diff(seq) <= 0)):
            raise InputError(f"{path}: {name}/{_SEQ_CNT}: event indices must increase within 0..{n_events - 1} "
                             f"(the rows of event_table); Received: {_span(seq)}")
        if np.any(count < 0) or int(count.sum()) != self.n_rows:
            raise InputError(f"{path}: {name}/{_SEQ_CNT}: the counts add up to {int(count.sum())} rows; "
                             f"{name}/event_id has {self.n_rows}")
        self.start = np.zeros(n_events, dtype=np.int64)
        self.count = np.zeros(n_events, dtype=np.int64)
        self.start[seq] = np.cumsum(count) - count
        self.count[seq] = count
        for key in (*required, *(k for k in _OPTIONAL if k in group)):
            if group[key].shape[:1] != (self.n_rows,):
                raise InputError(f"{path}: {name}/{key} has shape {group[key].shape}; {name}/event_id has "
                                 f"{self.n_rows} rows, one per row of the table")

    def __contains__(self, key) -> bool:
        return key in self.group and key != _SEQ_CNT

    def rows(self, seq: int) -> tuple[int, int]:
        """(first row, end row) of event ``seq``."""
        return int(self.start[seq]), int(self.start[seq] + self.count[seq])

    def read(self, key: str, seq: int, *, width: int | None = 1, kinds: str = "iuf") -> np.ndarray:
        """Dataset ``key`` of event ``seq``: (rows,) for one value a row (``width=1``), else
        (rows, width) (None: as stored)."""
        lo, hi = self.rows(seq)
        values = self._numbers(key, self.group[key][lo:hi], kinds)
        values = values.reshape(hi - lo, int(np.prod(values.shape[1:], dtype=np.int64)))
        if width is not None and values.shape[1] != width:
            raise InputError(f"{self.path}: {self.name}/{key} must hold {width} value(s) a row; Received: shape "
                             f"{self.group[key].shape}")
        return values[:, 0] if width == 1 else values

    def check_ids(self, seq: int, ids: tuple[int, int, int]) -> None:
        """That the rows ``event_id.seq_cnt`` gives event ``seq`` are that event's."""
        got = self.read("event_id", seq, width=3, kinds="iu")
        if len(got) and not np.all(got == np.asarray(ids)):
            bad = got[np.any(got != np.asarray(ids), axis=1)][0]
            raise InputError(f"{self.path}: {self.name}/{_SEQ_CNT} gives run {ids[0]} subrun {ids[1]} event "
                             f"{ids[2]} rows of run {bad[0]} subrun {bad[1]} event {bad[2]}; the table is not "
                             "grouped by event as its counts say")

    def _numbers(self, key, values, kinds) -> np.ndarray:
        values = np.asarray(values)
        if values.dtype.kind not in kinds:
            raise InputError(f"{self.path}: {self.name}/{key} has dtype {values.dtype}; expected "
                             f"{'integers' if 'f' not in kinds else 'numbers'}")
        return values


def _span(values: np.ndarray) -> str:
    return f"{values.tolist()}" if len(values) <= 8 else f"{values[:4].tolist()} ... {values[-4:].tolist()}"


class _Sample:
    """An open file's tables, checked once, and the reading of one event."""

    def __init__(self, path: Path, h5, mapper, source):
        self.path, self.mapper = path, mapper
        det = mapper.detector
        if "event_table" not in h5:
            raise InputError(f"{path}: no table 'event_table'; not a MicroBooNE open sample (tables: "
                             f"{sorted(h5.keys())})")
        events = h5["event_table"]
        if "event_id" not in events or len(events["event_id"].shape) != 2:
            raise InputError(f"{path}: table 'event_table' has no dataset 'event_id' of (events, 3)")
        self.n_events = int(events["event_id"].shape[0])
        self.events = _Table(path, events, "event_table", self.n_events, _REQUIRED["event_table"])
        if source is None:
            source = "wires" if "wire_table" in h5 else "hits"
        if source not in SOURCES:
            raise InputError(f"source must be one of {SOURCES}; Received: source={source!r}")
        self.source = source
        charge = "wire_table" if source == "wires" else "hit_table"
        if charge not in h5:
            raise InputError(f"{path}: no table {charge!r} to read {source} from (tables: {sorted(h5.keys())})")
        planes = tuple(p.n_wires for p in det.tpcs[0].planes) if det.tpcs else ()
        if planes != MICROBOONE_WIRES:
            raise InputError(f"{path}: a MicroBooNE open sample numbers the wires of planes of {MICROBOONE_WIRES} "
                             f"wires; detector {det.name!r} has planes of {planes} wires: read it with "
                             f"detector='microboone'")
        self.tables = {}
        for name in (charge, "particle_table", "pandoraPrimary_table") + (
                ("pandoraHit_table",) if source == "hits" else ()):
            if name in h5:
                required = _REQUIRED[name] + (("hit_id",) if name == "hit_table" and "pandoraHit_table" in h5 else ())
                self.tables[name] = _Table(path, h5[name], name, self.n_events, required)
        if source == "wires":
            adc = h5["wire_table"]["adc"]
            if len(adc.shape) != 2 or adc.shape[1] != det.ticks_per_readout or adc.dtype.kind not in "iuf":
                raise InputError(f"{path}: wire_table/adc must be numbers of (wires, {det.ticks_per_readout}) "
                                 f"({det.name}: one sample per tick of its readout window); Received: shape "
                                 f"{adc.shape}, dtype {adc.dtype}")
        self.truth = all(k in events for k in _TRUTH)

    def ids(self, seq: int) -> tuple[int, int, int]:
        ids = self.events.read("event_id", seq, width=3, kinds="iu")
        if len(ids) != 1:
            raise InputError(f"{self.path}: event_table must hold one row per event; event {seq} has {len(ids)} "
                             f"(event_table/{_SEQ_CNT})")
        return tuple(int(v) for v in ids[0])

    def event(self, seq: int, ids, label: str, report):
        """The EventRecord of event ``seq`` (BadEventError for a bad one); ``label``: "<file> run R
        subrun S", which messages name the event by."""
        from ..inputs import event_from_frame, event_from_hits  # numba loads only when an event is read

        run, subrun, event = ids
        where = f"{label}: event {event}"
        if min(ids) < 0:
            raise BadEventError(f"{where}: run, subrun and event must be >= 0; Received: {list(ids)}")
        for t in self.tables.values():
            t.check_ids(seq, ids)
        options = dict(detector=self.mapper, run=run, subrun=subrun, event=event, source=label)
        if self.source == "wires":
            frame, channels = self._wires(seq, where)
            record = event_from_frame(frame, channels, charge_unit="adc", report=report, **options)
        else:
            hits = self.tables["hit_table"]
            channels, _, _ = self._channels(hits, seq, "hit_table", where)
            rms = hits.read("rms", seq) if "rms" in hits else None
            record = event_from_hits(channels, hits.read("local_time", seq), hits.read("integral", seq),
                                     width_ticks=rms, slices=self._slices(seq), **options)
        return replace(record, reference_vertex_cm=self._pandora_vertex(seq), **self._truth(seq, where))

    # -- charge ---------------------------------------------------------------------------------------
    def _channels(self, table: _Table, seq: int, what: str, where: str):
        """(channel, local_plane, local_wire) of each row: the readout channel of its ``tpc``,
        ``local_plane`` and ``local_wire``."""
        det = self.mapper.detector
        plane = _whole(table.read("local_plane", seq), f"{what} local_plane", where)
        wire = _whole(table.read("local_wire", seq), f"{what} local_wire", where)
        tpc = _whole(table.read("tpc", seq), f"{what} tpc", where) if "tpc" in table else np.zeros_like(plane)
        bad = (tpc < 0) | (tpc >= len(det.tpcs))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise BadEventError(f"{where}: {what} row {i} has tpc {tpc[i]}; {det.name} has TPCs 0..{len(det.tpcs) - 1}")
        out = np.empty(len(wire), dtype=np.int64)
        for t in np.unique(tpc):
            planes = det.tpcs[t].planes
            for k in np.unique(plane[tpc == t]):
                sel = np.flatnonzero((tpc == t) & (plane == k))
                if not 0 <= k < len(planes):
                    raise BadEventError(f"{where}: {what} row {sel[0]} has local_plane {k}; {det.name} has planes "
                                        f"0..{len(planes) - 1}")
                n = planes[k].n_wires
                w = wire[sel]
                out_of_range = (w < 0) | (w >= n)
                if out_of_range.any():
                    i = int(np.flatnonzero(out_of_range)[0])
                    raise BadEventError(f"{where}: {what} row {sel[i]} has local_wire {w[i]} out of range: plane {k} "
                                        f"({planes[k].view}) has wires 0..{n - 1}")
                out[sel] = planes[k].channels[w]
        return out, plane, wire

    def _wires(self, seq: int, where: str):
        """(frame, channels) of the event's wires that hold charge, read ``_WIRE_ROWS`` at a time."""
        wires = self.tables["wire_table"]
        channels, plane, wire = self._channels(wires, seq, "wire_table", where)
        adc = wires.group["adc"]
        lo, hi = wires.rows(seq)
        kept, rows = [], []
        for r0 in range(lo, hi, _WIRE_ROWS):
            block = np.asarray(adc[r0 : min(r0 + _WIRE_ROWS, hi)], dtype=np.float32)
            if not np.all(np.isfinite(block)):
                r, s = np.argwhere(~np.isfinite(block))[0]
                i = r0 - lo + r
                raise BadEventError(f"{where}: wire_table adc of plane {plane[i]} wire {wire[i]} is "
                                    f"{float(block[r, s])} at tick {int(s)}; samples must be finite")
            charged = np.flatnonzero(block.max(axis=1, initial=-np.inf) >= _ADC_CHARGED)
            if not len(charged):
                continue  # wires without a sample that makes a pixel add nothing to the images
            baseline = np.median(block[charged][:, ::16], axis=1)
            if np.any(baseline > _BASELINE_ADC):
                r = int(charged[np.argmax(baseline > _BASELINE_ADC)])
                i = r0 - lo + r
                raise BadEventError(f"{where}: wire_table adc of plane {plane[i]} wire {wire[i]} has a "
                                    f"baseline (median) of {float(np.median(block[r])):g} ADC; expected "
                                    "deconvolved signals, zero outside their regions of interest (not raw digits)")
            kept.append(block[charged])
            rows.append(r0 - lo + charged)
        if not kept:
            return np.zeros((0, adc.shape[1]), dtype=np.float32), np.zeros(0, dtype=np.int64)
        return np.concatenate(kept), channels[np.concatenate(rows)]

    def _slices(self, seq: int):
        """Per hit, its Pandora slice (-1: none); None without ``pandoraHit_table``."""
        assigned = self.tables.get("pandoraHit_table")
        if assigned is None:
            return None
        hit_id = self.tables["hit_table"].read("hit_id", seq, kinds="iu").astype(np.int64)
        of_id = assigned.read("hit_id", seq, kinds="iu").astype(np.int64)
        slice_id = assigned.read("slice_id", seq, kinds="iu").astype(np.int64)
        out = np.full(len(hit_id), -1, dtype=np.int64)
        if len(of_id):
            order = np.argsort(of_id, kind="stable")
            at = np.clip(np.searchsorted(of_id[order], hit_id), 0, len(of_id) - 1)
            found = of_id[order][at] == hit_id
            out[found] = slice_id[order][at[found]]
        return np.maximum(out, -1)

    # -- truth and Pandora ------------------------------------------------------------------------------
    def _truth(self, seq: int, where: str) -> dict:
        """The EventRecord fields of the truth: vertices, nu_pdg, interaction, energy_gev, tpc."""
        if not self.truth:
            return {}
        ev = self.events
        nu = ev.read("nu_vtx_corr", seq, width=3)[0].astype(np.float64)
        if not np.all(np.isfinite(nu)):
            raise BadEventError(f"{where}: event_table nu_vtx_corr is {nu.tolist()}; it must be finite")
        nu_pdg = int(ev.read("nu_pdg", seq, kinds="iu")[0])
        is_cc = int(ev.read("is_cc", seq, kinds="iub")[0])
        energy = float(ev.read("nu_energy", seq)[0])
        particles = self.tables.get("particle_table")
        found = _Found([], False) if particles is None else _particle_vertices(particles, seq, where)
        flags = FLAG_NU_PRIMARY | FLAG_HADRONIC | (FLAG_PI0 if found.primary_pi0 else 0)
        positions = np.array([nu] + [v[1] for v in found.vertices], dtype=np.float64)
        planes = self.mapper.project_points(positions)  # NaN outside the TPC
        vertices = [TruthVertex("interaction", nu, flags=flags, planes=planes[0], pdg=nu_pdg)]
        for i, (kind, _, f, pdg, parent) in enumerate(found.vertices, start=1):
            vertices.append(TruthVertex(kind, positions[i], flags=f, parent=parent, planes=planes[i], pdg=pdg))
        return dict(vertices=vertices, nu_pdg=nu_pdg, interaction={1: "CC", 0: "NC"}.get(is_cc, ""),
                    energy_gev=energy, tpc=int(self.mapper.detector.tpc_of(nu)))

    def _pandora_vertex(self, seq: int):
        """Pandora's neutrino vertex (x, y, z) cm: the neutrino slice's with the highest ``nu_score``."""
        table = self.tables.get("pandoraPrimary_table")
        if table is None:
            return None
        pdg = table.read("slice_pdg", seq, kinds="iu").astype(np.int64)
        score = table.read("nu_score", seq).astype(np.float64)
        vtx = table.read("vtx", seq, width=3).astype(np.float64)
        ok = np.isin(np.abs(pdg), (12, 14)) & np.all(np.isfinite(vtx), axis=1) & np.all(vtx > -999.0, axis=1)
        if not ok.any():
            return None  # no neutrino slice, or one without a vertex (Pandora's -999)
        best = np.flatnonzero(ok)[np.argmax(np.nan_to_num(score[ok], nan=-np.inf))]
        return tuple(float(c) for c in vtx[best])


class _Found(NamedTuple):
    """What an event's particles say: its decay and conversion vertices as (kind, position, flags, pdg,
    parent index), in the order of their index in the event (the neutrino vertex is 0), and whether
    a pi0 comes from the neutrino."""

    vertices: list
    primary_pi0: bool


def _particle_vertices(table: _Table, seq: int, where: str) -> _Found:
    """The decay and conversion vertices of an event's ``particle_table`` rows (module docstring)."""
    g4 = table.read("g4_id", seq, kinds="iu").astype(np.int64)
    parent = table.read("parent_id", seq, kinds="iu").astype(np.int64)
    pdg = table.read("g4_pdg", seq, kinds="iu").astype(np.int64)
    end = table.read("end_position_corr", seq, width=3).astype(np.float64)
    start_process = _text(table, "start_process", seq)
    end_process = _text(table, "end_process", seq)
    row_of: dict[int, int] = {}
    for i, g in enumerate(g4.tolist()):
        if g in row_of:
            raise BadEventError(f"{where}: particle_table lists g4_id {g} twice")
        row_of[g] = i
    children: dict[int, list[int]] = {}
    for i, par in enumerate(parent.tolist()):
        if par in row_of:
            children.setdefault(row_of[par], []).append(i)
    ends = {}  # row -> (kind, flags, processes that make its products)
    for i in range(len(g4)):
        kids = children.get(i, [])
        if pdg[i] == _PHOTON and end_process[i] == _CONVERSION_PROCESS:
            if any(start_process[c] == _CONVERSION_PROCESS for c in kids):
                ends[i] = ("conversion", FLAG_CONVERSION, (_CONVERSION_PROCESS,))
        elif end_process[i] in DECAY_PROCESSES and abs(int(pdg[i])) not in _PROMPT_DECAYS:
            made = [c for c in kids if start_process[c] in DECAY_PROCESSES]
            if end_process[i] in _CAPTURE_AT_REST:
                made = made if any(abs(int(pdg[c])) == 11 for c in made) else []  # else a nuclear capture
            if made:
                pi0 = FLAG_PI0 if any(pdg[c] == _PI0 for c in made) else 0
                ends[i] = ("decay", FLAG_DECAY | pi0, DECAY_PROCESSES)

    def ancestors(i):  # the rows above row i, nearest first
        out, seen = [], {i}
        while parent[i] in row_of:
            i = row_of[parent[i]]
            if i in seen:
                raise BadEventError(f"{where}: particle_table: g4_id {g4[i]} is its own ancestor")
            seen.add(i)
            out.append(i)
        return out

    order = sorted(ends, key=lambda i: (len(ancestors(i)), i))  # parents before their products
    index = {row: k for k, row in enumerate(order, start=1)}

    def origin(i) -> int:  # the vertex row i's particle comes from
        child = i
        for up in ancestors(i):
            if up in ends and start_process[child] in ends[up][2]:
                return index[up]
            child = up
        return 0 if parent[child] <= 0 else -1  # a primary of the neutrino, or an ancestor not listed

    vertices = []
    for i in order:
        if not np.all(np.isfinite(end[i])):
            raise BadEventError(f"{where}: particle_table g4_id {g4[i]} ({ends[i][0]}) ends at {end[i].tolist()}; "
                                "positions must be finite")
        vertices.append((ends[i][0], end[i], ends[i][1], int(pdg[i]), origin(i)))
    primary_pi0 = any(pdg[i] == _PI0 and parent[i] not in row_of and parent[i] <= 0 for i in range(len(g4)))
    return _Found(vertices, primary_pi0)


def _text(table: _Table, key: str, seq: int) -> list[str]:
    """A column of strings (variable- or fixed-length, bytes or text) as Python strings."""
    lo, hi = table.rows(seq)
    values = np.asarray(table.group[key][lo:hi])
    values = values.reshape(hi - lo, int(np.prod(values.shape[1:], dtype=np.int64)))
    if values.shape[1] != 1 or values.dtype.kind not in "OSU":
        raise InputError(f"{table.path}: {table.name}/{key} must hold one string a row; Received: shape "
                         f"{table.group[key].shape}, dtype {values.dtype}")
    return [(v.decode(errors="replace") if isinstance(v, bytes) else str(v)).strip("\x00 ") for v in values[:, 0]]


def _whole(values: np.ndarray, what: str, where: str) -> np.ndarray:
    """Values that must be whole numbers (``local_wire`` is stored as floats) as int64."""
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise BadEventError(f"{where}: {what} row {i} is {_num(values[i])}; it must be a whole number")
    return values.astype(np.int64)


def _num(value) -> str:
    value = value.item() if isinstance(value, np.generic) else value
    return f"{value:g}" if isinstance(value, float) else str(value)
