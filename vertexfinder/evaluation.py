"""How well a finder does on events with truth: the figures the README and the model card quote.

``evaluate(finder, events)`` runs the finder in ``all`` mode (the primary vertex comes first) and
returns a dict with (fractions are of the events or vertices counted, distances in cm):

* ``events``; ``events_primary_not_visible``: events whose primary vertex leaves no visible charge
  near its projection on at least two planes, or lies outside the images; they are counted here
  and left out of the primary figures (``primary_within_1cm_3d_all_events`` keeps them);
  ``events_unusable``: events the finder cannot work on (no charge at all), with ``unusable`` the
  reasons; they count as not visible and as misses in ``primary_within_1cm_3d_all_events``;
* ``primary_within_{1,2,5}cm_3d``; ``primary_within_{1,2,5}cm_2d``: per view;
* ``primary_distance_cm``: percentiles (50, 68, 90, 95) of the 3D distance;
* ``primary_wrong_vertex_rate``: the share of scored events whose primary vertex has a 3D point
  more than 5 cm from the truth (a wrong candidate won);
* ``by_flavour``: the primary figures (within 1/2/5 cm in 3D, wrong-vertex rate) for nu_mu CC,
  nu_e CC and NC events apart; ``by_energy``: the same in bins of neutrino energy;
* ``efficiency`` / ``purity``: per class and radius (1, 2 cm), over every event the finder worked on
  (events without a true primary, or with one not visible, too): the share of visible true vertices
  of a class with a found vertex of that class within the radius, and the share of found
  vertices of a class within the radius of a true vertex of that class;
* ``confusion``: rows true class, columns found class, over found vertices matched to the nearest
  true vertex within 2 cm; ``class_accuracy``: its diagonal share (the primary included);
* ``efficiency_2d`` / ``purity_2d``: the same per view ({class: {view: {"1cm", "2cm"}}}), with
  distances on each view's image in cm: a true vertex projected on the view, a found vertex at
  its PlaneVertex there (found on that view or its 3D point's projection; found vertices without
  a 3D point count too);
* parents (:func:`score_parents`): a found vertex *matches* the true vertex it is matched to for
  ``confusion`` (the nearest visible true vertex within 2 cm in 3D). A found vertex is scored for
  its parent when its true vertex has a true parent and at least one found vertex matches that
  parent; its parent is right when the found vertex it names as ``parent`` is one of those.
  ``parent_accuracy``: the share right (all classes); ``parent_accuracy_by_class``: by the found
  vertex's class; ``parent_counts``: per found class, ``scored`` and ``parent_not_found`` (matched
  found vertices whose true parent no found vertex matches; not scored). Found vertices matched to
  the true primary are not scored (it has no parent); the found primary matched to another true
  vertex is (its parent is -1, so it is wrong);
* ``conversion_gap``: over the found conversions matched to a true conversion that has a true
  parent (``conversions``), the share whose ``gap_cm`` is within 1 cm of the true gap (the 3D
  distance from the true conversion to its true parent; a found conversion without a gap counts as
  not within), and the ``median_cm`` and ``width68_cm`` (half the distance between the 16th and
  84th percentiles) of found minus true gap over those with a gap;
* ``ms_per_event``: wall time of the finder per event;
* ``detectors``: the detectors of the events; ``events_with_cosmics``: events with a true cosmic
  vertex (a cosmic muon's decay, a photon of its shower converting; the truth marks cosmic vertices,
  not cosmic charge, which it does not tell from noise);
* ``cosmic_flag``: ``all`` mode on surface detectors: of the found vertices matched to a true
  vertex other than the primary, the share whose ``cosmic`` flag is right, for the true cosmic
  vertices (``cosmic``) and the neutrino's (``neutrino``), with their counts;
* ``reference``: for events whose file carries another reconstruction's neutrino vertex
  (``EventRecord.reference_vertex_cm``, MicroBooNE open samples: Pandora's), its figures
  (within 1/2/5 cm in 3D, wrong-vertex rate) and ours on the same events, side by side;
* ``per_slice``: whether each event was restricted to its neutrino's slice first
  (:func:`vertexfinder.slices.neutrino_slice`; events without one are then unusable).
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from .records import VERTEX_KINDS, EventRecord, vertex_visible

__all__ = ["evaluate", "vertex_visible", "match_found", "score_parents", "format_report", "vary_event",
           "parse_variation", "VARIATIONS"]

#: Response variations of :func:`vary_event` and what they mean.
VARIATIONS = {
    "gain": "charge times this factor (saturating at 255)",
    "smear": "Gaussian smearing along wire and drift, RMS in pixels (charge kept)",
    "noise": "low-level noise added to every pixel of the crops, RMS in bytes (negative values dropped)",
    "threshold": "pixels below this many bytes set to zero",
    "dead": "share of wires (image rows) read as zero",
}

RADII_3D = (1.0, 2.0, 5.0)


def evaluate(finder, events, *, progress: bool = True, batch_events: int | None = None,
             per_slice: bool = False, mode: str = "all", positions: list | None = None) -> dict:
    """Run ``finder`` in ``all`` mode over ``events`` (EventRecords with truth) and score it;
    ``per_slice``: each event restricted to its neutrino's slice first; ``mode="primary"``: the
    finder in ``primary`` mode, the primary vertex's figures only (no class, parent or cosmic-flag
    figures). ``positions``: a list that gets, per event found, ((run, subrun, event), the positions
    of its vertices (V, 3) in cm, NaN without a 3D point) (see :func:`agreement`)."""
    if mode not in ("all", "primary"):
        raise ValueError(f"mode must be 'all' or 'primary'; Received: mode={mode!r}")
    from tqdm import tqdm

    total = len(events) if hasattr(events, "__len__") else None
    seen = {"events": 0, "cosmics": 0, "detectors": set()}

    def tally(evs):  # events are read as the finder asks for them: one batch in memory at a time
        for ev in evs:
            seen["events"] += 1
            seen["cosmics"] += _has_cosmics(ev)
            seen["detectors"].add(ev.detector)
            yield ev

    events = tally(iter(events))
    unusable = []
    if per_slice:
        events = _neutrino_slices(finder, events, unusable)
    flags = {"cosmic": [0, 0], "neutrino": [0, 0]}
    reference = []
    n_kinds = len(VERTEX_KINDS)
    confusion = np.zeros((n_kinds, n_kinds), dtype=np.int64)
    views = None
    d3, d2, d3_all, meta = [], [], [], []
    not_visible, no_truth = 0, 0
    eff = {(k, r): [0, 0] for k in VERTEX_KINDS for r in (1.0, 2.0)}
    pur = {(k, r): [0, 0] for k in VERTEX_KINDS for r in (1.0, 2.0)}
    eff2d, pur2d = {}, {}  # (class, view, radius) -> [hit, total]
    parents = {k: {"scored": 0, "right": 0, "parent_not_found": 0} for k in VERTEX_KINDS}
    gaps: list = []  # found minus true gap of the found conversions matched to true conversions
    elapsed = 0.0
    if batch_events is not None:
        finder = copy.copy(finder)
        finder.config = dataclasses.replace(finder.config, batch_events=int(batch_events))
    with tqdm(total=total, desc="evaluating", unit="event", disable=not progress) as bar:
        for ev, res in finder.find_iter(events, mode=mode, on_skip=lambda ev, exc: unusable.append(str(exc))):
            elapsed += res.seconds
            bar.update(1)
            if positions is not None:
                positions.append(((ev.run, ev.subrun, ev.event), _positions(res.vertices)))
            mapper = finder.mapper(ev)
            views = views or list(mapper.views)
            if mode == "all":
                # every vertex is scored, in events without a (visible) primary too (a stopping muon's
                # Michel decay has no neutrino vertex)
                _score_vertices(ev, res.vertices, confusion, eff, pur)
                _score_views(ev, res.vertices, mapper, eff2d, pur2d)
                score_parents(ev, res.vertices, parents, gaps)
                if mapper.detector.surface:
                    _score_cosmic_flags(ev, res.vertices, flags)
            truth = ev.primary
            if truth is None:
                no_truth += 1
                continue
            found = res.vertices[0] if res.vertices and res.vertices[0].primary else None
            dist = np.inf
            if found is not None and found.position_cm is not None:
                dist = float(np.linalg.norm(found.position_cm - truth.position_cm))
            d3_all.append(dist)
            if not vertex_visible(ev, truth):
                not_visible += 1
                continue
            d3.append(dist)
            if ev.reference_vertex_cm is not None:
                ref = np.asarray(ev.reference_vertex_cm, dtype=np.float64)
                reference.append((float(np.linalg.norm(ref - truth.position_cm)) if np.all(np.isfinite(ref)) else np.inf,
                                  dist, found is not None and found.position_cm is not None))
            meta.append((flavour(ev), float(ev.energy_gev), found is not None and found.position_cm is not None))
            row = []
            for p, view in enumerate(mapper.views):
                pv = found.planes[p] if found is not None else None
                if pv is None or not np.all(np.isfinite(truth.planes[p])):
                    row.append(np.inf)
                    continue
                px = np.array(mapper.pixel_cm(p))
                row.append(float(np.linalg.norm((np.array([pv.global_wire, pv.global_drift]) - truth.planes[p]) * px)))
            d2.append(row)
    if not seen["events"]:
        raise ValueError("no events to evaluate")
    n_events, detectors, with_cosmics = seen["events"], sorted(seen["detectors"]), seen["cosmics"]
    d3_all += [np.inf] * len(unusable)  # no charge: the primary is missed
    not_visible += len(unusable)
    d3, d3_all = np.array(d3), np.array(d3_all)
    d2 = np.array(d2).reshape(-1, len(views or []))
    out = {
        "events": n_events,
        "events_without_primary_truth": no_truth,
        "events_primary_not_visible": not_visible,
        "events_unusable": len(unusable),
        "unusable": unusable,
        "events_scored": int(len(d3)),
    }
    for r in RADII_3D:
        out[f"primary_within_{r:g}cm_3d"] = float(np.mean(d3 <= r)) if len(d3) else float("nan")
    for r in RADII_3D:
        out[f"primary_within_{r:g}cm_2d"] = {v: float(np.mean(d2[:, j] <= r)) if len(d2) else float("nan")
                                             for j, v in enumerate(views or [])}
    found3d = np.array([m[2] for m in meta], dtype=bool)
    out["primary_wrong_vertex_rate"] = float(np.mean(found3d & (d3 > 5.0))) if len(d3) else float("nan")
    flav = np.array([m[0] for m in meta])
    out["by_flavour"] = {}
    for name in FLAVOURS:
        sel = flav == name
        out["by_flavour"][name] = _primary_figures(d3[sel], found3d[sel])
    energy = np.array([m[1] for m in meta], dtype=float)
    out["by_energy"] = []
    for lo, hi in zip(ENERGY_BINS_GEV[:-1], ENERGY_BINS_GEV[1:]):
        sel = (energy >= lo) & (energy < hi)
        out["by_energy"].append({"energy_gev": [lo, hi], **_primary_figures(d3[sel], found3d[sel])})
    out["primary_within_1cm_3d_all_events"] = float(np.mean(d3_all <= 1.0)) if len(d3_all) else float("nan")
    finite = d3[np.isfinite(d3)]
    out["primary_found_3d"] = float(len(finite) / len(d3)) if len(d3) else float("nan")
    out["primary_distance_cm"] = {str(q): float(np.percentile(np.where(np.isfinite(d3), d3, 1e9), q)) if len(d3)
                                  else float("nan") for q in (50, 68, 90, 95)}
    out["mode"] = mode
    out["ms_per_event"] = 1000.0 * elapsed / max(n_events - len(unusable), 1)
    out["detectors"] = detectors
    out["events_with_cosmics"] = int(with_cosmics)
    out["per_slice"] = bool(per_slice)
    if reference:
        ref = np.array(reference, dtype=float)
        out["reference"] = {"events": len(ref), "reference": _primary_figures(ref[:, 0], np.isfinite(ref[:, 0])),
                            "ours": _primary_figures(ref[:, 1], ref[:, 2].astype(bool))}
    if mode == "primary":
        return out
    out["efficiency"] = {k: {f"{r:g}cm": _ratio(*eff[(k, r)]) for r in (1.0, 2.0)} for k in VERTEX_KINDS}
    out["purity"] = {k: {f"{r:g}cm": _ratio(*pur[(k, r)]) for r in (1.0, 2.0)} for k in VERTEX_KINDS}
    out["efficiency_counts"] = {k: eff[(k, 2.0)][1] for k in VERTEX_KINDS}
    out["confusion"] = {"classes": list(VERTEX_KINDS), "matrix": confusion.tolist()}
    out["class_accuracy"] = float(np.trace(confusion) / confusion.sum()) if confusion.sum() else float("nan")
    out.update(_view_figures(eff2d, pur2d, views or []))
    out.update(_parent_figures(parents, gaps))
    if any(n for _, n in flags.values()):
        out["cosmic_flag"] = {k: {"right": _ratio(*v), "vertices": v[1]} for k, v in flags.items()}
    return out


def _positions(vertices) -> np.ndarray:
    return np.array([np.full(3, np.nan) if v.position_cm is None else np.asarray(v.position_cm, dtype=np.float64)
                     for v in vertices], dtype=np.float64).reshape(-1, 3)


def agreement(a: list, b: list, tolerance_cm: float = 0.01) -> dict:
    """How often two runs over the same events (the ``positions`` lists of :func:`evaluate`, e.g. the
    two backends) give the same vertices: ``events`` both found; ``same_primary``: the fraction
    whose first vertex is at the same place within ``tolerance_cm`` (or missing in both);
    ``same_vertices``: the fraction with as many vertices, each within ``tolerance_cm`` of the
    other's in order; ``max_primary_cm``: the largest distance between the first vertices (inf
    where one run has one and the other not)."""
    other = dict(b)
    same_primary, same_all, worst, n = 0, 0, 0.0, 0
    for key, pa in a:
        if key not in other:
            continue
        pb, n = other[key], n + 1
        d = _distance(pa[:1], pb[:1])
        same_primary += d <= tolerance_cm
        same_all += len(pa) == len(pb) and _distance(pa, pb) <= tolerance_cm
        worst = max(worst, d)
    return {"events": n, "tolerance_cm": tolerance_cm, "same_primary": same_primary / n if n else float("nan"),
            "same_vertices": same_all / n if n else float("nan"), "max_primary_cm": worst}


def _distance(pa: np.ndarray, pb: np.ndarray) -> float:
    """The largest distance between vertices in the same place of two lists (NaN positions the
    same as NaN; inf for lists of other lengths, or a position against a NaN)."""
    if len(pa) != len(pb):
        return float("inf")
    if not len(pa):
        return 0.0
    nan_a, nan_b = np.isnan(pa).any(axis=1), np.isnan(pb).any(axis=1)
    if np.any(nan_a != nan_b):
        return float("inf")
    both = ~nan_a
    return float(np.max(np.linalg.norm(pa[both] - pb[both], axis=1), initial=0.0))


def _has_cosmics(ev) -> bool:
    return any(v.is_cosmic for v in ev.vertices)


def _neutrino_slices(finder, events, unusable):
    """Each event restricted to its neutrino's slice (:func:`vertexfinder.slices.neutrino_slice`),
    made as the finder asks for it (one batch in memory at a time); those without one are
    reported in ``unusable``."""
    from .slices import neutrino_slice

    for ev in events:
        ev2, s = neutrino_slice(ev)
        if s is None:
            unusable.append(f"event {ev.run}/{ev.subrun}/{ev.event}: no neutrino slice")
            continue
        part = finder.restrict(ev2, s)
        yield dataclasses.replace(part, planes=[dataclasses.replace(p, slices=None) for p in part.planes])


def _score_cosmic_flags(ev, found, flags) -> None:
    """Found vertices other than the primary, matched to true vertices (nearest visible within
    2 cm): whether ``cosmic`` says what the true vertex is."""
    truth = [v for v in ev.vertices if vertex_visible(ev, v)]
    if not truth:
        return
    tpos = np.array([v.position_cm for v in truth])
    for f in found:
        if f.primary or f.position_cm is None:
            continue
        d = np.linalg.norm(tpos - np.asarray(f.position_cm), axis=1)
        j = int(np.argmin(d))
        if d[j] > 2.0 or truth[j].is_primary:
            continue
        key = "cosmic" if truth[j].is_cosmic else "neutrino"
        flags[key][1] += 1
        flags[key][0] += int(bool(f.cosmic) == truth[j].is_cosmic)


FLAVOURS = ("numu_cc", "nue_cc", "nc", "other")
ENERGY_BINS_GEV = (0.0, 1.0, 2.0, 3.0, 5.0, float("inf"))


def flavour(event) -> str:
    """``numu_cc``, ``nue_cc``, ``nc`` or ``other`` (no neutrino truth) of an event."""
    if event.interaction == "NC":
        return "nc"
    if event.interaction == "CC" and abs(event.nu_pdg) == 14:
        return "numu_cc"
    if event.interaction == "CC" and abs(event.nu_pdg) == 12:
        return "nue_cc"
    return "other"


def _primary_figures(d3: np.ndarray, found3d: np.ndarray) -> dict:
    n = len(d3)
    out = {"events": int(n)}
    for r in RADII_3D:
        out[f"within_{r:g}cm_3d"] = float(np.mean(d3 <= r)) if n else float("nan")
    out["wrong_vertex_rate"] = float(np.mean(found3d & (d3 > 5.0))) if n else float("nan")
    return out


def _ratio(hit, total):
    return float(hit / total) if total else float("nan")


def _score_vertices(ev, found, confusion, eff, pur):
    truth = [v for v in ev.vertices if vertex_visible(ev, v)]
    tpos = np.array([v.position_cm for v in truth]).reshape(-1, 3)
    tkind = np.array([VERTEX_KINDS.index(v.kind) for v in truth], dtype=int)
    fv = [v for v in found if v.position_cm is not None]
    fpos = np.array([v.position_cm for v in fv]).reshape(-1, 3)
    fkind = np.array([VERTEX_KINDS.index(v.kind) for v in fv], dtype=int)
    d = np.linalg.norm(tpos[:, None, :] - fpos[None, :, :], axis=-1) if len(tpos) and len(fpos) else np.zeros((len(tpos), len(fpos)))
    for r in (1.0, 2.0):
        for k, name in enumerate(VERTEX_KINDS):
            tm, fm = tkind == k, fkind == k
            eff[(name, r)][1] += int(tm.sum())
            pur[(name, r)][1] += int(fm.sum())
            if tm.any() and fm.any():
                close = d[np.ix_(tm, fm)] <= r
                eff[(name, r)][0] += int(close.any(axis=1).sum())
                pur[(name, r)][0] += int(close.any(axis=0).sum())
    for j in range(len(fv)):
        if len(tpos) == 0:
            break
        i = int(np.argmin(d[:, j]))
        if d[i, j] <= 2.0:
            confusion[tkind[i], fkind[j]] += 1


def match_found(event: EventRecord, found, *, radius_cm: float = 2.0) -> dict:
    """{index in ``found``: index in ``event.vertices``}: each found vertex with a 3D point matched
    to the nearest visible true vertex (:func:`vertex_visible`) within ``radius_cm`` in 3D, as for
    ``confusion``; found vertices with none are left out."""
    truth = [i for i, v in enumerate(event.vertices) if vertex_visible(event, v)]
    if not truth:
        return {}
    tpos = np.array([event.vertices[i].position_cm for i in truth]).reshape(-1, 3)
    out = {}
    for j, v in enumerate(found):
        if v.position_cm is None:
            continue
        d = np.linalg.norm(tpos - np.asarray(v.position_cm), axis=1)
        k = int(np.argmin(d))
        if d[k] <= radius_cm:
            out[j] = truth[k]
    return out


def score_parents(event: EventRecord, found, counts: dict, gaps: list) -> None:
    """Add one event's parent and conversion-gap tallies (the definitions in the module's docstring).

    Args:
        found: the event's found vertices (``parent`` indices into this list, ``gap_cm``).
        counts: {class: {"scored", "right", "parent_not_found"}}, by the found vertex's class,
            updated in place.
        gaps: found minus true gap in cm (NaN: no found gap) of each found conversion matched to a
            true conversion with a true parent, appended to.
    """
    match = match_found(event, found)
    matched_by: dict = {}  # true vertex -> the found vertices that match it
    for j, i in match.items():
        matched_by.setdefault(i, set()).add(j)
    for j, i in match.items():
        v, t = found[j], event.vertices[i]
        if t.parent < 0:
            continue
        tally = counts[v.kind]
        if t.parent not in matched_by:
            tally["parent_not_found"] += 1
        else:
            tally["scored"] += 1
            tally["right"] += int(v.parent in matched_by[t.parent])
        if v.kind == "conversion" and t.kind == "conversion":
            true_gap = float(np.linalg.norm(t.position_cm - event.vertices[t.parent].position_cm))
            gaps.append(float(v.gap_cm) - true_gap)


def _score_views(ev, found, mapper, eff, pur):
    truth = [v for v in ev.vertices if vertex_visible(ev, v)]
    tkind = np.array([VERTEX_KINDS.index(v.kind) for v in truth], dtype=int)
    fkind = np.array([VERTEX_KINDS.index(v.kind) for v in found], dtype=int)
    for p, view in enumerate(mapper.views):
        px = np.array(mapper.pixel_cm(p))
        tsel = np.array([len(v.planes) > p and bool(np.all(np.isfinite(v.planes[p]))) for v in truth], dtype=bool)
        fsel = np.array([len(v.planes) > p and v.planes[p] is not None for v in found], dtype=bool)
        tpos = np.array([v.planes[p] for v, s in zip(truth, tsel) if s]).reshape(-1, 2)
        fpos = np.array([(v.planes[p].global_wire, v.planes[p].global_drift) for v, s in zip(found, fsel) if s])
        fpos = fpos.reshape(-1, 2)
        d = np.linalg.norm((tpos[:, None, :] - fpos[None, :, :]) * px, axis=-1)
        tk, fk = tkind[tsel], fkind[fsel]
        for r in (1.0, 2.0):
            for k, name in enumerate(VERTEX_KINDS):
                tm, fm = tk == k, fk == k
                e = eff.setdefault((name, view, r), [0, 0])
                q = pur.setdefault((name, view, r), [0, 0])
                e[1] += int(tm.sum())
                q[1] += int(fm.sum())
                if tm.any() and fm.any():
                    close = d[np.ix_(tm, fm)] <= r
                    e[0] += int(close.any(axis=1).sum())
                    q[0] += int(close.any(axis=0).sum())


def _view_figures(eff, pur, views) -> dict:
    def table(counts):
        return {k: {v: {f"{r:g}cm": _ratio(*counts.get((k, v, r), (0, 0))) for r in (1.0, 2.0)} for v in views}
                for k in VERTEX_KINDS}

    return {"efficiency_2d": table(eff), "purity_2d": table(pur)}


def _parent_figures(counts: dict, gaps: list) -> dict:
    scored = sum(c["scored"] for c in counts.values())
    right = sum(c["right"] for c in counts.values())
    gaps = np.asarray(gaps, dtype=np.float64)
    have = gaps[np.isfinite(gaps)]
    return {
        "parent_accuracy": _ratio(right, scored),
        "parent_accuracy_by_class": {k: _ratio(c["right"], c["scored"]) for k, c in counts.items()},
        "parent_counts": {k: {"scored": c["scored"], "parent_not_found": c["parent_not_found"]}
                          for k, c in counts.items()},
        "conversion_gap": {
            "conversions": int(len(gaps)),
            "within_1cm": float(np.mean(np.abs(np.nan_to_num(gaps, nan=np.inf)) <= 1.0)) if len(gaps) else float("nan"),
            "median_cm": float(np.median(have)) if len(have) else float("nan"),
            "width68_cm": float(np.diff(np.percentile(have, [16, 84]))[0] / 2) if len(have) else float("nan"),
        },
    }


def format_report(m: dict) -> str:
    """The figures of :func:`evaluate` as a plain-text table."""
    lines = [f"events {m['events']} (scored {m['events_scored']}; primary not visible {m['events_primary_not_visible']}, "
             f"of which without any charge {m['events_unusable']}; no primary truth {m['events_without_primary_truth']})",
             "primary vertex within    1 cm     2 cm     5 cm"]
    lines.append("  3D                  " + "".join(f"{m[f'primary_within_{r:g}cm_3d']:>8.3f} " for r in RADII_3D))
    for v in m["primary_within_1cm_2d"]:
        lines.append(f"  2D {v:<16} " + "".join(f"{m[f'primary_within_{r:g}cm_2d'][v]:>8.3f} " for r in RADII_3D))
    pct = m["primary_distance_cm"]
    lines.append("primary 3D distance percentiles (cm): " + ", ".join(f"{q}%: {v:.2f}" for q, v in pct.items()))
    lines.append(f"wrong vertex (3D point more than 5 cm away): {m['primary_wrong_vertex_rate']:.3f}")
    lines.append("by flavour           events   1 cm     2 cm     5 cm   wrong")
    for name, f in m["by_flavour"].items():
        if f["events"]:
            lines.append(f"  {name:<18} {f['events']:>6} " + "".join(f"{f[f'within_{r:g}cm_3d']:>8.3f} " for r in RADII_3D)
                         + f"{f['wrong_vertex_rate']:>6.3f}")
    lines.append("by neutrino energy   events   1 cm     2 cm     5 cm   wrong")
    for f in m["by_energy"]:
        if f["events"]:
            lo, hi = f["energy_gev"]
            label = f"{lo:g}-{hi:g} GeV" if np.isfinite(hi) else f">= {lo:g} GeV"
            lines.append(f"  {label:<18} {f['events']:>6} " + "".join(f"{f[f'within_{r:g}cm_3d']:>8.3f} " for r in RADII_3D)
                         + f"{f['wrong_vertex_rate']:>6.3f}")
    if "efficiency" not in m:
        lines.append(f"primary mode: {m['ms_per_event']:.1f} ms per event")
        lines += _surface_lines(m)
        return "\n".join(lines)
    lines.append("class            efficiency 1cm/2cm   purity 1cm/2cm   (true vertices)")
    for k in m["efficiency"]:
        e, p = m["efficiency"][k], m["purity"][k]
        lines.append(f"  {k:<14} {e['1cm']:>8.3f} {e['2cm']:>8.3f}   {p['1cm']:>7.3f} {p['2cm']:>7.3f}   "
                     f"({m['efficiency_counts'][k]})")
    lines.append("confusion (rows true, columns found): " + ", ".join(m["confusion"]["classes"]))
    for name, row in zip(m["confusion"]["classes"], m["confusion"]["matrix"]):
        lines.append(f"  {name:<14}" + "".join(f"{x:>8d}" for x in row))
    lines.append(f"class accuracy {m['class_accuracy']:.3f}; {m['ms_per_event']:.1f} ms per event")
    if "efficiency_2d" in m:
        lines.append("class per view       efficiency 1cm/2cm   purity 1cm/2cm")
        for k, by_view in m["efficiency_2d"].items():
            for v, e in by_view.items():
                p = m["purity_2d"][k][v]
                lines.append(f"  {k:<14} {v:<3} {e['1cm']:>8.3f} {e['2cm']:>8.3f}   {p['1cm']:>7.3f} {p['2cm']:>7.3f}")
    if "parent_accuracy" in m:
        counts = m["parent_counts"]
        n = sum(c["scored"] for c in counts.values())
        by_class = ", ".join(f"{k} {a:.3f} ({counts[k]['scored']})" for k, a in m["parent_accuracy_by_class"].items())
        lines.append(f"parent accuracy {m['parent_accuracy']:.3f} of {n} found vertices whose true parent is found: "
                     f"{by_class}; true parent not found for {sum(c['parent_not_found'] for c in counts.values())}")
        g = m["conversion_gap"]
        lines.append(f"conversion gap within 1 cm of the true gap {g['within_1cm']:.3f} of {g['conversions']} found "
                     f"conversions; found - true median {g['median_cm']:.2f} cm, 68% width {g['width68_cm']:.2f} cm")
    lines += _surface_lines(m)
    return "\n".join(lines)


def _surface_lines(m: dict) -> list:
    lines = []
    if "detectors" in m:
        lines.append(f"detectors {', '.join(m['detectors'])}; events with cosmics {m['events_with_cosmics']}"
                     + ("; each event restricted to its neutrino's slice" if m.get("per_slice") else ""))
    if "cosmic_flag" in m:
        c = m["cosmic_flag"]
        lines.append(f"cosmic flag right: cosmic vertices {c['cosmic']['right']:.3f} ({c['cosmic']['vertices']}), "
                     f"the neutrino's {c['neutrino']['right']:.3f} ({c['neutrino']['vertices']})")
    if "reference" in m:
        r = m["reference"]
        lines.append(f"the file's own neutrino vertex (e.g. Pandora's) beside ours, {r['events']} events:"
                     "      1 cm     2 cm     5 cm   wrong")
        for name in ("reference", "ours"):
            f = r[name]
            lines.append(f"  {name:<18} " + "".join(f"{f[f'within_{x:g}cm_3d']:>8.3f} " for x in RADII_3D)
                         + f"{f['wrong_vertex_rate']:>6.3f}")
    return lines


def parse_variation(text: str) -> dict:
    """``"gain=0.5,smear=1"`` -> ``{"gain": 0.5, "smear": 1.0}`` (names of :data:`VARIATIONS`)."""
    out = {}
    for item in filter(None, (t.strip() for t in str(text).split(","))):
        key, _, value = item.partition("=")
        key = key.strip()
        if key not in VARIATIONS:
            raise ValueError(f"unknown variation {key!r} in {text!r}; known: {', '.join(VARIATIONS)}")
        try:
            v = float(value)
        except ValueError:
            raise ValueError(f"variation {key!r} needs a number; Received: {item!r}") from None
        if not np.isfinite(v) or v < 0 or (key == "gain" and v == 0) or (key == "dead" and v > 1):
            raise ValueError(f"variation {key!r} out of range; Received: {item!r}")
        out[key] = v
    return out


def vary_event(event: EventRecord, variation: dict, seed: int = 0) -> EventRecord:
    """The same event seen with another detector response (:data:`VARIATIONS`; the truth is kept).

    The noise and dead wires are drawn from ``(seed, run, subrun, event)``, so a variation is
    reproducible event by event.
    """
    import dataclasses

    from generators.charge import apply_response

    from .records import PlaneImage

    if not variation:
        return event
    rng = np.random.default_rng([int(seed), event.run, event.subrun, event.event])
    images = apply_response([p.pixels for p in event.planes], rng, gain=variation.get("gain", 1.0),
                            smear_px=variation.get("smear", 0.0), noise=variation.get("noise", 0.0),
                            threshold=variation.get("threshold", 0.0), dead_fraction=variation.get("dead", 0.0))
    planes = tuple(PlaneImage(p.view, im, p.origin, p.truth) for p, im in zip(event.planes, images))
    return dataclasses.replace(event, planes=planes)
