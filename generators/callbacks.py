"""Keras callbacks of the batch generator (this module imports Keras)."""

from __future__ import annotations

import keras
import numpy as np

from .composition import PROBE_EPOCH

__all__ = ["CompositionCallback"]


class CompositionCallback(keras.callbacks.Callback):
    """Feed the model's per-category loss back into the dataset's composition weights.

    Args:
        dataset: the WalkDataset being trained on.
        loss_fn: ``loss_fn(targets, outputs) -> (B,)`` per-walk loss (NumPy arrays in, NumPy out).
        probe_batches: batches of a fixed probe set (generated once from the dataset's seed with the
            reserved epoch number PROBE_EPOCH, which training never reaches).
        every: update every this many training batches.
    """

    def __init__(self, dataset, loss_fn, *, probe_batches: int = 2, every: int = 50):
        super().__init__()
        self.dataset = dataset
        self.loss_fn = loss_fn
        self.every = int(every)
        self.probe = [dataset.generate(PROBE_EPOCH, i) for i in range(int(probe_batches))]

    def on_train_batch_end(self, batch, logs=None):
        if (batch + 1) % self.every == 0:
            self.refresh()

    def refresh(self):
        losses, cats = [], []
        for inputs, targets, c in self.probe:
            outputs = self.model(inputs, training=False)
            outputs = {k: np.asarray(v) for k, v in outputs.items()} if isinstance(outputs, dict) else np.asarray(outputs)
            losses.append(np.asarray(self.loss_fn(targets, outputs)))
            cats.append(c)
        self.dataset.composition.update(np.concatenate(losses), np.concatenate(cats))
