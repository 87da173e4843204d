"""Exceptions raised by vertexfinder.

Every exception names what it is about (file, event, value) and what was
expected, so a user can act on the message alone. Each one subclasses the
builtin exception it refines, so ``except ValueError`` still catches it.
"""

from __future__ import annotations

import difflib

__all__ = [
    "VertexFinderError",
    "MissingDependencyError",
    "UnknownDetectorError",
    "DetectorSchemaError",
    "GeometryError",
    "StoreError",
    "StoreVersionError",
    "StoreCorruptError",
    "RootFormatError",
    "BadEventError",
    "InputError",
    "ConfigError",
    "ModelFileError",
    "RunError",
    "RunFinishedError",
]


class VertexFinderError(Exception):
    """Base class of all vertexfinder errors."""


class UnknownDetectorError(VertexFinderError, KeyError):
    """A detector name that is neither built in nor a readable file."""

    def __init__(self, name: str, known: list[str]):
        self.name = name
        self.known = list(known)
        close = difflib.get_close_matches(name, self.known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        super().__init__(
            f"unknown detector {name!r}: not a built-in detector and no such file. "
            f"Built-in detectors: {', '.join(self.known)}.{hint}"
        )

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]


class DetectorSchemaError(VertexFinderError, ValueError):
    """A detector description (file or dict) that does not follow the schema."""


class GeometryError(VertexFinderError, ValueError):
    """A coordinate outside the detector or a plane/TPC that does not exist."""


class StoreError(VertexFinderError, OSError):
    """An event store that cannot be opened or written."""


class StoreVersionError(StoreError):
    """An event store written with an incompatible schema version."""


class StoreCorruptError(StoreError, ValueError):
    """An event store whose files are truncated, missing or fail their checksum."""


class RootFormatError(VertexFinderError, ValueError):
    """A ROOT file that does not hold the dump layout vertexfinder reads."""


class BadEventError(VertexFinderError, ValueError):
    """An event whose content is malformed (shapes, values, ids)."""


class InputError(VertexFinderError, ValueError):
    """An input the package cannot use: a missing file, an unknown file kind, an input with no
    usable event, an output that cannot be written."""


class ConfigError(VertexFinderError, ValueError):
    """A configuration that cannot be used: a training TOML, a ``--set`` option, a run's
    ``config.json`` or a ``refiner.json`` with an unknown option, or a value of the wrong type or
    out of its range. The message names the file (or the option) and the value."""


class ModelFileError(VertexFinderError, ValueError):
    """A model file that cannot be used: not a Keras archive, damaged, of another kind of model, or
    not the model its ``config.json`` describes."""


class MissingDependencyError(VertexFinderError, ImportError):
    """A part of the package that needs what this install left out: TensorFlow and Keras (training,
    the Keras backend, the export: ``pip install 'vertexfinder[train]'``) or onnxruntime (the ONNX
    backend). The message says what to install."""


class RunError(VertexFinderError, ValueError):
    """A training run folder that cannot be started or resumed: it holds another configuration, or
    its backup is damaged."""


class RunFinishedError(RunError):
    """A training run folder whose run has finished (its final model is written)."""
