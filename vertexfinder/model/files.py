"""Model files: checked before Keras reads them, loaded with one clear error.

A model is a ``.keras`` archive (a zip holding the model's ``config.json``, ``metadata.json`` and
``model.weights.h5``) with the run's ``config.json`` beside it (:class:`ModelConfig`), and optionally
a refiner beside it (``refiner.keras`` and ``refiner.json``). Keras raises a dozen kinds of
exceptions for a damaged or foreign archive (BadZipFile, EOFError, KeyError, TypeError, h5py's
OSError, TensorFlow's errors, ...) and builds whatever layer sizes an archive declares; a
``config.json`` that does not describe the archive's model fails only when the model is first called,
with a TensorFlow traceback. Here, before Keras reads anything:

* the archive is checked: a zip with the members Keras needs, each within a size limit, every
  member's CRC right, the model's own configuration a JSON object naming a walker (or a refiner)
  whose sizes are within the limits of :class:`ModelConfig`;
* the run's ``config.json`` is read and compared with the archive's model (glimpse geometry and
  layers);

and whatever Keras raises while loading becomes a :class:`~vertexfinder.errors.ModelFileError`
naming the file. Checking imports nothing heavy; loading imports Keras.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

from ..errors import ConfigError, ModelFileError
from ..text import first_line, shown
from .config import ModelConfig, resolve_model
from .options import check_values
from .refiner import RefineConfig, refine_spec

__all__ = ["check_keras_archive", "load_keras_model", "load_model_folder", "MAX_WEIGHTS_BYTES"]

#: Largest ``model.weights.h5`` accepted (the bundled walker's is 0.85 MB).
MAX_WEIGHTS_BYTES = 2 << 30
_MAX_JSON_BYTES = 1 << 20
_MAX_MEMBERS = 64
_KINDS = {"model": "Walker", "walker": "Walker", "refiner": "Refiner", "proposer": "Proposer",
          "tagger": "NeutrinoTagger"}
#: The walker's fields its ModelConfig describes (the rest of ModelConfig is not in the archive).
WALKER_FIELDS = ("num_levels", "glimpse_size", "filters", "encoder_units", "recurrent_units", "max_step",
                 "stem_strides", "coord_channels", "shared_levels")
_REFINER_LIMITS = {"num_levels": (1, 12), "glimpse_size": (2, 512), "filters": (1, 1024), "units": (1, 8192),
                   "stem_strides": (1, 8), "radius": (1e-3, 1e4)}


def _bad(path, what: str) -> ModelFileError:
    return ModelFileError(f"{path}: {what}")


def _check_layer_sizes(path, cls: str, cfg: dict) -> None:
    """The sizes a Walker/Refiner archive declares, within limits (before Keras allocates them)."""
    def number(name, lo, hi, *, integer=True):
        v = cfg.get(name)
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok or not lo <= v <= hi:
            raise _bad(path, f"the {cls.lower()}'s {name} must be {'an integer' if integer else 'a number'} in "
                             f"[{lo}, {hi}]; Received: {name}={shown(v)}")

    def integers(what, name, hi, longest):
        v = cfg.get(name)
        if not isinstance(v, list) or not 1 <= len(v) <= longest or not all(
                isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= hi for x in v):
            raise _bad(path, f"the {what}'s {name} must be a list of integers in [1, {hi}]; Received: {name}={shown(v)}")

    if cls == "Proposer":
        number("num_classes", 1, 64)
        integers("proposer", "filters", 512, 12)
        integers("proposer", "dilations", 64, 12)
        return
    if cls == "NeutrinoTagger":
        number("num_views", 1, 16)
        number("num_levels", 1, 12)
        number("units", 1, 4096)
        number("dropout", 0.0, 1.0, integer=False)
        integers("neutrino tagger", "filters", 1024, 8)
        integers("neutrino tagger", "glimpse_size", 512, 8)
        return
    number("num_features", 1, 1000)
    number("num_classes", 1, 64)
    if cls == "Walker":
        try:
            ModelConfig.from_dict({k: cfg[k] for k in WALKER_FIELDS if k in cfg}, strict=False)
        except (ValueError, TypeError) as exc:
            raise _bad(path, f"the walker's configuration is out of range: {exc}") from None
        missing = [k for k in WALKER_FIELDS if k not in cfg]
        if missing:
            raise _bad(path, f"the walker's configuration lacks {missing}")
        return
    for name, (lo, hi) in _REFINER_LIMITS.items():
        if name in ("glimpse_size", "filters"):
            v = cfg.get(name)
            if not isinstance(v, list) or not 1 <= len(v) <= 8 or not all(
                    isinstance(x, int) and not isinstance(x, bool) and lo <= x <= hi for x in v):
                raise _bad(path, f"the refiner's {name} must be a list of integers in [{lo}, {hi}]; "
                                 f"Received: {name}={shown(v)}")
        else:
            number(name, lo, hi, integer=name != "radius")


def check_keras_archive(path, what: str = "model") -> dict:
    """Check a ``.keras`` archive of a walker (``what`` "model" or "walker") or a refiner without
    loading it; returns the model's own configuration (the ``config`` of its ``config.json``).

    Raises:
        ModelFileError: not a zip, damaged (a CRC fails, a member is truncated), not a Keras archive,
            not a model of this kind, or layer sizes out of range. The message names the file.
    """
    path = Path(path)
    cls = _KINDS[what]
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > _MAX_MEMBERS:
                raise _bad(path, f"not a Keras model archive ({len(infos)} members)")
            sizes = {i.filename: i.file_size for i in infos}
            missing = [m for m in ("config.json", "model.weights.h5") if m not in sizes]
            if missing:
                raise _bad(path, f"not a Keras model archive (no {' or '.join(missing)} in it)")
            if sizes["config.json"] > _MAX_JSON_BYTES or sizes.get("metadata.json", 0) > _MAX_JSON_BYTES:
                raise _bad(path, "not a Keras model archive (its config.json is larger than 1 MB)")
            if sizes["model.weights.h5"] > MAX_WEIGHTS_BYTES:
                raise _bad(path, f"its weights are {sizes['model.weights.h5']} bytes, more than {MAX_WEIGHTS_BYTES}")
            damaged = zf.testzip()  # reads every member, checks its CRC
            if damaged is not None:
                raise _bad(path, f"damaged: the member {damaged} fails its checksum")
            raw = zf.read("config.json")
    except ModelFileError:
        raise
    except IsADirectoryError:
        raise _bad(path, "a folder, not a .keras file") from None
    except OSError as exc:
        raise _bad(path, f"cannot read the {what}: {exc.strerror or first_line(exc)}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        # not a zip, truncated, a member compressed with an unknown method or encrypted
        raise _bad(path, f"not a readable .keras file ({first_line(exc)})") from None
    try:
        top = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _bad(path, f"damaged: its config.json is not JSON ({first_line(exc)})") from None
    if not isinstance(top, dict) or not isinstance(top.get("config"), dict):
        raise _bad(path, "not a Keras model archive (its config.json holds no model configuration)")
    name = top.get("registered_name") or top.get("class_name")
    if name not in (f"vertexfinder>{cls}", cls):
        raise _bad(path, f"holds a {shown(name, 60)}, not a vertexfinder {cls.lower()}")
    _check_layer_sizes(path, cls, top["config"])
    return top["config"]


def import_keras():
    """(keras, models): Keras, and the package of the networks (which registers their classes for
    deserialisation).

    Raises:
        MissingDependencyError: TensorFlow or Keras is not installed.
    """
    try:
        import keras

        import models
    except ImportError as exc:
        from ..errors import MissingDependencyError

        raise MissingDependencyError(f"TensorFlow and Keras are not installed ({exc}); training, the Keras backend "
                                     "and the export need them: pip install 'vertexfinder[train]' (finding "
                                     "vertices does not: --backend onnxruntime)") from None
    return keras, models


def load_keras_model(path, what: str = "model"):
    """The walker (``what`` "model"/"walker") or refiner in a ``.keras`` file, loaded with Keras'
    safe mode after :func:`check_keras_archive`.

    Raises:
        ModelFileError: the archive fails its checks, or Keras cannot load it (the message names the file).
    """
    check_keras_archive(path, what)
    keras, models = import_keras()

    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras, h5py and TensorFlow raise many kinds for a damaged archive
        raise _bad(path, f"cannot load the {what} ({first_line(exc)})") from None
    cls = getattr(models, _KINDS[what])
    if not isinstance(model, cls):
        raise _bad(path, f"holds a {type(model).__name__}, not a vertexfinder {_KINDS[what].lower()}")
    return model


def _compare(model_file, cfg_file, archive: dict, config: ModelConfig) -> None:
    """The run's config.json must describe the archive's walker."""
    diff = []
    for name in WALKER_FIELDS:
        mine = getattr(config, name)
        theirs = archive[name]
        theirs = tuple(theirs) if isinstance(theirs, list) else theirs
        if name == "max_step":
            mine, theirs = float(mine), float(theirs)
        if mine != theirs:
            diff.append(f"{name} {shown(mine, 30)} vs {shown(theirs, 30)}")
    if not diff and archive["num_features"] - 1 - 2 * config.num_levels < 1:  # features: planes, task, 2 per level
        diff.append(f"{config.num_levels} levels vs num_features {archive['num_features']}")
    if diff:
        raise ConfigError(f"{cfg_file} does not describe the model in {model_file.name} ({'; '.join(diff)}; "
                          "config.json vs the model): the configuration of another run?")


def load_model_folder(path=None):
    """(walker, ModelConfig, refiner or None, RefineConfig or None) of a model file or folder.

    ``path``: a ``.keras`` file, a model or run folder (:func:`vertexfinder.model.resolve_model`),
    or None for the bundled model. A refiner is loaded when ``refiner.keras`` and ``refiner.json``
    are both beside the walker.

    Raises:
        FileNotFoundError: no model file, or no config.json beside it.
        ConfigError: config.json (or refiner.json) cannot be read, holds bad values, or does not
            describe the model in the archive.
        ModelFileError: an archive is damaged, foreign, or cannot be loaded.
    """
    model_file, cfg_file = resolve_model(path)
    model_config = ModelConfig.read(cfg_file)
    archive = check_keras_archive(model_file, "walker")
    _compare(model_file, cfg_file, archive, model_config)
    refiner_config = _check_refiner(model_file.parent, "refiner")
    model = load_keras_model(model_file, "walker")
    refiner = None if refiner_config is None else load_keras_model(model_file.parent / "refiner.keras", "refiner")
    return model, model_config, refiner, refiner_config


def _check_refiner(folder: Path, stem: str):
    """The RefineConfig of ``stem.keras`` with ``stem.json`` in ``folder`` (a refiner-shaped
    network), checked against the archive; None when either file is missing."""
    ref_file, ref_cfg = folder / f"{stem}.keras", folder / f"{stem}.json"
    if not (ref_file.is_file() and ref_cfg.is_file()):
        return None
    refiner_config = read_refine_config(ref_cfg)
    ref_archive = check_keras_archive(ref_file, "refiner")
    for name in ("num_levels", "glimpse_size"):
        mine, theirs = getattr(refiner_config, name), ref_archive[name]
        if (tuple(theirs) if isinstance(theirs, list) else theirs) != mine:
            raise ConfigError(f"{ref_cfg} does not describe the refiner in {ref_file.name} ({name} "
                              f"{shown(mine, 30)} vs {shown(theirs, 30)})")
    return refiner_config


def load_secondary_refiner(folder):
    """(network, RefineConfig) of a class look network beside a walker (``secondary_refiner.keras`` and
    ``secondary_refiner.json``: a refiner trained for its class head), or (None, None) without one.

    Raises:
        ConfigError, ModelFileError: as :func:`load_model_folder` for a refiner.
    """
    folder = Path(folder)
    config = _check_refiner(folder, "secondary_refiner")
    return (None, None) if config is None else (load_keras_model(folder / "secondary_refiner.keras", "refiner"), config)


def read_refine_config(path):
    """The RefineConfig of a refiner.json, with the values the finder uses checked."""
    config = RefineConfig.read(path)
    try:
        check_values(config, {**_REFINER_LIMITS, "cm_per_pixel": (0.05, 20.0), "scale": (1, 16)},
                     {"glimpse_size": (int, (2, 2)), "scale": (int, (2, 2)), "filters": (int, (1, 8)),
                      "sigmas": (float, (1, 8)), "loss_weights": (float, (3, 3))})
        refine_spec(config)  # the glimpse geometry the finder cuts with it
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return config
