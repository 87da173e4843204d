"""Walk features and augmentation: what the model sees besides the glimpses (NumPy only).

A walk's feature vector is the plane one-hot (P values), the task (1 primary, 0 origin) and, per
level, the position of the walk inside the level's centre pixel (2K values in [0, 1)); see
:func:`walk_features`. :func:`flip_batch` mirrors and transposes whole batches of walks, glimpses,
features and step targets together.
"""

from __future__ import annotations

import numpy as np

from .glimpses import GlimpseSpec

__all__ = ["walk_features", "num_walk_features", "flip_batch"]


def num_walk_features(n_planes: int, spec: GlimpseSpec) -> int:
    """F, the length of a walk's feature vector (see :func:`walk_features`)."""
    return int(n_planes) + 1 + 2 * spec.num_levels


def walk_features(positions: np.ndarray, plane: int, n_planes: int, spec: GlimpseSpec, task=1.0) -> np.ndarray:
    """Features of walk positions (..., 2) -> float32 (..., F).

    The plane one-hot (``n_planes`` values), the task (1.0: walk to the primary vertex, 0.0: walk
    to the vertex the start charge comes from; a scalar or one value per walk, shape ``positions.shape[:1]``)
    and, per level, the position of the walk inside the level's centre pixel (2K values in [0, 1)).
    """
    pos = np.asarray(positions, dtype=np.float64)
    k = np.arange(spec.num_levels)
    scale = np.stack([spec.scale[0] ** k, spec.scale[1] ** k], axis=1).astype(np.float64)  # (K, 2)
    frac = (pos[..., None, :] / scale) % 1.0  # (..., K, 2)
    onehot = np.zeros(pos.shape[:-1] + (n_planes + 1,), dtype=np.float32)
    onehot[..., plane] = 1.0
    task = np.asarray(task, dtype=np.float32)
    onehot[..., n_planes] = task.reshape(task.shape + (1,) * (pos.ndim - 1 - task.ndim))
    return np.concatenate([onehot, frac.reshape(pos.shape[:-1] + (2 * spec.num_levels,)).astype(np.float32)], axis=-1)


def flip_batch(inputs: dict, targets: dict, flip_w: np.ndarray, flip_d: np.ndarray, transpose=None):
    """Mirror walks along wire and/or drift, and optionally transpose them (per-walk booleans).

    Glimpses, step targets and the fractional positions in the features are transformed together
    (mirror: f -> 1 - f and the step component changes sign; transpose: wire and drift swap, which
    needs square glimpses with equal scales on both axes). Flips are applied before the transpose.
    """
    g = inputs["glimpses"].copy()
    f = inputs["features"].copy()
    s = targets["step"].copy()
    n_fixed = f.shape[-1] - 2 * g.shape[2]  # plane one-hot and task come before the positions
    for axis_img, axis_vec, mask in ((-2, 0, np.asarray(flip_w)), (-1, 1, np.asarray(flip_d))):
        if not mask.any():
            continue
        # the walk sits in pixel G // 2 of every level; the mirror x -> 2 (G // 2) + 1 - x keeps it
        # there (pixel j <- pixel 2 (G // 2) - j), and what would come from beyond the glimpse is 0
        n = g.shape[axis_img]
        src = 2 * (n // 2) - np.arange(n)
        ok = (src >= 0) & (src < n)
        mirrored = np.zeros_like(g[mask])
        idx = [slice(None)] * g.ndim
        idx[axis_img] = np.flatnonzero(ok)
        mirrored[tuple(idx)] = np.take(g[mask], src[ok], axis=axis_img)
        g[mask] = mirrored
        s[mask, :, axis_vec] *= -1
        frac = f[mask][..., n_fixed:].reshape(mask.sum(), f.shape[1], -1, 2)
        frac[..., axis_vec] = (1.0 - frac[..., axis_vec]) % 1.0
        f[mask, :, n_fixed:] = frac.reshape(mask.sum(), f.shape[1], -1)
    if transpose is not None and np.any(transpose):
        mask = np.asarray(transpose)
        if g.shape[-1] != g.shape[-2]:
            raise ValueError(f"transposing needs square glimpses; Received: glimpse shape {g.shape[-2:]}")
        g[mask] = np.swapaxes(g[mask], -1, -2)
        s[mask] = s[mask][..., ::-1]
        frac = f[mask][..., n_fixed:].reshape(mask.sum(), f.shape[1], -1, 2)
        f[mask, :, n_fixed:] = frac[..., ::-1].reshape(mask.sum(), f.shape[1], -1)
    return {"glimpses": g, "features": f}, {**targets, "step": s}
