"""Export the finder's networks for use outside Python.

Three formats (``vertexfinder export --format ...``):

``savedmodel``
    The walker step as a TensorFlow SavedModel, one signature ``serving_default`` = one step for
    a batch of walks::

        inputs:  glimpses uint8 (N, K, Gw, Gd), features float32 (N, F), state float32 (N, units)
        outputs: step float32 (N, 2) pixels, kind float32 (N, 4) logits, distance float32 (N,) log1p
                 pixels, state float32 (N, units)

    A C++ client loops over the steps itself (cutting glimpses with the same pyramid rule), exactly
    as :class:`vertexfinder.finder.VertexFinder` does; ``vertexfinder.json`` in the export folder
    holds the model's configuration (glimpse geometry, pixel size, number of steps;
    :class:`vertexfinder.model.ModelConfig`). A zero state starts a walk.
``onnx``
    Every network the finder uses (walker step, refiner, secondary refiner, proposer, neutrino
    tagger) as an ONNX model (tf2onnx), with ``onnx.json`` (the manifest:
    :mod:`vertexfinder.model.onnx`) and every JSON description the finder reads (the glimpse
    geometry, the candidate and vertex scores). ``VertexFinder.load(folder,
    backend="onnxruntime")`` finds vertices with it, without TensorFlow.
``triton``
    A Triton Inference Server model repository: each ONNX model in ``NAME/1/model.onnx`` with its
    ``NAME/config.pbtxt`` (onnxruntime backend, dynamic batching over the first dimension), and the
    ONNX folder's JSON files in ``vertexfinder/`` for the client, which runs the rest of the finder.
"""

from __future__ import annotations

import json
from pathlib import Path

from .io.atomic import atomic_output

__all__ = ["export_savedmodel", "export_onnx", "export_triton", "export", "FORMATS"]

FORMATS = ("savedmodel", "onnx", "triton")
#: the ONNX opset of the exported networks (onnxruntime 1.17 and later, Triton 24.01 and later)
OPSET = 17


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


def export(finder, output, fmt: str = "savedmodel", *, overwrite: bool = False) -> Path:
    """Write ``finder``'s networks to ``output`` in format ``fmt`` (:data:`FORMATS`)."""
    writers = {"savedmodel": export_savedmodel, "onnx": export_onnx, "triton": export_triton}
    if fmt not in writers:
        raise ValueError(f"format must be one of {FORMATS}; Received: format={fmt!r}")
    return writers[fmt](finder, output, overwrite=overwrite)


def _keras_networks(finder) -> dict:
    """{name: Keras network} of a finder loaded with the Keras backend."""
    if getattr(finder, "backend", "keras") != "keras":
        raise ValueError("the export reads the Keras networks: load the finder with backend='keras'")
    nets = {"walker": finder.model, "refiner": finder.refiner, "secondary_refiner": finder.secondary_refiner,
            "proposer": finder.proposer, "tagger": finder.tagger}
    return {name: net for name, net in nets.items() if net is not None}


def _signature(name: str, net) -> tuple[list, dict]:
    """(input TensorSpecs, the manifest attributes) of a network's ONNX graph."""
    import tensorflow as tf

    if name == "proposer":
        return [tf.TensorSpec([None, None, None], tf.uint8, name="image")], {"num_classes": net.num_classes}
    k, (gw, gd) = net.num_levels, tuple(net.glimpse_size)
    if name == "tagger":
        return ([tf.TensorSpec([None, net.num_views, k, gw, gd], tf.uint8, name="glimpses")],
                {"num_views": net.num_views, "num_levels": k, "glimpse_size": [gw, gd]})
    specs = [tf.TensorSpec([None, k, gw, gd], tf.uint8, name="glimpses"),
             tf.TensorSpec([None, net.num_features], tf.float32, name="features")]
    attributes = {"num_levels": k, "glimpse_size": [gw, gd], "num_features": net.num_features,
                  "num_classes": net.num_classes}
    if name == "walker":
        specs.append(tf.TensorSpec([None, net.recurrent_units], tf.float32, name="state_in"))
        attributes["recurrent_units"] = net.recurrent_units
    return specs, attributes


