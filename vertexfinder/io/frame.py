"""Frame ``.npz`` files: one event's channel-indexed frame.

Arrays: ``frame`` (channels, samples), ``channels`` (the readout channel of each row), and
optionally ``tick_us`` (the sample period), ``start_tick`` (the detector tick at which sample 0
starts), ``charge_unit`` ("adc" or "electrons") and ``electrons_per_adc``; ``run``, ``subrun``,
``event`` (whole numbers, 0 .. 2**31 - 1) name the event. Every array's size is checked against
what the detector allows before it is read (:mod:`vertexfinder.io.npz`); the frame becomes an
EventRecord through :func:`vertexfinder.inputs.event_from_frame`.
"""

from __future__ import annotations

from ..errors import BadEventError
from .npz import NpzFile, limits, one_event

__all__ = ["ARRAYS", "holds", "frame_events"]

#: The arrays that make a .npz a frame file.
ARRAYS = ("frame", "channels")


def holds(npz: NpzFile) -> bool:
    """Whether the file's arrays are a frame's."""
    return set(ARRAYS) <= set(npz.keys())


def frame_events(npz: NpzFile, mapper, *, charge_unit=None, electrons_per_adc=None, tag=None,
                 time_zero_tick: float = 0.0, outside_window: str = "crop", report=None):
    """The one event of a frame file, as (ids, record, None), or (ids, None, error) when the event is
    bad. ``tag`` and ``time_zero_tick`` are Wire-Cell options, unused here; charge outside the
    readout window is cropped and passed to ``report``, or refused, as ``outside_window`` says
    (:func:`vertexfinder.inputs.event_from_frame`).

    Raises:
        InputError: an array of the wrong type, or larger than the detector allows.
    """
    from ..inputs import event_from_frame  # numba loads only when a frame is read

    key, options = one_event(npz, mapper, charge_unit, electrons_per_adc)
    max_frame, _ = limits(mapper.detector)
    try:
        frame = npz.array("frame", max_elements=max_frame, ndim=2)
        channels = npz.array("channels", max_elements=mapper.detector.n_channels)
        record = event_from_frame(frame, channels, outside_window=outside_window, report=report, **options)
    except BadEventError as exc:
        yield key, None, str(exc)
    else:
        yield key, record, None
