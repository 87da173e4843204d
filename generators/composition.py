"""Automated control of batch composition.

Every walk falls into a category: (class, distance-to-target bin at the start,
plane). :class:`CompositionControl` keeps a sampling weight per category; the
dataset keeps candidate walks with probability proportional to their
category's weight. :class:`generators.callbacks.CompositionCallback` (Keras) measures the model's current
loss per category on a fixed probe set every few batches and moves the weights
toward the hard categories: ``w_c = floor + (1 - floor) * L_c / mean(L)``,
smoothed with ``momentum``, so no category starves. The composition of each
epoch (share of walks per class, distance bin and plane) is recorded in
``history`` and, with ``log=True``, printed.
"""

from __future__ import annotations

import numpy as np

from .truth import CLASS_NAMES

__all__ = ["DISTANCE_BINS", "PROBE_EPOCH", "CompositionControl"]

#: Epoch number of the probe batches (a seed stream of its own).
PROBE_EPOCH = 2**32 - 1

#: Edges (pixels) of the distance-to-target bins of the start point; walks of class none go to the last bin.
DISTANCE_BINS = (16.0, 64.0, 256.0)


class CompositionControl:
    """Category weights, selection of candidates, and the per-epoch record of what was drawn.

    Args:
        n_planes: planes per event.
        floor: smallest weight relative to the mean (0 < floor <= 1).
        momentum: weight smoothing between updates (0: jump to the new weights).
        log: print the composition at the end of each epoch.
    """

    def __init__(self, *, n_planes: int = 3, floor: float = 0.2, momentum: float = 0.5, log: bool = False):
        if not 0 < floor <= 1:
            raise ValueError(f"floor must be in (0, 1]; Received: floor={floor}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1); Received: momentum={momentum}")
        self.n_planes = int(n_planes)
        self.n_classes = len(CLASS_NAMES)
        self.n_dist = len(DISTANCE_BINS) + 1
        self.floor = float(floor)
        self.momentum = float(momentum)
        self.log = log
        self.weights = np.ones(self.n_categories)
        self._counts = np.zeros(self.n_categories, dtype=np.int64)
        self.history: list[dict] = []

    @property
    def n_categories(self) -> int:
        return self.n_classes * self.n_dist * self.n_planes

    def categories(self, walks, plane: int) -> np.ndarray:
        """Category id of each walk of a Walks batch on ``plane``."""
        d0 = walks.distance[:, 0]
        dbin = np.searchsorted(DISTANCE_BINS, d0, side="right")
        dbin = np.where(walks.label == len(CLASS_NAMES) - 1, self.n_dist - 1, dbin)
        return (walks.label * self.n_dist + dbin) * self.n_planes + int(plane) % self.n_planes

    def decode(self, cats: np.ndarray) -> dict[str, np.ndarray]:
        cats = np.asarray(cats)
        plane = cats % self.n_planes
        rest = cats // self.n_planes
        return {"class": rest // self.n_dist, "distance_bin": rest % self.n_dist, "plane": plane}

    def select(self, cats: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """Indices of ``n`` of the candidates, drawn without replacement with probability ~ weight."""
        w = self.weights[np.asarray(cats)]
        if n > len(cats):
            raise ValueError(f"cannot keep {n} of {len(cats)} candidates")
        if n == len(cats):
            return np.arange(n)
        return rng.choice(len(cats), size=n, replace=False, p=w / w.sum())

    def update(self, losses: np.ndarray, cats: np.ndarray) -> None:
        """Move the weights toward categories with a high mean loss (per-walk ``losses``, their ``cats``)."""
        losses = np.asarray(losses, dtype=np.float64)
        cats = np.asarray(cats)
        total = np.bincount(cats, weights=losses, minlength=self.n_categories)
        n = np.bincount(cats, minlength=self.n_categories)
        seen = n > 0
        if not seen.any():
            return
        mean_c = np.where(seen, total / np.maximum(n, 1), np.nan)
        ref = np.nanmean(mean_c)
        if not np.isfinite(ref) or ref <= 0:
            return
        target = self.weights.copy()
        target[seen] = self.floor + (1 - self.floor) * mean_c[seen] / ref
        self.weights = self.momentum * self.weights + (1 - self.momentum) * target
        self.weights = np.maximum(self.weights, self.floor)

    def count(self, cats: np.ndarray) -> None:
        self._counts += np.bincount(np.asarray(cats), minlength=self.n_categories)

    def shares(self, counts: np.ndarray | None = None) -> dict:
        c = self._counts if counts is None else counts
        total = max(int(c.sum()), 1)
        cube = c.reshape(self.n_classes, self.n_dist, self.n_planes)
        return {
            "walks": int(c.sum()),
            "class": {name: float(cube[i].sum() / total) for i, name in enumerate(CLASS_NAMES)},
            "distance_bin": [float(cube[:, j].sum() / total) for j in range(self.n_dist)],
            "plane": [float(cube[:, :, k].sum() / total) for k in range(self.n_planes)],
        }

    def log_epoch(self, epoch: int) -> dict:
        entry = {"epoch": int(epoch), **self.shares()}
        self.history.append(entry)
        if self.log and entry["walks"]:
            cls = ", ".join(f"{k} {v:.2f}" for k, v in entry["class"].items())
            print(f"epoch {epoch} composition: {entry['walks']} walks; class {cls}; "
                  f"distance bins {np.round(entry['distance_bin'], 2).tolist()}; planes {np.round(entry['plane'], 2).tolist()}")
        self._counts[:] = 0
        return entry
