"""Training points for the refiner: the last, full-resolution look at a vertex candidate.

The walker gets near a vertex; the refiner looks once more, at fine levels only, at a point near
it and says where exactly the vertex is (a sub-pixel offset), what kind it is, and whether it is
the event's primary vertex. It is trained on points drawn around the true vertices with offsets
like the ones walks leave (mostly within a few pixels, some further), plus points on charge away
from every vertex (class none), so it also learns to say "no vertex here".

Everything is in the pixel coordinates of one plane image (like :mod:`generators.walks`).
A point's target is its *nearest visible* vertex (a vertex with charge within ``visible_px`` on
this plane): the answer is unambiguous where vertices lie close together. Points further than
``radius`` from every visible vertex are class none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .glimpses import GlimpseSpec
from .truth import NONE_CLASS

__all__ = ["RefineSpec", "RefinePoints", "visible_vertices", "sample_refine_points", "refine_targets"]


@dataclass(frozen=True)
class RefineSpec:
    """How refiner points are drawn (pixels of the plane image).

    Args:
        glimpse: the refiner's glimpse stack (fine levels: the default sees 32 pixels at full
            resolution and 128 at the coarsest level).
        radius: largest offset the refiner corrects (its output is ``radius * tanh(.)``); points
            further from every vertex are class none.
        sigmas: widths of the Gaussian offsets around a vertex, drawn with ``sigma_weights``.
        uniform_fraction: share of offsets drawn uniformly in the disc of ``radius``.
        none_fraction: share of points on charge further than ``radius`` from every vertex.
        primary_fraction: share of vertex points drawn around the primary vertex (the rest around
            the other visible vertices, a class drawn first so rare classes are seen; all go to the
            primary when it is the only one).
        visible_px: a vertex is visible on a plane when charge lies within this many pixels.
    """

    glimpse: GlimpseSpec = field(default_factory=lambda: GlimpseSpec(num_levels=3, glimpse_size=(32, 32)))
    radius: float = 12.0
    sigmas: tuple = (1.0, 3.0)
    sigma_weights: tuple = (0.5, 0.5)
    uniform_fraction: float = 0.15
    none_fraction: float = 0.2
    primary_fraction: float = 0.5
    visible_px: float = 3.0

    def __post_init__(self):
        object.__setattr__(self, "sigmas", tuple(float(s) for s in self.sigmas))
        object.__setattr__(self, "sigma_weights", tuple(float(w) for w in self.sigma_weights))
        if self.radius <= 0 or min(self.sigmas) <= 0 or len(self.sigmas) != len(self.sigma_weights):
            raise ValueError("radius and sigmas must be > 0, with one weight per sigma")
        for name in ("uniform_fraction", "none_fraction", "primary_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1]; Received: {name}={getattr(self, name)}")


@dataclass
class RefinePoints:
    """Refiner points on one image (N points).

    Attributes:
        centres: float64 (N, 2) where the refiner looks.
        offset: float32 (N, 2) target vertex minus centre (0 for class none).
        label: int64 (N,) class id of the target vertex (NONE_CLASS: none within ``radius``).
        primary: float32 (N,) 1 where the target is the primary vertex.
        vertex: int64 (N,) target vertex index (-1: none).
    """

    centres: np.ndarray
    offset: np.ndarray
    label: np.ndarray
    primary: np.ndarray
    vertex: np.ndarray


def visible_vertices(image: np.ndarray, vertices: np.ndarray, visible_px: float = 3.0) -> np.ndarray:
    """Bool (V,): vertices (V, 2) on the image with charge within ``visible_px`` pixels."""
    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 2)
    out = np.zeros(len(vertices), dtype=bool)
    r = int(np.ceil(visible_px))
    for i, (w, d) in enumerate(vertices):
        if not (np.isfinite(w) and np.isfinite(d)):
            continue
        wi, di = int(np.floor(w)), int(np.floor(d))
        sub = image[max(wi - r, 0) : max(wi + r + 1, 0), max(di - r, 0) : max(di + r + 1, 0)]
        out[i] = bool(sub.size and sub.any())
    return out


def refine_targets(centres, vertices, kinds, visible, primary: int, radius: float) -> RefinePoints:
    """Targets of points ``centres`` (N, 2): their nearest visible vertex within ``radius``."""
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    n = len(centres)
    idx = np.flatnonzero(visible)
    offset = np.zeros((n, 2), dtype=np.float32)
    label = np.full(n, NONE_CLASS, dtype=np.int64)
    vertex = np.full(n, -1, dtype=np.int64)
    if len(idx) and n:
        d = np.linalg.norm(centres[:, None, :] - vertices[idx][None, :, :], axis=-1)
        j = d.argmin(axis=1)
        near = d[np.arange(n), j] <= radius
        vertex[near] = idx[j[near]]
        offset[near] = vertices[vertex[near]] - centres[near]
        label[near] = np.asarray(kinds)[vertex[near]]
    prim = ((vertex == primary) & (vertex >= 0)).astype(np.float32)
    return RefinePoints(centres, offset, label, prim, vertex)


def sample_refine_points(image: np.ndarray, vertices: np.ndarray, kinds: np.ndarray, n: int, spec: RefineSpec,
                         rng: np.random.Generator, *, primary: int = -1) -> RefinePoints:
    """Draw ``n`` refiner points on one plane image.

    Args:
        image: uint8 (wires, drift); vertices: float (V, 2) in the image's pixels (NaN: not on
            this plane); kinds: int (V,) class ids; primary: index of the primary vertex (-1: none).
    """
    image = np.asarray(image)
    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 2)
    visible = visible_vertices(image, vertices, spec.visible_px)
    charged = np.argwhere(image > 0)
    vis = np.flatnonzero(visible)
    centres = np.zeros((n, 2))
    is_none = rng.random(n) < spec.none_fraction if len(vis) else np.ones(n, dtype=bool)
    for i in range(n):
        if is_none[i]:
            if len(charged) == 0:
                centres[i] = rng.random(2) * np.maximum(image.shape, 1)
                continue
            far = charged + 0.5
            if len(vis):  # a few tries for a charged pixel away from every vertex
                for _ in range(8):
                    c = charged[rng.integers(len(charged))] + rng.random(2)
                    if np.min(np.linalg.norm(vertices[vis] - c, axis=1)) > spec.radius:
                        break
                centres[i] = c
            else:
                centres[i] = far[rng.integers(len(far))] - 0.5 + rng.random(2)
            continue
        if primary in vis and (len(vis) == 1 or rng.random() < spec.primary_fraction):
            v = primary
        else:  # a class first, uniformly among those present, so rare classes (decays) are seen
            others = vis[vis != primary] if len(vis) > 1 or primary not in vis else vis
            classes = np.unique(np.asarray(kinds)[others])
            pick = others[np.asarray(kinds)[others] == classes[rng.integers(len(classes))]]
            v = pick[rng.integers(len(pick))]
        if rng.random() < spec.uniform_fraction:
            r = spec.radius * np.sqrt(rng.random())
            a = rng.random() * 2 * np.pi
            off = r * np.array([np.cos(a), np.sin(a)])
        else:
            s = spec.sigmas[rng.choice(len(spec.sigmas), p=np.array(spec.sigma_weights) / sum(spec.sigma_weights))]
            off = rng.normal(0.0, s, size=2)
        centres[i] = vertices[v] + off
    return refine_targets(centres, vertices, kinds, visible, primary, spec.radius)
