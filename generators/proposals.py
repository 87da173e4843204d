"""Training crops and targets of the proposer (NumPy only).

The proposer (:class:`models.Proposer`) sees a view at half resolution (:func:`half_resolution`:
2x2 max pooling, zero padded to even sizes) and answers on a grid of cells ``cell`` pixels wide.
A cell's target (:func:`proposal_targets`) is 1 when a *visible* vertex (charge within
``visible_px`` on this plane: :func:`generators.refine.visible_vertices`) lies in it, with the
vertex's place in the cell (0..1 along wire and drift) and its class. Training crops
(:func:`sample_crop`) are centred near a vertex most of the time (a class drawn first, so decays
and conversions are seen as often as interactions), elsewhere on charge otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .refine import visible_vertices
from .truth import NONE_CLASS

__all__ = ["ProposalSpec", "half_resolution", "proposal_targets", "sample_crop", "crop", "proposal_peaks"]


@dataclass(frozen=True)
class ProposalSpec:
    """How proposer crops are cut (pixels of the full-resolution plane image).

    Args:
        cell: pixels per output cell (the network's stride: 4).
        crop: crop size in pixels (a multiple of ``cell``).
        vertex_fraction: share of crops centred near a vertex (jittered by up to ``crop / 3``).
        visible_px: a vertex is a target when charge lies within this many pixels of it.
    """

    cell: int = 4
    crop: int = 256
    vertex_fraction: float = 0.8
    visible_px: float = 3.0

    def __post_init__(self):
        if self.cell < 1 or self.crop % self.cell or self.crop < 2 * self.cell:
            raise ValueError(f"crop must be a multiple of cell (>= 2 cells); Received: cell={self.cell}, "
                             f"crop={self.crop}")
        if not 0 <= self.vertex_fraction <= 1:
            raise ValueError(f"vertex_fraction must be in [0, 1]; Received: {self.vertex_fraction}")


def half_resolution(image: np.ndarray, cell: int = 4) -> np.ndarray:
    """The image 2x2 max-pooled, zero padded first so the result's sizes are multiples of ``cell // 2``
    (the network's grid then covers every pixel)."""
    image = np.asarray(image)
    w, d = image.shape
    pw, pd = -w % cell, -d % cell
    if pw or pd:
        image = np.pad(image, ((0, pw), (0, pd)))
    # the four pixels of each 2x2 block as strided views: several times faster than a reduction
    # over a reshaped axis, and the same numbers
    return np.maximum(np.maximum(image[0::2, 0::2], image[1::2, 0::2]), np.maximum(image[0::2, 1::2], image[1::2, 1::2]))


def proposal_targets(image: np.ndarray, vertices: np.ndarray, kinds: np.ndarray, spec: ProposalSpec):
    """Targets of one image (full resolution) for its grid of ``cell``-pixel cells:
    (score (H, W) float32 0/1, offset (H, W, 3) float32 [mask, along wire, along drift],
    kind (H, W, 2) float32 [mask, class id]); vertices (V, 2) in the image's pixels, NaN rows and
    vertices not visible on this image left out."""
    h = -(-image.shape[0] // spec.cell)
    w = -(-image.shape[1] // spec.cell)
    score = np.zeros((h, w), np.float32)
    offset = np.zeros((h, w, 3), np.float32)
    kind = np.zeros((h, w, 2), np.float32)
    for j in np.flatnonzero(visible_vertices(image, vertices, spec.visible_px)):
        if kinds[j] == NONE_CLASS:
            continue
        x = vertices[j] / spec.cell
        c = np.floor(x).astype(np.int64)
        if not (0 <= c[0] < h and 0 <= c[1] < w):
            continue
        score[c[0], c[1]] = 1.0
        offset[c[0], c[1]] = (1.0, *(x - c))
        kind[c[0], c[1]] = (1.0, float(kinds[j]))
    return score, offset, kind


def sample_crop(image: np.ndarray, vertices: np.ndarray, kinds: np.ndarray, spec: ProposalSpec,
                rng: np.random.Generator) -> np.ndarray:
    """The (wire, drift) corner of a training crop, a multiple of ``cell`` (it may reach beyond the
    image: the crop is zero padded there)."""
    vis = [j for j in np.flatnonzero(visible_vertices(image, vertices, spec.visible_px)) if kinds[j] != NONE_CLASS]
    if vis and rng.random() < spec.vertex_fraction:
        classes = sorted({int(kinds[j]) for j in vis})
        k = classes[rng.integers(len(classes))]  # a class first: rare classes are seen as often
        j = rng.choice([j for j in vis if kinds[j] == k])
        centre = vertices[j] + rng.uniform(-spec.crop / 3, spec.crop / 3, 2)
    else:
        charged = np.argwhere(image > 0)
        centre = charged[rng.integers(len(charged))] + 0.5 if len(charged) else np.array(image.shape) / 2
    corner = np.floor((centre - spec.crop / 2) / spec.cell).astype(np.int64) * spec.cell
    return corner


def crop(image: np.ndarray, corner, size: int) -> np.ndarray:
    """``image[corner : corner + size]`` along both axes, zero padded where it reaches beyond it."""
    out = np.zeros((size, size), dtype=image.dtype)
    a0, b0 = int(corner[0]), int(corner[1])
    lo0, lo1 = max(a0, 0), max(b0, 0)
    hi0, hi1 = min(a0 + size, image.shape[0]), min(b0 + size, image.shape[1])
    if hi0 > lo0 and hi1 > lo1:
        out[lo0 - a0 : hi0 - a0, lo1 - b0 : hi1 - b0] = image[lo0:hi0, lo1:hi1]
    return out


def proposal_peaks(score: np.ndarray, offset: np.ndarray, kind: np.ndarray, *, cell: int = 4,
                   threshold: float = 0.1, max_peaks: int = 40):
    """The proposals of one view's network output: cells whose score (a logit) is the largest of
    their 3x3 neighbourhood and whose probability is at least ``threshold``, best first, at most
    ``max_peaks``. Returns (points (M, 2) full-resolution pixels, probability (M,), class
    probabilities (M, C))."""
    from scipy.ndimage import maximum_filter

    p = 1.0 / (1.0 + np.exp(-score))
    peak = (p >= threshold) & (score >= maximum_filter(score, size=3, mode="constant", cval=-np.inf))
    cells = np.argwhere(peak)
    order = np.argsort(-p[peak], kind="stable")[:max_peaks]
    cells = cells[order]
    points = (cells + offset[cells[:, 0], cells[:, 1]]) * cell
    logits = kind[cells[:, 0], cells[:, 1]]
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return points.astype(np.float64), p[cells[:, 0], cells[:, 1]].astype(np.float64), probs
