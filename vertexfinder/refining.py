"""Training the refiner (:class:`models.Refiner`): the finder's last, full-resolution look.

``train_refiner(config, run_dir)`` trains on points drawn around the true vertices of an event
store (or of the simulation) by :class:`generators.dataset.RefineDataset`, with the walker's run
folder machinery (:func:`vertexfinder.checkpoints.run_callbacks`: a backup committed atomically, so
a run killed at any moment resumes; atomic ``last.keras`` / ``best.keras`` checkpoints;
``history.csv``), a cosine schedule and validation on fixed points of a seeded validation sample:

* ``val_offset_median_px``: median distance (pixels) between the refined point and the vertex,
  over points with a vertex within the radius; ``val_within_1px``: the share within one pixel;
* ``val_start_median_px``: the same before refining (what the points started with);
* ``val_class_accuracy``: class head (none included); ``val_primary_accuracy``: primary head.

The run folder gets ``refiner.keras`` (final weights) and ``refiner.json`` (the RefineConfig), the
two files the finder loads beside a walker.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .detectors import DEFAULT_DETECTOR
from .errors import RunError, RunFinishedError

__all__ = ["RefineConfig", "train_refiner", "refine_validation", "refine_spec", "build_refiner"]


@dataclass(frozen=True)
class RefineConfig:
    """Everything a refiner run depends on (plain values; round-trips through JSON/TOML)."""

    # data
    store: str = ""
    detector: str = DEFAULT_DETECTOR
    sample: str = "nu-mix"
    train_seed: int = 1
    train_events: int = 1_000_000
    validation_seed: int = 7
    validation_events: int = 60
    validation_points: int = 3000
    cm_per_pixel: float = 0.48
    # points (generators.RefineSpec)
    num_levels: int = 3
    glimpse_size: tuple = (32, 32)
    scale: tuple = (2, 2)
    pyramid_pooling: str = "max"
    radius: float = 12.0
    sigmas: tuple = (1.0, 3.0)
    uniform_fraction: float = 0.15
    none_fraction: float = 0.2
    primary_fraction: float = 0.5
    # detector response (as in TrainConfig)
    response_variation: float = 0.0
    normalise_charge: bool = False
    # model
    filters: tuple = (32, 64, 96)
    units: int = 192
    stem_strides: int = 1
    # optimisation
    batch_size: int = 128
    steps_per_epoch: int = 200
    epochs: int = 20
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-5
    loss_weights: tuple = (1.0, 0.5, 0.5)  # offset, kind, primary
    seed: int = 0
    workers: int = 1
    # warm start: a refiner (refiner.keras, or a folder with it and refiner.json) whose weights
    # start this run; its model options (levels, glimpse, filters, units, stem) must be these
    init_from: str = ""

    def __post_init__(self):
        for name in ("glimpse_size", "scale", "filters"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        for name in ("sigmas", "loss_weights"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        for name in ("batch_size", "steps_per_epoch", "epochs", "validation_points"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1; Received: {name}={getattr(self, name)}")
        if len(self.loss_weights) != 3 or min(self.loss_weights) < 0:
            raise ValueError(f"loss_weights must be three weights >= 0 (offset, kind, primary); "
                             f"Received: {self.loss_weights}")

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "RefineConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown refiner options {unknown}; valid options: {sorted(names)}")
        return cls(**data)

    @classmethod
    def from_toml(cls, path, overrides=()) -> "RefineConfig":
        """A RefineConfig from a TOML file (optional) and ``key=value`` overrides (TOML values).

        Raises:
            ConfigError: naming the file (or the overrides) and the problem.
        """
        from .errors import ConfigError
        from .training import parse_overrides, read_toml

        data = read_toml(path, "the refiner configuration") if path is not None else {}
        data.update(parse_overrides(overrides))
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError, OverflowError) as exc:
            where = path if path is not None else "--set " + " ".join(overrides)
            raise ConfigError(f"{where}: {exc}") from None

    @classmethod
    def read(cls, path) -> "RefineConfig":
        """The RefineConfig in a JSON file; ConfigError naming the file when it cannot be used."""
        from .errors import ConfigError
        from .modelconfig import read_json_object

        data = read_json_object(path, "the refiner configuration")
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ConfigError(f"{path}: cannot read the refiner configuration: {exc}") from None


def refine_spec(config: RefineConfig):
    from generators.glimpses import GlimpseSpec
    from generators.refine import RefineSpec

    g = GlimpseSpec(num_levels=config.num_levels, glimpse_size=config.glimpse_size, scale=config.scale,
                    pyramid_pooling=config.pyramid_pooling)
    return RefineSpec(glimpse=g, radius=config.radius, sigmas=config.sigmas,
                      sigma_weights=(1.0,) * len(config.sigmas), uniform_fraction=config.uniform_fraction,
                      none_fraction=config.none_fraction, primary_fraction=config.primary_fraction)


def build_refiner(config: RefineConfig, n_planes: int = 3):
    from generators.features import num_walk_features
    from models import Refiner

    spec = refine_spec(config)
    return Refiner(num_levels=config.num_levels, glimpse_size=config.glimpse_size,
                   num_features=num_walk_features(n_planes, spec.glimpse), filters=config.filters, units=config.units,
                   stem_strides=config.stem_strides, radius=config.radius)


def _validation_points(config: RefineConfig, events, seed: int = 4321):
    from .training import event_images
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


def train_refiner(config: RefineConfig, run_dir, *, verbose: int = 1, callbacks=()):
    """Train (or resume) a refiner run in ``run_dir``; returns the model."""
    import keras

    from generators.dataset import RefineDataset
    from models import refiner_losses

    from .checkpoints import finish_run, run_callbacks, stop_logging
    from .io.atomic import atomic_output
    from .simulation import SimulatedEvents, simulate
    from .training import response_options

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = run_dir / "refiner.json"
    if cfg_path.exists():
        saved = RefineConfig.read(cfg_path)
        if saved != config:
            raise RunError(f"{run_dir} holds a refiner run with another configuration ({cfg_path}); "
                           "use a new run folder")
        if (run_dir / "refiner.keras").is_file():
            finish_run(run_dir)  # a backup left by a kill after the final model is of no use
            raise RunFinishedError(f"{run_dir}: this refiner run is finished (refiner.keras); start a new run "
                                   "folder to train another")
    else:
        _init_refiner_file(config)  # a bad init_from fails before anything is written
        with atomic_output(cfg_path) as tmp:
            tmp.write_text(json.dumps(config.to_dict(), indent=1))
    keras.utils.set_random_seed(config.seed)
    if config.store:
        from .store import EventStore

        source = EventStore.open(config.store)
    else:
        source = SimulatedEvents(seed=config.train_seed, events=config.train_events, detector=config.detector,
                                 sample=config.sample)
    val_events = [e for e in simulate(config.detector, config.sample, events=config.validation_events,
                                      seed=config.validation_seed) if e.primary is not None]
    val_inputs, val_targets = _validation_points(config, val_events)
    data = RefineDataset(source, spec=refine_spec(config), batch_size=config.batch_size,
                         batches_per_epoch=config.steps_per_epoch, seed=config.seed, workers=config.workers,
                         **response_options(config))
    model = build_refiner(config, len(val_events[0].planes))
    model.build()
    init = _init_refiner_file(config)
    if init is not None:  # a backup of this run, if any, replaces these weights when fit starts
        from .modelfiles import load_keras_model

        model.set_weights(load_keras_model(init, "refiner").get_weights())
    total = config.epochs * config.steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=total,
                                                      alpha=config.min_learning_rate / config.learning_rate)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=refiner_losses(),
                  loss_weights=dict(zip(("offset", "kind", "primary"), config.loss_weights)))

    class Validation(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["epoch_seconds"] = time.perf_counter() - self.start
                logs.update(refine_validation(self.model, val_inputs, val_targets))

    cbs = [Validation()] + run_callbacks(run_dir, monitor="val_within_1px", tensorboard=False)
    try:
        model.fit(data, epochs=config.epochs, callbacks=cbs + list(callbacks), verbose=verbose)
    finally:
        stop_logging(cbs)  # an interrupted fit never reaches on_train_end, where the history is closed
    finish_run(run_dir, model, "refiner.keras")
    return model


#: RefineConfig fields that describe the network (a warm start keeps them)
_MODEL_FIELDS = ("num_levels", "glimpse_size", "scale", "filters", "units", "stem_strides")


def _init_refiner_file(config: RefineConfig):
    """The refiner file of ``config.init_from`` (None without one): ``refiner.keras`` (or a folder
    holding it) with its ``refiner.json``, checked to describe the same network."""
    if not config.init_from:
        return None
    path = Path(config.init_from)
    model_file = path / "refiner.keras" if path.is_dir() else path
    cfg_file = model_file.parent / "refiner.json"
    if not model_file.is_file() or not cfg_file.is_file():
        raise ValueError(f"init_from {config.init_from}: needs refiner.keras and refiner.json (a refiner run "
                         "or model folder)")
    other = RefineConfig.read(cfg_file)
    diff = {k: (getattr(other, k), getattr(config, k)) for k in _MODEL_FIELDS if getattr(other, k) != getattr(config, k)}
    if diff:
        raise ValueError(f"init_from {model_file}: its network differs from this run's ({diff}); warm starts keep "
                         "the network options")
    return model_file
