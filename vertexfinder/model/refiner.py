"""What a refiner is: :class:`RefineConfig`, the description a ``refiner.json`` holds.

The refiner (:class:`models.Refiner`) is the finder's last, full-resolution look at a candidate.
Its run records the whole :class:`RefineConfig` (data, points, network, optimisation) in
``refiner.json``, which the finder reads beside the walker for the glimpse geometry
(:func:`refine_spec`) and training reads to resume or warm-start a run
(:mod:`vertexfinder.training.refiner` trains it). Nothing here imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..detectors import DEFAULT_DETECTOR
from .options import ConfigFile

__all__ = ["RefineConfig", "refine_spec"]


@dataclass(frozen=True)
class RefineConfig(ConfigFile):
    """Everything a refiner run depends on (plain values; round-trips through JSON/TOML)."""

    WHAT = "refiner"

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


def refine_spec(config: RefineConfig):
    """The :class:`generators.refine.RefineSpec` of ``config``: the glimpse geometry the refiner sees
    (the finder cuts its looks with it) and how training points are drawn around the vertices."""
    from generators.glimpses import GlimpseSpec
    from generators.refine import RefineSpec

    g = GlimpseSpec(num_levels=config.num_levels, glimpse_size=config.glimpse_size, scale=config.scale,
                    pyramid_pooling=config.pyramid_pooling)
    return RefineSpec(glimpse=g, radius=config.radius, sigmas=config.sigmas,
                      sigma_weights=(1.0,) * len(config.sigmas), uniform_fraction=config.uniform_fraction,
                      none_fraction=config.none_fraction, primary_fraction=config.primary_fraction)
