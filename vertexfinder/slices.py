"""Slices: the part of an event a vertex is looked for in.

Experiments hand a vertex finder one slice at a time: the hits another reconstruction grouped as
one interaction (a Pandora slice), or a region of the detector. :func:`restrict` keeps an event's
charge inside a region and sets every other pixel to zero, so what the finder does with a slice
does not depend on the charge outside it (``VertexFinder.find(event, region=...)``).

A region is one of:

* a slice number: the pixels whose ``PlaneImage.slices`` map holds it (hit inputs with a
  ``slice`` column, MicroBooNE open samples with Pandora's slices);
* a box in cm, ``((x_lo, x_hi), (y_lo, y_hi), (z_lo, z_hi))``: the pixels inside the box's
  projection on each view (per TPC, the rectangle of the projected corners of the box's part in
  that TPC);
* one boolean mask per plane, each of its plane crop's shape.

:func:`truth_slices` gives simulated events their true slices (the neutrino's charge, the
cosmic muons'), for measuring the finder given the neutrino's slice.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .errors import BadEventError
from .records import EventRecord

__all__ = ["NEUTRINO_SLICE", "COSMIC_SLICE", "region_masks", "restrict", "slice_ids", "truth_slices",
           "with_truth_slices", "neutrino_slice"]

#: The slice numbers :func:`truth_slices` gives the neutrino's charge and the cosmic muons'.
NEUTRINO_SLICE, COSMIC_SLICE = 0, 1


def slice_ids(event: EventRecord) -> list[int]:
    """The slices of an event's slice maps (ascending; -1, no slice, left out); [] without maps."""
    ids = set()
    for p in event.planes:
        if p.slices is not None and p.slices.size:
            ids.update(int(s) for s in np.unique(p.slices[p.pixels > 0]))
    return sorted(i for i in ids if i >= 0)


def region_masks(event: EventRecord, region, mapper=None) -> list[np.ndarray]:
    """One boolean mask per plane crop: the pixels of ``region`` (module docstring).

    Raises:
        BadEventError: a slice number on an event without slice maps, masks of the wrong number
            or shape, a box that is not three (low, high) pairs of finite numbers.
    """
    where = f"event {event.run}/{event.subrun}/{event.event}"
    if isinstance(region, (int, np.integer)) and not isinstance(region, bool):
        if all(p.slices is None for p in event.planes):
            raise BadEventError(f"{where}: region={int(region)} is a slice number, but the event has no slice maps "
                                "(hit inputs need a 'slice' column)")
        return [np.zeros(p.shape, bool) if p.slices is None else p.slices == int(region) for p in event.planes]
    if isinstance(region, (list, tuple)) and region and all(np.ndim(r) == 2 for r in region):
        if len(region) != len(event.planes):
            raise BadEventError(f"{where}: {len(region)} region masks for {len(event.planes)} planes")
        masks = [np.asarray(r, dtype=bool) for r in region]
        for p, m in zip(event.planes, masks):
            if m.shape != p.shape:
                raise BadEventError(f"{where}: the region mask of plane {p.view} has shape {m.shape}, the plane "
                                    f"{p.shape}")
        return masks
    try:
        box = np.asarray(region, dtype=np.float64)
    except (TypeError, ValueError):
        box = np.zeros(0)
    if box.shape != (3, 2) or not np.isfinite(box).all() or (box[:, 0] > box[:, 1]).any():
        raise BadEventError(f"{where}: a region is a slice number, one mask per plane or a box ((x_lo, x_hi), "
                            f"(y_lo, y_hi), (z_lo, z_hi)) in cm; Received: {region!r}")
    return _box_masks(event, box, mapper)


