"""Training batches generated on the fly: a ``keras.utils.PyDataset`` of teacher walks.

The dataset reads events from any *event source*: an object with ``len()``
and ``source[i]`` returning an event with ``.planes`` (each with ``.pixels``
uint8 (wires, drift), ``.origin`` and optional ``.truth``) and ``.vertices``
(each with ``.kind``, ``.planes`` (P, 2) global coordinates and ``.flags``).
An event store is one (memory-mapped: resident memory stays bounded however
large the store is); a wrapper around the simulation is another.

Batch ``idx`` of epoch ``e`` is generated from the seed sequence
``(seed, e, idx)`` alone: the same seed gives the same batches, with any number
of workers. Each batch draws ``batch_size * oversample`` candidate walks on
random (event, plane) pairs and keeps ``batch_size`` of them with
probabilities given by the composition weights of their category (see
:mod:`generators.composition`), so training can be steered toward hard
categories.

Inputs of a batch (B walks, T steps, K levels):
    ``glimpses`` uint8 (B, T, K, Gw, Gd) and ``features`` float32 (B, T, F):
    the plane one-hot (P values) and, per level, the position of the walk
    inside the level's centre pixel (2K values in [0, 1)).
Targets:
    ``step`` float32 (B, T, 2) displacement in pixels, ``kind`` int32 (B, T)
    class id, ``distance`` float32 (B, T) pixels.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .composition import CompositionControl
from .glimpses import GlimpseSpec, Pyramid
from .walks import CLASS_NAMES, WalkSpec, sample_walks

__all__ = ["WalkDataset", "walk_features", "KIND_IDS", "flip_batch"]

KIND_IDS = {name: i for i, name in enumerate(CLASS_NAMES)}
FLAG_NU_PRIMARY = 0x10

try:  # the dataset class needs Keras; the kernels above do not
    import keras

    _Base = keras.utils.PyDataset
except ImportError:  # pragma: no cover - keras is a dependency of the package
    _Base = object


def walk_features(positions: np.ndarray, plane: int, n_planes: int, spec: GlimpseSpec) -> np.ndarray:
    """Features of walk positions (..., 2): plane one-hot and fractional position per level."""
    pos = np.asarray(positions, dtype=np.float64)
    k = np.arange(spec.num_levels)
    scale = np.stack([spec.scale[0] ** k, spec.scale[1] ** k], axis=1).astype(np.float64)  # (K, 2)
    frac = (pos[..., None, :] / scale) % 1.0  # (..., K, 2)
    onehot = np.zeros(pos.shape[:-1] + (n_planes,), dtype=np.float32)
    onehot[..., plane] = 1.0
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
    n_planes = f.shape[-1] - 2 * g.shape[2]
    for axis_img, axis_vec, mask in ((-2, 0, np.asarray(flip_w)), (-1, 1, np.asarray(flip_d))):
        if not mask.any():
            continue
        g[mask] = np.flip(g[mask], axis=axis_img)
        s[mask, :, axis_vec] *= -1
        frac = f[mask][..., n_planes:].reshape(mask.sum(), f.shape[1], -1, 2)
        frac[..., axis_vec] = (1.0 - frac[..., axis_vec]) % 1.0
        f[mask, :, n_planes:] = frac.reshape(mask.sum(), f.shape[1], -1)
    if transpose is not None and np.any(transpose):
        mask = np.asarray(transpose)
        if g.shape[-1] != g.shape[-2]:
            raise ValueError(f"transposing needs square glimpses; Received: glimpse shape {g.shape[-2:]}")
        g[mask] = np.swapaxes(g[mask], -1, -2)
        s[mask] = s[mask][..., ::-1]
        frac = f[mask][..., n_planes:].reshape(mask.sum(), f.shape[1], -1, 2)
        f[mask, :, n_planes:] = frac[..., ::-1].reshape(mask.sum(), f.shape[1], -1)
    return {"glimpses": g, "features": f}, {**targets, "step": s}


class WalkDataset(_Base):
    """Batches of teacher walks drawn from an event source.

    Args:
        source: event source (see module docstring).
        glimpse: GlimpseSpec.
        walk: WalkSpec.
        batch_size: walks per batch.
        batches_per_epoch: length of an epoch.
        seed: the seed every batch derives from.
        events: optional subset of event indices to draw from.
        oversample: candidates drawn per kept walk (composition control needs > 1).
        composition: a CompositionControl (default: uniform weights).
        augment: mirror walks at random along wire and drift, and transpose them when glimpses are
            square with equal scales (the physics has no preferred orientation in the image).
        cache_events: pyramids of this many recent events are kept per worker.
        workers, use_multiprocessing, max_queue_size: passed to keras.utils.PyDataset.
    """

    def __init__(self, source, *, glimpse: GlimpseSpec = GlimpseSpec(), walk: WalkSpec = WalkSpec(),
                 batch_size: int = 64, batches_per_epoch: int = 100, seed: int = 0, events=None,
                 oversample: int = 2, composition: CompositionControl | None = None, augment: bool = True,
                 cache_events: int = 32, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        if _Base is not object:
            super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        if batch_size < 1 or batches_per_epoch < 1 or oversample < 1:
            raise ValueError("batch_size, batches_per_epoch and oversample must be >= 1")
        self.source = source
        self.glimpse = glimpse
        self.walk = walk
        self.batch_size = int(batch_size)
        self.batches_per_epoch = int(batches_per_epoch)
        self.seed = int(seed)
        self.events = np.arange(len(source)) if events is None else np.asarray(events, dtype=np.int64)
        if len(self.events) == 0:
            raise ValueError("the event source is empty")
        self.oversample = int(oversample)
        self.composition = composition or CompositionControl()
        self.augment = bool(augment)
        self.cache_events = int(cache_events)
        self.epoch = 0
        self._cache: OrderedDict = OrderedDict()

    # -- pickling: workers get a copy without the pyramid cache
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        return state

    def __len__(self) -> int:
        return self.batches_per_epoch

    def on_epoch_end(self):
        self.composition.log_epoch(self.epoch)
        self.epoch += 1

    def _event(self, i: int):
        hit = self._cache.get(i)
        if hit is not None:
            self._cache.move_to_end(i)
            return hit
        ev = self.source[int(i)]
        planes = []
        for p, plane in enumerate(ev.planes):
            origin = np.asarray(plane.origin, dtype=np.float64)
            verts = np.array([v.planes[p] for v in ev.vertices], dtype=np.float64).reshape(-1, 2) - origin
            planes.append((Pyramid(plane.pixels, self.glimpse), verts, plane.truth))
        kinds = np.array([KIND_IDS[v.kind] for v in ev.vertices], dtype=np.int64)
        primary = next((j for j, v in enumerate(ev.vertices) if v.flags & FLAG_NU_PRIMARY), -1)
        entry = (planes, kinds, primary)
        self._cache[i] = entry
        if len(self._cache) > self.cache_events:
            self._cache.popitem(last=False)
        return entry

    def generate(self, epoch: int, idx: int):
        """The batch ``idx`` of ``epoch`` (what ``dataset[idx]`` returns in that epoch) and its categories."""
        rng = np.random.default_rng([self.seed, int(epoch), int(idx)])
        n_cand = self.batch_size * self.oversample
        # a few events per batch, several walks each: pyramids are shared by the walks of a plane
        n_groups = max(1, min(8, n_cand // 8))
        ev_idx = self.events[rng.integers(len(self.events), size=n_groups)]
        per = np.full(n_groups, n_cand // n_groups)
        per[: n_cand % n_groups] += 1
        chunks = []
        for e, n in zip(ev_idx, per):
            planes, kinds, primary = self._event(e)
            p = int(rng.integers(len(planes)))
            pyr, verts, truth = planes[p]
            w = sample_walks(pyr.levels[0], verts, kinds, int(n), self.walk, rng, primary=primary, truth=truth)
            chunks.append((pyr, p, len(planes), w))
        cats = np.concatenate([self.composition.categories(w, p) for _, p, _, w in chunks])
        keep = np.sort(self.composition.select(cats, self.batch_size, rng))
        # gather kept walks
        offsets = np.cumsum([0] + [len(w.label) for *_, w in chunks])
        T, (K, (gw, gd)) = self.walk.num_steps, (self.glimpse.num_levels, self.glimpse.glimpse_size)
        glimpses = np.empty((self.batch_size, T, K, gw, gd), dtype=np.uint8)
        n_feat = chunks[0][2] + 2 * K
        features = np.empty((self.batch_size, T, n_feat), dtype=np.float32)
        step = np.empty((self.batch_size, T, 2), dtype=np.float32)
        kind = np.empty((self.batch_size, T), dtype=np.int32)
        dist = np.empty((self.batch_size, T), dtype=np.float32)
        row = 0
        for c, (pyr, p, n_planes, w) in enumerate(chunks):
            sel = keep[(keep >= offsets[c]) & (keep < offsets[c + 1])] - offsets[c]
            if len(sel) == 0:
                continue
            n = len(sel)
            centres = w.centres[sel].reshape(-1, 2)
            glimpses[row : row + n] = pyr.extract(centres).reshape(n, T, K, gw, gd)
            features[row : row + n] = walk_features(w.positions[sel], p, n_planes, self.glimpse)
            step[row : row + n] = w.displacement[sel]
            kind[row : row + n] = w.label[sel][:, None]
            dist[row : row + n] = w.distance[sel]
            row += n
        inputs = {"glimpses": glimpses, "features": features}
        targets = {"step": step, "kind": kind, "distance": dist}
        if self.augment:
            square = gw == gd and self.glimpse.scale[0] == self.glimpse.scale[1]
            inputs, targets = flip_batch(
                inputs, targets, rng.random(self.batch_size) < 0.5, rng.random(self.batch_size) < 0.5,
                (rng.random(self.batch_size) < 0.5) if square else None,
            )
        self.composition.count(cats[keep])
        return inputs, targets, cats[keep]  # keep is sorted, so rows follow it

    def __getitem__(self, idx: int):
        if not 0 <= idx < self.batches_per_epoch:
            raise IndexError(f"batch {idx} out of range 0..{self.batches_per_epoch - 1}")
        inputs, targets, _ = self.generate(self.epoch, idx)
        return inputs, targets
