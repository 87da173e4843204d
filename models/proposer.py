"""The proposer: one fully convolutional look at a whole view, proposing every place a vertex may be.

A point-proposal network in the manner of PPN (PRD 104, 032004), on wire-plane images. It sees a
view at half resolution (the 2x2 max-pooled image) and predicts, for every cell of a grid four
pixels wide:

* ``score``: a logit, whether a vertex (of any kind) lies in the cell;
* ``offset``: where in the cell, ``sigmoid(.)`` in cell units (0..1 along wire and drift);
* ``kind``: logits over (interaction, decay, conversion).

Dilated convolutions give each cell about 60 cm of context, enough to see a track end, a kink or a
shower start; the network is small (tens of thousands of weights), so a whole event's three views
take milliseconds on one core. Training draws crops around the simulation's vertices of every kind
(:mod:`generators.proposals`); the finder turns the peaks of the score into candidates that the
refiner looks at and the plane match joins (:mod:`vertexfinder.finder.points`).
"""

from __future__ import annotations

import keras
from keras import layers, ops

__all__ = ["Proposer", "ProposalScoreLoss", "MaskedOffsetLoss", "MaskedKindLoss", "proposer_losses",
           "proposal_function", "CELL"]

_PACKAGE = "vertexfinder"

#: Pixels (full resolution) per output cell: the input is at half resolution, the stem halves again.
CELL = 4


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Proposer(keras.Model):
    """Fully convolutional proposals over a view.

    Args:
        filters: channels of the stem convolution and of each dilated convolution after it.
        dilations: dilation rates of the 3x3 convolutions after the stem (one per ``filters[1:]``).
        num_classes: vertex classes of the ``kind`` head (interaction, decay, conversion).

    Call arguments:
        inputs: (B, H, W) or (B, H, W, 1) uint8/float image at half resolution (H, W even).
    Output:
        dict: ``score`` (B, H/2, W/2) logits, ``offset`` (B, H/2, W/2, 2) in [0, 1], ``kind``
        (B, H/2, W/2, num_classes) logits.
    """

    def __init__(self, *, filters=(16, 32, 32, 32, 32), dilations=(1, 2, 4, 8), num_classes=3, **kwargs):
        super().__init__(**kwargs)
        self.filters = tuple(int(f) for f in filters)
        self.dilations = tuple(int(d) for d in dilations)
        self.num_classes = int(num_classes)
        if len(self.dilations) != len(self.filters) - 1 or min(self.filters) < 1 or min(self.dilations) < 1:
            raise ValueError(f"one dilation per filter after the stem, all >= 1; Received: filters={self.filters}, "
                             f"dilations={self.dilations}")
        self.stem = layers.Conv2D(self.filters[0], 3, strides=2, padding="same", activation="relu", name="stem")
        self.body = [layers.Conv2D(f, 3, dilation_rate=d, padding="same", activation="relu", name=f"body_{i}")
                     for i, (f, d) in enumerate(zip(self.filters[1:], self.dilations))]
        self.score_head = layers.Conv2D(1, 1, name="score_head",
                                        bias_initializer=keras.initializers.Constant(-4.0))  # vertices are rare
        self.offset_head = layers.Conv2D(2, 1, name="offset_head")
        self.kind_head = layers.Conv2D(self.num_classes, 1, name="kind_head")

    def build(self, input_shape=None):
        self.stem.build((None, None, None, 1))
        channels = self.filters[0]
        for conv, f in zip(self.body, self.filters[1:]):
            conv.build((None, None, None, channels))
            channels = f
        for head in (self.score_head, self.offset_head, self.kind_head):
            head.build((None, None, None, channels))
        self.built = True

    def call(self, inputs, training=False):
        x = ops.cast(inputs, "float32") / 64.0  # bytes: the MIP charge scale is about 37
        if len(x.shape) == 3:
            x = ops.expand_dims(x, -1)
        x = self.stem(x)
        skip = x
        for conv in self.body:
            x = conv(x)
            if x.shape[-1] == skip.shape[-1]:
                x = x + skip
            skip = x
        return {
            "score": ops.squeeze(self.score_head(x), -1),
            "offset": ops.sigmoid(self.offset_head(x)),
            "kind": self.kind_head(x),
        }

    def get_config(self):
        return {**super().get_config(), "filters": list(self.filters), "dilations": list(self.dilations),
                "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ProposalScoreLoss(keras.losses.Loss):
    """Focal binary cross-entropy of the cell scores (targets (B, H, W): 1 where a vertex lies)."""

    def __init__(self, gamma: float = 2.0, alpha: float = 0.9, **kwargs):
        super().__init__(**kwargs)
        self.gamma, self.alpha = float(gamma), float(alpha)

    def call(self, y_true, y_pred):
        y = ops.cast(y_true, "float32")
        p = ops.sigmoid(y_pred)
        ce = ops.maximum(y_pred, 0.0) - y_pred * y + ops.log1p(ops.exp(-ops.abs(y_pred)))
        pt = y * p + (1.0 - y) * (1.0 - p)
        a = y * self.alpha + (1.0 - y) * (1.0 - self.alpha)
        return ops.sum(a * (1.0 - pt) ** self.gamma * ce, axis=(1, 2)) / 16.0

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "alpha": self.alpha}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MaskedOffsetLoss(keras.losses.Loss):
    """L1 of the offsets in the cells that hold a vertex (targets (B, H, W, 3): mask, then the offset)."""

    def call(self, y_true, y_pred):
        mask = y_true[..., 0]
        err = ops.sum(ops.abs(y_pred - y_true[..., 1:]), axis=-1)
        return ops.sum(mask * err, axis=(1, 2)) / ops.maximum(ops.sum(mask, axis=(1, 2)), 1.0)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MaskedKindLoss(keras.losses.Loss):
    """Cross-entropy of the class in the cells that hold a vertex (targets (B, H, W, 2): mask, class id)."""

    def call(self, y_true, y_pred):
        mask = y_true[..., 0]
        kind = ops.cast(y_true[..., 1], "int32")
        ce = keras.losses.sparse_categorical_crossentropy(kind, y_pred, from_logits=True)
        return ops.sum(mask * ce, axis=(1, 2)) / ops.maximum(ops.sum(mask, axis=(1, 2)), 1.0)


def proposer_losses() -> dict:
    return {"score": ProposalScoreLoss(), "offset": MaskedOffsetLoss(), "kind": MaskedKindLoss()}


def proposal_function(model: Proposer, *, compile: bool = True, pad: int = 32):
    """``fn(image (H, W) half-resolution uint8, H and W even) -> dict of NumPy arrays`` (one view,
    any size). The image is zero padded to multiples of ``pad`` first, so the network sees a few
    image sizes instead of one per view (each new size costs memory that is never given back);
    the cells of the padding are cut off again. Cells within the receptive field of the far
    edges see the padding as an empty image, as training crops that reach beyond a view do."""
    call = lambda x: model(x, training=False)  # noqa: E731
    if compile and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        call = tf.function(call, reduce_retracing=True)

    def fn(image):
        import numpy as np

        h, w = image.shape
        padded = np.pad(image, ((0, -h % pad), (0, -w % pad)))
        out = call(ops.convert_to_tensor(padded[None]))
        return {k: ops.convert_to_numpy(v)[0, : -(-h // 2), : -(-w // 2)] for k, v in out.items()}

    return fn