def _box_masks(event: EventRecord, box: np.ndarray, mapper) -> list[np.ndarray]:
    if mapper is None:
        from .mapper import ImageMapper

        mapper = ImageMapper(event.get_detector(), drift_window=event.drift_window, pooling=event.pooling)
    det = mapper.detector
    masks = [np.zeros(p.shape, bool) for p in event.planes]
    for t, tpc in enumerate(det.tpcs):
        b = np.asarray(tpc.box, dtype=np.float64).reshape(3, 2)
        lo, hi = np.maximum(box[:, 0], b[:, 0]), np.minimum(box[:, 1], b[:, 1])
        if (lo > hi).any():
            continue
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        proj = np.array([mapper.project_in(c, t) for c in corners])  # (8, views, 2)
        for v, (plane, mask) in enumerate(zip(event.planes, masks)):
            (w0, d0), (nw, nd) = plane.origin, plane.shape
            wl, wh = np.floor(proj[:, v, 0].min()), np.ceil(proj[:, v, 0].max())
            dl, dh = np.floor(proj[:, v, 1].min()), np.ceil(proj[:, v, 1].max())
            a, b_ = int(np.clip(wl - w0, 0, nw)), int(np.clip(wh - w0 + 1, 0, nw))
            c, d = int(np.clip(dl - d0, 0, nd)), int(np.clip(dh - d0 + 1, 0, nd))
            mask[a:b_, c:d] = True
    return masks


def restrict(event: EventRecord, region, mapper=None) -> EventRecord:
    """The event with the charge outside ``region`` set to zero (truth and slice maps kept)."""
    masks = region_masks(event, region, mapper)
    planes = [dataclasses.replace(p, pixels=np.where(m, p.pixels, 0).astype(np.uint8)) for p, m in
              zip(event.planes, masks)]
    return dataclasses.replace(event, planes=planes)


def truth_slices(event: EventRecord) -> list[np.ndarray]:
    """Per plane, the true slice of each pixel of a simulated event: ``NEUTRINO_SLICE`` where its
    charge comes from a vertex that is not a cosmic muon's, ``COSMIC_SLICE`` for charge of cosmic
    vertices and of no vertex (cosmic muon tracks), -1 where there is no charge.

    Raises:
        BadEventError: a plane without a truth map.
    """
    cosmic = np.array([v.is_cosmic for v in event.vertices] + [True], dtype=bool)  # index -1: no vertex
    out = []
    for p in event.planes:
        if p.truth is None:
            raise BadEventError(f"event {event.run}/{event.subrun}/{event.event}: plane {p.view} has no truth map, "
                                "so it has no true slices")
        idx = np.where((p.truth >= 0) & (p.truth < len(event.vertices)), p.truth, -1)
        s = np.where(cosmic[idx], COSMIC_SLICE, NEUTRINO_SLICE).astype(np.int16)
        out.append(np.where(p.pixels > 0, s, -1).astype(np.int16))
    return out


def with_truth_slices(event: EventRecord) -> EventRecord:
    """The event with its planes' slice maps set to :func:`truth_slices`."""
    planes = [dataclasses.replace(p, slices=s) for p, s in zip(event.planes, truth_slices(event))]
    return dataclasses.replace(event, planes=planes)


def neutrino_slice(event: EventRecord, radius_px: float = 3.0):
    """The event, and the slice of its true neutrino vertex: with slice maps (another
    reconstruction's slices), the slice holding most charge within ``radius_px`` of the true
    vertex's projections; without them, :func:`truth_slices`' ``NEUTRINO_SLICE``. (event, None)
    when there is no true primary vertex, no slice near it, or no truth map."""
    truth = event.primary
    if truth is None:
        return event, None
    if any(p.slices is not None for p in event.planes):
        charge: dict = {}
        for p, plane in enumerate(event.planes):
            if plane.slices is None or len(truth.planes) <= p or not np.all(np.isfinite(truth.planes[p])):
                continue
            w, d = np.asarray(truth.planes[p]) - np.asarray(plane.origin)
            lo = np.maximum(np.floor([w - radius_px, d - radius_px]).astype(int), 0)
            hi = np.minimum(np.ceil([w + radius_px, d + radius_px]).astype(int) + 1, plane.shape)
            px = plane.pixels[lo[0]:hi[0], lo[1]:hi[1]].astype(np.int64)
            sl = plane.slices[lo[0]:hi[0], lo[1]:hi[1]]
            for s_id in np.unique(sl[sl >= 0]):
                charge[int(s_id)] = charge.get(int(s_id), 0) + int(px[sl == s_id].sum())
        return event, (max(charge, key=charge.get) if charge else None)
    if any(p.truth is None for p in event.planes):
        return event, None
    return with_truth_slices(event), NEUTRINO_SLICE
