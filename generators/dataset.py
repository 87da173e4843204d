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
    the plane one-hot (P values), the task (1 primary, 0 origin) and, per
    level, the position of the walk inside the level's centre pixel (2K
    values in [0, 1)); see :func:`walk_features`.
Targets:
    ``step`` float32 (B, T, 2) displacement in pixels, ``kind`` int32 (B, T)
    class id, ``distance`` float32 (B, T) pixels.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import keras
import numpy as np

from .composition import CompositionControl
from .features import flip_batch, num_walk_features, walk_features
from .glimpses import GlimpseSpec, Pyramid
from .charge import normalise, vary_response
from .rollout import WalkBatch
from .truth import NONE_CLASS, event_truth
from .walks import WalkSpec, clip_norm, sample_walks

__all__ = ["WalkDataset", "PolicyPool", "RefineDataset", "ProposalDataset"]

_Base = keras.utils.PyDataset


def _cached_event(ds, i: int, build, epoch: int | None = None):
    """The entry ``build(images, truth)`` of event ``i`` of a dataset's source, from its cache.

    The images are the event's plane images seen with a varied response (``ds.response``, drawn
    from the seed sequence ``(ds.seed, epoch, i)``, ``epoch`` defaulting to the dataset's: the same
    every run, new every epoch) and then
    normalised in charge (``ds.normalise``: :func:`generators.charge.normalise` to that reference).
    """
    key = (int(i), (ds.epoch if epoch is None else int(epoch)) if ds.response is not None else 0)
    hit = ds._cache.get(key)
    if hit is not None:
        ds._cache.move_to_end(key)
        return hit
    ev = ds.source[int(i)]
    images = [plane.pixels for plane in ev.planes]
    if ds.response is not None:
        images = vary_response(images, np.random.default_rng([ds.seed, key[1], key[0], 0xD1]), ds.response)
    if ds.normalise:
        images = normalise(images, reference=ds.normalise)
    entry = build(images, event_truth(ev))
    ds._cache[key] = entry
    if len(ds._cache) > ds.cache_events:
        ds._cache.popitem(last=False)
    return entry


@dataclass
class PolicyPool:
    """Walks rolled out by a model, to be relabelled with the teacher's targets (on-policy training).

    Attributes (M walks, T steps):
        pyramids: the pyramids the walks move on; walk ``i`` uses ``pyramids[which[i]]``.
        which: int (M,); planes: int (M,) plane index; n_planes: planes per event.
        positions: float (M, T, 2) where each step looked (after :meth:`WalkDataset.policy_starts`,
            only the start, T = 1; replace it with the rollout's positions).
        target: float (M, 2) the walk's vertex (NaN for class none); label: int (M,) class id;
        task: float32 (M,) 1 primary, 0 origin.
    """

    pyramids: list
    which: np.ndarray
    planes: np.ndarray
    n_planes: int
    positions: np.ndarray
    target: np.ndarray
    label: np.ndarray
    task: np.ndarray

    def __len__(self) -> int:
        return len(self.label)


class _EventBatches(_Base):
    """What both datasets share: the batches of an epoch, the epoch count, and a cache of prepared
    events that pickled copies (the workers') start without."""

    def _setup(self, source, *, batch_size, batches_per_epoch, seed, events, augment, cache_events, response,
               normalise) -> None:
        """The attributes every event-batch dataset has, checked."""
        if batch_size < 1 or batches_per_epoch < 1:
            raise ValueError("batch_size and batches_per_epoch must be >= 1")
        self.source = source
        self.batch_size = int(batch_size)
        self.batches_per_epoch = int(batches_per_epoch)
        self.seed = int(seed)
        self.events = np.arange(len(source)) if events is None else np.asarray(events, dtype=np.int64)
        if len(self.events) == 0:
            raise ValueError("the event source is empty")
        self.augment = bool(augment)
        self.cache_events = int(cache_events)
        self.response = response
        self.normalise = float(normalise)
        self.epoch = 0
        self._cache: OrderedDict = OrderedDict()

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        return state

    def __len__(self) -> int:
        return self.batches_per_epoch

    def on_epoch_end(self):
        self.epoch += 1


