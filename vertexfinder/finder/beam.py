"""The beam-direction prior: a neutrino vertex lies upstream of most of its event's charge.

Particles from a beam neutrino interaction go forward: on the view whose wire coordinate runs
closest to the beam direction (the collection view of DUNE, SBND and MicroBooNE, whose wires are
vertical and whose wire number grows along the beam), the primary vertex is at the upstream end of
the event's charge. On the DUNE FD nu-mix simulation the median share of collection-plane charge
more than one wire upstream of the true vertex is 0.1%; it is under 10% for 87% of events. It is
a prior, not a rule: backward tracks and upstream activity (neutrons, de-excitation photons)
exist, so the finder uses it in two soft ways (:class:`vertexfinder.finder.FinderConfig`):

* **proposals** (``beam_proposals``): the upstream ends of the biggest charge clusters on the beam
  view (:func:`upstream_ends`) and, on the other views, where charge crosses those ends' drift
  time (:func:`crossings`), are candidates too, so the search looks there even when the walks do not;
* **score**: a candidate's score loses ``beam_weight`` times the share of the beam view's charge
  upstream of it (:class:`UpstreamProfile`).

The same proposals without walks serve the search on every view: one view's candidate fixes its
wire and drift time, so in 3D it lies on a line along that wire; where the other views all have
charge on that line's projections is where they see the same point (:func:`wire_tiles`). A vertex
found on one view only is then proposed on the others.

Everything here but :func:`wire_tiles` works on one view's image (axis 0 wire, axis 1 drift);
:func:`wire_tiles` reads the other views through the event's :class:`vertexfinder.mapper.ImageMapper`.
NumPy and SciPy, and one Numba kernel (the charge around many projected points).
"""

from __future__ import annotations

import math

import numpy as np

from generators.jit import njit

__all__ = ["beam_view", "UpstreamProfile", "upstream_ends", "cluster_ends", "crossings", "wire_tiles"]


def beam_view(detector, direction) -> tuple[int, int] | None:
    """(view index, +1 / -1) of the view whose global wire axis runs closest to the beam, and
    whether its wire coordinate grows (+1) or falls (-1) downstream; None without a beam
    (``direction`` None or zero) or when no view's wire axis is within 60 degrees of it.

    A view's global wire axis grows along (sin a, cos a) in (y, z)
    (:meth:`vertexfinder.detectors.Detector.view_angle_rad`); the drift axis (x) carries no
    wire coordinate, so the beam's x component does not count.
    """
    if direction is None:
        return None
    d = np.asarray(direction, dtype=np.float64)
    norm = float(np.linalg.norm(d))
    if d.shape != (3,) or not math.isfinite(norm) or norm == 0:
        return None
    d = d / norm
    best = None
    for v in range(len(detector.views)):
        a = detector.view_angle_rad(v)
        c = d[1] * math.sin(a) + d[2] * math.cos(a)
        if best is None or abs(c) > abs(best[1]):
            best = (v, c)
    if best is None or abs(best[1]) < 0.5:
        return None
    return best[0], 1 if best[1] > 0 else -1


class UpstreamProfile:
    """Share of a view's charge upstream of a wire coordinate.

    Args:
        image: the view's image (wire, drift), any non-negative charge.
        origin_wire: global wire coordinate of the image's row 0.
        sign: +1 when the wire coordinate grows downstream, -1 when it falls.
        margin: wires next to the point that do not count (the vertex's own charge).
    """

    def __init__(self, image, origin_wire: float, sign: int, margin: float = 2.0):
        per_wire = np.asarray(image, dtype=np.float64).sum(axis=1)
        if sign < 0:
            per_wire = per_wire[::-1]
        total = per_wire.sum()
        self._cum = np.concatenate([[0.0], np.cumsum(per_wire)]) / (total if total > 0 else 1.0)
        self._n = len(per_wire)
        self._origin = float(origin_wire)
        self._sign = 1 if sign >= 0 else -1
        self.margin = float(margin)

    def __call__(self, global_wire: float) -> float:
        """Share of the charge more than ``margin`` wires upstream of ``global_wire``, in [0, 1]."""
        w = float(global_wire) - self._origin
        if self._sign < 0:
            w = self._n - w
        k = int(math.floor(w - self.margin))
        return float(self._cum[min(max(k, 0), self._n)])


