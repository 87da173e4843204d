"""The candidate score's training: the finder's own candidates, and the fit that ranks them.

The finder chooses the primary vertex among its 3D candidates by a score
(:class:`~vertexfinder.finder.score.CandidateScorer`, or the hand-set sum without one). The learned
score is fitted here on events with truth that the walker and the refiner did not see:

1. the finder whose candidates are recorded: the model's walker and refiner with the given
   FinderConfig options, the learned score off (:func:`recording_config`, :func:`scoring_finder`);
2. its candidates: per event, the numbers of :data:`~vertexfinder.finder.score.FEATURES` of every 3D
   candidate and its distance to the true vertex (:func:`collect`);
3. the fit: a conditional-logit (softmax over each event's candidates) fit, so the score is trained
   for the decision it makes, the one best candidate of an event (:func:`fit`), compared with the
   hand-set score on the same candidates (:func:`top_choice`);
4. ``scorer.json`` beside the model (or where asked).

    rows = collect(finder, events)                # per event: (features (M, F), distances (M,) cm)
    scorer = fit(rows, radius_cm=2.0)
    scorer.write("models/default/scorer.json")

:func:`train_scorer` runs the four steps; ``vertexfinder train-scorer`` calls them one by one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, RunError
from ..model import resolve_model
from ..finder.score import FEATURES, CandidateScorer, hand_set_score

__all__ = ["collect", "fit", "top_choice", "recording_config", "scorer_output", "scoring_finder", "fit_scorer",
           "train_scorer", "ScorerFit"]


@dataclass(frozen=True)
class ScorerFit:
    """A fitted scorer and how it chooses on the candidates it was fitted on.

    Attributes:
        scorer: the fitted :class:`~vertexfinder.finder.score.CandidateScorer`.
        rows: per event, (features (M, F), distance of each candidate to the true vertex (M,) cm).
        hand, learned: per event, the distance (cm) of the candidate the hand-set and the learned
            score rank first.
        radius_cm: a right candidate is this close.
    """

    scorer: CandidateScorer
    rows: list
    hand: np.ndarray
    learned: np.ndarray
    radius_cm: float

    def summary(self) -> str:
        """One line: events, candidates, and the share of events whose best candidate is right under each score."""
        return (f"{len(self.rows)} events, {sum(len(x) for x, _ in self.rows)} candidates; best candidate within "
                f"{self.radius_cm:g} cm: hand-set score {np.mean(self.hand <= self.radius_cm):.3f}, learned "
                f"{np.mean(self.learned <= self.radius_cm):.3f}")


def scorer_output(model=None, output=None, *, radius_cm: float = 2.0) -> Path:
    """Where the scorer goes: ``output``, else ``scorer.json`` beside the model (None: the bundled one).

    Raises:
        InputError: ``radius_cm`` is not a positive distance.
        FileNotFoundError: no such model.
    """
    if not radius_cm > 0:
        raise InputError(f"--radius must be a positive distance in cm; Received: {radius_cm}")
    return Path(output) if output else resolve_model(model)[0].parent / "scorer.json"


def recording_config(options: dict):
    """The FinderConfig whose candidates are recorded: ``options`` (FinderConfig fields), the learned score off.

    Raises:
        InputError: ``options`` are not FinderConfig options, or turn off the second look.
    """
    from ..finder import FinderConfig

    try:
        config = FinderConfig(**{**options, "use_scorer": False})
    except (TypeError, ValueError) as exc:
        raise InputError(f"--set: not FinderConfig options ({exc})") from None
    if not (config.refine and config.refine_3d):
        raise InputError("--set: the candidates are recorded at the second look; refine and refine_3d must stay on")
    return config


def scoring_finder(model, config):
    """The finder of ``model`` (a file or folder, None for the bundled model) with ``config``; loads TensorFlow.

    Raises:
        RunError: the model has no refiner (the candidates are the refiner's).
    """
    from ..finder import VertexFinder

    finder = VertexFinder.load(model, config)
    if finder.refiner is None:
        raise RunError(f"{model or 'the bundled model'}: a candidate scorer needs a model with a refiner")
    return finder


def fit_scorer(finder, events, *, radius_cm: float = 2.0, finder_options: dict | None = None,
               progress: bool = False) -> ScorerFit:
    """Collect the candidates of ``finder`` on ``events`` (with truth), fit the scorer, compare it
    with the hand-set score. ``finder_options`` (the options the finder was made with) are kept in
    the scorer."""
    rows = collect(finder, events, progress=progress)
    scorer = dataclasses.replace(fit(rows, radius_cm=radius_cm), finder_options=dict(finder_options or {}))
    return ScorerFit(scorer, rows, top_choice(rows, hand_set_score(finder.config)), top_choice(rows, scorer),
                     radius_cm)


def train_scorer(events, *, model=None, options: dict | None = None, radius_cm: float = 2.0, output=None,
                 progress: bool = False) -> ScorerFit:
    """Fit the candidate score of ``model`` on ``events`` (with truth; not seen by the walker or the
    refiner) and write it to ``output`` (default: ``scorer.json`` beside the model).

    ``options``: FinderConfig fields of the finder whose candidates are recorded.
    """
    path = scorer_output(model, output, radius_cm=radius_cm)
    options = dict(options or {})
    finder = scoring_finder(model, recording_config(options))
    result = fit_scorer(finder, events, radius_cm=radius_cm, finder_options=options, progress=progress)
    result.scorer.write(path)
    return result


def collect(finder, events, *, progress: bool = False, on_skip=None):
    """Per event with a true primary vertex: (features (M, F), distance of each candidate's 3D
    point to the true vertex (M,) cm) of every 3D candidate the finder's primary match tried.

    Events the finder cannot work on are passed to ``on_skip(event, error)`` (default: left out
    silently), as by :meth:`vertexfinder.finder.VertexFinder.find_iter`."""
    from ..finder import VertexFinder

    if not isinstance(finder, VertexFinder):
        raise TypeError(f"expected a VertexFinder; Received: {type(finder).__name__}")
    events = (ev for ev in events if ev.primary is not None and np.all(np.isfinite(ev.primary.position_cm)))
    if progress:
        from tqdm import tqdm

        events = tqdm(events, desc="candidates", unit="event")
    finder.require_second_look()
    out = []
    for ev, res in finder.find_iter(events, mode="primary", on_skip=on_skip or (lambda ev, exc: None)):
        if not res.candidates:
            continue
        x = np.array([c.features for c in res.candidates], dtype=np.float64)
        d = np.array([np.linalg.norm(c.position_cm - ev.primary.position_cm) for c in res.candidates])
        out.append((x, d))
    return out


def fit(rows, *, radius_cm: float = 2.0, l2: float = 1e-2) -> CandidateScorer:
    """The scorer whose softmax over each event's candidates gives most probability to the
    candidates within ``radius_cm`` of the truth (events with none are left out), with an L2
    penalty ``l2`` on the standardised weights (:func:`scipy.optimize.minimize`, L-BFGS)."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    groups = [(x, d <= radius_cm) for x, d in rows if (d <= radius_cm).any()]
    if not groups:
        raise ValueError(f"no event has a candidate within {radius_cm} cm of its true vertex")
    allx = np.concatenate([x for x, _ in groups])
    mean, scale = allx.mean(axis=0), allx.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = [((x - mean) / scale, pos) for x, pos in groups]

    def loss(w):
        total, grad = 0.0, l2 * w * len(z)
        total += 0.5 * l2 * (w @ w) * len(z)
        for x, pos in z:
            s = x @ w
            lse_all, lse_pos = logsumexp(s), logsumexp(s[pos])
            total += lse_all - lse_pos
            p_all = np.exp(s - lse_all)
            p_pos = np.where(pos, np.exp(s - lse_pos), 0.0)
            grad += x.T @ (p_all - p_pos)
        return total, grad

    res = minimize(loss, np.zeros(allx.shape[1]), jac=True, method="L-BFGS-B")
    return CandidateScorer(FEATURES, tuple(float(v) for v in mean), tuple(float(v) for v in scale),
                           tuple(float(v) for v in res.x), float(radius_cm), len(groups))


def top_choice(rows, score) -> np.ndarray:
    """Distance (cm) to the truth of each event's best candidate under ``score`` (features -> scores)."""
    return np.array([d[int(np.argmax(score(x)))] for x, d in rows])
