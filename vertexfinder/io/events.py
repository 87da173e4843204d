"""Events in and out, whatever the file: event stores, ROOT dumps, frames and hit lists.

* :func:`read_events` yields EventRecords from an event store, a ROOT dump (historical layout),
  or a ``.npz`` of a channel-indexed frame or a hit list;
* :func:`write_events` writes EventRecords as a ROOT dump (``.root``) or an event store;
* :func:`convert` turns ROOT dumps into an event store.

Bad events are skipped and passed to a ``report`` callback (default: logged as warnings on the
``vertexfinder`` logger); nothing here prints. Outputs appear only when complete.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..detectors import DEFAULT_DETECTOR, get_detector
from ..errors import InputError
from ..imaging import DEFAULT_DRIFT_WINDOW

__all__ = ["read_events", "write_events", "convert", "read_npz"]

_log = logging.getLogger("vertexfinder")


def _report(report):
    return report or _log.warning


def read_npz(path, *, detector=DEFAULT_DETECTOR, drift_window=DEFAULT_DRIFT_WINDOW, pooling="max"):
    """The EventRecord of a ``.npz`` holding a channel-indexed frame or a hit list.

    A frame ``.npz`` holds ``frame`` (channels, samples), ``channels`` and optionally ``tick_us``
    and ``start_tick``; a hit ``.npz`` holds ``channel``, ``peak_tick``, ``integral`` and optionally
    ``width_ticks``; either may name the event with ``run``, ``subrun``, ``event``.
    """
    from ..inputs import event_from_frame, event_from_hits

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    with np.load(p) as z:
        data = {k: z[k] for k in z.files}
    ids = {k: int(data[k]) for k in ("run", "subrun", "event") if k in data}
    opts = dict(detector=detector, drift_window=drift_window, pooling=pooling, **ids)
    if "frame" in data and "channels" in data:
        return event_from_frame(data["frame"], data["channels"],
                                tick_us=float(data["tick_us"]) if "tick_us" in data else None,
                                start_tick=int(data.get("start_tick", 0)), **opts)
    if {"channel", "peak_tick", "integral"} <= set(data):
        return event_from_hits(data["channel"], data["peak_tick"], data["integral"],
                               width_ticks=data["width_ticks"] if "width_ticks" in data else None, **opts)
    raise InputError(f"{p}: expected arrays frame + channels, or channel + peak_tick + integral; found {sorted(data)}")


def read_events(path, *, detector=DEFAULT_DETECTOR, drift_window=DEFAULT_DRIFT_WINDOW, pooling="max", report=None):
    """EventRecords from an event store, a ROOT dump, or a ``.npz`` file of frames or hits.

    ``detector``, ``drift_window`` and ``pooling`` describe dumps, frames and hits (a store
    records its own). Bad events of a dump are skipped and passed to ``report(message)``.
    """
    from ..mapper import ImageMapper

    p = Path(path)
    report = _report(report)
    if p.is_dir():
        from ..store import EventStore

        store = EventStore.open(p)
        for i in range(len(store)):
            yield store[i]
    elif p.suffix == ".root":
        from .root import read_dump

        mapper = ImageMapper(detector, drift_window=drift_window, pooling=pooling)
        for entry in read_dump(p, mapper=mapper):
            if entry.record is None:
                report(f"skipped {p} run {entry.run} subrun {entry.subrun} event {entry.event}: {entry.error}")
            else:
                yield entry.record
    elif p.suffix == ".npz":
        yield read_npz(p, detector=detector, drift_window=drift_window, pooling=pooling)
    elif not p.exists():
        raise InputError(f"{p}: no such file or event store")
    else:
        raise InputError(f"{p}: not an event store, a .root dump or a .npz of frames or hits")


def _create_store(output, det, drift_window, pooling, overwrite):
    from ..store import EventStore

    return EventStore.create(output, detector=det.name, views=list(det.views), drift_window=drift_window,
                             pooling=pooling, pixel_cm=None, detector_description=det.spec.to_dict(),
                             overwrite=overwrite)


def write_events(records, output, *, detector, drift_window, pooling, overwrite=False) -> int:
    """Write EventRecords to ``output``: a ROOT dump if it ends in ``.root``, else an event store.

    Either way the output appears only when complete (temporary name, then rename). Returns the
    number of events written.
    """
    det = get_detector(detector)
    if str(output).endswith(".root"):
        from ..mapper import ImageMapper
        from .root import write_dump

        if Path(output).exists() and not overwrite:
            raise InputError(f"{output}: exists (use --overwrite)")
        return write_dump(output, records, mapper=ImageMapper(det, drift_window=drift_window, pooling=pooling))
    n = 0
    with _create_store(output, det, drift_window, pooling, overwrite) as writer:
        for rec in records:
            writer.append(rec)
            n += 1
    return n


class _NothingConverted(Exception):
    pass


def convert(inputs, output, *, detector=DEFAULT_DETECTOR, drift_window=DEFAULT_DRIFT_WINDOW, pooling="max",
            overwrite=False, progress=True, report=None) -> dict:
    """Convert ROOT dumps into an event store; bad events are skipped and passed to ``report``.

    Returns a summary dict (converted, skipped, errors, store). The store appears at ``output``
    only when the conversion finished (it is built under a temporary name, then renamed).

    Raises:
        InputError: an input file is missing, or no event could be converted (no store is written).
    """
    from tqdm import tqdm

    from ..mapper import ImageMapper
    from .root import read_dump

    det = get_detector(detector)
    mapper = ImageMapper(det, drift_window=drift_window, pooling=pooling)
    report = _report(report)
    converted, errors = 0, []
    for path in inputs:
        if not Path(path).is_file():
            raise InputError(f"{path}: no such file")
    try:
        with _create_store(output, det, drift_window, pooling, overwrite) as writer, \
                tqdm(desc="converting", unit="event", disable=not progress) as bar:
            for path in inputs:
                for entry in read_dump(path, mapper=mapper, detector_name=det.name):
                    if entry.record is None:
                        msg = f"skipped {path} run {entry.run} subrun {entry.subrun} event {entry.event}: {entry.error}"
                        errors.append(msg)
                        report(msg)
                    else:
                        writer.append(entry.record)
                        converted += 1
                    bar.update(1)
            if converted == 0:
                raise _NothingConverted
    except _NothingConverted:
        raise InputError(f"{', '.join(map(str, inputs))}: no event could be converted ({len(errors)} skipped); "
                         "no store written") from None
    return {"converted": converted, "skipped": len(errors), "errors": errors, "store": str(output)}
