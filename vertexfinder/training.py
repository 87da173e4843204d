"""Generator-fed training of the walker: configuration, callbacks, and the ``train`` entry point.

``train(config, run_dir)`` builds the on-the-fly batch generator (from an event
store, or from the simulation directly), the walker, and trains it with:

* a backup in ``run_dir/backup`` (:class:`vertexfinder.checkpoints.RunBackup`, a
  ``keras.callbacks.BackupAndRestore`` committed atomically): a run killed at any moment
  and started again with the same ``run_dir`` resumes at the last epoch it finished;
* checkpoints written atomically (``run_dir/last.keras`` every epoch, ``run_dir/best.keras``
  on the validation metric), ``history.csv`` without the rows of an epoch redone after a
  kill (:func:`vertexfinder.checkpoints.run_callbacks`);
* ``TensorBoard`` logs in ``run_dir/logs``;
* a cosine learning-rate schedule;
* validation on a fixed seeded sample: the model's own walks are rolled out and
  scored by the fraction of walks asked for the primary vertex that end within 1 cm
  of it, and the class accuracy of walks asked for the vertex of their start charge
  (``val_within_1cm``, ``val_class_accuracy``; see :func:`validation_metrics`);
* the batch-composition feedback of ``generators``;
* on-policy walks (``policy_fraction``): walks rolled out by the current model, relabelled
  with the teacher's targets, mixed into every batch from ``policy_start_epoch`` on;
* optional weight averaging (``ema_momentum``) for the final model.

The configuration is a frozen dataclass of plain values, each checked for its type, finiteness
and a sane range; files are read only by the command line (``vertexfinder train --config
CONFIG.toml --set key=value``), and their errors name the file or the option.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .detectors import DEFAULT_DETECTOR
from .errors import ConfigError, RunError, RunFinishedError
from .modelconfig import ModelConfig
from .text import shown

__all__ = ["TrainConfig", "RunFinishedError", "run_history", "train", "validation_metrics", "refresh_policy", "build_walker", "compile_walker", "make_dataset", "config_from_toml"]


@dataclass(frozen=True)
class TrainConfig(ModelConfig):
    """Everything a training run depends on: the model's description (the fields of
    :class:`vertexfinder.modelconfig.ModelConfig`) and the data, walks and optimisation settings.
    Plain values; round-trips through JSON/TOML."""

    # data
    store: str = ""
    detector: str = DEFAULT_DETECTOR
    sample: str = "nu-mix"
    train_seed: int = 1
    train_events: int = 1_000_000
    validation_seed: int = 7
    validation_events: int = 60
    validation_walks: int = 512
    # walks (names shared with generators.WalkSpec)
    target: str = "mixed"
    origin_fraction: float = 0.5
    # detector response: share of events seen with a varied response (gain, smearing, noise,
    # threshold, dead wires: generators.charge.ResponseSpec), and whether every event's charge is
    # normalised as the finder does (generators.charge.normalise)
    response_variation: float = 0.0
    normalise_charge: bool = False
    # optimisation
    batch_size: int = 64
    steps_per_epoch: int = 200
    epochs: int = 40
    learning_rate: float = 1e-3
    loss_weights: tuple = (1.0, 1.0, 0.5)  # step, kind, distance
    min_learning_rate: float = 2e-5
    seed: int = 0
    workers: int = 1
    composition_every: int = 50
    ema_momentum: float = 0.0
    # on-policy walks: from this epoch on, policy_fraction of every batch are walks rolled out by
    # the current model (re-drawn at the start of every epoch) and relabelled with the teacher's targets
    policy_fraction: float = 0.0
    policy_start_epoch: int = 0
    policy_events: int = 24
    policy_walks: int = 3072
    distribute: str = "none"
    # warm start: the weights of this model file or run folder start the run (same model
    # description); the run has its own schedule, and its history continues the other's
    init_from: str = ""

    _options = "training"

    _limits = {
        **ModelConfig._limits,
        "train_seed": (0, 2**63 - 1), "train_events": (1, 10**9), "validation_seed": (0, 2**63 - 1),
        "validation_events": (1, 10_000), "validation_walks": (1, 100_000), "origin_fraction": (0.0, 1.0),
        "batch_size": (1, 65_536), "steps_per_epoch": (1, 10**7), "epochs": (1, 10**6), "learning_rate": (1e-12, 10.0),
        "loss_weights": (0.0, 1e6), "min_learning_rate": (0.0, 10.0), "seed": (0, 2**32 - 1), "workers": (1, 64),
        "composition_every": (1, 10**9), "ema_momentum": (0.0, 0.999999), "policy_fraction": (0.0, 0.999999),
        "policy_start_epoch": (0, 10**6), "policy_events": (1, 10_000), "policy_walks": (1, 100_000),
        "response_variation": (0.0, 1.0),
    }
    _sequences = {**ModelConfig._sequences, "loss_weights": (float, (3, 3))}
    #: Largest batch of glimpses (bytes: batch_size x num_steps x num_levels x glimpse pixels).
    MAX_BATCH_GLIMPSE_BYTES = 1 << 30

    def __post_init__(self):
        super().__post_init__()
        if self.min_learning_rate > self.learning_rate:
            raise ValueError(f"min_learning_rate must not exceed learning_rate; Received: "
                             f"min_learning_rate={self.min_learning_rate}, learning_rate={self.learning_rate}")
        size = self.batch_size * self.num_steps * self.num_levels * self.glimpse_size[0] * self.glimpse_size[1]
        if size > self.MAX_BATCH_GLIMPSE_BYTES:
            raise ValueError(f"a batch of {self.batch_size} walks x {self.num_steps} steps x {self.num_levels} levels "
                             f"of {self.glimpse_size[0]}x{self.glimpse_size[1]} glimpses is {size / 2**30:.1f} GiB, "
                             f"more than {self.MAX_BATCH_GLIMPSE_BYTES >> 30} GiB; use a smaller batch_size")
        if self.distribute not in ("none", "mirrored"):
            raise ValueError(f"distribute must be 'none' or 'mirrored'; Received: distribute={shown(self.distribute)}")

    def walk_spec(self):
        from generators.walks import WalkSpec

        return WalkSpec(num_steps=self.num_steps, max_step=self.max_step, target=self.target,
                        origin_fraction=self.origin_fraction)


def read_toml(path, what: str) -> dict:
    """The table of a TOML file; ConfigError naming the file when it cannot be read or parsed."""
    import tomllib

    from .modelconfig import read_config_bytes

    path = Path(path)
    raw = read_config_bytes(path, what, MAX_TOML_BYTES)
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # TOMLDecodeError is a ValueError
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ConfigError(f"{path}: {what} is not valid TOML ({reason})") from None


#: Largest training configuration file read.
MAX_TOML_BYTES = 1 << 20


def parse_overrides(overrides) -> dict:
    """``key=value`` options (``--set``): TOML values, else bare strings.

    Raises:
        ConfigError: an item without ``=``.
    """
    import tomllib

    data = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value; Received: {shown(item)}")
        key, value = item.split("=", 1)
        try:
            data[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except (ValueError, RecursionError):  # not a TOML value: a bare string
            data[key.strip()] = value.strip()
    return data


def config_from_toml(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """A TrainConfig from a TOML file (optional) and ``key=value`` overrides (TOML values).

    Raises:
        ConfigError: the file cannot be read or parsed, or holds an unknown option or a bad value
            (the message names the file), or an override is bad (the message names it).
    """
    data = {}
    if path is not None:
        data = read_toml(path, "the training configuration")
        TrainConfig.from_dict(data, source=path)  # the file's own errors name the file
    data.update(parse_overrides(overrides))
    source = "--set " + " ".join(overrides) if path is None else f"{path} with --set {' '.join(overrides)}"
    return TrainConfig.from_dict(data, source=source if overrides else path)


def build_walker(config: ModelConfig, n_planes: int = 3):
    """An untrained walker of ``config`` (a ModelConfig or TrainConfig)."""
    return config.build_walker(n_planes)


def _sources(config: TrainConfig, *, validation: bool = True):
    """The training event source and the fixed validation events of ``config``."""
    from .simulation import SimulatedEvents, simulate

    if config.store:
        from .store import EventStore

        train_source = EventStore.open(config.store)
    else:
        train_source = SimulatedEvents(seed=config.train_seed, events=config.train_events,
                                       detector=config.detector, sample=config.sample)
    if not validation:
        return train_source, []
    events = [e for e in simulate(config.detector, config.sample, events=config.validation_events,
                                  seed=config.validation_seed) if e.primary is not None
              and all(p.pixels.size for p in e.planes)]
    return train_source, events


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


def _callbacks(config, run_dir: Path, model, train_ds, validation):
    import keras

    from generators.callbacks import CompositionCallback
    from models import per_walk_loss

    from .checkpoints import run_callbacks

    class Validation(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is not None and validation:
                logs.update(validation_metrics(self.model, validation, config))

    class Clock(keras.callbacks.Callback):  # wall time per epoch, summed in history.csv for the training time
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["epoch_seconds"] = time.perf_counter() - self.start

    class OnPolicy(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if config.policy_fraction > 0 and epoch >= config.policy_start_epoch:
                refresh_policy(self.model, train_ds, config, epoch)

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["policy_fraction"] = train_ds.policy_fraction

    return [
        Clock(),
        OnPolicy(),
        Validation(),
        CompositionCallback(train_ds, lambda t, o: per_walk_loss(t, o, max_step=config.max_step,
                                                                 weights=config.loss_weights),
                            every=config.composition_every),
    ] + run_callbacks(run_dir, monitor="val_within_1cm")


def make_dataset(config: TrainConfig, source):
    """The training WalkDataset of ``config`` on an event source."""
    from generators.dataset import WalkDataset

    return WalkDataset(source, glimpse=config.glimpse_spec(), walk=config.walk_spec(), batch_size=config.batch_size,
                       batches_per_epoch=config.steps_per_epoch, seed=config.seed, workers=config.workers,
                       **response_options(config))


def event_images(event, config) -> list:
    """An event's plane images as the datasets of ``config`` see them (charge normalised or not)."""
    from generators.charge import REFERENCE_SCALE, normalise

    images = [plane.pixels for plane in event.planes]
    return normalise(images, reference=REFERENCE_SCALE) if config.normalise_charge else images


