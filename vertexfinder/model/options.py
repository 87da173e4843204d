"""Configuration as plain data: files read with a size limit, ``--set`` options, values checked.

The model descriptions (:class:`~vertexfinder.model.ModelConfig`,
:class:`~vertexfinder.model.RefineConfig`) and the training configurations read their JSON and TOML
files and ``key=value`` overrides here, and check their fields with :func:`check_values`. Every
error is a :class:`~vertexfinder.errors.ConfigError` (or a ValueError from the dataclass) naming the
file or the option and the value. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from ..errors import ConfigError
from ..text import shown

__all__ = ["read_config_bytes", "read_json_object", "read_toml", "parse_overrides", "check_values",
           "MAX_CONFIG_BYTES", "MAX_TOML_BYTES"]

#: Largest configuration file read (a model's config.json is about 1 kB).
MAX_CONFIG_BYTES = 1 << 20


def read_config_bytes(path, what: str, limit: int = MAX_CONFIG_BYTES) -> bytes:
    """The bytes of a configuration file of at most ``limit`` bytes; ConfigError naming the file otherwise."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(limit + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise ConfigError(f"{path}: not {what} (larger than {limit} bytes)")
    return raw


def read_json_object(path, what: str) -> dict:
    """The JSON object in ``path`` (a configuration file); ConfigError naming the file otherwise."""
    path = Path(path)
    raw = read_config_bytes(path, what)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ConfigError(f"{path}: {what} is not valid JSON ({reason})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {what} must be a JSON object; Received: {type(data).__name__}")
    return data


def _number(name: str, value, kind):
    """``value`` as an int (kind int) or a finite float (kind float); ValueError naming ``name`` otherwise."""
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer; Received: {name}={shown(value)}")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number; Received: {name}={shown(value)}")
    try:
        value = float(value)
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"{name} is out of range; Received: {name}={shown(value)}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite; Received: {name}={shown(value)}")
    return value


def check_values(obj, limits: dict, sequences: dict) -> None:
    """Check and normalise the fields of a frozen config dataclass ``obj`` in place.

    Each field must be of its annotated type (``int``, ``float``, ``bool``, ``str``, or a list for the
    fields of ``sequences``: name -> (element type, (min length, max length))); numbers must be finite
    and within ``limits`` (name -> inclusive (lo, hi), for lists each element). Lists become tuples,
    ints given for floats become floats.

    Raises:
        ValueError: naming the field and the value received.
    """
    for f in dataclasses.fields(obj):
        name, value = f.name, getattr(obj, f.name)
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        if name in sequences:
            elem, (n_lo, n_hi) = sequences[name]
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"{name} must be a list of {elem.__name__}s; Received: {name}={shown(value)}")
            value = tuple(_number(name, v, elem) for v in value)
            if not n_lo <= len(value) <= n_hi:
                size = str(n_lo) if n_lo == n_hi else f"{n_lo} to {n_hi}"
                raise ValueError(f"{name} must have {size} values; Received: {name}={shown(list(value))}")
        elif kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false; Received: {name}={shown(value)}")
        elif kind in ("int", "float"):
            value = _number(name, value, int if kind == "int" else float)
        elif kind == "str":
            if not isinstance(value, str):
                raise ValueError(f"{name} must be a string; Received: {name}={shown(value)}")
        if name in limits:
            lo, hi = limits[name]
            for v in value if isinstance(value, tuple) else (value,):
                if not lo <= v <= hi:
                    raise ValueError(f"{name} must be in [{lo}, {hi}]; Received: "
                                     f"{name}={shown(list(value) if isinstance(value, tuple) else value)}")
        object.__setattr__(obj, name, value)


#: Largest TOML configuration file read (a training or refiner configuration).
MAX_TOML_BYTES = 1 << 20


def read_toml(path, what: str) -> dict:
    """The table of a TOML file; ConfigError naming the file when it cannot be read or parsed."""
    import tomllib

    path = Path(path)
    raw = read_config_bytes(path, what, MAX_TOML_BYTES)
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # TOMLDecodeError is a ValueError
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ConfigError(f"{path}: {what} is not valid TOML ({reason})") from None


def parse_overrides(overrides) -> dict:
    """``key=value`` options (``--set``): TOML values, else bare strings.

    Raises:
        ConfigError: an item without ``=``.
    """
    import tomllib

    data = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value; Received: {shown(item)}")
        key, value = item.split("=", 1)
        try:
            data[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except (ValueError, RecursionError):  # not a TOML value: a bare string
            data[key.strip()] = value.strip()
    return data


class ConfigFile:
    """What a run's configuration dataclass (frozen, plain values) does with its file: ``to_dict``,
    ``from_dict``, ``from_toml`` (a TOML file and ``key=value`` overrides) and ``read`` (the JSON a
    run folder records); ``WHAT`` names it in messages ("refiner", "proposer")."""

    WHAT = "run"

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown {cls.WHAT} options {unknown}; valid options: {sorted(names)}")
        return cls(**data)

    @classmethod
    def from_toml(cls, path, overrides=()):
        """The configuration of a TOML file (optional) and ``key=value`` overrides (TOML values).

        Raises:
            ConfigError: naming the file (or the overrides) and the problem.
        """
        data = read_toml(path, f"the {cls.WHAT} configuration") if path is not None else {}
        data.update(parse_overrides(overrides))
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError, OverflowError) as exc:
            where = path if path is not None else "--set " + " ".join(overrides)
            raise ConfigError(f"{where}: {exc}") from None

    @classmethod
    def read(cls, path):
        """The configuration in a JSON file; ConfigError naming the file when it cannot be used."""
        data = read_json_object(path, f"the {cls.WHAT} configuration")
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ConfigError(f"{path}: cannot read the {cls.WHAT} configuration: {exc}") from None

