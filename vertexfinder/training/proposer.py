"""The proposer's training: crops around the vertices of every kind, validation on whole views.

``train_proposer(config, run_dir)`` runs the lifecycle of :mod:`vertexfinder.training.run` with the
proposer's parts: crops drawn around the true vertices of an event store (or of the simulation) by
:class:`generators.dataset.ProposalDataset`, :class:`models.Proposer` compiled with its losses, the
cosine schedule and Adam, and validation on every whole view of the seeded validation events
(:func:`proposal_validation`): the share of visible true vertices of each class with a proposal
within 3 pixels (``val_recall``, over all classes; ``best.keras`` follows it), the proposals per
view, and the class accuracy of the proposals that found a vertex.

The run folder gets ``proposer.json`` (the :class:`~vertexfinder.model.ProposerConfig`),
``last.keras``, ``best.keras``, ``history.csv`` and ``proposer.keras``: with ``proposer.json``,
the two files the finder loads beside a walker.
"""

from __future__ import annotations

import numpy as np

from ..model import ProposerConfig, proposal_spec
from .run import RunKind, RunParts, cosine_schedule, event_images, init_model_file, response_options, train_run

__all__ = ["train_proposer", "build_proposer", "proposal_validation", "PROPOSER_RUN"]

#: A true vertex is found when a proposal lies within this many pixels of it.
FOUND_PX = 3.0


def build_proposer(config: ProposerConfig):
    """An untrained, built :class:`models.Proposer` of ``config`` (imports Keras)."""
    from models import Proposer

    model = Proposer(filters=config.filters, dilations=config.dilations)
    model.build()
    return model


def proposal_validation(proposals, views, threshold: float = 0.1) -> dict:
    """Validation figures of a proposal function (half-resolution image -> network output) on
    ``views``: (image, vertices (V, 2), kinds (V,)) of whole views (see the module docstring)."""
    from generators.proposals import half_resolution, proposal_peaks
    from generators.refine import visible_vertices
    from generators.truth import CLASS_NAMES, NONE_CLASS

    found = {k: [] for k in CLASS_NAMES[:NONE_CLASS]}
    right, n_props = [], []
    for image, verts, kinds in views:
        out = proposals(half_resolution(image))
        pts, _, probs = proposal_peaks(out["score"], out["offset"], out["kind"], threshold=threshold)
        n_props.append(len(pts))
        for j in np.flatnonzero(visible_vertices(image, verts)):
            if kinds[j] == NONE_CLASS:
                continue
            d = np.linalg.norm(pts - verts[j], axis=1) if len(pts) else np.array([np.inf])
            hit = bool(d.min() <= FOUND_PX)
            found[CLASS_NAMES[kinds[j]]].append(hit)
            if hit:
                right.append(int(np.argmax(probs[int(np.argmin(d))])) == int(kinds[j]))
    every = [h for hits in found.values() for h in hits]
    out = {"val_recall": float(np.mean(every)) if every else float("nan"),
           "val_proposals_per_view": float(np.mean(n_props)) if n_props else float("nan"),
           "val_class_accuracy": float(np.mean(right)) if right else float("nan")}
    out.update({f"val_recall_{k}": float(np.mean(h)) if h else float("nan") for k, h in found.items()})
    return out


def _validation_views(config: ProposerConfig, events) -> list:
    from generators.truth import event_truth

    views = []
    for ev in events:
        truth = event_truth(ev)
        views += [(image, truth.vertices[p], truth.kinds) for p, image in enumerate(event_images(ev, config))]
    return views


def _parts(config: ProposerConfig, source, validation) -> RunParts:
    """The proposer's batches, compiled network and callbacks (clock, validation on whole views)."""
    import keras

    from generators.dataset import ProposalDataset
    from models import proposal_function, proposer_losses

    from .callbacks import Clock, Figures

    views = _validation_views(config, validation)
    data = ProposalDataset(source, spec=proposal_spec(config), batch_size=config.batch_size,
                           batches_per_epoch=config.steps_per_epoch, seed=config.seed, workers=config.workers,
                           **response_options(config))
    model = build_proposer(config)
    model.compile(optimizer=keras.optimizers.Adam(cosine_schedule(config)), loss=proposer_losses(),
                  loss_weights=dict(zip(("score", "offset", "kind"), config.loss_weights)))
    return RunParts(data, model, [Clock(), Figures(lambda m: proposal_validation(proposal_function(m), views))])


def _init_proposer_file(config: ProposerConfig):
    """The proposer file of ``config.init_from`` (None without one), checked to hold the same network."""
    return init_model_file(config, "proposer", ProposerConfig.read, ("filters", "dilations"))


#: The proposer's runs: ``proposer.json``, ``proposer.keras``, best on ``val_recall``, no TensorBoard.
PROPOSER_RUN = RunKind(
    name="proposer run", config_file="proposer.json", final_file="proposer.keras",
    finished_hint="start a new run folder to train another",
    read_config=ProposerConfig.read, init_file=_init_proposer_file, init_kind="proposer", parts=_parts,
    monitor="val_recall", tensorboard=False,
)


def train_proposer(config: ProposerConfig, run_dir, *, verbose: int = 1, callbacks=()):
    """Train (or resume) a proposer run in ``run_dir``; returns the model.

    Raises:
        RunError: ``run_dir`` holds a proposer run of another configuration, or a damaged backup.
        RunFinishedError: the run in ``run_dir`` is finished (its ``proposer.keras`` is written).
        ConfigError: the run's ``proposer.json`` cannot be read.
    """
    return train_run(PROPOSER_RUN, config, run_dir, verbose=verbose, callbacks=callbacks)
