"""The compact event store: 1 byte per pixel, memory-mapped, O(1) random access, checksummed, atomic.

=============  ========================================================================================
``layout``     the files of a store, their rows, the schema versions, the manifest and its checks
``read``       :class:`EventStore`: opening (cross-checked against the data), events, planes, verify
``write``      :class:`StoreWriter`: new stores and appended chunks, each committed atomically
=============  ========================================================================================

The detector a store was made with is recorded in its manifest (:mod:`vertexfinder.io.descriptions`).

May import: ``vertexfinder.records``, ``vertexfinder.errors``, ``vertexfinder.text``,
``vertexfinder.interrupts``, ``vertexfinder.detectors``, ``vertexfinder.io.atomic``,
``vertexfinder.io.descriptions``; never the finder, training, the model, the command line or the
other formats of ``vertexfinder.io``.
"""

from .layout import READABLE_VERSIONS, SCHEMA_VERSION
from .read import EventStore
from .write import StoreWriter

__all__ = ["EventStore", "StoreWriter", "SCHEMA_VERSION", "READABLE_VERSIONS"]