def _graph_function(name: str, net, specs):
    """The tf.function of a network's ONNX graph: bytes in, the Keras network's outputs out."""
    import math

    import tensorflow as tf

    if name == "walker":
        def call(glimpses, features, state_in):
            out, state = net.step(glimpses, features, state_in)
            return {**out, "state_out": state}
    elif name == "proposer":
        def call(image):
            return _proposer_forward(net, image)
    elif name == "tagger":
        def call(glimpses):  # models.tagger_inputs in the graph: log-scaled to 0..1, levels last
            x = tf.math.log(tf.cast(glimpses, tf.float32) + 1.0) / math.log(256.0)  # ONNX has no Log1p
            return {"logit": net(tf.transpose(x, [0, 1, 3, 4, 2]), training=False)}
    else:
        def call(glimpses, features):
            return net({"glimpses": glimpses, "features": features}, training=False)
    return tf.function(call, input_signature=specs)


def _proposer_forward(net, image):
    """:meth:`models.Proposer.call` with each convolution a single ``tf.nn.conv2d`` (dilations as
    the op's own attribute): Keras runs a dilated convolution as space-to-batch, convolution,
    batch-to-space, which tf2onnx keeps as six ONNX operations per layer; ONNX's Conv has
    dilations, and onnxruntime runs it 2-3x faster. The test of the export checks the outputs
    against the Keras network."""
    import tensorflow as tf

    def conv(layer, x):
        padding = layer.padding.upper()
        if padding == "SAME" and tuple(layer.strides) == (1, 1):  # explicit pads: onnxruntime's dilated
            pads = [[0, 0]]                                         # Conv takes no SAME auto-padding
            for k, d in zip(layer.kernel_size, layer.dilation_rate):
                total = d * (k - 1)
                pads.append([total // 2, total - total // 2])
            padding = pads + [[0, 0]]
        y = tf.nn.conv2d(x, layer.kernel, strides=layer.strides, padding=padding, dilations=layer.dilation_rate)
        return layer.activation(tf.nn.bias_add(y, layer.bias))

    x = tf.expand_dims(tf.cast(image, tf.float32) / 64.0, -1)
    x = conv(net.stem, x)
    skip = x
    for layer in net.body:
        x = conv(layer, x)
        if x.shape[-1] == skip.shape[-1]:
            x = x + skip
        skip = x
    return {"score": tf.squeeze(conv(net.score_head, x), -1), "offset": tf.sigmoid(conv(net.offset_head, x)),
            "kind": conv(net.kind_head, x)}


def _write_onnx(finder, folder: Path) -> dict:
    """Write every network of ``finder`` as ``NAME.onnx`` into ``folder``, with ``onnx.json`` and the
    JSON descriptions beside the source model; returns the manifest."""
    import shutil

    import keras
    import onnx
    import tf2onnx

    from .model.onnx import FINDER_FILES, MANIFEST, NETWORKS, sha256

    source = getattr(finder, "folder", None)  # where its .keras archives are (None: a finder built in memory)
    networks = {}
    for name, net in _keras_networks(finder).items():
        specs, attributes = _signature(name, net)
        file = folder / f"{name}.onnx"
        tf2onnx.convert.from_function(_graph_function(name, net, specs), input_signature=specs, opset=OPSET,
                                      output_path=str(file))
        model = onnx.load(str(file))
        onnx.checker.check_model(model, full_check=True)
        if any(node.domain not in ("", "ai.onnx") for node in model.graph.node):
            raise ValueError(f"{name}: the ONNX graph holds operations outside the standard set "
                             f"({sorted({n.op_type for n in model.graph.node if n.domain not in ('', 'ai.onnx')})})")
        archive = None if source is None else Path(source) / NETWORKS[name]
        networks[name] = {
            "file": file.name, "sha256": sha256(file), "attributes": attributes,
            "source": NETWORKS[name], "source_sha256": sha256(archive) if archive and archive.is_file() else None,
            "inputs": [_io(v) for v in model.graph.input], "outputs": [_io(v) for v in model.graph.output],
        }
    for name in FINDER_FILES if source is not None else ():
        if (Path(source) / name).is_file():
            shutil.copyfile(Path(source) / name, folder / name)
    manifest = {"format": "vertexfinder-onnx", "version": 1, "opset": OPSET, "keras": keras.__version__,
                "tf2onnx": tf2onnx.__version__, "networks": networks}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _io(value) -> dict:
    """name, dtype and shape (None for a free dimension) of an ONNX graph input or output."""
    import onnx

    t = value.type.tensor_type
    return {"name": value.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name,
            "shape": [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]}


def export_onnx(finder, output, *, overwrite: bool = False) -> Path:
    """Write ``finder``'s networks as an ONNX model folder ``output`` (atomically), loadable with
    ``VertexFinder.load(output, backend="onnxruntime")``."""
    output = Path(output)
    with atomic_output(output, overwrite=overwrite) as tmp:
        tmp.mkdir(parents=True, exist_ok=True)
        _write_onnx(finder, tmp)
    return output


#: ONNX element types as Triton's model configuration names them
_TRITON_TYPES = {"uint8": "TYPE_UINT8", "float32": "TYPE_FP32", "int64": "TYPE_INT64", "int32": "TYPE_INT32"}
#: the most rows a Triton model takes per request (walks, points or candidates of a batch of events)
TRITON_MAX_BATCH = 65536


def triton_config(name: str, entry: dict) -> str:
    """A network's ``config.pbtxt`` (Triton's ModelConfig in protobuf text format): onnxruntime
    backend, the first dimension the batch (the proposer's images are not batched together:
    their sizes differ), the other dimensions as exported (-1 free)."""
    batched = name != "proposer"
    lines = [f'name: "{name}"', 'backend: "onnxruntime"', f"max_batch_size: {TRITON_MAX_BATCH if batched else 0}"]
    for kind in ("input", "output"):
        items = []
        for io in entry[f"{kind}s"]:
            shape = io["shape"][1:] if batched else io["shape"]
            dims = ", ".join("-1" if d is None else str(d) for d in shape)
            items.append(f'  {{\n    name: "{io["name"]}"\n    data_type: {_TRITON_TYPES[io["dtype"]]}\n'
                         f"    dims: [ {dims} ]\n  }}")
        lines.append(f"{kind} [\n" + ",\n".join(items) + "\n]")
    if batched:
        lines.append("dynamic_batching { }")
    lines.append("instance_group [\n  {\n    kind: KIND_CPU\n    count: 1\n  }\n]")
    return "\n".join(lines) + "\n"


def export_triton(finder, output, *, overwrite: bool = False) -> Path:
    """Write ``finder``'s networks as a Triton model repository ``output`` (atomically):
    ``NAME/1/model.onnx`` and ``NAME/config.pbtxt`` per network (:func:`triton_config`), and the
    ONNX folder's manifest and JSON descriptions in ``vertexfinder/`` for the client (its manifest
    names the served files, so ``VertexFinder.load(REPO/vertexfinder, backend="onnxruntime")`` runs
    the same networks in the client's process)."""
    import shutil

    from .model.onnx import MANIFEST

    output = Path(output)
    with atomic_output(output, overwrite=overwrite) as tmp:
        client = tmp / "vertexfinder"
        client.mkdir(parents=True)
        manifest = _write_onnx(finder, client)
        for name, entry in manifest["networks"].items():
            (tmp / name / "1").mkdir(parents=True)
            shutil.move(client / entry["file"], tmp / name / "1" / "model.onnx")
            (tmp / name / "config.pbtxt").write_text(triton_config(name, entry))
            entry["file"] = f"../{name}/1/model.onnx"  # the client's manifest points at the served files
        (client / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return output
