"""The refiner: one full-resolution look at a vertex candidate (Keras 3).

The walker's search ends near a vertex; the refiner sees a glimpse stack of fine levels around
that point and predicts:

* ``offset``: where the vertex is relative to the point, ``radius * tanh(.)`` pixels;
* ``kind``: logits over (interaction, decay, conversion, none): what vertex is there, if any;
* ``primary``: a logit, whether it is the event's primary (neutrino) vertex.

It is not recurrent: one call per candidate point, all candidates of a batch of events together.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from .walker import GlimpseEncoder, padded_rows

__all__ = ["Refiner", "RefineOffsetLoss", "refiner_losses", "refine_function"]

_PACKAGE = "vertexfinder"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Refiner(keras.Model):
    """CNN over a glimpse stack: sub-pixel offset to the vertex, its class, primary or not.

    Args:
        num_levels, glimpse_size: glimpse geometry (generators.RefineSpec.glimpse).
        num_features: F (generators.walk_features).
        filters, units, stem_strides, coord_channels: the GlimpseEncoder.
        radius: largest offset in pixels.
        num_classes: class logits (interaction, decay, conversion, none).

    Call arguments:
        inputs: dict with ``glimpses`` (B, K, Gw, Gd) and ``features`` (B, F).
    Output:
        dict: ``offset`` (B, 2) pixels, ``kind`` (B, num_classes) logits, ``primary`` (B,) logit.
    """

    def __init__(self, *, num_levels=3, glimpse_size=(32, 32), num_features=10, filters=(32, 64, 96), units=192,
                 stem_strides=1, coord_channels=True, radius=12.0, num_classes=4, **kwargs):
        super().__init__(**kwargs)
        if radius <= 0 or num_classes < 2:
            raise ValueError(f"radius > 0 and num_classes >= 2 are required. Received: radius={radius}, "
                             f"num_classes={num_classes}")
        self.num_levels = int(num_levels)
        self.glimpse_size = tuple(int(g) for g in glimpse_size)
        self.num_features = int(num_features)
        self.filters = tuple(int(f) for f in filters)
        self.units = int(units)
        self.stem_strides = int(stem_strides)
        self.coord_channels = bool(coord_channels)
        self.radius = float(radius)
        self.num_classes = int(num_classes)
        self.encoder = GlimpseEncoder(num_levels=num_levels, glimpse_size=glimpse_size, filters=filters, units=units,
                                      stem_strides=stem_strides, coord_channels=coord_channels, name="encoder")
        self.hidden = layers.Dense(units, activation="relu", name="hidden")
        self.offset_head = layers.Dense(2, name="offset_head")
        self.kind_head = layers.Dense(self.num_classes, name="kind_head")
        self.primary_head = layers.Dense(1, name="primary_head")

    def build(self, input_shape=None):
        gw, gd = self.glimpse_size
        self.encoder.build((None, self.num_levels, gw, gd), (None, self.num_features))
        self.hidden.build((None, self.units))
        for head in (self.offset_head, self.kind_head, self.primary_head):
            head.build((None, self.units))
        self.built = True

    def call(self, inputs, training=False):
        h = self.hidden(self.encoder(inputs["glimpses"], inputs["features"]))
        return {
            "offset": self.radius * ops.tanh(self.offset_head(h) / self.radius),
            "kind": self.kind_head(h),
            "primary": ops.squeeze(self.primary_head(h), axis=-1),
        }

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable, "num_levels": self.num_levels,
            "glimpse_size": list(self.glimpse_size), "num_features": self.num_features, "filters": list(self.filters),
            "units": self.units, "stem_strides": self.stem_strides, "coord_channels": self.coord_channels,
            "radius": self.radius, "num_classes": self.num_classes,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RefineOffsetLoss(keras.losses.Loss):
    """Huber loss (pixels, ``delta`` pixels) on the offset; the model is told which points have a
    vertex by a zero target and a class-none label, so points without one are weighted by
    ``sample_weight`` only through the kind head: here every point counts, a none point's target
    being zero (stay where you are)."""

    def __init__(self, delta=1.0, name="offset_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if delta <= 0:
            raise ValueError(f"delta must be > 0. Received: delta={delta}")
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        err = ops.abs(ops.cast(y_true, "float32") - y_pred)
        quad = ops.minimum(err, self.delta)
        return ops.sum(0.5 * quad**2 + self.delta * (err - quad), axis=-1)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


def refiner_losses() -> dict:
    return {
        "offset": RefineOffsetLoss(),
        "kind": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        "primary": keras.losses.BinaryCrossentropy(from_logits=True),
    }


def refine_function(model: Refiner, *, compile: bool = True, rows: int = 64):
    """``fn(glimpses (N, K, Gw, Gd) uint8, features (N, F) float32) -> dict of NumPy arrays``; the
    points are padded to a multiple of ``rows`` (:func:`models.walker.padded_rows`)."""
    call = model.__call__
    if compile and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        call = tf.function(lambda g, f: model({"glimpses": g, "features": f}, training=False), reduce_retracing=True)
    else:
        call = lambda g, f: model({"glimpses": g, "features": f}, training=False)  # noqa: E731

    def fn(glimpses, features):
        n = len(glimpses)
        out = call(ops.convert_to_tensor(padded_rows(glimpses, rows)), ops.convert_to_tensor(padded_rows(features, rows)))
        return {k: ops.convert_to_numpy(v)[:n] for k, v in out.items()}

    return fn
