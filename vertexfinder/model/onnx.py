"""The finder's networks as ONNX models, run with onnxruntime (no TensorFlow, no Keras).

An ONNX model folder (``vertexfinder export --format onnx``, and the bundled model) holds one
``.onnx`` file per network, ``onnx.json`` (what each file is: its network, inputs, outputs and
the attributes the finder reads, and the SHA-256 of the ``.keras`` archive it was exported from)
and the JSON descriptions the finder reads beside the networks (``config.json``, ``refiner.json``,
the scores). Every network takes what the finder cuts (bytes) and returns what its Keras
counterpart returns:

==================  ==========================================================  ==========================
network             inputs                                                      outputs
==================  ==========================================================  ==========================
walker              glimpses uint8 (N, K, Gw, Gd), features float32 (N, F),      step (N, 2), kind (N, 4),
                    state_in float32 (N, units): one step of N walks             distance (N,), state_out
refiner,            glimpses uint8 (N, K, Gw, Gd), features float32 (N, F)       offset (N, 2), kind (N, C),
secondary_refiner                                                                primary (N,)
proposer            image uint8 (1, H, W), H and W multiples of 32               score, offset, kind: (1,
                                                                                 H/2, W/2, ...)
tagger              glimpses uint8 (N, views, K, Gw, Gd)                         logit (N,)
==================  ==========================================================  ==========================

:class:`OnnxNetwork` wraps one with the NumPy-in, NumPy-out call the finder's stages use (the same
as ``models.step_function`` and the others give for a Keras network).

Importing this module imports nothing beyond NumPy; loading a network imports onnxruntime.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ModelFileError

__all__ = ["NETWORKS", "MANIFEST", "OnnxNetwork", "read_manifest", "onnx_folder", "load_onnx_networks",
           "onnxruntime_available", "sha256", "FINDER_FILES"]

#: network name -> the Keras archive it is exported from (the ONNX file is ``{name}.onnx``)
NETWORKS = {"walker": "walker.keras", "refiner": "refiner.keras", "secondary_refiner": "secondary_refiner.keras",
            "proposer": "proposer.keras", "tagger": "tagger.keras"}
#: the manifest of an ONNX model folder
MANIFEST = "onnx.json"
#: the JSON descriptions beside the networks that the finder reads
FINDER_FILES = ("config.json", "refiner.json", "secondary_refiner.json", "proposer.json", "tagger.json",
                "scorer.json", "scorer_surface.json", "vertex_scorer.json")
_FORMAT = "vertexfinder-onnx"
_PROPOSER_PAD = 32  # as models.proposal_function: the image padded to multiples of 32


def onnxruntime_available() -> bool:
    """Whether onnxruntime can be imported (found without importing it)."""
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def sha256(path) -> str:
    """The SHA-256 of a file (hex), remembered for the file's size and modification time."""
    st = Path(path).stat()
    return _sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def onnx_folder(path) -> Path:
    """The ONNX model folder of ``path``: the folder itself, the folder of a ``.onnx`` or
    ``onnx.json`` file, or for None the bundled model's folder.

    Raises:
        FileNotFoundError: no such file or folder, or no ``onnx.json`` in it (the message says how
            to export one).
    """
    from .config import default_model_path

    p = default_model_path() if path is None else Path(path)
    if p.is_file():
        p = p.parent
    if not p.is_dir():
        raise FileNotFoundError(f"{p}: no such model file or folder")
    if not (p / MANIFEST).is_file():
        raise FileNotFoundError(f"{p}: no ONNX models ({MANIFEST} missing); write them with "
                                f"`vertexfinder export --format onnx --model {p} OUT/`")
    return p


