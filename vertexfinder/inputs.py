"""Event records from what signal processing delivers: channel-indexed frames and hit lists.

Both go through the mapper (:meth:`ImageMapper.images_from_frame`), so wrapped induction channels
put their charge, and its ghosts, on every wire segment they read, as in the global images the
model was trained on. The images are cropped to the activity and encoded at one byte per pixel.

    record = event_from_frame(frame, channels, detector="dune-fd-1x2x6", tick_us=2.0)
    record = event_from_hits(channel, peak_tick, integral, detector="dune-fd-1x2x6")
"""

from __future__ import annotations

import math

import numpy as np

from .encoding import adc_to_bytes
from .errors import BadEventError
from .imaging import crop_to_activity
from .mapper import ImageMapper
from .records import EventRecord, PlaneImage

__all__ = ["event_from_frame", "event_from_hits", "frame_from_event"]


def _mapper(detector, drift_window: int, pooling: str) -> ImageMapper:
    return detector if isinstance(detector, ImageMapper) else ImageMapper(detector, drift_window=drift_window,
                                                                           pooling=pooling)


def event_from_frame(frame, channels, *, detector="dune-fd-1x2x6", tick_us: float | None = None, start_tick: int = 0,
                     drift_window: int = 6, pooling: str = "max", run: int = 0, subrun: int = 0, event: int = 0,
                     crop_margin: int = 8) -> EventRecord:
    """An EventRecord from a channel-indexed frame.

    Args:
        frame: array (rows, samples) of ADC (pedestal subtracted), one row per readout channel.
        channels: int (rows,) the readout channel of each row.
        detector: name, description file, Detector or ImageMapper.
        tick_us: sample period of the frame (default: the detector's tick; e.g. 2.0 after rebinning by 4).
        start_tick: detector tick of sample 0.
        drift_window, pooling: how ticks are pooled into drift pixels.
        crop_margin: pixels kept around the activity.
    """
    mapper = _mapper(detector, drift_window, pooling)
    images = mapper.images_from_frame(frame, channels, tick_us=tick_us, start_tick=start_tick)
    return _record(mapper, images, run, subrun, event, crop_margin)


def event_from_hits(channels, peak_ticks, integrals, *, detector="dune-fd-1x2x6", width_ticks=None,
                    tick_us: float | None = None, drift_window: int = 6, pooling: str = "max", run: int = 0,
                    subrun: int = 0, event: int = 0, crop_margin: int = 8) -> EventRecord:
    """An EventRecord from a hit list, each hit rasterised as a Gaussian pulse on its channel.

    Args:
        channels, peak_ticks, integrals: per hit, the readout channel, the peak time (ticks of
            ``tick_us``) and the integral (ADC x ticks).
        width_ticks: per-hit or common Gaussian width (RMS, ticks); default 1.5 drift pixels' worth
            of ticks. The pulse height is ``integral / (sqrt(2 pi) width)``.
    """
    mapper = _mapper(detector, drift_window, pooling)
    ch = np.asarray(channels, dtype=np.int64).ravel()
    t = np.asarray(peak_ticks, dtype=np.float64).ravel()
    q = np.asarray(integrals, dtype=np.float64).ravel()
    if not (len(ch) == len(t) == len(q)):
        raise BadEventError(
            f"hit list columns differ in length: {len(ch)} channels, {len(t)} peak ticks, {len(q)} integrals"
        )
    if len(ch) == 0:
        raise BadEventError(f"event {event}: the hit list is empty")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(q))):
        raise BadEventError(f"event {event}: hit peak ticks and integrals must be finite")
    if t.min() < 0:
        raise BadEventError(f"event {event}: negative peak tick {t.min()}")
    width = np.broadcast_to(np.asarray(1.5 * drift_window if width_ticks is None else width_ticks, dtype=np.float64),
                            t.shape)
    if np.any(width <= 0):
        raise BadEventError(f"event {event}: hit widths must be > 0")
    rows, inverse = np.unique(ch, return_inverse=True)
    n_t = int(math.ceil((t + 4 * width).max())) + 1
    frame = np.zeros((len(rows), n_t), dtype=np.float32)
    ticks = np.arange(n_t)
    for r, tt, qq, ww in zip(inverse, t, q, width):
        lo, hi = max(int(tt - 4 * ww), 0), min(int(tt + 4 * ww) + 1, n_t)
        frame[r, lo:hi] += qq / (math.sqrt(2 * math.pi) * ww) * np.exp(-0.5 * ((ticks[lo:hi] - tt) / ww) ** 2)
    images = mapper.images_from_frame(frame, rows, tick_us=tick_us)
    return _record(mapper, images, run, subrun, event, crop_margin)


def frame_from_event(event: EventRecord, mapper: ImageMapper | None = None):
    """The channel-indexed frame an event's images come from: (frame (channels, ticks) float32, channels).

    Each channel's waveform is read from the first of its wire segments inside the crops, every
    tick of a drift pixel given the pixel's ADC, so :func:`event_from_frame` with max pooling
    rebuilds the images (exactly on unwrapped planes; on wrapped planes the ghost copies are made
    from that one segment). For tests and for exporting events to channel-based tools.
    """
    mapper = mapper or ImageMapper(event.detector, drift_window=event.drift_window, pooling=event.pooling)
    det = mapper.detector
    n_ticks = det.ticks_per_readout
    waves: dict[int, np.ndarray] = {}
    for v, plane in enumerate(event.planes):
        (w0, w1, d0, d1) = plane.extent
        for t in det.tpcs:
            tp = mapper.tpc_plane(v, t.index)
            off = mapper.wire_offset(v, t.index)
            start, n_block, flip = mapper.drift_block(t.index, v)
            lo_g, hi_g = max(w0, off), min(w1, off + tp.n_wires)  # global wires of this plane in the crop
            lo_d, hi_d = max(d0, start), min(d1, start + n_block)
            if lo_g >= hi_g or lo_d >= hi_d:
                continue
            block = plane.pixels[lo_g - w0 : hi_g - w0, lo_d - d0 : hi_d - d0].astype(np.float32)
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


def _record(mapper: ImageMapper, images, run, subrun, event, crop_margin) -> EventRecord:
    planes = []
    for view, img in zip(mapper.views, images):
        crop, origin = crop_to_activity(img, threshold=0.5, margin=crop_margin)
        planes.append(PlaneImage(view, adc_to_bytes(crop), origin))
    if all(p.pixels.size == 0 for p in planes):
        raise BadEventError(f"event {event}: no charge above threshold on any plane")
    return EventRecord(run=run, subrun=subrun, event=event, detector=mapper.detector.name,
                       drift_window=mapper.drift_window, pooling=mapper.pooling, planes=planes)
