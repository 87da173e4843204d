"""One training run's lifecycle, written once for the walker and the refiner.

:func:`train_run` takes a :class:`RunKind` (what differs between the walker's runs and the
refiner's: file names, messages, the network, its data and validation) through these steps:

1. **saved configuration**: a run folder records its configuration (``config.json``,
   ``refiner.json``); a rerun into a folder that holds another configuration is refused
   (:class:`~vertexfinder.errors.RunError`);
2. **finished run**: a folder whose final model is written is refused
   (:class:`~vertexfinder.errors.RunFinishedError`; a backup a kill left after the final model is
   removed);
3. **warm start, checked**: ``init_from`` must name a model of the same network, checked before
   anything is written; then the configuration is written (atomically);
4. **seeding**: ``keras.utils.set_random_seed(config.seed)`` (Python, NumPy, TensorFlow), so the
   same seed gives the same batches and weights;
5. **event source**: an event store or the simulation, and the fixed validation events
   (:func:`event_sources`);
6. **the kind's parts**: its ``keras.utils.PyDataset``, its network compiled with the cosine
   schedule (:func:`cosine_schedule`), its callbacks (the clock, the validation figures);
7. **warm start**: the weights of ``init_from`` (a backup of this run, if any, replaces them when
   fitting starts);
8. **checkpoints**: ``last.keras``, ``best.keras`` on the kind's validation figure,
   ``history.csv``, TensorBoard logs, and the backup that resumes a killed run
   (:func:`vertexfinder.training.checkpoints.run_callbacks`);
9. **fit**, the logs closed even when it is interrupted;
10. **finish**: the final model written atomically, then the backup removed.

Imports Keras only when a run starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import RunError, RunFinishedError

__all__ = ["RunKind", "RunParts", "train_run", "start_run", "event_sources", "event_images", "response_options",
           "cosine_schedule", "warm_start", "fit_run", "run_history", "init_model_file"]


@dataclass(frozen=True)
class RunParts:
    """What a kind of run trains: its batches, its compiled network, its own callbacks (run before
    the checkpoints)."""

    data: Any
    model: Any
    callbacks: list


@dataclass(frozen=True)
class RunKind:
    """What tells one kind of training run from another.

    Attributes:
        name: what messages call such a run ("run", "refiner run").
        config_file: the configuration the run folder records (``config.json``).
        final_file: the model written when the run ends (``final.keras``).
        finished_hint: the end of the message refusing a finished run (what to do instead;
            ``{run_dir}`` is filled in).
        read_config: path -> the configuration saved in a run folder (ConfigError naming the file).
        init_file: config -> the model file its ``init_from`` names (None without one), checked to
            describe the same network (ValueError naming it otherwise).
        init_kind: what :func:`vertexfinder.model.load_keras_model` loads from it ("model", "refiner").
        parts: (config, event source, validation events) -> :class:`RunParts`.
        monitor: the validation figure ``best.keras`` follows (the higher the better).
        tensorboard: whether the run writes TensorBoard logs (``logs/``).
    """

    name: str
    config_file: str
    final_file: str
    finished_hint: str
    read_config: Callable
    init_file: Callable
    init_kind: str
    parts: Callable
    monitor: str
    tensorboard: bool = True


def train_run(kind: RunKind, config, run_dir, *, verbose: int = 1, callbacks=()):
    """Train (or resume) a run of ``kind`` in ``run_dir``; returns the trained model.

    ``callbacks``: extra Keras callbacks, run after the run's own.

    Raises:
        RunError: ``run_dir`` holds a run of another configuration, or a damaged backup.
        RunFinishedError: the run in ``run_dir`` is finished (its final model is written).
        ConfigError: the run's saved configuration cannot be read.
        ValueError: ``init_from`` names no model, or one of another network.
    """
    import keras

    from .checkpoints import run_callbacks

    run_dir = Path(run_dir)
    init = start_run(kind, config, run_dir)
    keras.utils.set_random_seed(config.seed)
    source, validation = event_sources(config)
    parts = kind.parts(config, source, validation)
    warm_start(parts.model, init, kind.init_kind)
    own = parts.callbacks + run_callbacks(run_dir, monitor=kind.monitor, tensorboard=kind.tensorboard)
    return fit_run(parts.model, parts.data, run_dir, own, extra=callbacks, epochs=config.epochs,
                   final=kind.final_file, verbose=verbose)


def start_run(kind: RunKind, config, run_dir: Path):
    """Steps 1-3: refuse a folder of another configuration or a finished run, check ``init_from``
    and record the configuration of a new run. Returns the warm-start model file (or None)."""
    from ..io.atomic import atomic_output

    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = run_dir / kind.config_file
    if cfg_path.exists():
        saved = kind.read_config(cfg_path)
        if saved != config:
            raise RunError(f"{run_dir} holds a {kind.name} with another configuration ({cfg_path}); use a new run "
                           "folder")
        if (run_dir / kind.final_file).is_file():
            from .checkpoints import finish_run

            finish_run(run_dir)  # a backup left by a kill after the final model is of no use
            raise RunFinishedError(f"{run_dir}: this {kind.name} is finished ({kind.final_file}); "
                                   + kind.finished_hint.format(run_dir=run_dir))
        return kind.init_file(config)
    init = kind.init_file(config)  # a bad init_from fails before anything is written
    with atomic_output(cfg_path) as tmp:
        tmp.write_text(json.dumps(config.to_dict(), indent=1))
    return init


def event_sources(config, *, validation: bool = True):
    """(training event source, fixed validation events) of a TrainConfig or RefineConfig.

    The source is the event store ``config.store``, else the simulation (``train_events`` events of
    ``sample`` from ``train_seed``, each simulated when asked for). The validation events are
    simulated from ``validation_seed``; those without a primary vertex, or with a plane without
    charge, are left out (no walk starts and no refiner point can be answered on an empty plane).
    ``validation=False``: no validation events (``[]``).
    """
    from ..simulation import SimulatedEvents, simulate

    if config.store:
        from ..io.store import EventStore

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


def cosine_schedule(config):
    """The learning rate of a run: cosine decay from ``learning_rate`` to ``min_learning_rate`` over
    all its steps (``epochs * steps_per_epoch``)."""
    import keras

    total = config.epochs * config.steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=total,
                                                  alpha=config.min_learning_rate / config.learning_rate)


def warm_start(model, init, what: str) -> None:
    """Give ``model`` the weights of the model file ``init`` (a ``what``: "model" or "refiner");
    nothing when ``init`` is None."""
    if init is not None:  # a backup of this run, if any, replaces these weights when fit starts
        from ..model import load_keras_model

        model.set_weights(load_keras_model(init, what).get_weights())


def fit_run(model, data, run_dir, callbacks, *, extra=(), epochs: int, final: str, verbose: int = 1):
    """Steps 9-10: fit ``model`` on ``data`` with ``callbacks`` (then ``extra``), then write
    ``run_dir/final`` and remove the backup. Returns the model."""
    from .checkpoints import finish_run, stop_logging

    try:
        model.fit(data, epochs=epochs, callbacks=list(callbacks) + list(extra), verbose=verbose)
    finally:
        stop_logging(callbacks)  # an interrupted fit never reaches on_train_end, where the logs are closed
    finish_run(run_dir, model, final)
    return model


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


def init_model_file(config, name: str, read_config, network_fields):
    """The ``NAME.keras`` file of ``config.init_from`` (None without one): the file, or a folder
    holding it with its ``NAME.json``, checked to describe the same network (``network_fields`` of
    the configuration ``read_config`` reads from that JSON). ValueError naming it otherwise."""
    if not config.init_from:
        return None
    path = Path(config.init_from)
    model_file = path / f"{name}.keras" if path.is_dir() else path
    cfg_file = model_file.parent / f"{name}.json"
    if not model_file.is_file() or not cfg_file.is_file():
        raise ValueError(f"init_from {config.init_from}: needs {name}.keras and {name}.json (a {name} run "
                         "or model folder)")
    other = read_config(cfg_file)
    diff = {k: (getattr(other, k), getattr(config, k)) for k in network_fields if getattr(other, k) != getattr(config, k)}
    if diff:
        raise ValueError(f"init_from {model_file}: its network differs from this run's ({diff}); warm starts keep "
                         "the network options")
    return model_file

