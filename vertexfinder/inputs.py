"""Event records from what signal processing delivers: channel-indexed frames and hit lists.

Both go through the mapper (:meth:`ImageMapper.images_from_frame`), so wrapped induction channels
put their charge, and its ghosts, on every wire segment they read, as in the global images the
model was trained on. The images are cropped to the activity and encoded at one byte per pixel.

    record = event_from_frame(frame, channels, detector="dune-fd-1x2x6", tick_us=2.0)
    record = event_from_frame(charge, channels, detector="sbnd", charge_unit="electrons", start_tick=-400)
    record = event_from_hits(channel, peak_tick, integral, detector="dune-fd-1x2x6")

Time. Detector tick 0 is the first tick of the detector's readout window (``ticks_per_readout``
ticks of ``tick_us``; the trigger is at ``trigger_offset_ticks``). A frame's sample ``i`` covers
detector ticks ``start_tick + i * k .. start_tick + (i + 1) * k`` with ``k = tick_us /
detector.tick_us`` (``tick_us``: the frame's sample period, e.g. 2.0 after rebinning by 4);
``start_tick`` may be negative (a frame that starts before the readout window) or fractional.
A hit's peak is at detector tick ``start_tick + peak_tick * k``; its width is in ticks of
``tick_us`` too.

Bounds. Everything is checked against what the detector allows before anything is allocated:
a frame has at most one row per readout channel and covers at most :data:`MAX_FRAME_WINDOWS`
readout windows; a sample period is at least a quarter of the detector's tick; hits must peak
inside the window. NaN or infinite samples, fractional or out-of-range channels, and negative hit
integrals or widths are refused. Every refusal is a :class:`~vertexfinder.errors.BadEventError`
whose one-line message names the source (when given), the event and the value.

The readout window. The images cover the detector's readout window, so a frame's samples before
its start or beyond its end (Wire-Cell's DUNE FD frames are 6000 ticks long, the LArSoft window
4492) are not imaged. Samples there that hold no charge (nothing that would make a non-zero
pixel) are dropped without a word; samples that hold charge are handled as ``outside_window``
says:

* ``"crop"`` (the default): they are dropped and the event is reported once, on one line naming
  the source, the event, how many samples on how many channels, at which ticks, and how much
  charge (and which fraction of the frame's) was dropped; a large fraction means the frame's
  timing (``start_tick``, Wire-Cell's ``time_zero_tick``) is wrong, not that the readout is long.
  An event whose charge all lies outside is refused with the same figures.
* ``"refuse"``: the frame is refused, naming the first such channel, sample and value.

Reports go to ``report(message)`` (default: a warning on the ``vertexfinder`` logger).

Charge units (``charge_unit``):

* ``"adc"``: pedestal-subtracted ADC counts per sample (raw digits, or deconvolved signals in
  ADC); used as they are.
* ``"electrons"``: signal-processed charge in electrons per sample, as Wire-Cell's signal
  processing writes it (thousands per sample on a MIP track). Converted to ADC per detector tick:
  ``adc = electrons / (electrons_per_adc * k)`` (a sample of ``k`` ticks holds ``k`` ticks'
  charge). The default ``electrons_per_adc`` (120) is the simulation's collection-plane gain, so
  such frames land on the byte scale the bundled model was trained on; the finder normalises
  each event's charge in any case, so the gain mostly sets how much saturates at byte 255.
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

import numpy as np

from .encoding import adc_to_bytes
from .errors import BadEventError, InputError
from .imaging import crop_to_activity, sample_pixels
from .mapper import ImageMapper
from .records import EventRecord, PlaneImage

__all__ = ["CHARGE_UNITS", "DEFAULT_ELECTRONS_PER_ADC", "MIN_TICK_FRACTION", "MAX_FRAME_WINDOWS", "OUTSIDE_WINDOW",
           "FramePart", "event_from_frame", "event_from_frames", "event_from_hits", "frame_from_event", "adc_per_unit"]

#: Units a frame's or a hit list's charge may come in.
CHARGE_UNITS = ("adc", "electrons")
#: Electrons per ADC count of the simulation's collection plane (``ResponseConfig.adc_per_electron``).
DEFAULT_ELECTRONS_PER_ADC = 120.0
#: The finest sample period accepted, as a fraction of the detector's tick.
MIN_TICK_FRACTION = 0.25
#: The longest frame accepted, in readout windows (Wire-Cell's DUNE FD frames: 1.34; MicroBooNE's raw: 1.5).
MAX_FRAME_WINDOWS = 4
#: What may happen to charge outside the readout window (module docstring).
OUTSIDE_WINDOW = ("crop", "refuse")
#: Charge above this many ADC is clipped before encoding (everything above 255 saturates anyway).
_ADC_CLIP = 1.0e6
#: Frame elements converted at once (bounds the working memory of big frames).
_CHUNK_ELEMENTS = 1 << 22


class FramePart(NamedTuple):
    """One channel-indexed frame, or one piece of an event's frame (Wire-Cell writes one per anode).

    Attributes:
        frame: array (rows, samples) of charge, one row per readout channel.
        channels: int array (rows,): the readout channel of each row.
        tick_us: the sample period in microseconds (None: the detector's tick).
        start_tick: detector tick at which sample 0 starts (may be negative or fractional).
    """

    frame: object
    channels: object
    tick_us: float | None = None
    start_tick: float = 0.0


def _mapper(detector, drift_window: int, pooling: str) -> ImageMapper:
    return detector if isinstance(detector, ImageMapper) else ImageMapper(detector, drift_window=drift_window,
                                                                           pooling=pooling)


def _where(source, event) -> str:
    return f"{source}: event {event}" if source else f"event {event}"


_log = logging.getLogger("vertexfinder")


def adc_per_unit(charge_unit: str, electrons_per_adc: float, tick_ratio: float) -> float:
    """Factor turning a sample's charge into ADC per detector tick (module docstring).

    Args:
        charge_unit: "adc" or "electrons".
        electrons_per_adc: electrons per ADC count (used for "electrons").
        tick_ratio: the sample period in detector ticks.
    """
    if charge_unit not in CHARGE_UNITS:
        raise InputError(f"charge_unit must be one of {CHARGE_UNITS}; Received: charge_unit={charge_unit!r}")
    if charge_unit == "adc":
        return 1.0
    e = _finite_float(electrons_per_adc)
    if e is None or e <= 0:
        raise InputError(f"electrons_per_adc must be a finite number > 0; Received: electrons_per_adc={_num(electrons_per_adc)}")
    return 1.0 / (e * tick_ratio)


def _num(value) -> str:
    """A value for a message: numbers as Python writes them (not ``np.float64(...)``)."""
    return repr(value.item() if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.size == 1)
                else value)


def _finite_float(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return out if math.isfinite(out) else None


def _real_array(values, what: str, where: str) -> np.ndarray:
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError) as exc:
        raise BadEventError(f"{where}: {what} is not a regular numeric array ({exc})") from None
    if arr.dtype.kind not in "iuf":
        raise BadEventError(f"{where}: {what} must hold real numbers (integer or float); Received: dtype={arr.dtype}")
    return arr


def _channel_array(values, n_channels: int, what: str, where: str, detector: str) -> np.ndarray:
    arr = _real_array(values, what, where).ravel()
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            raise BadEventError(f"{where}: {what} must be whole channel numbers; Received: {_num(arr[bad][0])}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_channels):
        value = arr[(arr < 0) | (arr >= n_channels)][0]
        raise BadEventError(f"{where}: {what} {_num(value)} out of range: {detector} has channels 0..{n_channels - 1}")
    return arr.astype(np.int64)


def _sample_period(tick_us, det, where: str) -> float:
    if tick_us is None:
        return det.tick_us
    t = _finite_float(tick_us)
    if t is None or t <= 0:
        raise BadEventError(f"{where}: tick_us (the sample period) must be a finite number > 0; Received: {_num(tick_us)}")
    if t < det.tick_us * MIN_TICK_FRACTION * (1 - 1e-9):
        raise BadEventError(f"{where}: sample period tick_us={t:g} is finer than a quarter of the {det.name} tick "
                            f"({det.tick_us:g} us); resample the frame to the detector's tick")
    return t


def _start(start_tick, where: str) -> float:
    s = _finite_float(start_tick)
    if s is None:
        raise BadEventError(f"{where}: start_tick must be a finite number of ticks; Received: {_num(start_tick)}")
    return s


# ------------------------------------------------------------------------------------------------
# frames
# ------------------------------------------------------------------------------------------------
def event_from_frame(frame, channels, *, detector="dune-fd-1x2x6", tick_us: float | None = None,
                     start_tick: float = 0, charge_unit: str = "adc",
                     electrons_per_adc: float = DEFAULT_ELECTRONS_PER_ADC, drift_window: int = 6,
                     pooling: str = "max", run: int = 0, subrun: int = 0, event: int = 0, crop_margin: int = 8,
                     source: str | None = None, outside_window: str = "crop", report=None) -> EventRecord:
    """An EventRecord from a channel-indexed frame.

    Args:
        frame: array (rows, samples) of charge in ``charge_unit``, one row per readout channel
            (pedestal subtracted).
        channels: int (rows,) the readout channel of each row.
        detector: name, description file, Detector or ImageMapper.
        tick_us: sample period of the frame (default: the detector's tick; e.g. 2.0 after rebinning by 4).
        start_tick: detector tick at which sample 0 starts (module docstring; may be negative).
        charge_unit: "adc" or "electrons" (module docstring), with ``electrons_per_adc``.
        drift_window, pooling: how ticks are pooled into drift pixels.
        crop_margin: pixels kept around the activity.
        source: the file the frame comes from, named in error messages.
        outside_window: "crop" (default) or "refuse": what happens to charge outside the readout
            window (module docstring).
        report: called with the one-line message of charge cropped (default: a warning on the
            ``vertexfinder`` logger).

    Raises:
        BadEventError: a frame the detector cannot hold, or no charge (module docstring).
    """
    return event_from_frames([FramePart(frame, channels, tick_us, start_tick)], detector=detector,
                             charge_unit=charge_unit, electrons_per_adc=electrons_per_adc,
                             drift_window=drift_window, pooling=pooling, run=run, subrun=subrun, event=event,
                             crop_margin=crop_margin, source=source, outside_window=outside_window, report=report)


def event_from_frames(parts, *, detector="dune-fd-1x2x6", charge_unit: str = "adc",
                      electrons_per_adc: float = DEFAULT_ELECTRONS_PER_ADC, drift_window: int = 6,
                      pooling: str = "max", run: int = 0, subrun: int = 0, event: int = 0, crop_margin: int = 8,
                      source: str | None = None, outside_window: str = "crop", report=None) -> EventRecord:
    """An EventRecord from one or several :class:`FramePart` (e.g. one per anode), each with its
    own sample period and start; a channel may appear in one part only. Arguments as in
    :func:`event_from_frame`; charge cropped from several parts is reported once, for the event."""
    if outside_window not in OUTSIDE_WINDOW:
        raise InputError(f"outside_window must be one of {OUTSIDE_WINDOW}; Received: outside_window={outside_window!r}")
    mapper = _mapper(detector, drift_window, pooling)
    where = _where(source, event)
    parts = list(parts)
    checked = [_check_part(mapper, part, "frame" if len(parts) == 1 else f"frame part {i}", where, charge_unit,
                           electrons_per_adc) for i, part in enumerate(parts)]
    if not checked:
        raise BadEventError(f"{where}: no frame given")
    chans = np.concatenate([c[1] for c in checked])
    if len(np.unique(chans)) != len(chans):
        values, counts = np.unique(chans, return_counts=True)
        raise BadEventError(f"{where}: channel {int(values[counts > 1][0])} has more than one row")
    images = [np.zeros(mapper.shape(v), dtype=np.float32) for v in range(len(mapper.views))]
    cropped = _Cropped()
    for frame, channels, tick_us, start_tick, scale, what in checked:
        _add_frame_images(mapper, images, frame, channels, tick_us, start_tick, scale, what, where,
                          None if outside_window == "refuse" else cropped)
    if not cropped.samples:
        return _record(mapper, images, run, subrun, event, crop_margin, where)
    summary = cropped.summary(mapper.detector, charge_unit)
    try:
        record = _record(mapper, images, run, subrun, event, crop_margin, where)
    except BadEventError:
        raise BadEventError(f"{where}: no charge above threshold inside the {mapper.detector.name} readout window; "
                            f"{summary}") from None
    (report or _log.warning)(f"cropped {where}: {summary}, dropped")
    return record


class _Cropped:
    """What an event's frame parts held outside the readout window (samples that make a pixel)."""

    def __init__(self):
        self.samples, self.channels, self.charge, self.total = 0, set(), 0.0, 0.0
        self.ticks = (math.inf, -math.inf)

    def add(self, total: float, charge_out: np.ndarray, channels: np.ndarray, ticks: np.ndarray) -> None:
        """``total``: the charge of a chunk's charged samples; ``charge_out``, ``channels``, ``ticks``: per
        charged sample outside the window, its charge, channel and tick."""
        self.total += total
        if charge_out.size:
            self.samples += charge_out.size
            self.charge += float(charge_out.sum(dtype=np.float64))
            self.channels.update(np.unique(channels).tolist())
            self.ticks = (min(self.ticks[0], float(ticks.min())), max(self.ticks[1], float(ticks.max())))

    def summary(self, det, charge_unit: str) -> str:
        unit = "electrons" if charge_unit == "electrons" else "ADC summed over samples"
        share = 100.0 * self.charge / self.total if self.total > 0 else 100.0
        return (f"{self.samples} samples on {len(self.channels)} channels held charge outside the {det.name} readout "
                f"window 0..{det.ticks_per_readout - 1} (ticks {self.ticks[0]:g}..{self.ticks[1]:g}): "
                f"{self.charge:.4g} {unit}, {share:.3g}% of the frame's charge")


def _check_part(mapper, part, what, where, charge_unit, electrons_per_adc):
    """Shape, dtype, channels, period and start of one frame part, checked before any allocation."""
    det = mapper.detector
    frame = _real_array(part.frame, what, where)
    if frame.ndim != 2:
        raise BadEventError(f"{where}: {what} must be 2D (channels, samples); Received: shape={frame.shape}")
    rows, n_samples = frame.shape
    if rows > det.n_channels:
        raise BadEventError(f"{where}: {what} has {rows} rows but {det.name} has {det.n_channels} channels "
                            f"(one row per channel)")
    channels = _channel_array(part.channels, det.n_channels, f"{what} channel", where, det.name)
    if len(channels) != rows:
        raise BadEventError(f"{where}: {what} must have one row per channel id; Received: {rows} rows, "
                            f"{len(channels)} channel ids")
    tick_us = _sample_period(part.tick_us, det, where)
    start_tick = _start(part.start_tick, where)
    span_ticks = n_samples * tick_us / det.tick_us
    if span_ticks > MAX_FRAME_WINDOWS * det.ticks_per_readout * (1 + 1e-9):
        raise BadEventError(
            f"{where}: {what} has {n_samples} samples of {tick_us:g} us ({span_ticks:g} ticks), longer than "
            f"{MAX_FRAME_WINDOWS} {det.name} readout windows of {det.ticks_per_readout} ticks; not a readout of this "
            f"detector (or describe it with a longer ticks_per_readout)"
        )
    if abs(start_tick) > 2 * det.ticks_per_readout:
        raise BadEventError(f"{where}: {what} starts at tick {start_tick:g}, far outside the {det.name} readout "
                            f"window 0..{det.ticks_per_readout - 1}")
    scale = adc_per_unit(charge_unit, electrons_per_adc, tick_us / det.tick_us)
    return frame, channels, tick_us, start_tick, scale, what


def _add_frame_images(mapper, images, frame, channels, tick_us, start_tick, scale, what, where, cropped):
    """Convert a checked frame to ADC chunk by chunk (bounded memory) and add its global images.

    Charge outside the readout window is added up in ``cropped`` (a :class:`_Cropped`), or refused
    when ``cropped`` is None; samples there are left out of the images either way."""
    det = mapper.detector
    rows, n_samples = frame.shape
    if rows == 0 or n_samples == 0:
        return
    pix = sample_pixels(n_samples, sample_us=tick_us, pixel_us=det.tick_us * mapper.drift_window,
                        start_us=start_tick * det.tick_us)
    outside = (pix < 0) | (pix >= mapper.n_drift_block)
    outside_samples = np.flatnonzero(outside)
    step = max(1, _CHUNK_ELEMENTS // n_samples)
    for r0 in range(0, rows, step):
        raw = frame[r0 : r0 + step]
        if raw.dtype.kind == "f":
            finite = np.isfinite(raw)
            if not finite.all():
                r, s = np.argwhere(~finite)[0]
                raise BadEventError(f"{where}: {what} channel {int(channels[r0 + r])} sample {int(s)} is "
                                    f"{_num(raw[r, s])}; samples must be finite")
        with np.errstate(over="ignore"):  # beyond the clip anyway
            adc = np.clip(raw.astype(np.float64) * scale, -_ADC_CLIP, _ADC_CLIP).astype(np.float32)
        if cropped is not None:  # the charge of the chunk and what of it lies outside, in the frame's unit
            charged = adc >= 0.5  # would make a non-zero byte
            r, s = np.nonzero(charged[:, outside_samples])
            with np.errstate(over="ignore", invalid="ignore"):  # sums of huge values: inf, reported as such
                cropped.add(float(np.sum(raw, where=charged, dtype=np.float64)), raw[r, outside_samples[s]],
                            channels[r0 + r], start_tick + (outside_samples[s] + 0.5) * tick_us / det.tick_us)
        elif outside.any():
            beyond = adc[:, outside]
            lost = beyond >= 0.5  # would make a non-zero byte
            if lost.any():
                r, s = np.argwhere(lost)[0]
                sample = int(outside_samples[s])
                tick = start_tick + (sample + 0.5) * tick_us / det.tick_us
                raise BadEventError(
                    f"{where}: {what} channel {int(channels[r0 + r])} sample {sample} (tick {tick:g}) holds "
                    f"{float(beyond[r, s]):g} ADC outside the {det.name} readout window 0..{det.ticks_per_readout - 1} "
                    f"(start_tick={start_tick:g}, {n_samples} samples of {tick_us:g} us); refused "
                    f"(outside_window='refuse'): crop the frame or fix start_tick"
                )
        part = mapper.images_from_frame(adc, channels[r0 : r0 + step], tick_us=tick_us, start_tick=start_tick)
        for total, img in zip(images, part):
            total += img


# ------------------------------------------------------------------------------------------------
# hits
# ------------------------------------------------------------------------------------------------
def event_from_hits(channels, peak_ticks, integrals, *, detector="dune-fd-1x2x6", width_ticks=None,
                    tick_us: float | None = None, start_tick: float = 0, charge_unit: str = "adc",
                    electrons_per_adc: float = DEFAULT_ELECTRONS_PER_ADC, drift_window: int = 6,
                    pooling: str = "max", run: int = 0, subrun: int = 0, event: int = 0, crop_margin: int = 8,
                    source: str | None = None, slices=None) -> EventRecord:
    """An EventRecord from a hit list, each hit rasterised as a Gaussian pulse on its channel.

    Args:
        channels, peak_ticks, integrals: per hit, the readout channel, the peak time (ticks of
            ``tick_us`` from ``start_tick``, so negative times are fine when ``start_tick`` is
            positive) and the integral (ADC x ticks of ``tick_us``, or electrons with
            ``charge_unit="electrons"``).
        width_ticks: per-hit or common Gaussian width (RMS, ticks of ``tick_us``); default 1.5
            drift pixels' worth of detector ticks. The pulse height is ``integral / (sqrt(2 pi) width)``.
        tick_us: the hits' tick period (default: the detector's tick).
        start_tick: detector tick of the hits' time 0.
        slices: per hit, the slice it belongs to (whole numbers, -1: none), or None. Each pixel's
            slice is that of the hits giving it the most charge (the planes' ``slices`` maps).

    Raises:
        BadEventError: columns of different lengths, an empty list, a hit outside the readout
            window or the channel range, non-finite values, negative integrals or widths.
    """
    mapper = _mapper(detector, drift_window, pooling)
    det = mapper.detector
    where = _where(source, event)
    ch = _channel_array(channels, det.n_channels, "hit channel", where, det.name)
    t = _real_array(peak_ticks, "hit peak ticks", where).ravel().astype(np.float64)
    q = _real_array(integrals, "hit integrals", where).ravel().astype(np.float64)
    if not (len(ch) == len(t) == len(q)):
        raise BadEventError(
            f"{where}: hit list columns differ in length: {len(ch)} channels, {len(t)} peak ticks, {len(q)} integrals"
        )
    if len(ch) == 0:
        raise BadEventError(f"{where}: the hit list is empty")
    for name, arr in (("peak tick", t), ("integral", q)):
        bad = ~np.isfinite(arr)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise BadEventError(f"{where}: hit {i} (channel {int(ch[i])}) has {name} {_num(arr[i])}; it must be finite")
    if (q < 0).any():
        i = int(np.flatnonzero(q < 0)[0])
        raise BadEventError(f"{where}: hit {i} (channel {int(ch[i])}) has a negative integral {_num(q[i])}")
    period = _sample_period(tick_us, det, where)
    k = period / det.tick_us
    start = _start(start_tick, where)
    peak = start + t * k  # detector ticks
    out = (peak < 0) | (peak >= det.ticks_per_readout)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise BadEventError(
            f"{where}: hit {i} (channel {int(ch[i])}) peaks at tick {peak[i]:g} (peak_tick={_num(t[i])}, "
            f"start_tick={start:g}), outside the {det.name} readout window 0..{det.ticks_per_readout - 1}"
        )
    if width_ticks is None:
        width = np.full(t.shape, 1.5 * mapper.drift_window, dtype=np.float64)
    else:
        w = _real_array(width_ticks, "hit widths", where).astype(np.float64)
        if w.size not in (1, len(t)):
            raise BadEventError(f"{where}: width_ticks must be one value or one per hit; Received: {w.size} values "
                                f"for {len(t)} hits")
        width = np.broadcast_to(w.ravel(), t.shape) * k
        bad = ~np.isfinite(width) | (width <= 0) | (width > det.ticks_per_readout)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise BadEventError(f"{where}: hit {i} (channel {int(ch[i])}) has width {_num(w.ravel()[i % w.size])} ticks; "
                                f"widths must be > 0 and at most the readout window ({det.ticks_per_readout} ticks)")
    # ADC x ticks over a width in the same ticks: a height that does not depend on the tick; a
    # number of electrons spreads over the width in detector ticks (adc_per_unit divides by k)
    with np.errstate(over="ignore"):
        height = q / (math.sqrt(2 * math.pi) * width / k) * adc_per_unit(charge_unit, electrons_per_adc, k)
    height = np.minimum(height, _ADC_CLIP)
    images = _hit_images(mapper, ch, peak, width, height)
    slice_maps = None
    if slices is not None:
        sl = _real_array(slices, "hit slices", where).ravel()
        if len(sl) != len(ch):
            raise BadEventError(f"{where}: slices must be one per hit; Received: {len(sl)} values for {len(ch)} hits")
        bad = (sl != np.round(sl)) | (sl < -1) | (sl > 32767)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise BadEventError(f"{where}: hit {i} (channel {int(ch[i])}) has slice {_num(sl[i])}; slices are whole "
                                "numbers from -1 (none) to 32767")
        sl = sl.astype(np.int64)
        best = [np.zeros(img.shape, dtype=np.float32) for img in images]
        slice_maps = [np.full(img.shape, -1, dtype=np.int16) for img in images]
        for s_id in np.unique(sl):  # hits of no slice (-1) compete too: their pixels stay -1
            sel = sl == s_id
            part = _hit_images(mapper, ch[sel], peak[sel], width[sel], height[sel])
            for b, m, img in zip(best, slice_maps, part):
                more = img > b
                b[more] = img[more]
                m[more] = s_id
    return _record(mapper, images, run, subrun, event, crop_margin, where, slice_maps)


def _hit_images(mapper, ch, peak, width, height):
    """Global images (one per view, float32) of Gaussian pulses on the hits' channels."""
    det = mapper.detector
    rows, inverse = np.unique(ch, return_inverse=True)
    images = [np.zeros(mapper.shape(v), dtype=np.float32) for v in range(len(mapper.views))]
    n_ticks = det.ticks_per_readout
    step = max(1, _CHUNK_ELEMENTS // n_ticks)
    for r0 in range(0, len(rows), step):
        sel = np.flatnonzero((inverse >= r0) & (inverse < r0 + step))
        frame = np.zeros((min(step, len(rows) - r0), n_ticks), dtype=np.float64)
        _rasterise(frame, inverse[sel] - r0, peak[sel], width[sel], height[sel])
        part = mapper.images_from_frame(frame.astype(np.float32), rows[r0 : r0 + step], tick_us=det.tick_us,
                                        start_tick=0)
        for total, img in zip(images, part):
            total += img
    return images


def _rasterise(frame, row, peak, width, height) -> None:
    """Add Gaussian pulses (+-4 widths, cut at the window's edges) to ``frame`` (rows, ticks), in batches."""
    n_ticks = frame.shape[1]
    lo = np.clip(np.floor(peak - 4 * width), 0, n_ticks).astype(np.int64)
    hi = np.clip(np.floor(peak + 4 * width) + 1, 0, n_ticks).astype(np.int64)
    span = hi - lo
    flat = frame.reshape(-1)
    i = 0
    while i < len(peak):
        j, total = i, 0
        while j < len(peak) and (j == i or total + span[j] <= _CHUNK_ELEMENTS):
            total += int(span[j])
            j += 1
        s = span[i:j]
        hit = np.repeat(np.arange(i, j), s)
        tick = lo[hit] + (np.arange(int(s.sum())) - np.repeat(np.cumsum(s) - s, s))
        value = height[hit] * np.exp(-0.5 * ((tick - peak[hit]) / width[hit]) ** 2)
        flat += np.bincount(row[hit] * n_ticks + tick, weights=value, minlength=flat.size)
        i = j


# ------------------------------------------------------------------------------------------------
# back to frames
# ------------------------------------------------------------------------------------------------
def frame_from_event(event: EventRecord, mapper: ImageMapper | None = None):
    """The channel-indexed frame an event's images come from: (frame (channels, ticks) float32, channels).

    Each channel's waveform is read from the first of its wire segments inside the crops, every
    tick of a drift pixel given the pixel's ADC, so :func:`event_from_frame` with max pooling
    rebuilds the images (exactly on unwrapped planes; on wrapped planes the ghost copies are made
    from that one segment). Where the planes of several TPCs share global pixels (DUNE's upper
    and lower APAs on the collection view), each pixel's charge is given to one of them only, so
    the rebuilt image, which adds the TPCs, holds it once. For tests and for exporting events to
    channel-based tools.
    """
    mapper = mapper or ImageMapper(event.get_detector(), drift_window=event.drift_window, pooling=event.pooling)
    det = mapper.detector
    n_ticks = det.ticks_per_readout
    waves: dict[int, np.ndarray] = {}
    for v, plane in enumerate(event.planes):
        (w0, w1, d0, d1) = plane.extent
        claimed = np.zeros(plane.pixels.shape, dtype=bool)  # crop pixels already given to a TPC's channels
        for t in det.tpcs:
            tp = mapper.tpc_plane(v, t.index)
            off = mapper.wire_offset(v, t.index)
            start, n_block, flip = mapper.drift_block(t.index, v)
            lo_g, hi_g = max(w0, off), min(w1, off + tp.n_wires)  # global wires of this plane in the crop
            lo_d, hi_d = max(d0, start), min(d1, start + n_block)
            if lo_g >= hi_g or lo_d >= hi_d:
                continue
            region = (slice(lo_g - w0, hi_g - w0), slice(lo_d - d0, hi_d - d0))
            block = np.where(claimed[region], 0, plane.pixels[region]).astype(np.float32)
            claimed[region] = True
            j = np.arange(lo_d, hi_d) - start
            j = (n_block - 1 - j) if flip else j
            local = mapper.to_local(v, np.arange(lo_g, hi_g), np.full(hi_g - lo_g, start), t.index)[0]
            for i, wire in enumerate(local):
                c = int(tp.channels[wire])
                if c in waves or not block[i].any():
                    continue
                wave = np.zeros(n_ticks, dtype=np.float32)
                for jj, value in zip(j, block[i]):
                    wave[jj * mapper.drift_window : (jj + 1) * mapper.drift_window] = value
                waves[c] = wave
    channels = np.array(sorted(waves), dtype=np.int64)
    frame = np.stack([waves[c] for c in channels]) if len(channels) else np.zeros((0, n_ticks), np.float32)
    return frame, channels


def _record(mapper: ImageMapper, images, run, subrun, event, crop_margin, where, slice_maps=None) -> EventRecord:
    planes = []
    for k, (view, img) in enumerate(zip(mapper.views, images)):
        crop, origin = crop_to_activity(img, threshold=0.5, margin=crop_margin)
        sm = None
        if slice_maps is not None:
            (w0, d0), (nw, nd) = origin, crop.shape
            sm = slice_maps[k][w0 : w0 + nw, d0 : d0 + nd]
            sm = np.where(adc_to_bytes(crop) > 0, sm, -1)
        planes.append(PlaneImage(view, adc_to_bytes(crop), origin, slices=sm))
    if all(p.pixels.size == 0 for p in planes):
        raise BadEventError(f"{where}: no charge above threshold on any plane")
    return EventRecord(run=run, subrun=subrun, event=event, detector=mapper.detector,
                       drift_window=mapper.drift_window, pooling=mapper.pooling, planes=planes)
