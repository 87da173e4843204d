"""Training the walker, the refiner, the proposer and the candidate score.

The walker's, the refiner's and the proposer's runs share one lifecycle (:mod:`.run`: saved
configuration, finished run, warm start, seeding, event source, schedule, checkpoints, finish); each
adds its own parts:

=================  =================================================================================
``config``         :class:`TrainConfig` (a :class:`~vertexfinder.model.ModelConfig` with the data,
                   walks and optimisation settings), :func:`config_from_toml`
``run``            the lifecycle (:func:`train_run`), the event source (:func:`event_sources`),
                   :func:`run_history` (a run and the runs it was warm-started from)
``walker``         :func:`train`: generator-fed walks, on-policy rollouts, validation of the
                   model's own walks
``refiner``        :func:`train_refiner`: points around the true vertices, validation on fixed points
``proposer``       :func:`train_proposer`: crops around vertices of every kind, validation on whole views
``score``          the candidate score fitted on the finder's own candidates (:func:`collect`,
                   :func:`fit`, :func:`train_scorer`)
``callbacks``      the clock, validation figures and on-policy callbacks (Keras)
``checkpoints``    run folders that survive a kill: atomic checkpoints, the backup, the history (Keras)
=================  =================================================================================

The refiner's description (:class:`~vertexfinder.model.RefineConfig`) is in
:mod:`vertexfinder.model`, with the walker's. Importing this package imports neither TensorFlow nor
Keras; a run does.

May import: ``generators``, ``models``, ``vertexfinder.model``, ``vertexfinder.finder``, ``vertexfinder.io`` (event stores, atomic outputs),
``vertexfinder.simulation``, ``vertexfinder.records`` (the event types), ``vertexfinder.detectors``,
``vertexfinder.errors``, ``vertexfinder.text``.

It never imports the command line, which imports it.
"""

from ..errors import RunFinishedError
from .config import TrainConfig, config_from_toml
from .proposer import build_proposer, proposal_validation, train_proposer
from .refiner import build_refiner, refine_validation, train_refiner
from .run import event_sources, run_history, train_run
from .score import collect, fit, fit_scorer, top_choice, train_scorer
from .walker import build_walker, compile_walker, make_dataset, refresh_policy, train, validation_metrics

__all__ = ["TrainConfig", "config_from_toml", "train", "train_refiner", "train_scorer", "train_run",
           "event_sources", "run_history", "validation_metrics", "refresh_policy", "build_walker", "compile_walker",
           "make_dataset", "build_refiner", "refine_validation", "collect", "fit", "fit_scorer", "top_choice",
           "RunFinishedError", "train_proposer", "build_proposer", "proposal_validation"]
