"""ROOT dumps in the historical layout, read and written with uproot (no PyROOT).

=============  ========================================================================================
``layout``     what a dump holds: histogram and tree names, branches, the truth map encoding, metadata
``file``       a ROOT file opened safely: the dump located, every key and basket checked before reading
``read``       :func:`read_dump` (a :class:`DumpEntry` per event), :func:`dump_metadata`, :func:`dump_mapper`
``write``      :func:`write_dump`
=============  ========================================================================================

May import: ``vertexfinder.records``, ``vertexfinder.errors``, ``vertexfinder.text``,
``vertexfinder.detectors``, ``vertexfinder.encoding``, ``vertexfinder.mapper``,
``vertexfinder.io.atomic``, ``vertexfinder.io.descriptions``; never the finder, training, the
model, the command line or the other formats of ``vertexfinder.io``.
"""

from .layout import DEFAULT_DIRECTORY, METADATA_NAME
from .read import DumpEntry, dump_mapper, dump_metadata, read_dump
from .write import write_dump

__all__ = ["DumpEntry", "read_dump", "write_dump", "dump_metadata", "dump_mapper", "DEFAULT_DIRECTORY",
           "METADATA_NAME"]
