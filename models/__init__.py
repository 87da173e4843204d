"""The recurrent CNN vertex model (Keras 3) and the bundled default weights.

Loading this package loads Keras.

May import: nothing outside ``models`` (never ``vertexfinder`` or ``generators``).
"""

from .losses import DistanceLoss, StepLoss, per_walk_loss, walker_losses
from .proposer import Proposer, proposal_function, proposer_losses
from .refiner import Refiner, RefineOffsetLoss, refine_function, refiner_losses
from .tagger import NeutrinoTagger, tagger_function, tagger_inputs
from .walker import WALKER_OUTPUTS, GlimpseEncoder, Walker, step_function

__all__ = ["GlimpseEncoder", "Walker", "WALKER_OUTPUTS", "step_function", "StepLoss", "DistanceLoss", "walker_losses", "per_walk_loss",
           "Refiner", "RefineOffsetLoss", "refiner_losses", "refine_function", "Proposer", "proposer_losses",
           "proposal_function", "NeutrinoTagger", "tagger_function", "tagger_inputs"]
