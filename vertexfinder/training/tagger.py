"""Training the neutrino tagger (:class:`models.tagger.NeutrinoTagger`) on the finder's own candidates.

1. examples (:func:`collect_examples`): the finder runs on simulated events with truth (surface
   detectors with their cosmic muons, and DUNE); every 3D candidate it chooses the primary vertex
   among gives the walker's glimpse stacks on every view at its projections, labelled 1 when it
   is within ``radius_cm`` of the true neutrino vertex. The true neutrino vertex itself (where
   the finder missed it too) and every true cosmic vertex join them, so the tagger also sees
   what the search did not find;
2. the fit (:func:`fit_tagger`): binary cross-entropy with the classes weighted equally, events
   split into training and validation, the weights of the best validation loss kept.

    vertexfinder train-tagger data/sbnd_fit.vfstore data/ub_fit.vfstore data/train600.vfstore -o tagger.keras
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

__all__ = ["TaggerExamples", "collect_examples", "fit_tagger", "write_tagger"]


@dataclass
class TaggerExamples:
    """Glimpse stacks (N, views, K, Gw, Gd) uint8, labels (N,) (1: the neutrino vertex), and the
    example's event number (N,) (for splitting by event)."""

    stacks: np.ndarray
    labels: np.ndarray
    events: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def join(cls, parts: list["TaggerExamples"]) -> "TaggerExamples":
        offset, events = 0, []
        for p in parts:
            events.append(p.events + offset)
            offset += int(p.events.max()) + 1 if len(p) else 0
        return cls(np.concatenate([p.stacks for p in parts]), np.concatenate([p.labels for p in parts]),
                   np.concatenate(events))


def collect_examples(finder, events, *, radius_cm: float = 2.0, progress: bool = False) -> TaggerExamples:
    """The finder's 3D candidates of events with a true primary vertex, with the true vertices
    (module docstring). Events the finder cannot work on are left out."""
    from ..finder.core import glimpse_stacks

    finder.require_second_look()
    events = (ev for ev in events if ev.primary is not None and np.all(np.isfinite(ev.primary.position_cm)))
    if progress:
        from tqdm import tqdm

        events = tqdm(events, desc="tagger examples", unit="event")
    stacks, labels, owner = [], [], []
    for n, (ev, res) in enumerate(finder.find_iter(events, mode="primary", on_skip=lambda ev, exc: None)):
        views = finder.prepare(ev)
        mapper = finder.mapper(ev)
        det = mapper.detector
        truth = ev.primary.position_cm
        points = [(c.fit, float(np.linalg.norm(c.position_cm - truth) <= radius_cm))
                  for c in res.candidates if c.fit is not None]
        for v in ev.vertices:
            if v.is_primary or v.is_cosmic:
                points.append((SimpleNamespace(position_cm=v.position_cm, tpc=int(det.tpc_of(v.position_cm))),
                               float(v.is_primary)))
        for fit, label in points:
            stack = glimpse_stacks(views, mapper, fit)
            if stack is not None:
                stacks.append(stack)
                labels.append(label)
                owner.append(n)
    if not stacks:
        raise ValueError("no example: no event with a true primary vertex the finder could work on")
    return TaggerExamples(np.stack(stacks), np.array(labels, dtype=np.float32), np.array(owner, dtype=np.int64))


def fit_tagger(examples: TaggerExamples, *, epochs: int = 20, batch_size: int = 128, learning_rate: float = 1e-3,
               validation_fraction: float = 0.15, seed: int = 0, filters=(32, 48, 64), units: int = 64,
               verbose: int = 0):
    """(the trained NeutrinoTagger, its history dict): events split at random (``seed``) into
    training and validation; the weights of the epoch with the lowest validation loss are kept."""
    import keras

    from models import NeutrinoTagger, tagger_inputs

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    ids = np.unique(examples.events)
    held = set(rng.choice(ids, max(1, int(round(validation_fraction * len(ids)))), replace=False).tolist())
    val = np.array([e in held for e in examples.events])
    x = tagger_inputs(examples.stacks)
    y = examples.labels
    pos = max(float(y[~val].mean()), 1e-6)
    weights = {0: 0.5 / (1 - pos), 1: 0.5 / pos}
    _, views, levels, gw, gd = examples.stacks.shape
    model = NeutrinoTagger(num_views=views, num_levels=levels, glimpse_size=(gw, gd), filters=filters, units=units)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy(threshold=0.0), keras.metrics.AUC(from_logits=True, name="auc")])
    best = keras.callbacks.EarlyStopping(monitor="val_loss", patience=max(3, epochs // 4), restore_best_weights=True)
    history = model.fit(x[~val], y[~val], validation_data=(x[val], y[val]), epochs=epochs, batch_size=batch_size,
                        class_weight=weights, callbacks=[best], verbose=verbose, shuffle=True)
    return model, {k: [float(v) for v in vals] for k, vals in history.history.items()}


def write_tagger(model, history: dict, output, *, about: dict | None = None) -> Path:
    """Write ``tagger.keras`` (or ``output``) and, beside it, ``tagger.json``: what it was trained
    on (``about``) and its history. Both appear whole or not at all."""
    from ..io.atomic import atomic_output

    output = Path(output)
    if output.suffix != ".keras":
        output = output / "tagger.keras"
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(output, suffix=".keras") as tmp:
        model.save(tmp)
    with atomic_output(output.with_suffix(".json")) as tmp:
        Path(tmp).write_text(json.dumps({**(about or {}), "history": history}, indent=1) + "\n")
    return output
