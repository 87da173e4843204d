"""Preparation: an event's planes in the model's working pixels, and where walks start.

:func:`check` refuses what the finder cannot work on; :func:`prepare` normalises the charge,
resamples (or pads) every plane crop to the model's working pixel and builds its resolution
pyramid once; :func:`seeds` draws the walks' starting points from it.
"""

from __future__ import annotations

import numpy as np

from ..errors import BadEventError
from ..records import EventRecord
from .config import FinderConfig
from .types import PreparedView

__all__ = ["check", "prepare", "seeds"]


def check(event, mapper_of):
    """Raise a clear error if the finder cannot work on ``event``; returns its ImageMapper,
    ``mapper_of(event)``.

    Raises:
        TypeError: not an EventRecord. UnknownDetectorError: its detector is not known.
        BadEventError: no charge on any plane, or planes that do not match the detector's views.
    """
    if not isinstance(event, EventRecord):
        raise TypeError(f"expected an EventRecord; Received: {type(event).__name__}")
    if not any(p.pixels.size and p.pixels.any() for p in event.planes):
        raise BadEventError(f"event {event.ids}: no charge on any plane")
    mapper = mapper_of(event)
    if len(event.planes) != len(mapper.views):
        raise BadEventError(f"event {event.ids}: {len(event.planes)} planes, but {event.detector} has views "
                            f"{mapper.views}")
    return mapper


def prepare(event: EventRecord, mapper, spec, cm_per_pixel: float, config: FinderConfig) -> list[PreparedView]:
    """One PreparedView per plane of a checked event: the charge normalised (``config.normalise``),
    the crop resampled to ``cm_per_pixel`` unless within ``config.pixel_tolerance`` of it, and
    otherwise padded so its pyramid cells (``spec``: the walker's GlimpseSpec) are those of the
    global image: the glimpses, and so the vertices, do not depend on where the crop starts."""
    from generators.glimpses import Pyramid

    from ..imaging import resample_image

    align = np.array(spec.scale, dtype=np.int64) ** (spec.num_levels - 1)
    images = [plane.pixels for plane in event.planes]
    if config.normalise:
        from generators.charge import normalise

        images = normalise(images, reference=config.charge_reference, threshold=config.noise_threshold,
                           noise_sigmas=config.noise_sigmas)
    prepared = []
    for v, plane in enumerate(event.planes):
        px = mapper.pixel_cm(v)
        factor = np.array([px[0] / cm_per_pixel, px[1] / cm_per_pixel])
        img = images[v]
        origin = np.asarray(plane.origin, dtype=np.int64)
        if not np.allclose(factor, 1.0, atol=config.pixel_tolerance) and img.size:
            img = np.clip(np.rint(resample_image(img, from_cm=px, to_cm=(cm_per_pixel,) * 2)), 0, 255)
            img = img.astype(np.uint8)
        else:
            factor = np.ones(2)
            pad = origin % align
            img = np.pad(img, ((pad[0], 0), (pad[1], 0))) if pad.any() else img
            origin = origin - pad
        prepared.append(PreparedView(Pyramid(img, spec), factor, origin.astype(np.float64)))
    return prepared


def seeds(pyramid, rng: np.random.Generator, n_charge: int, *, grid: int = 0, level: int = 2,
          on_charge: bool = False) -> np.ndarray:
    """Walk starts (M, 2) in model pixels: ``n_charge`` charge-weighted draws over the cells of
    pyramid ``level`` (their centres), plus a ``grid x grid`` grid over the activity's bounding box.

    ``on_charge``: the brightest pixel of charge-weighted 2x2 cells instead, a start on real charge
    (the walks asked for the vertex their charge comes from)."""
    level0 = pyramid.levels[0]
    if level0.size == 0:
        return np.zeros((0, 2))
    L = min(1 if on_charge else level, len(pyramid.levels) - 1)
    lv = pyramid.levels[L]
    cells = np.argwhere(lv > 0)
    if len(cells) == 0:
        return np.zeros((0, 2))
    w = lv[cells[:, 0], cells[:, 1]].astype(np.float64)
    k = min(n_charge, len(cells))
    pick = cells[rng.choice(len(cells), size=k, replace=False, p=w / w.sum())]
    scale = pyramid.spec.scale
    s = np.array([scale[0] ** L, scale[1] ** L])
    if on_charge:
        out = []
        for c in pick:
            lo = c * s
            block = level0[lo[0] : lo[0] + s[0], lo[1] : lo[1] + s[1]]
            i, j = np.unravel_index(np.argmax(block), block.shape)
            out.append(lo + (i, j) + 0.5)
        out = np.array(out).reshape(-1, 2)
    else:
        out = (pick + 0.5) * s
    if grid:  # over the activity's bounding box, at the resolution of the cells drawn from
        lo, hi = cells.min(axis=0) * s, np.minimum((cells.max(axis=0) + 1) * s, level0.shape)
        g = (np.arange(grid) + 0.5) / grid
        gw, gd = np.meshgrid(lo[0] + g * (hi[0] - lo[0]), lo[1] + g * (hi[1] - lo[1]), indexing="ij")
        out = np.concatenate([out, np.stack([gw.ravel(), gd.ravel()], axis=1)])
    return out
