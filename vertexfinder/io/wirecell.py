"""Wire-Cell frame ``.npz`` files, as Wire-Cell's ``NumpyFrameSaver`` writes them.

Per saved frame ``n`` and tag ``T``: ``frame_T_n`` (channels, ticks), ``channels_T_n`` and
``tickinfo_T_n`` = (start time, tick period, tbin) in Wire-Cell's units (ns): column 0 is at time
``start + tbin * tick``. Every ``n`` is one event (event number ``n``); tags that differ only in
trailing digits (``gauss0``, ``gauss1``, ... one per anode) are parts of the same frame. The tag
family read is ``tag``, else the only one, else ``gauss`` (Wire-Cell's signal-processed charge).
Times are taken as measured from the start of the readout window (detector tick 0;
``time_zero_tick`` moves that, e.g. to the detector's ``trigger_offset_ticks`` for frames timed
from the trigger). Signal-processing tags (``gauss``, ``wiener``, ``dnnsp``, ...) hold electrons
per sample, the others ADC, unless ``charge_unit`` says otherwise. Each event's parts become an
EventRecord through :func:`vertexfinder.inputs.event_from_frames`. Frames may be longer than the
detector's readout window (Wire-Cell simulates DUNE FD frames of 6000 ticks; LArSoft reads 4492):
samples outside it are not imaged, and charge there is cropped and reported, or refused, as
``outside_window`` says.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import BadEventError, InputError
from .npz import MAX_ID, NpzFile, limits

__all__ = ["WIRECELL_SP_TAGS", "holds", "frames_in", "wirecell_events"]

#: Wire-Cell frame tags (families) that hold signal-processed charge in electrons per sample.
WIRECELL_SP_TAGS = ("gauss", "wiener", "dnnsp", "sp", "tight", "loose", "threshold")
_WCT_KEY = re.compile(r"^(frame|channels|tickinfo)_(.+)_(\d+)$")
_WCT_NS_PER_US = 1000.0  # Wire-Cell's system of units: times in ns


def frames_in(npz: NpzFile) -> dict:
    """{count n: {tag: (frame key, channels key, tickinfo key)}} of Wire-Cell frame arrays.

    Raises:
        InputError: a frame without its channels or tick information.
    """
    found: dict = {}
    for key in npz.keys():
        m = _WCT_KEY.match(key)
        if m:
            found.setdefault(int(m[3]), {}).setdefault(m[2], {})[m[1]] = key
    out = {}
    for n, tags in found.items():
        for t, kinds in tags.items():
            if "frame" not in kinds:
                continue  # e.g. a channel mask of its own
            missing = [k for k in ("channels", "tickinfo") if k not in kinds]
            if missing:
                raise InputError(f"{npz.path}: Wire-Cell frame {kinds['frame']!r} has no "
                                 f"{' or '.join(f'{k}_{t}_{n}' for k in missing)}")
            out.setdefault(n, {})[t] = (kinds["frame"], kinds["channels"], kinds["tickinfo"])
    return out


def holds(npz: NpzFile) -> bool:
    """Whether the file holds Wire-Cell frames (InputError if one is incomplete, see :func:`frames_in`)."""
    return bool(frames_in(npz))


def _family(tag: str) -> str:
    return tag.rstrip("0123456789") or tag


def wirecell_events(npz: NpzFile, mapper, *, charge_unit=None, electrons_per_adc=None, tag=None,
                    time_zero_tick: float = 0.0, outside_window: str = "crop", report=None):
    """The events of a Wire-Cell frame file (module docstring), one per saved frame, as (ids,
    record, None), or (ids, None, error) for a bad event; charge cropped from outside the readout
    window is passed to ``report`` (:func:`vertexfinder.inputs.event_from_frames`).

    Raises:
        InputError: no frames of ``tag``, several tag families and none chosen, a bad
            ``charge_unit`` or ``time_zero_tick``, or frames larger than the detector allows.
    """
    from ..inputs import CHARGE_UNITS, DEFAULT_ELECTRONS_PER_ADC, FramePart, event_from_frames

    frames = frames_in(npz)
    det = mapper.detector
    max_frame, _ = limits(det)
    tags = sorted({t for per_event in frames.values() for t in per_event})
    families = sorted({_family(t) for t in tags})
    if tag is None:
        if len(families) > 1 and "gauss" not in families:
            raise InputError(f"{npz.path}: holds Wire-Cell frames of several tags {families}; choose one (tag=...)")
        tag = families[0] if len(families) == 1 else "gauss"
    if tag in families:  # a family: all its anodes' parts
        family, selected = tag, (lambda t: _family(t) == tag)
    elif tag in tags:  # one exact tag
        family, selected = _family(tag), (lambda t: t == tag)
    else:
        raise InputError(f"{npz.path}: no Wire-Cell frames with tag {tag!r}; tags: {tags}")
    unit = charge_unit or ("electrons" if family in WIRECELL_SP_TAGS else "adc")
    if unit not in CHARGE_UNITS:
        raise InputError(f"{npz.path}: charge_unit must be one of {CHARGE_UNITS}; Received: charge_unit={unit!r}")
    if not np.isfinite(time_zero_tick):
        raise InputError(f"{npz.path}: time_zero_tick must be finite; Received: {time_zero_tick!r}")
    gain = DEFAULT_ELECTRONS_PER_ADC if electrons_per_adc is None else electrons_per_adc
    for n in sorted(frames):
        members = sorted(t for t in frames[n] if selected(t))
        if not members:
            continue
        if n > MAX_ID:
            yield (0, 0, n), None, f"{npz.path} ({'+'.join(members)}): frame number {n} is too large for an event number"
            continue
        parts, total = [], 0
        try:
            for t in members:
                fkey, ckey, tkey = frames[n][t]
                shape = npz.headers[fkey][0]
                total += int(np.prod(shape, dtype=np.int64))
                if total > max_frame:
                    raise InputError(f"{npz.path}: Wire-Cell frames {members} of event {n} declare {total} values, "
                                     f"more than the {max_frame} {det.name} allows; not read")
                info = npz.array(tkey, kinds="iuf", max_elements=3).astype(np.float64).ravel()
                if info.size != 3 or not np.all(np.isfinite(info)) or info[1] <= 0:
                    raise InputError(f"{npz.path}: {tkey!r} must be (start time, tick period > 0, tbin) in ns; "
                                     f"Received: {info.tolist()}")
                start_ns, tick_ns, tbin = info
                tick_us = tick_ns / _WCT_NS_PER_US
                start_tick = time_zero_tick + (start_ns + tbin * tick_ns) / _WCT_NS_PER_US / det.tick_us
                parts.append(FramePart(npz.array(fkey, max_elements=max_frame, ndim=2),
                                       npz.array(ckey, max_elements=det.n_channels), tick_us, start_tick))
            record = event_from_frames(parts, detector=mapper, charge_unit=unit, electrons_per_adc=gain, event=n,
                                       source=f"{npz.path} ({'+'.join(members)})", outside_window=outside_window,
                                       report=report)
        except BadEventError as exc:
            yield (0, 0, n), None, str(exc)
        else:
            yield (0, 0, n), record, None