def _charge_clusters(image, min_charge: float):
    """(image with pixels at or below ``min_charge`` zeroed, labels, charge per label, bounding
    slices per label) of a view's 8-connected charge after closing one-pixel gaps, or None
    without charge."""
    from scipy import ndimage

    img = np.asarray(image)
    mask = img > min_charge
    if not mask.any():
        return None
    img = np.where(mask, img, 0)
    closed = mask.copy()  # dilated by the 4-neighbour cross (ndimage.binary_dilation's default)
    closed[1:] |= mask[:-1]
    closed[:-1] |= mask[1:]
    closed[:, 1:] |= mask[:, :-1]
    closed[:, :-1] |= mask[:, 1:]
    labels, n = ndimage.label(closed, structure=np.ones((3, 3), dtype=bool))
    labels[~mask] = 0
    on = np.flatnonzero(mask)  # charged pixels only (a few percent of the image)
    charge = np.bincount(labels.ravel()[on], weights=img.ravel()[on].astype(np.float64), minlength=n + 1)[1:]
    return img, labels, charge, ndimage.find_objects(labels, max_label=n)


def _cluster_pixels(labels, slices, i) -> np.ndarray:
    """(wire, drift) pixels (K, 2) of cluster ``i`` (0-based), found inside its bounding box."""
    box = slices[i]
    return np.argwhere(labels[box] == i + 1) + [box[0].start, box[1].start]


def upstream_ends(image, sign: int, *, max_clusters: int = 3, min_share: float = 0.05,
                  min_charge: float = 0.0) -> np.ndarray:
    """Seeds (M, 2) in image pixels (wire, drift): the upstream end of each of the biggest charge
    clusters of a view (at most ``max_clusters``, each with at least ``min_share`` of the charge).

    Clusters are 8-connected pixels above ``min_charge`` after closing one-pixel gaps
    (:func:`scipy.ndimage.label`); a cluster's upstream end is its charge-weighted centre over its
    most upstream wire.
    """
    found = _charge_clusters(image, min_charge)
    if found is None:
        return np.zeros((0, 2))
    img, labels, charge, slices = found
    seeds = []
    for i in np.argsort(-charge)[:max_clusters]:
        if charge[i] < min_share * charge.sum():
            continue
        pts = _cluster_pixels(labels, slices, i)
        w_end = pts[:, 0].min() if sign >= 0 else pts[:, 0].max()
        at = pts[pts[:, 0] == w_end]
        q = img[at[:, 0], at[:, 1]].astype(np.float64)
        seeds.append((w_end + 0.5, float((at[:, 1] + 0.5) @ q / q.sum())))
    return np.array(seeds, dtype=np.float64).reshape(-1, 2)


def cluster_ends(image, *, max_clusters: int = 8, min_pixels: int = 6, min_charge: float = 0.0) -> np.ndarray:
    """Points (M, 2) in image pixels at both ends of the biggest charge clusters of a view: the
    pixels with the smallest and the largest projection on the cluster's principal axis (a track's
    two ends; a shower's start and its far end). Where a particle decays or a photon converts, a
    cluster starts or ends: these are the places secondary vertices are looked for without walks.

    Clusters as in :func:`upstream_ends` (pixels above ``min_charge``, one-pixel gaps closed); the
    ``max_clusters`` with most charge and at least ``min_pixels`` pixels are used.
    """
    found = _charge_clusters(image, min_charge)
    if found is None:
        return np.zeros((0, 2))
    _, labels, charge, slices = found
    out = []
    for i in np.argsort(-charge)[:max_clusters]:
        pts = _cluster_pixels(labels, slices, i).astype(np.float64)
        if len(pts) < min_pixels:
            continue
        centred = pts - pts.mean(axis=0)
        axis = np.linalg.svd(centred, full_matrices=False)[2][0]
        t = centred @ axis
        out += [pts[np.argmin(t)] + 0.5, pts[np.argmax(t)] + 0.5]
    return np.array(out, dtype=np.float64).reshape(-1, 2)


def crossings(image, drift: float, *, half_width: int = 1, gap: int = 2, spacing: int = 8,
              max_points: int = 6, min_charge: float = 0.0) -> np.ndarray:
    """Wire positions (M,) in image pixels where a view's charge crosses drift row ``drift``.

    Pixels above ``min_charge`` of the rows ``drift +- half_width`` are summed; wires with charge closer than ``gap`` wires are one
    crossing, placed at its charge-weighted centre; a crossing wider than ``spacing`` wires is
    split into equal parts of at most ``spacing`` wires, one point each. The ``max_points`` points
    with most charge are kept, in wire order.
    """
    img = np.asarray(image)
    if img.ndim != 2:
        return np.zeros(0)
    d = int(math.floor(drift))
    lo, hi = max(d - half_width, 0), min(d + half_width + 1, img.shape[1])
    if hi <= lo:
        return np.zeros(0)
    rows = img[:, lo:hi].astype(np.float64)
    profile = np.where(rows > min_charge, rows, 0.0).sum(axis=1)
    wires = np.flatnonzero(profile > 0)
    if len(wires) == 0:
        return np.zeros(0)
    points, charge = [], []
    for run in np.split(wires, np.flatnonzero(np.diff(wires) > gap) + 1):
        first, last = int(run[0]), int(run[-1]) + 1
        n = max(1, math.ceil((last - first) / spacing))
        edges = np.linspace(first, last, n + 1)
        for a, b in zip(edges[:-1], edges[1:]):
            w = np.arange(math.floor(a), math.ceil(b))
            q = profile[w]
            if q.sum() > 0:
                points.append(float((w + 0.5) @ q / q.sum()))
                charge.append(float(q.sum()))
    keep = np.argsort(-np.array(charge))[:max_points]
    return np.array(sorted(points[i] for i in keep))


