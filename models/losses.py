"""Losses of the walker's three heads, and a per-walk loss for batch-composition feedback.

* ``step``: Huber on the displacement in units of ``max_step`` (targets are clipped to the step limit);
* ``kind``: sparse categorical cross-entropy from logits;
* ``distance``: squared error on ``log1p(distance in pixels)``.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = ["StepLoss", "DistanceLoss", "walker_losses", "per_walk_loss"]


@keras.saving.register_keras_serializable(package="vertexfinder")
class StepLoss(keras.losses.Loss):
    """Huber loss on displacements scaled by ``max_step``. y: (B, T, 2) pixels."""

    def __init__(self, max_step=64.0, delta=0.1, name="step_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if max_step <= 0 or delta <= 0:
            raise ValueError(f"max_step and delta must be > 0. Received: max_step={max_step}, delta={delta}")
        self.max_step = float(max_step)
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        err = ops.abs(ops.cast(y_true, "float32") - y_pred) / self.max_step
        quad = ops.minimum(err, self.delta)
        return ops.mean(0.5 * quad**2 + self.delta * (err - quad), axis=-1) / self.delta

    def get_config(self):
        return {**super().get_config(), "max_step": self.max_step, "delta": self.delta}


@keras.saving.register_keras_serializable(package="vertexfinder")
class DistanceLoss(keras.losses.Loss):
    """Squared error between log1p(true distance) and the predicted log1p distance. y: (B, T)."""

    def __init__(self, name="distance_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return ops.square(ops.log1p(ops.cast(y_true, "float32")) - y_pred)


def walker_losses(max_step: float = 64.0) -> dict:
    return {
        "step": StepLoss(max_step=max_step),
        "kind": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        "distance": DistanceLoss(),
    }


def per_walk_loss(targets: dict, outputs: dict, *, max_step: float = 64.0, weights=(1.0, 1.0, 0.5)) -> np.ndarray:
    """The training loss of each walk (NumPy in and out), for generators.CompositionCallback."""
    err = np.abs(np.asarray(targets["step"]) - np.asarray(outputs["step"])) / max_step
    quad = np.minimum(err, 0.1)
    step = ((0.5 * quad**2 + 0.1 * (err - quad)) / 0.1).mean(axis=(1, 2))
    logits = np.asarray(outputs["kind"], dtype=np.float64)
    logits = logits - logits.max(axis=-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    kind = -np.take_along_axis(logp, np.asarray(targets["kind"])[..., None].astype(np.int64), axis=-1)[..., 0].mean(axis=1)
    dist = ((np.log1p(np.asarray(targets["distance"])) - np.asarray(outputs["distance"])) ** 2).mean(axis=1)
    return weights[0] * step + weights[1] * kind + weights[2] * dist
