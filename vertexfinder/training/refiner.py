"""The refiner's training: points around the true vertices, validation on fixed points.

``train_refiner(config, run_dir)`` runs the lifecycle of :mod:`vertexfinder.training.run` (saved
configuration, warm start, seeding, event source, checkpoints, resume after a kill, the final model)
with the refiner's parts: points drawn around the true vertices of an event store (or of the
simulation) by :class:`generators.dataset.RefineDataset`, :class:`models.Refiner` compiled with
its losses, the cosine schedule and Adam, and validation on fixed points of the seeded validation
events (:func:`refine_validation`):

* ``val_offset_median_px``: median distance (pixels) between the refined point and the vertex,
  over points with a vertex within the radius; ``val_within_1px``: the share within one pixel
  (``best.keras`` follows it);
* ``val_start_median_px``: the same before refining (what the points started with);
* ``val_class_accuracy``: class head (none included); ``val_primary_accuracy``: primary head.

The run folder gets ``refiner.json`` (the :class:`~vertexfinder.model.RefineConfig`),
``last.keras``, ``best.keras``, ``history.csv`` and ``refiner.keras`` (final weights): with
``refiner.json``, the two files the finder loads beside a walker.
"""

from __future__ import annotations

import numpy as np

from ..model import RefineConfig, refine_spec
from .run import RunKind, RunParts, cosine_schedule, event_images, init_model_file, response_options, train_run

__all__ = ["train_refiner", "build_refiner", "refine_validation", "REFINER_RUN"]


def build_refiner(config: RefineConfig, n_planes: int = 3):
    """An untrained :class:`models.Refiner` of ``config`` for events of ``n_planes`` views (imports Keras)."""
    from generators.features import num_walk_features
    from models import Refiner

    spec = refine_spec(config)
    return Refiner(num_levels=config.num_levels, glimpse_size=config.glimpse_size,
                   num_features=num_walk_features(n_planes, spec.glimpse), filters=config.filters, units=config.units,
                   stem_strides=config.stem_strides, radius=config.radius)


def _validation_points(config: RefineConfig, events, seed: int = 4321):
    """(inputs, targets) of the fixed validation points: on every plane of every event, points drawn
    around its vertices as the training points are (``validation_points`` in all)."""
    from generators.features import walk_features
    from generators.glimpses import Pyramid
    from generators.refine import sample_refine_points
    from generators.truth import event_truth

    spec = refine_spec(config)
    rng = np.random.default_rng(seed)
    per = max(1, config.validation_points // max(1, 3 * len(events)))
    g, f, off, lab, prim = [], [], [], [], []
    for ev in events:
        truth = event_truth(ev)
        for p, image in enumerate(event_images(ev, config)):
            pyr = Pyramid(image, spec.glimpse)
            pts = sample_refine_points(image, truth.vertices[p], truth.kinds, per, spec, rng, primary=truth.primary)
            g.append(pyr.extract(np.floor(pts.centres).astype(np.int64)))
            f.append(walk_features(pts.centres, p, len(ev.planes), spec.glimpse, 1.0))
            off.append(pts.offset)
            lab.append(pts.label)
            prim.append(pts.primary)
    return {"glimpses": np.concatenate(g), "features": np.concatenate(f)}, {
        "offset": np.concatenate(off), "kind": np.concatenate(lab), "primary": np.concatenate(prim)}


def refine_validation(model, inputs, targets, batch_size: int = 512) -> dict:
    """Validation figures of a refiner on fixed points (see the module docstring)."""
    from generators.truth import NONE_CLASS

    outs = [model({k: v[i : i + batch_size] for k, v in inputs.items()}, training=False)
            for i in range(0, len(inputs["glimpses"]), batch_size)]
    out = {k: np.concatenate([np.asarray(o[k]) for o in outs]) for k in outs[0]}
    has = targets["kind"] != NONE_CLASS
    err = np.linalg.norm(out["offset"] - targets["offset"], axis=1)[has]
    start = np.linalg.norm(targets["offset"], axis=1)[has]
    return {
        "val_offset_median_px": float(np.median(err)) if len(err) else float("nan"),
        "val_within_1px": float(np.mean(err <= 1.0)) if len(err) else float("nan"),
        "val_start_median_px": float(np.median(start)) if len(start) else float("nan"),
        "val_class_accuracy": float(np.mean(out["kind"].argmax(-1) == targets["kind"])),
        "val_primary_accuracy": float(np.mean((out["primary"] > 0) == (targets["primary"] > 0.5))),
    }


def _parts(config: RefineConfig, source, validation) -> RunParts:
    """The refiner's batches, compiled network and callbacks (clock, validation on fixed points)."""
    import keras

    from generators.dataset import RefineDataset
    from models import refiner_losses

    from .callbacks import Clock, Figures

    val_inputs, val_targets = _validation_points(config, validation)
    data = RefineDataset(source, spec=refine_spec(config), batch_size=config.batch_size,
                         batches_per_epoch=config.steps_per_epoch, seed=config.seed, workers=config.workers,
                         **response_options(config))
    model = build_refiner(config, len(validation[0].planes))
    model.build()  # BackupAndRestore restores into built weights
    model.compile(optimizer=keras.optimizers.Adam(cosine_schedule(config)), loss=refiner_losses(),
                  loss_weights=dict(zip(("offset", "kind", "primary"), config.loss_weights)))
    return RunParts(data, model, [Clock(), Figures(lambda m: refine_validation(m, val_inputs, val_targets))])


#: RefineConfig fields that describe the network (a warm start keeps them)
_MODEL_FIELDS = ("num_levels", "glimpse_size", "scale", "filters", "units", "stem_strides")


def _init_refiner_file(config: RefineConfig):
    """The refiner file of ``config.init_from`` (None without one), checked to hold the same network."""
    return init_model_file(config, "refiner", RefineConfig.read, _MODEL_FIELDS)


#: The refiner's runs: ``refiner.json``, ``refiner.keras``, best on ``val_within_1px``, no TensorBoard.
REFINER_RUN = RunKind(
    name="refiner run", config_file="refiner.json", final_file="refiner.keras",
    finished_hint="start a new run folder to train another",
    read_config=RefineConfig.read, init_file=_init_refiner_file, init_kind="refiner", parts=_parts,
    monitor="val_within_1px", tensorboard=False,
)


def train_refiner(config: RefineConfig, run_dir, *, verbose: int = 1, callbacks=()):
    """Train (or resume) a refiner run in ``run_dir``; returns the model.

    ``callbacks``: extra Keras callbacks, run after the built-in ones.

    Raises:
        RunError: ``run_dir`` holds a refiner run of another configuration, or a damaged backup.
        RunFinishedError: the run in ``run_dir`` is finished (its ``refiner.keras`` is written).
        ConfigError: the run's ``refiner.json`` cannot be read.
    """
    return train_run(REFINER_RUN, config, run_dir, verbose=verbose, callbacks=callbacks)
