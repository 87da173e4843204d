"""Events in and out, whatever the file: event stores, ROOT dumps, frames, hit lists, Wire-Cell frames and
MicroBooNE open samples (``.h5``).

* :func:`read_events` yields EventRecords from any input format (:data:`~.formats.FORMATS`);
* :func:`npz_events` and :func:`read_npz` read the ``.npz`` formats (frame, hit list, Wire-Cell
  frames; :mod:`.frame`, :mod:`.hits`, :mod:`.wirecell`) with every array's shape and dtype
  checked against what the detector allows before it is read;
* :func:`write_events` writes EventRecords as a ROOT dump (``.root``) or an event store;
* :func:`convert` turns ROOT dumps into an event store.

Bad events are skipped and passed to a ``report`` callback (default: logged as warnings on the
``vertexfinder`` logger), and so is what was dropped from an event that is kept (charge outside a
frame's readout window: "cropped ..."; a dump event's truth that does not meet in 3D: "truth
dropped ..."); nothing here prints. Outputs appear only when complete.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..detectors import DEFAULT_DETECTOR, get_detector
from ..errors import BadEventError, InputError
from ..records import DEFAULT_DRIFT_WINDOW
from .formats import input_formats, npz_format, output_format
from .npz import NpzFile

__all__ = ["read_events", "write_events", "convert", "read_npz", "npz_events"]

_log = logging.getLogger("vertexfinder")


def _report(report):
    return report or _log.warning


def npz_events(path, *, detector=None, drift_window=None, pooling=None, charge_unit=None,
               electrons_per_adc=None, tag=None, time_zero_tick: float = 0.0, outside_window: str = "crop",
               report=None):
    """The events of a ``.npz`` (a frame, a hit list or Wire-Cell frames, told apart by their
    arrays), as (ids, record or None, error or None).

    A frame or hit file holds one event; a Wire-Cell file one per saved frame. File-level
    problems raise; a bad event comes back with its error so callers can skip and report it.
    Charge outside a frame's readout window is cropped and passed to ``report`` (default: a
    warning on the ``vertexfinder`` logger), or makes the event bad with
    ``outside_window="refuse"`` (:mod:`vertexfinder.inputs`).

    Raises:
        InputError: the file is not a readable .npz, holds none of the known layouts, or declares
            arrays larger than the detector allows.
    """
    from ..mapper import ImageMapper

    p = Path(path)
    mapper = ImageMapper(DEFAULT_DETECTOR if detector is None else detector,
                         drift_window=DEFAULT_DRIFT_WINDOW if drift_window is None else drift_window,
                         pooling=pooling or "max")
    with NpzFile(p) as npz:
        yield from npz_format(npz).read(npz, mapper, charge_unit=charge_unit, electrons_per_adc=electrons_per_adc,
                                        tag=tag, time_zero_tick=time_zero_tick, outside_window=outside_window,
                                        report=report)


def read_npz(path, *, detector=None, drift_window=None, pooling=None, charge_unit=None, electrons_per_adc=None,
             tag=None, time_zero_tick: float = 0.0, outside_window: str = "crop", report=None):
    """The EventRecord of a ``.npz`` holding one event: a frame, a hit list, or one Wire-Cell frame
    (:func:`npz_events` reads files of several events).

    Raises:
        InputError: the file is unreadable or holds several events. BadEventError: its event is bad.
    """
    events = list(npz_events(path, detector=detector, drift_window=drift_window, pooling=pooling,
                             charge_unit=charge_unit, electrons_per_adc=electrons_per_adc, tag=tag,
                             time_zero_tick=time_zero_tick, outside_window=outside_window, report=report))
    if len(events) != 1:
        raise InputError(f"{path}: holds {len(events)} events; read them with read_events or npz_events")
    _, record, error = events[0]
    if record is None:
        raise BadEventError(error)
    return record


def read_events(path, *, detector=None, drift_window=None, pooling=None, report=None, source=None, **npz_options):
    """EventRecords from an event store, a ROOT dump, a ``.npz`` file of frames or hits, or a
    MicroBooNE open sample (``.h5``/``.hdf5``, :mod:`.microboone`; ``source`` "wires" or "hits",
    None: wires when the file has them).

    ``detector``, ``drift_window`` and ``pooling`` describe dumps, frames and hits; None means:
    what a dump records (:func:`~vertexfinder.io.root.dump_mapper`), else ``dune-fd-1x2x6``, 6 and
    "max". A store records its own. Bad events of a dump or of a Wire-Cell file are skipped and
    passed to ``report(message)`` ("skipped ..."), and so is what was dropped from an event that is
    read ("cropped ...", "truth dropped ..."). ``npz_options``: ``charge_unit``,
    ``electrons_per_adc``, ``tag``, ``time_zero_tick``, ``outside_window`` (:func:`npz_events`).
    """
    p = Path(path)
    report = _report(report)
    formats = input_formats(p)
    if not formats:
        if not p.exists():
            raise InputError(f"{p}: no such file or event store")
        raise InputError(f"{p}: not an event store, a .root dump, a .npz of frames or hits, or a MicroBooNE .h5")
    if formats[0].holds is None:  # a store, a dump or an HDF5 file: one format per folder or suffix
        yield from formats[0].read(p, detector=detector, drift_window=drift_window, pooling=pooling, report=report,
                                   **({"source": source} if source else {}))
        return
    events = list(npz_events(p, detector=detector, drift_window=drift_window, pooling=pooling, report=report,
                             **npz_options))
    if len(events) == 1 and events[0][1] is None:
        raise BadEventError(events[0][2])  # a file of one event: its problem is the file's
    for ids, record, error in events:
        if record is None:
            report(f"skipped {error}")
        else:
            yield record


def write_events(records, output, *, detector, drift_window, pooling, overwrite=False) -> int:
    """Write EventRecords to ``output``: a ROOT dump if it ends in ``.root``, else an event store.

    Either way the output appears only when complete (temporary name, then rename), and records
    the detector's description so it reopens without being told. Returns the number of events
    written.
    """
    det = get_detector(detector)
    return output_format(output).write(records, output, detector=det, drift_window=drift_window, pooling=pooling,
                                       overwrite=overwrite)


class _NothingConverted(Exception):
    pass


def convert(inputs, output, *, detector=None, drift_window=None, pooling=None, overwrite=False, progress=True,
            report=None) -> dict:
    """Convert ROOT dumps into an event store; bad events are skipped and passed to ``report``.

    ``detector``, ``drift_window``, ``pooling``: as in :func:`read_events` (None: what the first
    dump records, else ``dune-fd-1x2x6``, 6, "max"); every input must agree with them. An event
    whose (run, subrun, event) was already converted, from the same or an earlier input, is
    skipped and reported: a store holds each event once.

    An event whose 2D truth does not meet in 3D is converted without its truth, and reported
    ("truth dropped ...").

    Returns a summary dict (converted, skipped, errors, truth_dropped: the messages of events
    converted without their truth, store). The store appears at ``output`` only when the
    conversion finished (it is built under a temporary name, then renamed).

    Raises:
        InputError: an input file is missing or given twice, or no event could be converted (no
            store is written). RootFormatError: an input is not a dump, or was made with another
            detector.
    """
    from tqdm import tqdm

    from .root.read import dump_mapper, read_dump
    from .store.write import create_store_of

    inputs = [Path(p) for p in inputs]
    seen_paths: dict = {}
    for path in inputs:
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        key = path.resolve()
        if key in seen_paths:
            raise InputError(f"{path}: given twice (as {seen_paths[key]} and {path}); each event would be read twice")
        seen_paths[key] = path
    if not inputs:
        raise InputError("convert: no input files")
    mapper = dump_mapper(inputs[0], detector=detector, drift_window=drift_window, pooling=pooling)
    det = mapper.detector
    mappers = [mapper] + [dump_mapper(p, detector=det, drift_window=mapper.drift_window, pooling=mapper.pooling)
                          for p in inputs[1:]]
    report = _report(report)
    converted, errors, truth_dropped = 0, [], []
    first_seen: dict = {}
    try:
        with create_store_of(output, det, drift_window=mapper.drift_window, pooling=mapper.pooling,
                             overwrite=overwrite) as writer, \
                tqdm(desc="converting", unit="event", disable=not progress) as bar:
            for path, m in zip(inputs, mappers):
                for entry in read_dump(path, mapper=m):
                    where = f"{path} run {entry.run} subrun {entry.subrun} event {entry.event}"
                    if entry.record is None:
                        msg = f"skipped {where}: {entry.error}"
                    elif entry.ids in first_seen:
                        msg = (f"skipped {where}: the same run, subrun and event as an event already converted "
                               f"from {first_seen[entry.ids]}")
                    else:
                        writer.append(entry.record)
                        first_seen[entry.ids] = path
                        converted += 1
                        msg = None
                        if entry.truth_dropped is not None:
                            truth_dropped.append(f"truth dropped {where}: {entry.truth_dropped}")
                            report(truth_dropped[-1])
                    if msg is not None:
                        errors.append(msg)
                        report(msg)
                    bar.update(1)
            if converted == 0:
                raise _NothingConverted
    except _NothingConverted:
        raise InputError(f"{', '.join(map(str, inputs))}: no event could be converted ({len(errors)} skipped); "
                         "no store written") from None
    return {"converted": converted, "skipped": len(errors), "errors": errors, "truth_dropped": truth_dropped,
            "store": str(output)}
