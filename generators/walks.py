"""Training walks: start points, teacher trajectories toward a target vertex, per-step targets.

Everything here works in the pixel coordinates of one plane image (continuous:
pixel ``i`` spans ``[i, i + 1)``), so it serves every detector and plane; the
caller converts vertex positions into the image's coordinates once.

A walk of ``num_steps`` steps starts at a point drawn from a mixture
(``start_mix``):

* ``near``: a charged pixel within ``near_radius`` of the target vertex;
* ``charge``: any charged pixel;
* ``activity``: any point of the bounding box of the charge;
* ``far``: any point of the image grown by a margin.

The target is the event's primary vertex (``target="primary"``) or the vertex
the charge at the start pixel originates from (``target="origin"``, from the
truth map); a walk with no vertex to go to (a start on charge of no vertex,
or beyond ``reach`` pixels of its target) has class ``none``.

The teacher moves toward the target by at most ``max_step`` pixels per step,
with Gaussian noise whose width shrinks from ``noise_start`` to ``noise_end``
pixels, so walks also visit the neighbourhood of the ideal path. Per step the
targets are: the displacement to the target clipped to ``max_step`` (zero for
``none``), the class id, and the distance to the target (``reach`` for
``none``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .truth import CLASS_NAMES, NONE_CLASS

__all__ = ["CLASS_NAMES", "NONE_CLASS", "WalkSpec", "Walks", "sample_walks"]


START_KINDS = ("near", "charge", "activity", "far")


@dataclass(frozen=True)
class WalkSpec:
    """How training walks are drawn (pixel units of the plane image).

    Args:
        num_steps: T, steps per walk.
        max_step: largest displacement per step (the model's step limit).
        start_mix: weights of the start kinds ("near", "charge", "activity", "far").
        near_radius: radius of "near" starts around the target.
        far_margin: margin around the image for "far" starts.
        target: "primary", "origin", or "mixed" (each walk "origin" with probability ``origin_fraction``).
        origin_fraction: share of "origin" walks when target="mixed".
        reach: walks starting further than this from their target are class "none".
        noise_start, noise_end: teacher noise (pixels) at the first and last step.
    """

    num_steps: int = 8
    max_step: float = 64.0
    start_mix: tuple = (("near", 0.35), ("charge", 0.4), ("activity", 0.15), ("far", 0.1))
    near_radius: float = 40.0
    far_margin: float = 64.0
    target: str = "primary"
    origin_fraction: float = 0.5
    reach: float = 512.0
    noise_start: float = 6.0
    noise_end: float = 0.5

    def __post_init__(self):
        mix = tuple((str(k), float(w)) for k, w in (self.start_mix.items() if isinstance(self.start_mix, dict) else self.start_mix))
        object.__setattr__(self, "start_mix", mix)
        for k, w in mix:
            if k not in START_KINDS:
                raise ValueError(f"start kind must be one of {START_KINDS}; Received: {k!r}")
            if w < 0:
                raise ValueError(f"start_mix weights must be >= 0; Received: {k}={w}")
        if sum(w for _, w in mix) <= 0:
            raise ValueError("start_mix needs a positive weight")
        if self.target not in ("primary", "origin", "mixed"):
            raise ValueError(f"target must be 'primary', 'origin' or 'mixed'; Received: target={self.target!r}")
        if not 0 <= self.origin_fraction <= 1:
            raise ValueError(f"origin_fraction must be in [0, 1]; Received: {self.origin_fraction}")
        if int(self.num_steps) < 1 or self.max_step <= 0 or self.reach <= 0:
            raise ValueError("num_steps must be >= 1 and max_step, reach > 0")


@dataclass
class Walks:
    """A batch of walks on one image.

    Attributes (N walks, T steps):
        positions: float64 (N, T, 2): where each step looks (pixel coordinates).
        displacement: float32 (N, T, 2): target displacement from that position, clipped to max_step.
        distance: float32 (N, T): distance to the target (``reach`` for class none).
        label: int64 (N,): class id (CLASS_NAMES).
        target: float64 (N, 2): target position (NaN for none).
        vertex: int64 (N,): target vertex index (-1 for none).
        start_kind: int64 (N,): index into START_KINDS.
        task: float32 (N,): 1.0 for walks asked for the primary vertex, 0.0 for walks asked for the
            vertex their start charge comes from (the model sees it as a feature, so both tasks can be
            learned by one model without contradicting targets).
    """

    positions: np.ndarray
    displacement: np.ndarray
    distance: np.ndarray
    label: np.ndarray
    target: np.ndarray
    vertex: np.ndarray
    start_kind: np.ndarray = field(default=None)
    task: np.ndarray = field(default=None)

    @property
    def centres(self) -> np.ndarray:
        """Integer glimpse centres (N, T, 2)."""
        return np.floor(self.positions).astype(np.int64)


def clip_norm(v: np.ndarray, limit: float) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v * np.minimum(1.0, limit / np.maximum(n, 1e-12))


def sample_walks(image: np.ndarray, vertices: np.ndarray, kinds: np.ndarray, n: int, spec: WalkSpec,
                 rng: np.random.Generator, *, primary: int = 0, truth: np.ndarray | None = None) -> Walks:
    """Draw ``n`` teacher walks on one plane image.

    Args:
        image: uint8 (wires, drift) plane image.
        vertices: float (V, 2) vertex positions in this image's pixel coordinates (NaN: not on this plane).
        kinds: int (V,) class id of each vertex (0 interaction, 1 decay, 2 conversion).
        primary: index of the primary vertex (target="primary"), -1 if none.
        truth: int16 (wires, drift) origin vertex per pixel, -1 none (needed for target="origin").
    """
    image = np.asarray(image)
    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 2)
    kinds = np.asarray(kinds, dtype=np.int64).reshape(-1)
    if spec.target != "primary" and truth is None:
        raise ValueError(f"target={spec.target!r} needs the truth map")
    T = int(spec.num_steps)
    charged = np.argwhere(image > 0)
    names = [k for k, _ in spec.start_mix]
    w = np.array([wt for _, wt in spec.start_mix], dtype=np.float64)
    if len(charged) == 0:  # without charge only "far" starts make sense, whatever the mix
        start_kind = np.full(n, START_KINDS.index("far"))
    else:
        kind_idx = rng.choice(len(names), size=n, p=w / w.sum())
        start_kind = np.array([START_KINDS.index(names[i]) for i in kind_idx])
    tgt_vertex = np.full(n, -1, dtype=np.int64)
    if spec.target == "mixed":
        by_origin = rng.random(n) < spec.origin_fraction
    else:
        by_origin = np.full(n, spec.target == "origin")
    if 0 <= primary < len(vertices) and np.all(np.isfinite(vertices[primary])):
        tgt_vertex[~by_origin] = primary
    starts = np.zeros((n, 2))
    lo = charged.min(axis=0) if len(charged) else np.zeros(2)
    hi = charged.max(axis=0) + 1 if len(charged) else np.array(image.shape, dtype=float)
    for i in range(n):
        kind = START_KINDS[start_kind[i]]
        if kind == "near" and tgt_vertex[i] >= 0 and len(charged):
            d = np.linalg.norm(charged + 0.5 - vertices[tgt_vertex[i]], axis=1)
            pool = charged[d <= spec.near_radius]
            if len(pool) == 0:
                pool = charged
            starts[i] = pool[rng.integers(len(pool))] + rng.random(2)
        elif kind in ("near", "charge") and len(charged):
            starts[i] = charged[rng.integers(len(charged))] + rng.random(2)
        elif kind == "activity":
            starts[i] = lo + rng.random(2) * (hi - lo)
        else:
            m = spec.far_margin
            starts[i] = -m + rng.random(2) * (np.array(image.shape) + 2 * m)
        if by_origin[i]:
            wi, di = np.floor(starts[i]).astype(int)
            inside = 0 <= wi < image.shape[0] and 0 <= di < image.shape[1]
            v = int(truth[wi, di]) if inside else -1
            tgt_vertex[i] = v if v >= 0 and np.all(np.isfinite(vertices[v])) else -1
    target = np.full((n, 2), np.nan)
    has = tgt_vertex >= 0
    target[has] = vertices[tgt_vertex[has]]
    far = has & (np.linalg.norm(starts - np.where(has[:, None], target, 0.0), axis=1) > spec.reach)
    tgt_vertex[far] = -1
    target[far] = np.nan
    has = tgt_vertex >= 0
    label = np.full(n, NONE_CLASS, dtype=np.int64)  # an event without vertices has only class none
    label[has] = kinds[tgt_vertex[has]]

    positions = np.zeros((n, T, 2))
    disp = np.zeros((n, T, 2), dtype=np.float32)
    dist = np.full((n, T), spec.reach, dtype=np.float32)
    pos = starts.copy()
    sig = np.geomspace(max(spec.noise_start, 1e-3), max(spec.noise_end, 1e-3), T) if T > 1 else np.array([spec.noise_end])
    for t in range(T):
        positions[:, t] = pos
        delta = np.where(has[:, None], target - pos, 0.0)
        step = clip_norm(delta, spec.max_step)
        disp[:, t] = step
        dist[has, t] = np.linalg.norm(delta[has], axis=1)
        # teacher: the ideal step plus shrinking noise; walks with no target wander
        pos = pos + step + rng.normal(0.0, sig[t], size=(n, 2))
    return Walks(positions, disp, dist, label.astype(np.int64), target, tgt_vertex, start_kind,
                 (~by_origin).astype(np.float32))
