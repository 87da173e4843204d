"""The neutrino tagger: is a 3D candidate the neutrino vertex, or a cosmic muon's point? (Keras 3)

At the surface every readout holds cosmic muons, and their track ends, kinks and decays look like
vertices to a network that sees a few centimetres. The tagger sees much more: on every view, the
walker's whole glimpse stack around the candidate's projection (its coarsest level spans metres),
where a cosmic muon is a straight track crossing the picture and a neutrino interaction a star
of tracks and showers. One shared CNN reads each view's stack (its levels as channels); the
views' codes, in view order, go through a dense layer to one logit: the neutrino vertex or not.

Its probability is a feature of the candidate score (``vertexfinder.finder.score``), so the
score weighs it against the walks, the refiner and the fit.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from .walker import padded_rows

__all__ = ["NeutrinoTagger", "tagger_inputs", "tagger_function"]

_PACKAGE = "vertexfinder"


def tagger_inputs(glimpses) -> np.ndarray:
    """The tagger's input from glimpse stacks (N, views, K, Gw, Gd) of bytes: log-scaled to 0..1,
    levels last, float32 (N, views, Gw, Gd, K)."""
    g = np.asarray(glimpses, dtype=np.float32)
    return np.ascontiguousarray(np.moveaxis(np.log1p(g) / math.log(256.0), 2, -1))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class NeutrinoTagger(keras.Model):
    """Shared per-view CNN over glimpse stacks, then one logit: the neutrino vertex or not.

    Args:
        num_views, num_levels, glimpse_size: the input geometry (the walker's glimpse stacks).
        filters: the convolution widths (each a 3x3 convolution, then 2x2 max pooling).
        units: the dense layer's width.
        dropout: dropout rate before the logit (training only).

    Call arguments:
        inputs: float32 (B, views, Gw, Gd, K) from :func:`tagger_inputs`.
    Output:
        (B,) logits.
    """

    def __init__(self, *, num_views=3, num_levels=6, glimpse_size=(16, 16), filters=(32, 48, 64), units=64,
                 dropout=0.2, **kwargs):
        super().__init__(**kwargs)
        if num_views < 1 or num_levels < 1 or not filters:
            raise ValueError(f"num_views, num_levels >= 1 and some filters are required. Received: "
                             f"num_views={num_views}, num_levels={num_levels}, filters={filters}")
        self.num_views = int(num_views)
        self.num_levels = int(num_levels)
        self.glimpse_size = tuple(int(g) for g in glimpse_size)
        self.filters = tuple(int(f) for f in filters)
        self.units = int(units)
        self.dropout_rate = float(dropout)
        self.convs = [layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i}")
                      for i, f in enumerate(self.filters)]
        self.pools = [layers.MaxPooling2D(2, padding="same", name=f"pool{i}") for i in range(len(self.filters))]
        self.flatten = layers.Flatten(name="flatten")
        self.view_code = layers.Dense(units, activation="relu", name="view_code")
        self.hidden = layers.Dense(units, activation="relu", name="hidden")
        self.drop = layers.Dropout(self.dropout_rate, name="dropout")
        self.logit = layers.Dense(1, name="logit")

    def call(self, inputs, training=False):
        x = inputs
        b = ops.shape(x)[0]
        gw, gd = self.glimpse_size
        h = ops.reshape(x, (-1, gw, gd, self.num_levels))  # every view through the same CNN
        for conv, pool in zip(self.convs, self.pools):
            h = pool(conv(h))
        h = self.view_code(self.flatten(h))
        h = ops.reshape(h, (b, self.num_views * self.units))  # the views' codes in view order
        h = self.drop(self.hidden(h), training=training)
        return ops.reshape(self.logit(h), (-1,))

    def get_config(self):
        config = super().get_config()
        config.update(num_views=self.num_views, num_levels=self.num_levels, glimpse_size=self.glimpse_size,
                      filters=self.filters, units=self.units, dropout=self.dropout_rate)
        return config


def tagger_function(model: NeutrinoTagger, *, compile: bool = True, rows: int = 64):
    """``fn(glimpses (N, views, K, Gw, Gd) uint8) -> (N,) probabilities``; rows padded to a
    multiple of ``rows`` (:func:`models.walker.padded_rows`) so one traced graph serves."""
    call = lambda x: model(x, training=False)  # noqa: E731
    if compile and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        call = tf.function(call, reduce_retracing=True)

    def fn(glimpses):
        n = len(glimpses)
        if n == 0:
            return np.zeros(0)
        logits = ops.convert_to_numpy(call(ops.convert_to_tensor(padded_rows(tagger_inputs(glimpses), rows))))[:n]
        return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))

    return fn
