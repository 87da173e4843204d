"""The walker's training: generator-fed walks, on-policy rollouts, validation of its own walks.

``train(config, run_dir)`` runs the lifecycle of :mod:`vertexfinder.training.run` (saved
configuration, warm start, seeding, event source, checkpoints, resume after a kill, the final model)
with the walker's parts:

* the batches: teacher walks drawn on the fly by :class:`generators.dataset.WalkDataset` from an
  event store or the simulation (:func:`make_dataset`), with the batch-composition feedback of
  ``generators``;
* the network: :class:`models.Walker` compiled with its losses, the cosine schedule and Adam,
  optionally averaging the weights (``ema_momentum``) for the final model (:func:`compile_walker`);
  ``distribute = "mirrored"`` builds it under ``tf.distribute.MirroredStrategy``;
* on-policy walks (``policy_fraction``): walks rolled out by the current model, relabelled with
  the teacher's targets, mixed into every batch from ``policy_start_epoch`` on
  (:func:`refresh_policy`);
* validation on a fixed seeded sample: the model's own walks are rolled out and scored by the
  fraction of walks asked for the primary vertex that end within 1 cm of it, and the class
  accuracy of walks asked for the vertex of their start charge (``val_within_1cm``,
  ``val_class_accuracy``; see :func:`validation_metrics`); ``best.keras`` follows
  ``val_within_1cm``;
* TensorBoard logs in ``run_dir/logs``.

The run folder holds ``config.json`` (the TrainConfig), ``last.keras``, ``best.keras``,
``final.keras``, ``history.csv`` and ``logs/``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..model import ModelConfig, read_json_object, resolve_model
from .config import TrainConfig
from .run import RunKind, RunParts, cosine_schedule, event_images, response_options, train_run

__all__ = ["train", "validation_metrics", "refresh_policy", "build_walker", "compile_walker", "make_dataset",
           "WALKER_RUN"]


def build_walker(config: ModelConfig, n_planes: int = 3):
    """An untrained walker of ``config`` (a ModelConfig or TrainConfig)."""
    return config.build_walker(n_planes)


def make_dataset(config: TrainConfig, source):
    """The training WalkDataset of ``config`` on an event source."""
    from generators.dataset import WalkDataset

    return WalkDataset(source, glimpse=config.glimpse_spec(), walk=config.walk_spec(), batch_size=config.batch_size,
                       batches_per_epoch=config.steps_per_epoch, seed=config.seed, workers=config.workers,
                       **response_options(config))


def compile_walker(config: TrainConfig):
    """A built walker compiled with the losses, the cosine schedule and the optimizer of ``config``."""
    import keras

    from models import walker_losses

    model = build_walker(config)
    model.build()  # BackupAndRestore restores into built weights
    schedule = cosine_schedule(config)
    ema = {"use_ema": True, "ema_momentum": config.ema_momentum} if config.ema_momentum > 0 else {}
    model.compile(optimizer=keras.optimizers.Adam(schedule, **ema), loss=walker_losses(config.max_step),
                  loss_weights=dict(zip(("step", "kind", "distance"), config.loss_weights)))
    return model


def validation_metrics(model, events, config: TrainConfig, *, seed: int = 12345) -> dict:
    """Roll the model's own walks out on fixed start points; score where they end.

    Half of the walks are asked for the primary vertex (task 1), half for the vertex their start
    charge comes from (task 0). Returns the fraction of primary walks ending within 1 and 2 cm of
    the primary vertex (``val_within_1cm``, ``val_within_2cm``), the same for origin walks that have
    a vertex (``val_origin_within_1cm``), and the class accuracy of origin walks at the last step
    (``val_class_accuracy``, class none included).
    """
    from generators.glimpses import Pyramid
    from generators.rollout import WalkBatch
    from generators.truth import NONE_CLASS, event_truth
    from generators.walks import sample_walks
    from models import step_function

    spec = config.glimpse_spec()
    rng = np.random.default_rng(seed)
    per = max(1, config.validation_walks // max(1, 3 * len(events)))
    batch = WalkBatch(len(events[0].planes))
    for ev in events:
        truth = event_truth(ev)
        for p, image in enumerate(event_images(ev, config)):
            k = batch.add_pyramid(Pyramid(image, spec))
            for target in ("primary", "origin"):
                wspec = dataclasses.replace(config.walk_spec(), target=target)
                n = per // 2 if target == "primary" else per - per // 2
                w = sample_walks(image, truth.vertices[p], truth.kinds, n, wspec, rng, primary=truth.primary,
                                 truth=truth.truth[p])
                batch.add(k, w.positions[:, 0], plane=p, task=w.task, target=w.target, label=w.label)
    targets, labels, tasks = batch.tag("target"), batch.tag("label"), batch.tag("task")
    res = batch.rollout(step_function(model), spec, config.num_steps)
    end = res["positions"][:, -1]
    dist_cm = np.linalg.norm(end - np.nan_to_num(targets), axis=1) * config.cm_per_pixel
    kind_pred = res["outputs"][-1]["kind"].argmax(axis=-1)

    def frac(mask, cut):
        return float(np.mean(dist_cm[mask] <= cut)) if mask.any() else float("nan")

    prim = (tasks == 1) & (labels != NONE_CLASS)
    orig = (tasks == 0) & (labels != NONE_CLASS)
    return {
        "val_within_1cm": frac(prim, 1.0),
        "val_within_2cm": frac(prim, 2.0),
        "val_origin_within_1cm": frac(orig, 1.0),
        "val_class_accuracy": float(np.mean(kind_pred[tasks == 0] == labels[tasks == 0])),
        "val_walks": int(len(labels)),
    }


def refresh_policy(model, dataset, config: TrainConfig, epoch: int) -> None:
    """Roll the model out from fresh teacher starts and mix those walks into the dataset's batches."""
    from generators.rollout import rollout
    from models import step_function

    per = max(1, config.policy_walks // (3 * config.policy_events))
    pool = dataset.policy_starts(config.policy_events, per, seed=[config.seed, int(epoch), 0x90])
    res = rollout(step_function(model), pool.pyramids, pool.which, pool.positions[:, 0], pool.planes, pool.n_planes,
                  config.glimpse_spec(), config.num_steps, task=pool.task)
    pool.positions = res["positions"][:, : config.num_steps]
    dataset.set_policy(pool, config.policy_fraction)


def _parts(config: TrainConfig, source, validation) -> RunParts:
    """The walker's batches, compiled network and callbacks (clock, on-policy walks, validation,
    batch composition)."""
    from generators.callbacks import CompositionCallback
    from models import per_walk_loss

    from .callbacks import Clock, Figures, OnPolicy

    train_ds = make_dataset(config, source)
    if config.distribute == "mirrored":
        import tensorflow as tf

        with tf.distribute.MirroredStrategy().scope():
            model = compile_walker(config)
    else:
        model = compile_walker(config)
    callbacks = [
        Clock(),
        OnPolicy(train_ds, lambda m, epoch: refresh_policy(m, train_ds, config, epoch),
                 fraction=config.policy_fraction, start_epoch=config.policy_start_epoch),
        Figures(lambda m: validation_metrics(m, validation, config) if validation else {}),
        CompositionCallback(train_ds, lambda t, o: per_walk_loss(t, o, max_step=config.max_step,
                                                                 weights=config.loss_weights),
                            every=config.composition_every),
    ]
    return RunParts(train_ds, model, callbacks)


def _read_saved(path) -> TrainConfig:
    return TrainConfig.from_dict(read_json_object(path, "the run's configuration"), source=path)


def _init_weights_file(config: TrainConfig):
    """The model file of ``config.init_from`` (None without one), checked against the model description."""
    if not config.init_from:
        return None
    model_file, cfg_file = resolve_model(config.init_from)
    other = ModelConfig.read(cfg_file)
    if other != config.model_config():
        diff = {k: (getattr(other, k), getattr(config, k)) for k in ModelConfig.model_fields()
                if getattr(other, k) != getattr(config, k)}
        raise ValueError(f"init_from {model_file}: its model differs from this run's ({diff}); warm starts keep the "
                         "model description")
    return model_file


#: The walker's runs: ``config.json``, ``final.keras``, best on ``val_within_1cm``.
WALKER_RUN = RunKind(
    name="run", config_file="config.json", final_file="final.keras",
    finished_hint="to train further, start a new run folder with init_from = '{run_dir}'",
    read_config=_read_saved, init_file=_init_weights_file, init_kind="model", parts=_parts,
    monitor="val_within_1cm", tensorboard=True,
)


def train(config: TrainConfig, run_dir: str | Path, *, verbose: int = 1, callbacks=()):
    """Train (or resume) a run in ``run_dir``; returns the trained model.

    ``callbacks``: extra Keras callbacks, run after the built-in ones.

    Raises:
        RunError: ``run_dir`` holds a run of another configuration, or a damaged backup.
        RunFinishedError: the run in ``run_dir`` is finished (its ``final.keras`` is written).
        ConfigError: the run's ``config.json`` cannot be read.
    """
    return train_run(WALKER_RUN, config, run_dir, verbose=verbose, callbacks=callbacks)
