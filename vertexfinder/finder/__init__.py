"""The vertex finder: the trained walker turned into vertices with detector coordinates.

    finder = VertexFinder.load()                 # the bundled default model
    for v in finder.find(event, mode="all"):      # an EventRecord (store, ROOT dump, frames, hits)
        print(v.kind, v.score, v.position_cm, [(p.view, p.tpc, p.wire, p.channel, p.tick) for p in v.planes])

A package of stages, data flowing one way (each module a stage, callable on its own):

=================  =================================================================================
``config``         :class:`FinderConfig`, its fields grouped by the stage that reads them
``types``          what flows between stages: PreparedView, Candidate, Candidate3D, BeamPrior, and
                   what users get: Vertex, PlaneVertex, FindResult
``prepare``        checks, charge normalisation, resampling to the model's pixel, pyramids, seeds
``walk``           every seed of a batch walked together (one model call per step); end clusters
``propose``        candidates without walks: the beam prior's upstream ends, drift-row crossings,
                   wire tiles (image kernels in ``beam``)
``refine``         the refiner's full-resolution looks at the best candidates
``match``          plane matching and the 3D fit: primary 3D candidates, the other vertices
``relate``         ``all`` mode: each vertex's parent (a track joining them; a shower pointing
                   away) and a conversion's gap
``score``          the candidate score (learned :class:`CandidateScorer` or the hand-set sum)
``choose``         the second look at the 3D candidates on every view, and the choice
``report``         Vertex and PlaneVertex: wire, channel and tick on every view
``core``           :class:`VertexFinder`, which runs the stages and times each
=================  =================================================================================

May import: ``generators``, ``models``, ``vertexfinder.model``, ``vertexfinder.records``,
``vertexfinder.mapper``, ``vertexfinder.imaging``, ``vertexfinder.detectors``, ``vertexfinder.errors``,
``vertexfinder.text``, ``vertexfinder.io.atomic``, ``vertexfinder.slices``; never ``vertexfinder.training``, the command line
or the readers and writers of ``vertexfinder.io``. TensorFlow loads only when a Keras network is built or
loaded; the onnxruntime backend (:mod:`vertexfinder.model.onnx`) never loads it.
"""

from .config import MODES, FinderConfig
from .core import BACKENDS, VertexFinder, default_backend, default_model_path, load_model
from .score import FEATURES, CandidateScorer, hand_set_score
from .types import BeamPrior, Candidate, Candidate3D, FindResult, PlaneVertex, PreparedView, Vertex

__all__ = ["FinderConfig", "MODES", "VertexFinder", "load_model", "default_model_path", "default_backend", "BACKENDS", "FindResult", "Vertex",
           "PlaneVertex", "PreparedView", "Candidate", "Candidate3D", "BeamPrior", "CandidateScorer", "FEATURES",
           "hand_set_score"]