@njit
def _charge_around(img, points, origin0, origin1, factor0, factor1):
    """Largest pixel of ``img`` within one pixel of each global point (N, 2): the pixel under
    ``floor((point - origin) * factor)`` and its eight neighbours; 0 for a NaN point or outside."""
    n_w, n_d = img.shape
    out = np.zeros(points.shape[0])
    for i in range(points.shape[0]):
        w, d = (points[i, 0] - origin0) * factor0, (points[i, 1] - origin1) * factor1
        if not (np.isfinite(w) and np.isfinite(d)):
            continue
        pw, pd = int(np.floor(w)), int(np.floor(d))
        best = 0.0
        for a in range(max(pw - 1, 0), min(pw + 2, n_w)):
            for b in range(max(pd - 1, 0), min(pd + 2, n_d)):
                if img[a, b] > best:
                    best = img[a, b]
        out[i] = best
    return out


def wire_tiles(mapper, images, view: int, point, *, max_points: int = 3, min_charge: float = 0.0,
               step_cm: float = 0.6, run_cm: float = 4.0) -> dict:
    """Where one view's position can be in 3D and every other view has charge there.

    The 3D points of the wire under ``point`` (global wire, global drift) at its drift time
    (:meth:`vertexfinder.mapper.ImageMapper.wire_points`, ``step_cm`` apart) are projected on the
    other views; a point is kept where each of them has a pixel above ``min_charge`` within one
    pixel of its projection. Kept points form runs along the wire, cut into pieces of at most
    ``run_cm``; the ``max_points`` pieces with most charge (at each point the smallest of the
    views' charges, summed) give their best point.

    Args:
        images: per view (image (wires, drift), pixels per global pixel (2,), global origin (2,)),
            as the finder prepares them.

    Returns:
        {other view: (M, 2) global points}, one row per kept piece on every other view.
    """
    xyz = mapper.wire_points(view, float(point[0]), float(point[1]), step_cm=step_cm)
    if len(xyz) == 0:
        return {}
    proj = _along_lines(mapper, xyz, step_cm)
    charge = np.full(len(xyz), np.inf)
    for b, (img, factor, origin) in enumerate(images):
        if b == view:
            continue
        q = _charge_around(img, np.ascontiguousarray(proj[:, b]), float(origin[0]), float(origin[1]),
                           float(factor[0]), float(factor[1]))
        charge = np.minimum(charge, np.where(q > min_charge, q, 0.0))
    hit = np.flatnonzero(charge > 0)
    if len(hit) == 0:
        return {}
    chunk = max(1, int(round(run_cm / step_cm)))
    runs = np.split(hit, np.flatnonzero(np.diff(hit) > 1) + 1)
    pieces = sorted((r[i : i + chunk] for r in runs for i in range(0, len(r), chunk)), key=lambda r: -charge[r].sum())
    best = [r[int(np.argmax(charge[r]))] for r in pieces[:max_points]]
    out = {}
    for b in range(len(images)):
        if b != view:
            pts = proj[best, b]
            out[b] = pts[np.all(np.isfinite(pts), axis=1)]
    return out


def _along_lines(mapper, xyz, step_cm):
    """:meth:`vertexfinder.mapper.ImageMapper.project_points` of points along straight pieces
    (``step_cm`` apart): each piece's ends are projected and the points between interpolated, as a
    view's coordinates are linear along a line within one TPC."""
    breaks = np.flatnonzero(np.linalg.norm(np.diff(xyz, axis=0), axis=1) > 1.5 * step_cm) + 1
    pieces = np.split(np.arange(len(xyz)), breaks)
    tpcs = mapper.detector.tpc_of(np.array([xyz[p[len(p) // 2]] for p in pieces]))
    out = np.empty((len(xyz), len(mapper.views), 2))
    for piece, t in zip(pieces, tpcs.tolist()):
        if len(piece) < 3 or t < 0:
            out[piece] = mapper.project_points(xyz[piece])
            continue
        a, b = (np.array(mapper.project_in(xyz[i], t)) for i in (piece[0], piece[-1]))
        s = np.linspace(0.0, 1.0, len(piece))[:, None, None]
        out[piece] = a + s * (b - a)
    return out
