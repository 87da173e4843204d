"""The formats events are read from and written to, in one table: how each is recognised, and
which functions read and write it.

===================  ======================================  =====================================  ======================
format               recognised by                           read by                                written by
===================  ======================================  =====================================  ======================
event store          a folder                                :func:`.store.read.store_events`       :func:`.store.write.events_to_store`
ROOT dump            ``.root``                               :func:`.root.read.dump_events`         :func:`.root.write.events_to_dump`
frame                ``.npz`` with ``frame``, ``channels``   :func:`.frame.frame_events`
hit list             ``.npz`` with ``channel``,              :func:`.hits.hit_events`
                     ``peak_tick``, ``integral``
Wire-Cell frames     ``.npz`` with ``frame_<tag>_<n>``,      :func:`.wirecell.wirecell_events`
                     ``channels_<tag>_<n>``,
                     ``tickinfo_<tag>_<n>``
MicroBooNE open      ``.h5``, ``.hdf5``                      :func:`.microboone.microboone_events`
sample (HDF5)
===================  ======================================  =====================================  ======================

:func:`input_formats` says what a path to read may hold (several for ``.npz``: :func:`npz_format`
tells them apart by their arrays), :func:`output_format` which format an output is written in (a
``.root`` name a dump, anything else a store). :mod:`vertexfinder.io.events` reads and writes
through them. The ``find`` table is not events: :func:`vertexfinder.io.results.write_rows` writes
it as a ROOT TTree for ``.root``, else as CSV.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from . import frame, hits, microboone, wirecell
from .store.read import store_events
from .store.write import events_to_store

__all__ = ["Format", "FORMATS", "input_formats", "output_format", "npz_format"]


@dataclass(frozen=True)
class Format:
    """One format of events on disk.

    Attributes:
        name: the format as messages name it.
        folder: recognised as a directory.
        suffix: recognised by the file name's suffix ("" for none).
        holds: for the formats that share a suffix (``.npz``): whether an open file's arrays are
            this format's, ``holds(npz)``.
        read: a folder's or a suffix's format: ``read(path, *, detector, drift_window, pooling,
            report)`` yields EventRecords, bad events skipped and passed to ``report``. A
            ``holds`` format's: ``read(npz, mapper, *, charge_unit, electrons_per_adc, tag,
            time_zero_tick, outside_window, report)`` yields (ids, record, None), or (ids, None,
            error) for a bad event; what it cropped from an event is passed to ``report``.
        write: ``write(records, output, *, detector, drift_window, pooling, overwrite)`` writes
            EventRecords of ``detector`` (a Detector) and returns how many; None for a format
            that is only read.
    """

    name: str
    read: Callable
    write: Callable | None = None
    folder: bool = False
    suffix: str = ""
    holds: Callable | None = None


def _dump_events(path, **options):
    from .root.read import dump_events  # uproot loads only when a dump is read or written

    return dump_events(path, **options)


def _events_to_dump(records, output, **options) -> int:
    from .root.write import events_to_dump

    return events_to_dump(records, output, **options)


FORMATS = (
    Format("event store", folder=True, read=store_events, write=events_to_store),
    Format("ROOT dump", suffix=".root", read=_dump_events, write=_events_to_dump),
    Format("frame", suffix=".npz", holds=frame.holds, read=frame.frame_events),
    Format("hit list", suffix=".npz", holds=hits.holds, read=hits.hit_events),
    Format("Wire-Cell frames", suffix=".npz", holds=wirecell.holds, read=wirecell.wirecell_events),
    Format("MicroBooNE open sample (HDF5)", suffix=".h5", read=microboone.microboone_events),
    Format("MicroBooNE open sample (HDF5)", suffix=".hdf5", read=microboone.microboone_events),
)


def input_formats(path) -> tuple[Format, ...]:
    """The formats ``path`` may hold: the event store for a folder, else the formats of its suffix
    (several for ``.npz``, told apart by :func:`npz_format`); none for anything else."""
    p = Path(path)
    if p.is_dir():
        return tuple(f for f in FORMATS if f.folder)
    return tuple(f for f in FORMATS if f.suffix and f.suffix == p.suffix)


def output_format(path) -> Format:
    """The format events are written in at ``path``: the format of the suffix its name ends in
    (``.root``: a dump), else the event store."""
    for f in FORMATS:
        if f.write is not None and f.suffix and str(path).endswith(f.suffix):
            return f
    return next(f for f in FORMATS if f.folder)


def npz_format(npz) -> Format:
    """The format of an open ``.npz`` (:class:`~vertexfinder.io.npz.NpzFile`), from its arrays.

    Raises:
        InputError: its arrays are those of none of the formats, or of several.
    """
    found = [f for f in FORMATS if f.holds is not None and f.holds(npz)]
    if len(found) > 1:
        raise InputError(f"{npz.path}: holds more than one kind of input (frame, hit list, Wire-Cell frames); "
                         f"found {sorted(npz.keys())}")
    if not found:
        raise InputError(f"{npz.path}: expected arrays frame + channels, or channel + peak_tick + integral, or "
                         f"Wire-Cell frame_<tag>_<n> + channels_<tag>_<n> + tickinfo_<tag>_<n>; "
                         f"found {sorted(npz.keys())}")
    return found[0]
