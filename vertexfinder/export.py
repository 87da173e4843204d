"""Export the walker for the experiments' C++ framework (TensorFlow SavedModel).

The SavedModel holds one signature, ``serving_default`` = one walker step for a batch of walks::

    inputs:  glimpses uint8 (N, K, Gw, Gd), features float32 (N, F), state float32 (N, units)
    outputs: step float32 (N, 2) pixels, kind float32 (N, 4) logits, distance float32 (N,) log1p
             pixels, state float32 (N, units)

A C++ client loops over the steps itself (cutting glimpses with the same pyramid rule), exactly as
:class:`vertexfinder.finder.VertexFinder` does; ``vertexfinder.json`` in the export folder holds
the model's configuration (glimpse geometry, pixel size, number of steps; :class:`vertexfinder.model.ModelConfig`) such a client needs.
A zero state starts a walk.
"""

from __future__ import annotations

import json
from pathlib import Path

from .io.atomic import atomic_output

__all__ = ["export_savedmodel", "FORMATS"]

FORMATS = ("savedmodel",)


def export_savedmodel(finder, output, *, overwrite: bool = False) -> Path:
    """Write ``finder``'s walker as a SavedModel folder ``output`` (atomically: temporary name, then rename)."""
    import tensorflow as tf

    output = Path(output)
    model = finder.model
    k, (gw, gd) = model.num_levels, model.glimpse_size
    signature = [
        tf.TensorSpec([None, k, gw, gd], tf.uint8, name="glimpses"),
        tf.TensorSpec([None, model.num_features], tf.float32, name="features"),
        tf.TensorSpec([None, model.recurrent_units], tf.float32, name="state"),
    ]

    class WalkerStep(tf.Module):
        def __init__(self, walker):
            super().__init__()
            self.walker = walker

        @tf.function(input_signature=signature)
        def step(self, glimpses, features, state):
            out, new_state = self.walker.step(glimpses, features, state)
            return {"step": out["step"], "kind": out["kind"], "distance": out["distance"], "state": new_state}

    module = WalkerStep(model)
    with atomic_output(output, overwrite=overwrite) as tmp:
        tf.saved_model.save(module, str(tmp), signatures={"serving_default": module.step})
        (tmp / "vertexfinder.json").write_text(json.dumps(finder.model_config.to_dict(), indent=1))
    return output
