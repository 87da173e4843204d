"""The embedded data source: a fast parametric LArTPC event simulation.

``simulate(detector, sample, events=..., seed=...)`` yields EventRecords; see
:mod:`.api`. Physics in :mod:`.physics`, :mod:`.kinematics`, :mod:`.decays` and
:mod:`.transport`, event sources in :mod:`.sources` (neutrinos, cosmics, guns) and
:mod:`.enriched` (the class-rich samples), sample names in :mod:`.samples`, detector response
in :mod:`.response`. Loaded lazily.

May import: ``generators.jit``, ``vertexfinder.records``, ``vertexfinder.detectors``, ``vertexfinder.mapper``,
``vertexfinder.imaging``, ``vertexfinder.encoding``, ``vertexfinder.errors``, ``vertexfinder.text``; never the finder,
the model, training or the readers and writers of ``vertexfinder.io``.
"""

import importlib

from .samples import SAMPLES

_LAZY = {"SimulationConfig": ".api", "SimulatedEvents": ".api", "simulate": ".api", "simulate_event": ".api", "ResponseConfig": ".response"}
__all__ = ["SAMPLES", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
