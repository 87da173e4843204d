"""What a trained walker is: its glimpse geometry, working pixel, steps and layers.

:class:`ModelConfig` is everything the finder, the export and a C++ client need to use a model:
nothing about how it was optimised. Training extends it
(:class:`vertexfinder.training.TrainConfig` is a ModelConfig with the optimisation settings), and
a training run's ``config.json`` (the whole TrainConfig) is read here by picking the model's
fields, so the finder never imports the training code. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from generators.glimpses import PYRAMID_POOLINGS
from generators.walks import CLASS_NAMES

from ..errors import ConfigError
from ..text import shown
from .options import check_values, read_json_object

__all__ = ["ModelConfig", "default_model_path", "resolve_model", "MODEL_FILES", "LEGACY_KEYS"]

#: Model files looked for in a folder, in this order (the bundled model, then a run's).
MODEL_FILES = ("walker.keras", "final.keras", "best.keras", "last.keras")

#: Keys of configurations written before a rename, and their names now.
LEGACY_KEYS = {"pooling": "pyramid_pooling"}


def default_model_path() -> Path:
    """Folder of the bundled default model (``models/default``), found without importing ``models``:
    the ``models`` package installed beside ``vertexfinder`` (another package named ``models``
    earlier on ``sys.path``, as onnxruntime's transformer tools put there, is not it), else the
    first ``models`` package Python finds."""
    import importlib.util

    beside = Path(__file__).resolve().parents[2] / "models"
    if (beside / "__init__.py").is_file() and (beside / "default").is_dir():
        return beside / "default"
    spec = importlib.util.find_spec("models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the package 'models' (the bundled default model) is not installed")
    return Path(next(iter(spec.submodule_search_locations))).resolve() / "default"


def resolve_model(path) -> tuple[Path, Path]:
    """(model file, its config.json) of a ``.keras`` file, a model or run folder, or None (the bundled model).

    Raises:
        FileNotFoundError: no such file or folder, no model file in the folder, or no config.json beside it.
    """
    p = default_model_path() if path is None else Path(path)
    if p.is_dir():
        model_file = next((p / n for n in MODEL_FILES if (p / n).is_file()), None)
        if model_file is None:
            raise FileNotFoundError(f"{p}: no model file (looked for {', '.join(MODEL_FILES)})")
    elif p.is_file():
        model_file = p
    else:
        raise FileNotFoundError(f"{p}: no such model file or folder")
    cfg_file = model_file.parent / "config.json"
    if not cfg_file.is_file():
        raise FileNotFoundError(f"{cfg_file}: missing (the configuration the model needs)")
    return model_file, cfg_file


def _renamed(data: dict) -> dict:
    data = dict(data)
    for old, new in LEGACY_KEYS.items():
        if old in data:
            if new in data:
                raise ValueError(f"{old!r} is the old name of {new!r}; give only {new!r}")
            data[new] = data.pop(old)
    return data


@dataclass(frozen=True)
class ModelConfig:
    """The walker's description (plain values; round-trips through JSON/TOML).

    Attributes:
        cm_per_pixel: the working pixel; every image is resampled to it.
        num_levels, glimpse_size, scale, pyramid_pooling: the glimpse stack
            (:class:`generators.GlimpseSpec`): K levels of ``glimpse_size`` pixels, level k pooling
            ``scale ** k`` image pixels with ``pyramid_pooling`` ("max" or "mean").
        num_steps: steps per walk; max_step: the step limit (pixels; the step head is
            ``max_step * tanh(.)``).
        filters, encoder_units, recurrent_units, stem_strides, coord_channels, shared_levels: the
            layers of :class:`models.Walker`.
    """

    cm_per_pixel: float = 0.48
    num_levels: int = 5
    glimpse_size: tuple = (32, 32)
    scale: tuple = (2, 2)
    pyramid_pooling: str = "max"
    num_steps: int = 8
    max_step: float = 64.0
    filters: tuple = (32, 48, 64, 96)
    encoder_units: int = 128
    recurrent_units: int = 128
    stem_strides: int = 1
    coord_channels: bool = False
    shared_levels: bool = False

    def __post_init__(self):
        check_values(self, self._limits, self._sequences)
        if self.pyramid_pooling not in PYRAMID_POOLINGS:
            raise ValueError(f"pyramid_pooling must be one of {PYRAMID_POOLINGS}; "
                             f"Received: pyramid_pooling={shown(self.pyramid_pooling)}")

    #: Class names of the class head, in the order of its outputs.
    classes = CLASS_NAMES
    _options = "model"  # what the options are called in messages
    #: Inclusive range of each number (of each element of a list); values outside are refused before
    #: anything is built from them (a 10^6-wide glimpse would allocate terabytes).
    _limits = {
        "cm_per_pixel": (0.05, 20.0), "num_levels": (1, 12), "glimpse_size": (2, 512), "scale": (1, 16),
        "num_steps": (1, 1000), "max_step": (1e-3, 1e4), "filters": (1, 1024), "encoder_units": (1, 8192),
        "recurrent_units": (1, 8192), "stem_strides": (1, 8),
    }
    #: List-valued fields: (element type, allowed lengths).
    _sequences = {"glimpse_size": (int, (2, 2)), "scale": (int, (2, 2)), "filters": (int, (1, 8))}

    @classmethod
    def model_fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(ModelConfig))

    def model_config(self) -> "ModelConfig":
        """The model's description alone (a TrainConfig drops its optimisation settings)."""
        return ModelConfig(**{name: getattr(self, name) for name in self.model_fields()})

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict, *, strict: bool = True, source=None):
        """A config from plain data; old key names (``LEGACY_KEYS``) are read too.

        ``strict=False`` ignores keys that are not fields (a training run's config read as a model's).
        ``source`` (a file, or a description like ``--set``) prefixes the messages of errors, which are
        then :class:`~vertexfinder.errors.ConfigError` (a ValueError) rather than ValueError.
        """
        try:
            if not isinstance(data, dict):
                raise ValueError(f"expected a table of options; Received: {type(data).__name__}")
            data = _renamed(data)
            names = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(data) - names, key=str)
            if unknown and strict:
                raise ValueError(f"unknown {cls._options} options {shown(unknown, 200)}; valid options: {sorted(names)}")
            return cls(**{k: v for k, v in data.items() if k in names})
        except (ValueError, TypeError, OverflowError) as exc:
            if source is None:
                raise
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def read(cls, path: str | Path) -> "ModelConfig":
        """The model description in a JSON file (a run's ``config.json``, an export's ``vertexfinder.json``).

        Raises:
            ConfigError: the file cannot be read, is not a JSON object, or holds a bad value (the
                message names the file).
        """
        return ModelConfig.from_dict(read_json_object(path, "the model configuration"), strict=False,
                                     source=path)

    def glimpse_spec(self):
        from generators.glimpses import GlimpseSpec

        return GlimpseSpec(num_levels=self.num_levels, glimpse_size=self.glimpse_size, scale=self.scale,
                           pyramid_pooling=self.pyramid_pooling)

    def num_features(self, n_planes: int = 3) -> int:
        from generators.features import num_walk_features

        return num_walk_features(n_planes, self.glimpse_spec())

    def build_walker(self, n_planes: int = 3):
        """An untrained :class:`models.Walker` of this description (imports Keras)."""
        from models import Walker

        return Walker(num_levels=self.num_levels, glimpse_size=self.glimpse_size,
                      num_features=self.num_features(n_planes), filters=self.filters,
                      encoder_units=self.encoder_units, recurrent_units=self.recurrent_units,
                      max_step=self.max_step, stem_strides=self.stem_strides, coord_channels=self.coord_channels,
                      shared_levels=self.shared_levels)
