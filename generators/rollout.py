"""Walks driven by a model: every walk of a batch advanced together, one model call per step.

Used for validation (where do the model's own walks end?), for on-policy
training data (walks rolled out by the current model, relabelled with the
teacher's targets), and by the vertex finder. The model enters as a callable
``step_fn(glimpses, features, state) -> (outputs, state)`` with NumPy in and
out, so this module needs no deep-learning framework.
"""

from __future__ import annotations

import numpy as np

from .features import num_walk_features, walk_features
from .glimpses import GlimpseSpec, Pyramid

__all__ = ["rollout", "WalkBatch"]


class WalkBatch:
    """Walks of many planes (and events) gathered for one rollout.

    Add each plane's pyramid once, then its walks; per-walk tags (the event a walk belongs to,
    its target, its label, ...) travel with them. :meth:`rollout` walks them all together::

        batch = WalkBatch(n_planes=3)
        k = batch.add_pyramid(pyramid)
        batch.add(k, starts, plane=p, task=1.0, owner=e)
        res = batch.rollout(step_fn, spec, num_steps)     # rollout()'s dict
        batch.tag("owner")                                # (N,) the tag of every walk

    Args:
        n_planes: planes per event (the features' plane one-hot).
    """

    def __init__(self, n_planes: int):
        self.n_planes = int(n_planes)
        self.pyramids: list[Pyramid] = []
        self._parts: list[dict] = []

    def add_pyramid(self, pyramid: Pyramid) -> int:
        """Index of a pyramid walks can then be added on."""
        self.pyramids.append(pyramid)
        return len(self.pyramids) - 1

    def add(self, pyramid: int, starts, *, plane: int, task=1.0, **tags) -> None:
        """Walks starting at ``starts`` (M, 2) (or (M, T, 2) positions) on pyramid ``pyramid``.

        ``task``: scalar or (M,); ``tags``: per-walk values, scalars or arrays of M rows.
        """
        starts = np.asarray(starts, dtype=np.float64)
        m = len(starts)
        if not 0 <= pyramid < len(self.pyramids):
            raise IndexError(f"pyramid {pyramid} was not added (have {len(self.pyramids)})")
        part = {"which": np.full(m, pyramid, dtype=np.int64), "starts": starts,
                "planes": np.full(m, int(plane), dtype=np.int64),
                "task": np.broadcast_to(np.asarray(task, dtype=np.float32), (m,))}
        for k, v in tags.items():
            v = np.asarray(v)
            part[k] = np.broadcast_to(v, (m,) + v.shape[1:]) if v.ndim and len(v) == m else np.broadcast_to(v, (m,))
        if self._parts and set(part) != set(self._parts[0]):
            raise ValueError(f"every add() needs the same tags; Received: {sorted(tags)}")
        self._parts.append(part)

    def __len__(self) -> int:
        return sum(len(p["which"]) for p in self._parts)

    def tag(self, name: str) -> np.ndarray:
        """A per-walk array of all walks, in the order they were added (``which``, ``starts``,
        ``planes``, ``task`` or a tag given to :meth:`add`)."""
        if not self._parts:
            return np.zeros((0, 2)) if name == "starts" else np.zeros(0)
        return np.concatenate([p[name] for p in self._parts])

    def rollout(self, step_fn, spec: GlimpseSpec, num_steps: int, **kwargs) -> dict:
        """:func:`rollout` of all walks (starts: the first position of each walk)."""
        starts = self.tag("starts")
        if starts.ndim == 3:
            starts = starts[:, 0]
        return rollout(step_fn, self.pyramids, self.tag("which"), starts, self.tag("planes"), self.n_planes, spec,
                       num_steps, task=self.tag("task"), **kwargs)


def rollout(step_fn, pyramids: list[Pyramid], which: np.ndarray, starts: np.ndarray, planes: np.ndarray,
            n_planes: int, spec: GlimpseSpec, num_steps: int, state=None, *, task=1.0, stop_below: float = 0.0):
    """Advance walks with a model.

    Args:
        step_fn: ``(glimpses (N, K, Gw, Gd) uint8, features (N, F) float32, state) -> (outputs, state)``,
            outputs a dict with at least ``step`` (N, 2) pixels.
        pyramids: the pyramids walks move on; walk ``i`` uses ``pyramids[which[i]]``.
        which: int (N,) pyramid of each walk; starts: float (N, 2) start positions (pixels).
        planes: int (N,) plane index of each walk (for the features).
        task: 1.0 (walk to the primary vertex) or 0.0 (to the vertex of the start charge), scalar or (N,).
        num_steps: steps to take.
        state: initial recurrent state passed to ``step_fn`` (None: the model's own start state).
        stop_below: walks whose step is shorter than this (pixels) stop moving (0: never).

    Returns:
        dict: ``positions`` (N, T+1, 2) (start included), ``outputs`` list of the per-step output dicts,
        ``glimpses`` (N, T, K, Gw, Gd) and ``features`` (N, T, F) that were fed to the model.
    """
    which = np.asarray(which, dtype=np.int64)
    pos = np.asarray(starts, dtype=np.float64).copy()
    planes = np.asarray(planes, dtype=np.int64)
    n = len(pos)
    K, (gw, gd) = spec.num_levels, spec.glimpse_size
    positions = np.zeros((n, num_steps + 1, 2))
    positions[:, 0] = pos
    glimpses = np.zeros((n, num_steps, K, gw, gd), dtype=np.uint8)
    n_feat = num_walk_features(n_planes, spec)
    task = np.broadcast_to(np.asarray(task, dtype=np.float32), (n,))
    features = np.zeros((n, num_steps, n_feat), dtype=np.float32)
    moving = np.ones(n, dtype=bool)
    outputs = []
    for t in range(num_steps):
        centres = np.floor(pos).astype(np.int64)
        for p in np.unique(which):
            sel = which == p
            glimpses[sel, t] = pyramids[p].extract(centres[sel])
        for pl in np.unique(planes):
            sel = planes == pl
            features[sel, t] = walk_features(pos[sel], int(pl), n_planes, spec, task[sel])
        out, state = step_fn(glimpses[:, t], features[:, t], state)
        out = {k: np.asarray(v) for k, v in out.items()}
        outputs.append(out)
        step = out["step"]
        if stop_below > 0:
            moving &= np.linalg.norm(step, axis=1) >= stop_below
        pos = pos + np.where(moving[:, None], step, 0.0)
        positions[:, t + 1] = pos
    return {"positions": positions, "outputs": outputs, "glimpses": glimpses, "features": features}
