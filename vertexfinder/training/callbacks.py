"""The Keras callbacks a run adds to the logs of every epoch (imports Keras).

* :class:`Clock`: the epoch's wall time (``epoch_seconds``; summed in ``history.csv``, the
  training time), validation left out;
* :class:`Figures`: the validation figures of the model, computed at the end of every epoch;
* :class:`OnPolicy`: before every epoch from a given one on, the dataset's on-policy walks are
  rolled out again by the current model.

The checkpoint, history and backup callbacks are :func:`vertexfinder.training.checkpoints.run_callbacks`.
"""

from __future__ import annotations

import time

import keras

__all__ = ["Clock", "Figures", "OnPolicy"]


class Clock(keras.callbacks.Callback):
    """Logs ``epoch_seconds``, the wall time of the epoch's batches (put it first: the callbacks
    after it, validation included, are not counted)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self.start


class Figures(keras.callbacks.Callback):
    """Adds ``figures(model)`` (a dict of validation figures, ``val_...``) to the logs of every epoch.

    Put it before the checkpoints, whose ``best.keras`` follows one of these figures.
    """

    def __init__(self, figures):
        super().__init__()
        self.figures = figures

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.figures(self.model))


class OnPolicy(keras.callbacks.Callback):
    """Before every epoch from ``start_epoch`` on (when ``fraction`` > 0), ``refresh(model, epoch)``
    rolls the dataset's on-policy walks out again; logs the share of them in the batches
    (``policy_fraction``)."""

    def __init__(self, dataset, refresh, *, fraction: float, start_epoch: int):
        super().__init__()
        self.dataset, self.refresh = dataset, refresh
        self.fraction, self.start_epoch = fraction, start_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if self.fraction > 0 and epoch >= self.start_epoch:
            self.refresh(self.model, epoch)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["policy_fraction"] = self.dataset.policy_fraction