class WalkDataset(_EventBatches):
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
        response: a generators.charge.ResponseSpec: events are seen with a response drawn from it
            (a new draw every epoch); None: as stored.
        normalise: rescale every event's charge scale to this value (0: leave the charge as stored);
            the finder does the same.
        workers, use_multiprocessing, max_queue_size: passed to keras.utils.PyDataset.
    """

    def __init__(self, source, *, glimpse: GlimpseSpec = GlimpseSpec(), walk: WalkSpec = WalkSpec(),
                 batch_size: int = 64, batches_per_epoch: int = 100, seed: int = 0, events=None,
                 oversample: int = 2, composition: CompositionControl | None = None, augment: bool = True,
                 cache_events: int = 32, response=None, normalise: float = 0.0, workers: int = 1,
                 use_multiprocessing: bool = False, max_queue_size: int = 10):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        if batch_size < 1 or batches_per_epoch < 1 or oversample < 1:
            raise ValueError("batch_size, batches_per_epoch and oversample must be >= 1")
        self._setup(source, batch_size=batch_size, batches_per_epoch=batches_per_epoch, seed=seed, events=events,
                    augment=augment, cache_events=cache_events, response=response, normalise=normalise)
        self.glimpse = glimpse
        self.walk = walk
        self.oversample = int(oversample)
        self.composition = composition or CompositionControl()
        self.policy = None
        self.policy_fraction = 0.0

    def on_epoch_end(self):
        self.composition.log_epoch(self.epoch)
        super().on_epoch_end()

    def _event(self, i: int, epoch: int | None = None):
        return _cached_event(self, i, lambda images, truth: (
            [(Pyramid(im, self.glimpse), verts, tmap) for im, verts, tmap in zip(images, truth.vertices, truth.truth)],
            truth.kinds, truth.primary), epoch)

    # -- on-policy walks ------------------------------------------------------------------------------
    def policy_starts(self, n_events: int, walks_per_plane: int, seed):
        """Teacher walks whose starts a model will roll out (see :class:`PolicyPool`).

        Returns a PolicyPool whose ``positions`` hold only the teacher start points (T = 1).
        """
        rng = np.random.default_rng(seed)
        ev_idx = self.events[rng.choice(len(self.events), size=min(int(n_events), len(self.events)), replace=False)]
        batch = None
        for e in ev_idx:
            planes, kinds, primary = self._event(e)
            batch = batch or WalkBatch(len(planes))
            for p, (pyr, verts, truth) in enumerate(planes):
                w = sample_walks(pyr.levels[0], verts, kinds, int(walks_per_plane), self.walk, rng,
                                 primary=primary, truth=truth)
                batch.add(batch.add_pyramid(pyr), w.positions[:, :1], plane=p, task=w.task, target=w.target,
                          label=w.label)
        return PolicyPool(pyramids=batch.pyramids, which=batch.tag("which"), planes=batch.tag("planes"),
                          n_planes=batch.n_planes, positions=batch.tag("starts"), target=batch.tag("target"),
                          label=batch.tag("label"), task=batch.tag("task"))

    def set_policy(self, pool: "PolicyPool | None", fraction: float = 0.5):
        """Mix walks of ``pool`` (rolled out by a model) into every batch, ``fraction`` of its rows."""
        if not 0 <= fraction < 1:
            raise ValueError(f"fraction must be in [0, 1); Received: fraction={fraction}")
        self.policy = pool
        self.policy_fraction = float(fraction) if pool is not None else 0.0

    def _policy_rows(self, n: int, rng: np.random.Generator):
        pool = self.policy
        T, (K, (gw, gd)) = self.walk.num_steps, (self.glimpse.num_levels, self.glimpse.glimpse_size)
        rows = np.sort(rng.choice(len(pool.label), size=n, replace=len(pool.label) < n))
        pos = pool.positions[rows, :T]
        glimpses = np.empty((n, T, K, gw, gd), dtype=np.uint8)
        features = np.empty((n, T, num_walk_features(pool.n_planes, self.glimpse)), dtype=np.float32)
        centres = np.floor(pos).astype(np.int64)
        for w in np.unique(pool.which[rows]):  # one kernel call per pyramid
            sel = pool.which[rows] == w
            glimpses[sel] = pool.pyramids[w].extract(centres[sel].reshape(-1, 2)).reshape(sel.sum(), T, K, gw, gd)
        for p in np.unique(pool.planes[rows]):
            sel = pool.planes[rows] == p
            features[sel] = walk_features(pos[sel], int(p), pool.n_planes, self.glimpse, pool.task[rows][sel])
        has = pool.label[rows] != NONE_CLASS
        delta = np.where(has[:, None, None], pool.target[rows][:, None, :] - pos, 0.0)
        dist = np.where(has[:, None], np.linalg.norm(delta, axis=-1), self.walk.reach)
        step = clip_norm(delta, self.walk.max_step)
        kind = np.repeat(pool.label[rows][:, None], T, axis=1)
        return glimpses, features, step.astype(np.float32), kind.astype(np.int32), dist.astype(np.float32)

    def generate(self, epoch: int, idx: int):
        """The batch ``idx`` of ``epoch`` (what ``dataset[idx]`` returns in that epoch) and its categories.

        With a policy pool set (:meth:`set_policy`), the last ``round(fraction * batch_size)`` rows are
        walks rolled out by the model, relabelled with the teacher's targets; their category is -1.
        """
        rng = np.random.default_rng([self.seed, int(epoch), int(idx)])
        n_policy = int(round(self.policy_fraction * self.batch_size)) if self.policy is not None else 0
        n_teacher = self.batch_size - n_policy
        n_cand = n_teacher * self.oversample
        # a few events per batch, several walks each: pyramids are shared by the walks of a plane
        n_groups = max(1, min(8, n_cand // 8))
        ev_idx = self.events[rng.integers(len(self.events), size=n_groups)]
        per = np.full(n_groups, n_cand // n_groups)
        per[: n_cand % n_groups] += 1
        chunks = []
        for e, n in zip(ev_idx, per):
            planes, kinds, primary = self._event(e, epoch)
            p = int(rng.integers(len(planes)))
            pyr, verts, truth = planes[p]
            w = sample_walks(pyr.levels[0], verts, kinds, int(n), self.walk, rng, primary=primary, truth=truth)
            chunks.append((pyr, p, len(planes), w))
        cats = np.concatenate([self.composition.categories(w, p) for _, p, _, w in chunks])
        keep = np.sort(self.composition.select(cats, n_teacher, rng))
        # gather kept walks
        offsets = np.cumsum([0] + [len(w.label) for *_, w in chunks])
        T, (K, (gw, gd)) = self.walk.num_steps, (self.glimpse.num_levels, self.glimpse.glimpse_size)
        glimpses = np.empty((self.batch_size, T, K, gw, gd), dtype=np.uint8)
        n_feat = num_walk_features(chunks[0][2], self.glimpse)
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
            features[row : row + n] = walk_features(w.positions[sel], p, n_planes, self.glimpse, w.task[sel])
            step[row : row + n] = w.displacement[sel]
            kind[row : row + n] = w.label[sel][:, None]
            dist[row : row + n] = w.distance[sel]
            row += n
        if n_policy:
            parts = self._policy_rows(n_policy, rng)
            for arr, part in zip((glimpses, features, step, kind, dist), parts):
                arr[n_teacher:] = part
        inputs = {"glimpses": glimpses, "features": features}
        targets = {"step": step, "kind": kind, "distance": dist}
        if self.augment:
            square = gw == gd and self.glimpse.scale[0] == self.glimpse.scale[1]
            inputs, targets = flip_batch(
                inputs, targets, rng.random(self.batch_size) < 0.5, rng.random(self.batch_size) < 0.5,
                (rng.random(self.batch_size) < 0.5) if square else None,
            )
        self.composition.count(cats[keep])
        return inputs, targets, np.concatenate([cats[keep], np.full(n_policy, -1)])  # keep is sorted: rows follow it

    def __getitem__(self, idx: int):
        if not 0 <= idx < self.batches_per_epoch:
            raise IndexError(f"batch {idx} out of range 0..{self.batches_per_epoch - 1}")
        inputs, targets, _ = self.generate(self.epoch, idx)
        return inputs, targets


class RefineDataset(_EventBatches):
    """Batches of refiner points (:mod:`generators.refine`) drawn from an event source.

    Batch ``idx`` of epoch ``e`` comes from the seed sequence ``(seed, e, idx)`` alone. Inputs:
    ``glimpses`` uint8 (B, K, Gw, Gd) and ``features`` float32 (B, F) (:func:`walk_features` of the
    point, task 1); targets: ``offset`` float32 (B, 2) pixels, ``kind`` int32 (B,) class id,
    ``primary`` float32 (B,). Points are mirrored and transposed at random like walks.

    Args:
        source: event source (as for :class:`WalkDataset`).
        spec: a RefineSpec.
        batch_size, batches_per_epoch, seed, events, augment, cache_events, response, normalise,
            workers: as for WalkDataset.
        events_per_batch: events a batch draws its points from.
    """

    def __init__(self, source, *, spec=None, batch_size: int = 128, batches_per_epoch: int = 100, seed: int = 0,
                 events=None, augment: bool = True, cache_events: int = 64, events_per_batch: int = 8,
                 response=None, normalise: float = 0.0, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10):
        from .refine import RefineSpec

        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        if batch_size < 1 or batches_per_epoch < 1 or events_per_batch < 1:
            raise ValueError("batch_size, batches_per_epoch and events_per_batch must be >= 1")
        self._setup(source, batch_size=batch_size, batches_per_epoch=batches_per_epoch, seed=seed, events=events,
                    augment=augment, cache_events=cache_events, response=response, normalise=normalise)
        self.spec = spec or RefineSpec()
        self.events_per_batch = int(events_per_batch)

    def _event(self, i: int, epoch: int | None = None):
        return _cached_event(self, i, lambda images, truth: (
            [(Pyramid(im, self.spec.glimpse), verts) for im, verts in zip(images, truth.vertices)],
            truth.kinds, truth.primary), epoch)

    def generate(self, epoch: int, idx: int):
        """Inputs and targets of batch ``idx`` of ``epoch``."""
        from .refine import sample_refine_points

        rng = np.random.default_rng([self.seed, int(epoch), int(idx), 0x7EF])
        spec, g = self.spec, self.spec.glimpse
        K, (gw, gd) = g.num_levels, g.glimpse_size
        n_ev = min(self.events_per_batch, self.batch_size)
        per = np.full(n_ev, self.batch_size // n_ev)
        per[: self.batch_size % n_ev] += 1
        glimpses = np.empty((self.batch_size, K, gw, gd), dtype=np.uint8)
        features, offset, kind, primary = [], [], [], []
        row = 0
        for e, n in zip(self.events[rng.integers(len(self.events), size=n_ev)], per):
            planes, kinds, prim = self._event(e, epoch)
            p = int(rng.integers(len(planes)))
            pyr, verts = planes[p]
            pts = sample_refine_points(pyr.levels[0], verts, kinds, int(n), spec, rng, primary=prim)
            glimpses[row : row + n] = pyr.extract(np.floor(pts.centres).astype(np.int64))
            features.append(walk_features(pts.centres, p, len(planes), g, 1.0))
            offset.append(pts.offset)
            kind.append(pts.label)
            primary.append(pts.primary)
            row += n
        inputs = {"glimpses": glimpses[:, None], "features": np.concatenate(features)[:, None]}
        targets = {"step": np.concatenate(offset)[:, None].astype(np.float32)}
        if self.augment:
            square = gw == gd and g.scale[0] == g.scale[1]
            b = self.batch_size
            inputs, targets = flip_batch(inputs, targets, rng.random(b) < 0.5, rng.random(b) < 0.5,
                                         (rng.random(b) < 0.5) if square else None)
        return ({"glimpses": inputs["glimpses"][:, 0], "features": inputs["features"][:, 0]},
                {"offset": targets["step"][:, 0], "kind": np.concatenate(kind).astype(np.int32),
                 "primary": np.concatenate(primary).astype(np.float32)})

    def __getitem__(self, idx: int):
        if not 0 <= idx < self.batches_per_epoch:
            raise IndexError(f"batch {idx} out of range 0..{self.batches_per_epoch - 1}")
        return self.generate(self.epoch, idx)


class ProposalDataset(_EventBatches):
    """Batches of proposer crops (:mod:`generators.proposals`) drawn from an event source.

    Batch ``idx`` of epoch ``e`` comes from the seed sequence ``(seed, e, idx)`` alone. Inputs:
    uint8 (B, crop/2, crop/2) half-resolution crops; targets: ``score`` (B, H, W), ``offset``
    (B, H, W, 3) and ``kind`` (B, H, W, 2) of the crop's cells (H = W = crop / cell). Crops are
    mirrored and transposed at random (the physics has no preferred orientation in the image).

    Args:
        source: event source (as for :class:`WalkDataset`).
        spec: a ProposalSpec.
        batch_size, batches_per_epoch, seed, events, cache_events, response, normalise, workers:
            as for WalkDataset.
    """

    def __init__(self, source, *, spec=None, batch_size: int = 16, batches_per_epoch: int = 100, seed: int = 0,
                 events=None, augment: bool = True, cache_events: int = 64, response=None, normalise: float = 0.0,
                 workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        from .proposals import ProposalSpec

        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        self._setup(source, batch_size=batch_size, batches_per_epoch=batches_per_epoch, seed=seed, events=events,
                    augment=augment, cache_events=cache_events, response=response, normalise=normalise)
        self.spec = spec or ProposalSpec()

    def generate(self, epoch: int, idx: int):
        """Inputs and targets of batch ``idx`` of ``epoch``."""
        from .proposals import crop, half_resolution, proposal_targets, sample_crop

        rng = np.random.default_rng([self.seed, int(epoch), int(idx), 0x9B9])
        spec, size = self.spec, self.spec.crop
        images = np.zeros((self.batch_size, size // 2, size // 2), np.uint8)
        cells = size // spec.cell
        score = np.zeros((self.batch_size, cells, cells), np.float32)
        offset = np.zeros((self.batch_size, cells, cells, 3), np.float32)
        kind = np.zeros((self.batch_size, cells, cells, 2), np.float32)
        for b, e in enumerate(self.events[rng.integers(len(self.events), size=self.batch_size)]):
            planes, kinds = _cached_event(self, e, lambda ims, truth: (list(zip(ims, truth.vertices)), truth.kinds),
                                          epoch)
            image, verts = planes[int(rng.integers(len(planes)))]
            corner = sample_crop(image, verts, kinds, spec, rng)
            part = crop(image, corner, size)
            if self.augment:
                if rng.random() < 0.5:
                    part, verts = part[::-1], np.column_stack([2 * corner[0] + size - verts[:, 0], verts[:, 1]])
                if rng.random() < 0.5:
                    part, verts = part[:, ::-1], np.column_stack([verts[:, 0], 2 * corner[1] + size - verts[:, 1]])
                if rng.random() < 0.5:
                    part, verts, corner = part.T, verts[:, ::-1], corner[::-1]
            local = verts - corner
            score[b], offset[b], kind[b] = proposal_targets(part, local, kinds, spec)
            images[b] = half_resolution(part, spec.cell)
        return images, {"score": score, "offset": offset, "kind": kind}

    def __getitem__(self, idx: int):
        if not 0 <= idx < self.batches_per_epoch:
            raise IndexError(f"batch {idx} out of range 0..{self.batches_per_epoch - 1}")
        return self.generate(self.epoch, idx)