def read_manifest(folder, *, check_sources: bool = True) -> dict:
    """The manifest (``onnx.json``) of an ONNX model folder, checked: every network's file is there
    with the SHA-256 the manifest gives and, with ``check_sources``, every ``.keras`` archive still
    beside it is the one the network was exported from (else the ONNX files are out of date).

    Raises:
        ConfigError: the manifest cannot be read or is not a vertexfinder ONNX manifest.
        ModelFileError: a network file is missing, damaged, or older than its ``.keras`` archive.
    """
    folder = Path(folder)
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the ONNX manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT or not isinstance(
            manifest.get("networks"), dict):
        raise ConfigError(f"{path}: not a vertexfinder ONNX manifest (format {manifest.get('format')!r})"
                          if isinstance(manifest, dict) else f"{path}: not a vertexfinder ONNX manifest")
    if "walker" not in manifest["networks"]:
        raise ConfigError(f"{path}: names no walker network")
    for name, entry in manifest["networks"].items():
        if name not in NETWORKS:
            raise ConfigError(f"{path}: unknown network {name!r} (known: {', '.join(NETWORKS)})")
        file = folder / entry["file"]
        if not file.is_file():
            raise ModelFileError(f"{file}: missing (the {name} network {MANIFEST} lists)")
        if sha256(file) != entry["sha256"]:
            raise ModelFileError(f"{file}: damaged or replaced (its SHA-256 is not the one {MANIFEST} gives)")
        source = folder / NETWORKS[name]
        if check_sources and source.is_file() and sha256(source) != entry["source_sha256"]:
            raise ModelFileError(f"{file}: out of date, {source.name} changed since it was exported; export "
                                 f"again (`vertexfinder export --format onnx --model {folder} OUT/`) and copy "
                                 f"OUT/*.onnx and OUT/{MANIFEST} into {folder}")
    return manifest


def load_onnx_networks(folder, *, threads: int | None = None) -> dict:
    """{name: OnnxNetwork} of every network in an ONNX model folder (:func:`read_manifest`).

    ``threads``: onnxruntime's threads within an operation (None: one per core the process may
    run on)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    return {name: OnnxNetwork(folder / entry["file"], name, entry, threads=threads)
            for name, entry in manifest["networks"].items()}


def _cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class OnnxNetwork:
    """One network in an ONNX file, run with onnxruntime on the CPU.

    Args:
        path: the ``.onnx`` file; name: which network (:data:`NETWORKS`); entry: its manifest entry
            (``attributes`` become attributes of this object: ``num_features``, ``num_levels``,
            ``glimpse_size``, ...); threads: onnxruntime's intra-op threads (None: one per core this
            process may run on, its CPU affinity: a batch job given one core of a large node runs
            one thread).
    """

    backend = "onnxruntime"

    def __init__(self, path, name: str, entry: dict, *, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            from ..errors import MissingDependencyError

            raise MissingDependencyError(f"the ONNX backend needs onnxruntime ({exc}): pip install onnxruntime, "
                                         "or load the finder with backend='keras'") from None

        self.path, self.name = Path(path), name
        for key, value in entry.get("attributes", {}).items():
            setattr(self, key, tuple(value) if isinstance(value, list) else value)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or _cores())
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own kinds for a damaged or foreign file
            raise ModelFileError(f"{path}: onnxruntime cannot load the {name} ({str(exc).splitlines()[0]})") from None
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]

    def __repr__(self) -> str:
        return f"OnnxNetwork({self.name!r}, {str(self.path)!r})"

    def run(self, **inputs) -> dict:
        """{output name: array} for the named inputs."""
        return dict(zip(self.outputs, self.session.run(None, inputs)))

    def function(self):
        """The NumPy-in, NumPy-out call the finder's stages use for this network (see the module)."""
        return getattr(self, f"_{'refiner' if self.name == 'secondary_refiner' else self.name}_function")()

    def _walker_function(self):
        units = int(self.recurrent_units)

        def fn(glimpses, features, state):
            if state is None:
                state = np.zeros((len(glimpses), units), np.float32)
            out = self.run(glimpses=np.ascontiguousarray(glimpses, np.uint8),
                           features=np.ascontiguousarray(features, np.float32), state_in=state)
            return out, out.pop("state_out")

        return fn

    def _refiner_function(self):
        def fn(glimpses, features):
            return self.run(glimpses=np.ascontiguousarray(glimpses, np.uint8),
                            features=np.ascontiguousarray(features, np.float32))

        return fn

    def _proposer_function(self):
        def fn(image):
            h, w = image.shape
            padded = np.pad(np.asarray(image, np.uint8), ((0, -h % _PROPOSER_PAD), (0, -w % _PROPOSER_PAD)))
            out = self.run(image=padded[None])
            return {k: v[0, : -(-h // 2), : -(-w // 2)] for k, v in out.items()}

        return fn

    def _tagger_function(self):
        def fn(glimpses):
            if len(glimpses) == 0:
                return np.zeros(0)
            logits = self.run(glimpses=np.ascontiguousarray(glimpses, np.uint8))["logit"]
            return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))

        return fn

