"""The recurrent multi-resolution walker (Keras 3).

At every step the walker looks at a glimpse stack (K levels of Gw x Gd
pixels around its position), encodes it with a small CNN together with the
position/plane features, updates a GRU state, and predicts:

* ``step``: the displacement to its next position, ``max_step * tanh(.)`` pixels;
* ``kind``: logits over (interaction, decay, conversion, none);
* ``distance``: ``log1p`` of the distance to the vertex it is heading to, in pixels.

``Walker.call`` runs whole sequences (training, teacher forcing);
``Walker.step`` advances one step for a batch of walks from a given state
(inference: one batched call per step for all seeds).
"""

from __future__ import annotations

import keras
from keras import layers, ops

__all__ = ["GlimpseEncoder", "Walker", "WALKER_OUTPUTS", "step_function"]

WALKER_OUTPUTS = ("step", "kind", "distance")
_PACKAGE = "vertexfinder"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GlimpseEncoder(layers.Layer):
    """Encode one glimpse stack and its features into a vector.

    Args:
        num_levels: K, glimpse levels (the CNN's input channels).
        glimpse_size: (Gw, Gd).
        filters: filters of the strided 3x3 convolutions (each halves the size).
        units: size of the encoding.
        stem_strides: stride of the first 3x3 convolution (``filters[0]`` filters): 1 keeps the full
            glimpse resolution, 2 halves it (about 2.5x fewer operations per glimpse).
        coord_channels: add two channels holding each pixel's wire and drift offset from the glimpse
            centre (-1..1), so the convolutions can say where a feature is, not only what it is
            (the step head regresses a position).
        shared_levels: run one CNN over every level on its own (the levels' pixels are different
            places, so stacking them as channels mixes unrelated positions) and concatenate the K
            encodings; otherwise the K levels are the channels of one CNN.
        adc_scale: ADC value mapped to 1.0 before the CNN.

    Input shape:
        glimpses (N, K, Gw, Gd) uint8 or float; features (N, F).
    Output shape:
        (N, units).
    """

    def __init__(self, *, num_levels=5, glimpse_size=(32, 32), filters=(32, 48, 64, 96), units=128,
                 adc_scale=64.0, stem_strides=1, coord_channels=False, shared_levels=False, **kwargs):
        super().__init__(**kwargs)
        glimpse_size = tuple(int(g) for g in glimpse_size)
        if int(num_levels) < 1:
            raise ValueError(f"num_levels must be >= 1. Received: num_levels={num_levels}")
        if int(stem_strides) not in (1, 2):
            raise ValueError(f"stem_strides must be 1 or 2. Received: stem_strides={stem_strides}")
        need = 2 ** len(filters) * int(stem_strides)
        if len(glimpse_size) != 2 or min(glimpse_size) < need:
            raise ValueError(
                f"glimpse_size must be two ints >= 2**len(filters) * stem_strides = {need}. "
                f"Received: glimpse_size={glimpse_size}"
            )
        if adc_scale <= 0:
            raise ValueError(f"adc_scale must be > 0. Received: adc_scale={adc_scale}")
        self.num_levels = int(num_levels)
        self.glimpse_size = glimpse_size
        self.filters = tuple(int(f) for f in filters)
        self.units = int(units)
        self.adc_scale = float(adc_scale)
        self.stem_strides = int(stem_strides)
        self.coord_channels = bool(coord_channels)
        self.shared_levels = bool(shared_levels)
        self.stem = layers.Conv2D(self.filters[0], 3, strides=self.stem_strides, padding="same", activation="relu",
                                  name="stem")
        self.convs = [
            layers.Conv2D(f, 3, strides=2, padding="same", activation="relu", name=f"conv{i}")
            for i, f in enumerate(self.filters)
        ]
        self.feature_dense = layers.Dense(32, activation="relu", name="features")
        self.out = layers.Dense(self.units, activation="relu", name="encoding")

    def build(self, glimpses_shape, features_shape=None):
        gw, gd = self.glimpse_size
        channels = (1 if self.shared_levels else self.num_levels) + 2 * self.coord_channels
        shape = (None, gw, gd, channels)
        self.stem.build(shape)
        shape = self.stem.compute_output_shape(shape)
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        flat = self.num_levels if self.shared_levels else 1
        for s in shape[1:]:
            flat *= s
        n_feat = features_shape[-1] if features_shape is not None else 0
        self.feature_dense.build((None, n_feat))
        self.out.build((None, flat + 32))

    def call(self, glimpses, features):
        x = ops.cast(glimpses, "float32") / self.adc_scale
        n = ops.shape(x)[0]
        gw, gd = self.glimpse_size
        if self.shared_levels:  # every level is an image of its own
            x = ops.reshape(x, (n * self.num_levels, gw, gd, 1))
        else:
            x = ops.transpose(x, (0, 2, 3, 1))  # levels become channels
        if self.coord_channels:
            # pixel centres relative to the walk's pixel (gw // 2, gd // 2), scaled to about -1..1
            cw = (ops.arange(gw, dtype="float32") + 0.5 - (gw // 2 + 0.5)) / (gw / 2)
            cd = (ops.arange(gd, dtype="float32") + 0.5 - (gd // 2 + 0.5)) / (gd / 2)
            grid = ops.stack([ops.broadcast_to(cw[:, None], (gw, gd)), ops.broadcast_to(cd[None, :], (gw, gd))], axis=-1)
            grid = ops.broadcast_to(grid[None], (ops.shape(x)[0], gw, gd, 2))
            x = ops.concatenate([x, grid], axis=-1)
        x = self.stem(x)
        for conv in self.convs:
            x = conv(x)
        x = ops.reshape(x, (n, -1))  # (N, K * flat) for shared levels
        f = self.feature_dense(ops.cast(features, "float32"))
        return self.out(ops.concatenate([x, f], axis=-1))

    def get_config(self):
        config = super().get_config()
        config.update(num_levels=self.num_levels, glimpse_size=list(self.glimpse_size), filters=list(self.filters),
                      units=self.units, adc_scale=self.adc_scale, stem_strides=self.stem_strides,
                      coord_channels=self.coord_channels, shared_levels=self.shared_levels)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Walker(keras.Model):
    """Recurrent CNN walker.

    Args:
        num_levels, glimpse_size: glimpse geometry (same names as generators.GlimpseSpec).
        num_features: F, per-step features (generators.walk_features).
        filters, encoder_units, stem_strides, coord_channels, shared_levels: the GlimpseEncoder.
        recurrent_units: GRU state size.
        max_step: largest step in pixels (generators.WalkSpec.max_step).
        num_classes: class logits (interaction, decay, conversion, none).

    Call arguments:
        inputs: dict with ``glimpses`` (B, T, K, Gw, Gd) and ``features`` (B, T, F).
    Output:
        dict: ``step`` (B, T, 2), ``kind`` (B, T, num_classes) logits, ``distance`` (B, T) log1p pixels.
    """

    def __init__(self, *, num_levels=5, glimpse_size=(32, 32), num_features=13, filters=(32, 48, 64, 96),
                 encoder_units=128, recurrent_units=128, max_step=64.0, num_classes=4, stem_strides=1,
                 coord_channels=False, shared_levels=False, **kwargs):
        super().__init__(**kwargs)
        if recurrent_units < 1 or max_step <= 0 or num_classes < 2 or num_features < 0:
            raise ValueError(
                "recurrent_units >= 1, max_step > 0, num_classes >= 2 and num_features >= 0 are required. "
                f"Received: recurrent_units={recurrent_units}, max_step={max_step}, num_classes={num_classes}, "
                f"num_features={num_features}"
            )
        self.num_levels = int(num_levels)
        self.glimpse_size = tuple(int(g) for g in glimpse_size)
        self.num_features = int(num_features)
        self.filters = tuple(int(f) for f in filters)
        self.encoder_units = int(encoder_units)
        self.recurrent_units = int(recurrent_units)
        self.max_step = float(max_step)
        self.num_classes = int(num_classes)
        self.stem_strides = int(stem_strides)
        self.coord_channels = bool(coord_channels)
        self.shared_levels = bool(shared_levels)
        self.encoder = GlimpseEncoder(num_levels=num_levels, glimpse_size=glimpse_size, filters=filters,
                                      units=encoder_units, stem_strides=stem_strides, coord_channels=coord_channels,
                                      shared_levels=shared_levels, name="encoder")
        self.cell = layers.GRUCell(self.recurrent_units, name="gru")
        self.rnn = layers.RNN(self.cell, return_sequences=True, name="recurrent")
        self.step_head = layers.Dense(2, name="step_head")
        self.kind_head = layers.Dense(self.num_classes, name="kind_head")
        self.distance_head = layers.Dense(1, name="distance_head")

    def build(self, input_shape=None):
        gw, gd = self.glimpse_size
        self.encoder.build((None, self.num_levels, gw, gd), (None, self.num_features))
        self.rnn.build((None, None, self.encoder_units))
        for head in (self.step_head, self.kind_head, self.distance_head):
            head.build((None, self.recurrent_units))
        self.built = True

    def _heads(self, h):
        return {
            "step": self.max_step * ops.tanh(self.step_head(h)),
            "kind": self.kind_head(h),
            "distance": ops.squeeze(self.distance_head(h), axis=-1),
        }

    def call(self, inputs, training=False):
        g, f = inputs["glimpses"], inputs["features"]
        shape = ops.shape(g)
        b, t = shape[0], shape[1]
        gw, gd = self.glimpse_size
        flat_g = ops.reshape(g, (b * t, self.num_levels, gw, gd))
        flat_f = ops.reshape(f, (b * t, self.num_features))
        enc = ops.reshape(self.encoder(flat_g, flat_f), (b, t, self.encoder_units))
        return self._heads(self.rnn(enc, training=training))

    def initial_state(self, batch_size):
        return ops.zeros((batch_size, self.recurrent_units), dtype="float32")

    def step(self, glimpses, features, state):
        """One step for N walks: glimpses (N, K, Gw, Gd), features (N, F), state (N, units).

        Returns (outputs dict of (N, ...) tensors, new state).
        """
        enc = self.encoder(glimpses, features)
        h, new_states = self.cell(enc, [state])
        new_state = new_states[0] if isinstance(new_states, (list, tuple)) else new_states
        return self._heads(h), new_state

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable,
            "num_levels": self.num_levels, "glimpse_size": list(self.glimpse_size), "num_features": self.num_features,
            "filters": list(self.filters), "encoder_units": self.encoder_units,
            "recurrent_units": self.recurrent_units, "max_step": self.max_step, "num_classes": self.num_classes,
            "stem_strides": self.stem_strides, "coord_channels": self.coord_channels,
            "shared_levels": self.shared_levels,
        }


def step_function(model: Walker, *, compile: bool = True, rows: int = 64):
    """The walker's :meth:`Walker.step` as a NumPy-in, NumPy-out callable for batched inference.

    ``fn(glimpses (N, K, Gw, Gd) uint8, features (N, F) float32, state (N, units) or None)``
    returns ``(outputs dict of NumPy arrays, state)``. With ``compile`` the step is traced once per
    batch size by ``tf.function`` (TensorFlow backend), so every call after the first runs a
    compiled graph; the state stays a tensor between calls (of the padded size). The walks are
    padded to a multiple of ``rows`` (:func:`padded_rows`).
    """
    step = model.step
    if compile and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        step = tf.function(model.step, reduce_retracing=True)

    def fn(glimpses, features, state):
        n = len(glimpses)
        glimpses, features = padded_rows(glimpses, rows), padded_rows(features, rows)
        if state is None:
            state = model.initial_state(len(glimpses))
        out, state = step(ops.convert_to_tensor(glimpses), ops.convert_to_tensor(features), state)
        return {k: ops.convert_to_numpy(v)[:n] for k, v in out.items()}, state

    return fn


def padded_rows(x, multiple: int):
    """``x`` with zero rows appended up to a multiple of ``multiple`` rows (1: as it is). The model
    calls of inference see a few batch sizes instead of one per call: every new size costs memory
    that is never given back (the native libraries keep what each shape needs), so a run over
    thousands of events would grow. Each row's result does not depend on the other rows."""
    import numpy as np

    extra = -len(x) % multiple
    return np.concatenate([x, np.zeros((extra,) + x.shape[1:], x.dtype)]) if extra else x
