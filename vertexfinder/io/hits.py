"""Hit ``.npz`` files: one event's hit list.

Arrays: ``channel``, ``peak_tick``, ``integral`` (ADC x ticks, or electrons with ``charge_unit =
"electrons"``), and optionally ``width_ticks`` (RMS), ``slice`` (the slice of each hit, -1 for
none: ``vertexfinder find --per-slice`` finds one neutrino vertex per slice), ``tick_us``, ``start_tick``,
``charge_unit``, ``electrons_per_adc``; ``run``, ``subrun``, ``event`` (whole numbers, 0 .. 2**31
- 1) name the event. Every array's size is checked against what the detector allows before it is
read (:mod:`vertexfinder.io.npz`); the hits become an EventRecord through
:func:`vertexfinder.inputs.event_from_hits`.
"""

from __future__ import annotations

from ..errors import BadEventError
from .npz import NpzFile, limits, one_event

__all__ = ["ARRAYS", "holds", "hit_events"]

#: The arrays that make a .npz a hit file.
ARRAYS = ("channel", "peak_tick", "integral")


def holds(npz: NpzFile) -> bool:
    """Whether the file's arrays are a hit list's."""
    return set(ARRAYS) <= set(npz.keys())


def hit_events(npz: NpzFile, mapper, *, charge_unit=None, electrons_per_adc=None, tag=None,
               time_zero_tick: float = 0.0, outside_window: str = "crop", report=None):
    """The one event of a hit file, as (ids, record, None), or (ids, None, error) when the event is
    bad. ``tag`` and ``time_zero_tick`` are Wire-Cell options, ``outside_window`` and ``report``
    frame options, unused here (hits must peak inside the readout window).

    Raises:
        InputError: an array of the wrong type, or larger than the detector allows.
    """
    from ..inputs import event_from_hits  # numba loads only when hits are read

    key, options = one_event(npz, mapper, charge_unit, electrons_per_adc)
    _, max_hits = limits(mapper.detector)
    try:
        cols = [npz.array(k, max_elements=max_hits) for k in ARRAYS]
        width = npz.array("width_ticks", max_elements=max_hits) if "width_ticks" in npz else None
        slices = npz.array("slice", max_elements=max_hits) if "slice" in npz else None
        record = event_from_hits(*cols, width_ticks=width, slices=slices, **options)
    except BadEventError as exc:
        yield key, None, str(exc)
    else:
        yield key, record, None
