"""What a walker's training run depends on: :class:`TrainConfig`, read from TOML and ``--set``.

A TrainConfig is a :class:`~vertexfinder.model.ModelConfig` (the model's description, all the
finder reads of a run's ``config.json``) with the data, walks and optimisation settings. It is a
frozen dataclass of plain values, each checked for its type, finiteness and a sane range; files are
read only by the command line (``vertexfinder train --config CONFIG.toml --set key=value``), and
their errors name the file or the option.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..detectors import DEFAULT_DETECTOR
from ..model import ModelConfig
from ..model.options import parse_overrides, read_toml
from ..text import shown

__all__ = ["TrainConfig", "config_from_toml"]


@dataclass(frozen=True)
class TrainConfig(ModelConfig):
    """Everything a training run depends on: the model's description (the fields of
    :class:`vertexfinder.model.ModelConfig`) and the data, walks and optimisation settings.
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
