"""The ROOT dump layout (the historical one, with extensions): names, trees, branches, encodings.

Everything sits in a directory named after
the dump module, ``vertexdump`` by default; reading also accepts the objects at
the top of the file or inside the file's single top-level directory.

``event_<E>_run_<R>_subrun_<S>_plane_<P>_raw`` (TH2C), one per event and view
    ``P`` is the view's index in ``mapper.views`` (the global-image plane).
    x axis: the crop's global wires, one unit-width bin per wire, edges
    ``origin_w .. origin_w + n_w``; y axis: its global drift pixels, edges
    ``origin_d .. origin_d + n_d``. ROOT bin ``(i + 1, j + 1)`` (bin 0 is the
    underflow, which stays empty) holds ``encoding.bytes_to_th2c(pixels)[i, j]``,
    the signed byte ``ADC - 123``. Bytes 0..250 round-trip exactly; bytes
    251..255 are written as 127 and come back as 250: the dump format saturates.
``event_<E>_run_<R>_subrun_<S>_plane_<P>_truth`` (TH2I), written when the
    plane has a truth map; same axes. Value 0: no truth; otherwise
    ``(vertex_index + 1) | (flags << 16)`` with ``flags`` the TruthVertex flags
    of that vertex. The historical maps held a PDG code in the low 16 bits;
    ours keep the vertex index, so walks can be trained toward the vertex the
    charge comes from. Read back as ``PlaneImage.truth = (value & 0xFFFF) - 1``.
    A file without a ``vertices`` tree is a historical dump: its truth maps
    mean something else and are not decoded (``truth`` stays None).
tree ``nu vertex``, one entry per event
    fRun, fSubRun, fEvent, fCryo (0), fTpc, fPdg (neutrino PDG),
    fInteraction (0 CC, 1 NC, -1 unknown) and, as an extension, fEnergy (GeV).
    fTpc is ``EventRecord.tpc``, or the primary vertex's TPC when the record
    says -1.
tree ``nu vertex 2d``, one entry per event that has a primary vertex, and view
    Views in the order 2, 1, 0. fRun, fSubRun, fEvent, fPlane (view index),
    fPosX (continuous local wire, wire ``i`` spans [i, i+1)) and fPosY (tick)
    of the primary vertex in the readout plane of TPC fTpc that has that view.
tree ``vertices`` (extension), one entry per truth vertex
    fRun, fSubRun, fEvent, fIndex, fKind (index in ``records.VERTEX_KINDS``),
    fFlags, fParent, fPdg, fX, fY, fZ (cm).
``vertexfinder`` (TObjString, extension): JSON ``{"format": "vertexfinder-dump", "version": 1,
    "detector": <description>, "drift_window": N, "pooling": "..."}``, the detector the images
    were made with (:func:`vertexfinder.io.descriptions.detector_description`: the parametric description,
    or the wires file by path and SHA-256), so the dump reopens without being told its detector
    (:func:`~vertexfinder.io.root.read.dump_metadata`, :func:`vertexfinder.io.events.read_events`).

Historical ``nu vertex 2d`` trees may hold only fPlane, fPosX, fPosY: one entry per event and
plane, the planes of each event together (written 2, 1, 0), the events in the order of the
``nu vertex`` entries. Such a tree is matched to ``nu vertex`` by position and must have one
entry per view for each of its entries.

Values are checked when read: ids and other integer branches must hold whole numbers; fTpc must
be -1 or a TPC of the detector, fInteraction 0, 1 or -1, fCryo 0, fEnergy NaN (unknown) or a
finite non-negative value; truth positions must be finite and inside the detector (1 cm
tolerance); 2D positions finite. A bad value makes that event bad (skipped and reported), a
malformed branch the whole file.

Reading takes the truth from ``vertices`` when the tree exists (plane
projections recomputed with ``mapper.project_points``); otherwise it rebuilds
the primary vertex alone (kind "interaction", flags FLAG_NU_PRIMARY |
FLAG_HADRONIC) by back-projecting the ``nu vertex 2d`` positions. Historical
trees without fSubRun are matched to histograms by (run, event).
"""

from __future__ import annotations

import re

import numpy as np

