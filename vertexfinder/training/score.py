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

The vertex score of ``all`` mode (:class:`~vertexfinder.finder.secondary.VertexScorer`: is a 3D
match a vertex at all?) is fitted the same way on every match the finder's ``all`` mode rates
(:func:`collect_matches`), as a logistic regression (:func:`fit_vertex_scorer`), and written to
``vertex_scorer.json`` (``vertexfinder train-scorer --vertices``).

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
from ..finder.secondary import SECONDARY_FEATURES, VertexScorer

__all__ = ["collect", "fit", "top_choice", "recording_config", "scorer_output", "scoring_finder", "fit_scorer",
           "train_scorer", "ScorerFit", "collect_matches", "fit_vertex_scorer", "VertexScorerFit"]


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


def scorer_output(model=None, output=None, *, radius_cm: float = 2.0, name: str = "scorer.json") -> Path:
    """Where the scorer goes: ``output``, else ``name`` beside the model (None: the bundled one).

    Raises:
        InputError: ``radius_cm`` is not a positive distance.
        FileNotFoundError: no such model.
    """
    if not radius_cm > 0:
        raise InputError(f"--radius must be a positive distance in cm; Received: {radius_cm}")
    return Path(output) if output else resolve_model(model)[0].parent / name


def recording_config(options: dict, *, vertices: bool = False):
    """The FinderConfig whose candidates are recorded: ``options`` (FinderConfig fields), the learned
    score off (``vertices``: the ``all``-mode matches are recorded, and the primary is chosen as
    the finder chooses it).

    Raises:
        InputError: ``options`` are not FinderConfig options, or turn off the second look.
    """
    from ..finder import FinderConfig

    try:
        config = FinderConfig(**(options if vertices else {**options, "use_scorer": False}))
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


@dataclass(frozen=True)
class VertexScorerFit:
    """A fitted vertex score and how it separates the matches it was fitted on.

    Attributes:
        scorer: the fitted :class:`~vertexfinder.finder.secondary.VertexScorer`.
        rows: per event, (features (M, F), distance of each match to the nearest visible true vertex (M,) cm).
        radius_cm: a match is a vertex when it is this close to one.
    """

    scorer: VertexScorer
    rows: list
    radius_cm: float

    def summary(self) -> str:
        """One line: events, matches, vertices among them, and how many of each side the score puts right at 0.5."""
        x = np.concatenate([r[0] for r in self.rows])
        y = np.concatenate([r[1] for r in self.rows]) <= self.radius_cm
        p = self.scorer.probability(x)
        return (f"{len(self.rows)} events, {len(x)} matches, {int(y.sum())} within {self.radius_cm:g} cm of a true "
                f"vertex; at probability 0.5 the score keeps {np.mean(p[y] >= 0.5):.3f} of those and "
                f"{np.mean(p[~y] >= 0.5):.3f} of the others")


def collect_matches(finder, events, *, progress: bool = False, on_skip=None):
    """Per event with truth: (features (M, F) of :data:`~vertexfinder.finder.secondary.SECONDARY_FEATURES`,
    distance (M,) cm of each match's 3D point to the nearest true vertex seen on two views or more)
    of every 3D match the finder's ``all`` mode rates. The finder rates them with a flat score
    (every match 0.5) while they are recorded."""
    from ..finder import VertexFinder
    from ..records import vertex_visible

    if not isinstance(finder, VertexFinder):
        raise TypeError(f"expected a VertexFinder; Received: {type(finder).__name__}")
    if not (finder.config.use_vertex_scorer and finder.refines):
        raise InputError("the matches are rated with the refiner's looks; refine and use_vertex_scorer must stay on")
    n = len(SECONDARY_FEATURES)
    kept, finder.vertex_scorer = finder.vertex_scorer, VertexScorer(SECONDARY_FEATURES, (0.0,) * n, (1.0,) * n, (0.0,) * n)
    events = (ev for ev in events if ev.vertices)
    if progress:
        from tqdm import tqdm

        events = tqdm(events, desc="matches", unit="event")
    out = []
    try:
        for ev, res in finder.find_iter(events, mode="all", on_skip=on_skip or (lambda ev, exc: None)):
            truth = [v.position_cm for v in ev.vertices if vertex_visible(ev, v)]
            if not res.matches or not truth:
                continue
            x = np.array([m.features for m in res.matches], dtype=np.float64)
            pos = np.array([m.position_cm for m in res.matches])
            d = np.linalg.norm(pos[:, None, :] - np.array(truth)[None, :, :], axis=-1).min(axis=1)
            out.append((x, d))
    finally:
        finder.vertex_scorer = kept
    return out


def fit_vertex_scorer(rows, *, radius_cm: float = 2.0, l2: float = 1e-3, finder_options: dict | None = None) -> VertexScorerFit:
    """The logistic vertex score that tells matches within ``radius_cm`` of a true vertex from the
    others, with an L2 penalty ``l2`` on the standardised weights (:func:`scipy.optimize.minimize`,
    L-BFGS)."""
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    if not rows:
        raise ValueError("no matches to fit a vertex score on")
    x = np.concatenate([r[0] for r in rows])
    y = (np.concatenate([r[1] for r in rows]) <= radius_cm).astype(np.float64)
    if y.min() == y.max():
        raise ValueError(f"the matches are all {'within' if y[0] else 'beyond'} {radius_cm} cm of a true vertex")
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])

    def loss(w):
        s = z @ w
        total = -(y * log_expit(s) + (1 - y) * log_expit(-s)).sum() + 0.5 * l2 * len(z) * (w[:-1] @ w[:-1])
        grad = z.T @ (expit(s) - y)
        grad[:-1] += l2 * len(z) * w[:-1]
        return total, grad

    w = minimize(loss, np.zeros(z.shape[1]), jac=True, method="L-BFGS-B").x
    scorer = VertexScorer(SECONDARY_FEATURES, tuple(float(v) for v in mean), tuple(float(v) for v in scale),
                          tuple(float(v) for v in w[:-1]), float(radius_cm), len(rows), dict(finder_options or {}),
                          float(w[-1]))
    return VertexScorerFit(scorer, rows, float(radius_cm))
