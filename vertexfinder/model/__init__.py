"""What a trained model is, and how its files are found, read and checked.

Read by inference (the finder, the export) and by training alike; it knows nothing of how a
model is trained or used:

=================  =================================================================================
``config``         :class:`ModelConfig`, the walker's description (glimpse geometry, working pixel,
                   steps, layers); :func:`default_model_path`, :func:`resolve_model` (the model file
                   and ``config.json`` of a file or folder)
``refiner``        :class:`RefineConfig`, the refiner's description (``refiner.json``);
                   :func:`refine_spec`, the glimpse geometry it looks with
``files``          model folders and ``.keras`` archives checked before Keras reads them and loaded
                   with one clear error (:func:`load_model_folder`, :func:`load_keras_model`,
                   :func:`check_keras_archive`)
``onnx``           ONNX model folders (``onnx.json``) and their networks run with onnxruntime
                   (:class:`~vertexfinder.model.onnx.OnnxNetwork`; ``import vertexfinder.model.onnx``)
``options``        configuration files and ``--set`` options read with a size limit, and field
                   values checked (:func:`read_json_object`, :func:`read_toml`,
                   :func:`parse_overrides`, :func:`check_values`)
=================  =================================================================================

Importing it imports neither TensorFlow nor Keras (loading a model does).

May import: ``generators``, ``models``, ``vertexfinder.detectors``, ``vertexfinder.errors``,
``vertexfinder.text``.

It never imports training, the finder, the readers and writers of vertexfinder.io or the command
line: they import it.
"""

from .config import LEGACY_KEYS, MODEL_FILES, ModelConfig, default_model_path, resolve_model
from .files import (MAX_WEIGHTS_BYTES, check_keras_archive, load_keras_model, load_model_folder, load_secondary_refiner,
                    read_refine_config)
from .options import check_values, parse_overrides, read_config_bytes, read_json_object, read_toml
from .proposer import ProposerConfig, proposal_spec
from .refiner import RefineConfig, refine_spec

__all__ = ["ModelConfig", "RefineConfig", "refine_spec", "ProposerConfig", "proposal_spec", "load_model_folder", "load_keras_model",
           "load_secondary_refiner", "read_refine_config",
           "check_keras_archive", "default_model_path", "resolve_model", "read_json_object", "read_toml",
           "read_config_bytes", "parse_overrides", "check_values", "MODEL_FILES", "LEGACY_KEYS",
           "MAX_WEIGHTS_BYTES"]
