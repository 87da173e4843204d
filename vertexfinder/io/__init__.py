"""Reading and writing events and outputs: one module (or subpackage) per file format.

================  ===========================================================================================
``formats``       the table of formats: how each is recognised (folder, suffix, arrays) and what reads and
                  writes it
``events``        events from any input (``read_events``), ``write_events``, ``convert`` (dumps to a store)
``store``         the event store (``layout``, ``read``: EventStore, ``write``: StoreWriter)
``root``          ROOT dumps in the historical layout, with uproot (``layout``, ``file``, ``read``, ``write``)
``npz``           ``.npz`` inputs checked before they are read, and what frame, hit and Wire-Cell files share
``frame``         frame ``.npz`` files (one channel-indexed frame)
``hits``          hit ``.npz`` files (one hit list)
``wirecell``      Wire-Cell ``NumpyFrameSaver`` ``.npz`` files (one event per saved frame)
``microboone``    MicroBooNE public open samples (HDF5, with h5py): wires or hits, truth, Pandora's vertex
``descriptions``  the detector recorded with the data (stores, dumps), and found again from that record
``results``       the ``find`` table, written as CSV or a ROOT TTree
``atomic``        ``atomic_output``: every output appears only when complete
================  ===========================================================================================

The physics of turning frames and hits into images is :mod:`vertexfinder.inputs`; the readers
here only check and read the files. Names are loaded lazily so ``import vertexfinder.io`` does not
import uproot (nor h5py, which is imported only when an HDF5 file is read).

May import: ``vertexfinder.records``, ``vertexfinder.errors``, ``vertexfinder.text``, ``vertexfinder.interrupts``,
``vertexfinder.detectors``, ``vertexfinder.encoding``, ``vertexfinder.mapper``,
``vertexfinder.inputs``; never ``vertexfinder.finder``, ``vertexfinder.training``, the model or
the command line.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "read_events": ".events",
    "write_events": ".events",
    "convert": ".events",
    "read_npz": ".events",
    "npz_events": ".events",
    "Format": ".formats",
    "FORMATS": ".formats",
    "EventStore": ".store",
    "StoreWriter": ".store",
    "DumpEntry": ".root",
    "read_dump": ".root",
    "write_dump": ".root",
    "dump_metadata": ".root",
    "dump_mapper": ".root",
    "WIRECELL_SP_TAGS": ".wirecell",
    "microboone_events": ".microboone",
    "detector_description": ".descriptions",
    "detector_from_description": ".descriptions",
    "description_differences": ".descriptions",
    "WIRES_PATH_ENV": ".descriptions",
    "FIND_COLUMNS": ".results",
    "vertex_rows": ".results",
    "write_rows": ".results",
    "atomic_output": ".atomic",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vertexfinder.io' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
