"""Point proposals: the proposer's one look at every view, for every place a vertex may be.

The proposer (:class:`models.Proposer`) sees each prepared view at half resolution and scores a
grid of cells four pixels wide; the peaks of the score (:func:`generators.proposals.proposal_peaks`)
become candidates without walks, which the refiner looks at and the plane match joins like the
walks' clusters. They reach the places walks rarely lead to: the ends of tracks where a particle
decays, the starts of showers where a photon converts.
"""

from __future__ import annotations

import numpy as np

from .config import FinderConfig
from .types import PreparedView

__all__ = ["point_proposals"]


def point_proposals(proposals, prepared: list[PreparedView], config: FinderConfig) -> dict:
    """{plane: (points (M, 2) global coordinates, probability (M,), class probabilities (M, 3))} of
    one event: at most ``points_per_view`` peaks per view with probability at least
    ``point_threshold``, best first. ``proposals``: the proposer's function
    (:func:`models.proposal_function`)."""
    from generators.proposals import half_resolution, proposal_peaks

    out = {}
    for p, view in enumerate(prepared):
        if view.image.size == 0 or not view.image.any():
            continue
        got = proposals(half_resolution(view.image))
        pts, prob, cls = proposal_peaks(got["score"], got["offset"], got["kind"], threshold=config.point_threshold,
                                        max_peaks=config.points_per_view)
        if len(pts):
            out[p] = (view.to_global(pts), prob, cls)
    return out
