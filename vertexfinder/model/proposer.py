"""What a proposer is: :class:`ProposerConfig`, the description a ``proposer.json`` holds.

The proposer (:class:`models.Proposer`) looks once at every view and proposes every place where a
vertex may be (:mod:`vertexfinder.finder.points` turns its output into candidates). Its run
records the whole :class:`ProposerConfig` (data, crops, network, optimisation) in
``proposer.json``, which the finder reads beside the walker and training reads to resume or
warm-start a run (:mod:`vertexfinder.training.proposer`). Nothing here imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..detectors import DEFAULT_DETECTOR
from .options import ConfigFile

__all__ = ["ProposerConfig", "proposal_spec"]


@dataclass(frozen=True)
class ProposerConfig(ConfigFile):
    """Everything a proposer run depends on (plain values; round-trips through JSON/TOML)."""

    WHAT = "proposer"

    # data
    store: str = ""
    detector: str = DEFAULT_DETECTOR
    sample: str = "nu-mix"
    train_seed: int = 1
    train_events: int = 1_000_000
    validation_seed: int = 7
    validation_events: int = 60
    cm_per_pixel: float = 0.48
    # crops (generators.ProposalSpec)
    crop: int = 256
    vertex_fraction: float = 0.8
    visible_px: float = 3.0
    # detector response (as in TrainConfig)
    response_variation: float = 0.0
    normalise_charge: bool = True
    # model (models.Proposer)
    filters: tuple = (16, 32, 32, 32, 32)
    dilations: tuple = (1, 2, 4, 8)
    # optimisation
    batch_size: int = 16
    steps_per_epoch: int = 200
    epochs: int = 10
    learning_rate: float = 2e-3
    min_learning_rate: float = 1e-5
    loss_weights: tuple = (1.0, 1.0, 0.5)  # score, offset, kind
    seed: int = 0
    workers: int = 1
    # warm start: a proposer (proposer.keras, or a folder with it and proposer.json) with this network
    init_from: str = ""

    def __post_init__(self):
        for name in ("filters", "dilations"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        object.__setattr__(self, "loss_weights", tuple(float(v) for v in self.loss_weights))
        for name in ("batch_size", "steps_per_epoch", "epochs", "validation_events"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1; Received: {name}={getattr(self, name)}")
        if len(self.dilations) != len(self.filters) - 1:
            raise ValueError(f"one dilation per filter after the stem; Received: filters={self.filters}, "
                             f"dilations={self.dilations}")
        if len(self.loss_weights) != 3 or min(self.loss_weights) < 0:
            raise ValueError(f"loss_weights must be three weights >= 0 (score, offset, kind); "
                             f"Received: {self.loss_weights}")
        proposal_spec(self)  # crop and fractions in range


def proposal_spec(config: ProposerConfig):
    """The :class:`generators.proposals.ProposalSpec` of ``config`` (how training crops are cut)."""
    from generators.proposals import ProposalSpec

    return ProposalSpec(crop=config.crop, vertex_fraction=config.vertex_fraction, visible_px=config.visible_px)