__all__ = [
    "DEFAULT_DIRECTORY", "METADATA_NAME", "METADATA_FORMAT", "NU_TREE", "NU2D_TREE", "VERTEX_TREE", "TREES",
    "TREE_CLASSES", "HIST_RE", "HIST_CLASS", "INTERACTION_CODE", "INTERACTION_NAME", "TRUTH_INDEX_MASK",
    "TRUTH_FLAGS_SHIFT", "TRUTH_MAX_FLAGS", "INT32_MAX", "BRANCHES", "REQUIRED", "hist_name", "is_dump_object",
]

#: Directory of the dump module's objects (the framework names it after the module label).
DEFAULT_DIRECTORY = "vertexdump"

#: Name of the TObjString holding the dump's metadata (detector description, drift window, pooling).
METADATA_NAME = "vertexfinder"
#: The metadata's ``format``.
METADATA_FORMAT = "vertexfinder-dump"

NU_TREE = "nu vertex"
NU2D_TREE = "nu vertex 2d"
VERTEX_TREE = "vertices"
TREES = (NU_TREE, NU2D_TREE, VERTEX_TREE)
#: The classes a tree of a dump may have.
TREE_CLASSES = ("TTree", "ROOT::RNTuple")

HIST_RE = re.compile(r"^event_(\d+)_run_(\d+)_subrun_(\d+)_plane_(\d+)_(raw|truth)$")
#: The class of each kind of plane histogram.
HIST_CLASS = {"raw": "TH2C", "truth": "TH2I"}

#: fInteraction of each ``EventRecord.interaction``, and back.
INTERACTION_CODE = {"CC": 0, "NC": 1, "": -1}
INTERACTION_NAME = {0: "CC", 1: "NC"}

# Truth map encoding: (vertex index + 1) in the low bits, that vertex's flags above.
TRUTH_INDEX_MASK = 0xFFFF
TRUTH_FLAGS_SHIFT = 16
TRUTH_MAX_FLAGS = 0x7FFF  # keeps the int32 bin content non-negative

#: The largest ROOT Int_t (ids are written as such).
INT32_MAX = 2**31 - 1

_NU_BRANCHES = {
    "fRun": np.int32, "fSubRun": np.int32, "fEvent": np.int32, "fCryo": np.int32, "fTpc": np.int32,
    "fPdg": np.int32, "fInteraction": np.int32, "fEnergy": np.float64,
}
_NU2D_BRANCHES = {
    "fRun": np.int32, "fSubRun": np.int32, "fEvent": np.int32, "fPlane": np.int32,
    "fPosX": np.float64, "fPosY": np.float64,
}
_VERTEX_BRANCHES = {
    "fRun": np.int32, "fSubRun": np.int32, "fEvent": np.int32, "fIndex": np.int32, "fKind": np.int32,
    "fFlags": np.int32, "fParent": np.int32, "fPdg": np.int32, "fX": np.float64, "fY": np.float64, "fZ": np.float64,
}
#: Every tree's branches and the type they are written with.
BRANCHES = {NU_TREE: _NU_BRANCHES, NU2D_TREE: _NU2D_BRANCHES, VERTEX_TREE: _VERTEX_BRANCHES}
#: Branches a file must have to be read; the others have defaults (historical trees lack fSubRun, fEnergy).
REQUIRED = {
    NU_TREE: ("fRun", "fEvent"),
    NU2D_TREE: ("fPlane", "fPosX", "fPosY"),  # without fRun/fEvent: matched to NU_TREE by position
    VERTEX_TREE: ("fRun", "fEvent", "fIndex", "fKind", "fFlags", "fParent", "fX", "fY", "fZ"),
}


def hist_name(run: int, subrun: int, event: int, plane: int, what: str = "raw") -> str:
    """Name of a plane histogram: ``event_<E>_run_<R>_subrun_<S>_plane_<P>_<raw|truth>``."""
    return f"event_{event}_run_{run}_subrun_{subrun}_plane_{plane}_{what}"


def is_dump_object(name: str, cls: str) -> bool:
    """Whether an object of a ROOT directory is one of a dump's (a plane histogram or one of its trees)."""
    return bool(HIST_RE.match(name)) or (name in TREES and cls in TREE_CLASSES)