def response_options(config) -> dict:
    """The ``response`` and ``normalise`` options of a dataset for a TrainConfig or RefineConfig."""
    from generators.charge import REFERENCE_SCALE, ResponseSpec

    return {"response": ResponseSpec(probability=config.response_variation) if config.response_variation > 0 else None,
            "normalise": REFERENCE_SCALE if config.normalise_charge else 0.0}


def compile_walker(config: TrainConfig):
    """A built walker compiled with the losses, the cosine schedule and the optimizer of ``config``."""
    import keras

    from models import walker_losses

    model = build_walker(config)
    model.build()  # BackupAndRestore restores into built weights
    total = config.epochs * config.steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=total, alpha=config.min_learning_rate / config.learning_rate)
    ema = {"use_ema": True, "ema_momentum": config.ema_momentum} if config.ema_momentum > 0 else {}
    model.compile(optimizer=keras.optimizers.Adam(schedule, **ema), loss=walker_losses(config.max_step),
                  loss_weights=dict(zip(("step", "kind", "distance"), config.loss_weights)))
    return model


def train(config: TrainConfig, run_dir: str | Path, *, verbose: int = 1, callbacks=()):
    """Train (or resume) a run in ``run_dir``; returns the trained model.

    ``callbacks``: extra Keras callbacks, run after the built-in ones.

    Raises:
        RunError: ``run_dir`` holds a run of another configuration, or a damaged backup.
        RunFinishedError: the run in ``run_dir`` is finished (its ``final.keras`` is written).
        ConfigError: the run's ``config.json`` cannot be read.
    """
    import keras

    from .checkpoints import finish_run, stop_logging
    from .io.atomic import atomic_output
    from .modelconfig import read_json_object

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = run_dir / "config.json"
    if cfg_path.exists():
        saved = TrainConfig.from_dict(read_json_object(cfg_path, "the run's configuration"), source=cfg_path)
        if saved != config:
            raise RunError(f"{run_dir} holds a run with another configuration ({cfg_path}); use a new run folder")
        if (run_dir / "final.keras").is_file():
            finish_run(run_dir)  # a backup left by a kill after the final model is of no use
            raise RunFinishedError(f"{run_dir}: this run is finished (final.keras); to train further, start a new "
                                   f"run folder with init_from = '{run_dir}'")
    else:
        _init_weights_file(config)  # a bad init_from fails before anything is written
        with atomic_output(cfg_path) as tmp:
            tmp.write_text(json.dumps(config.to_dict(), indent=1))
    keras.utils.set_random_seed(config.seed)
    train_source, validation = _sources(config)
    train_ds = make_dataset(config, train_source)

    if config.distribute == "mirrored":
        import tensorflow as tf

        with tf.distribute.MirroredStrategy().scope():
            model = compile_walker(config)
    else:
        model = compile_walker(config)
    init = _init_weights_file(config)
    if init is not None:  # a backup of this run, if any, replaces these weights when fit starts
        from .modelfiles import load_keras_model

        model.set_weights(load_keras_model(init, what="model").get_weights())
    cbs = _callbacks(config, run_dir, model, train_ds, validation)
    try:
        model.fit(train_ds, epochs=config.epochs, callbacks=cbs + list(callbacks), verbose=verbose)
    finally:
        stop_logging(cbs)  # an interrupted fit never reaches on_train_end, where the logs are closed
    finish_run(run_dir, model, "final.keras")
    return model


def _init_weights_file(config: TrainConfig):
    """The model file of ``config.init_from`` (None without one), checked against the model description."""
    from .modelconfig import ModelConfig, resolve_model

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


def run_history(run_dir) -> list[dict]:
    """Per-epoch history of a run and of the runs it was warm-started from, oldest first.

    Each row is a row of a ``history.csv`` with ``run`` (the run folder) and ``epoch_total``
    (epochs since the first run began) added.
    """
    import csv

    chain, seen = [], set()
    d = Path(run_dir)
    while d is not None and d.resolve() not in seen:
        seen.add(d.resolve())
        chain.append(d)
        cfg = d / "config.json"
        init = json.loads(cfg.read_text()).get("init_from", "") if cfg.is_file() else ""
        if not init:
            break
        p = Path(init)
        d = p if p.is_dir() else p.parent
    rows, total = [], 0
    for d in reversed(chain):
        path = d / "history.csv"
        if not path.is_file():
            continue
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                out = {k: (float(v) if v not in ("", None) else float("nan")) for k, v in row.items()}
                out["run"] = str(d)
                out["epoch_total"] = total
                total += 1
                rows.append(out)
    return rows
