"""Pictures of events (matplotlib): the planes of an event with its vertices and walks.

Used by ``vertexfinder show``, the notebooks and the documentation scripts, so a
user gets the same pictures from their own scripts::

    fig = vertexfinder.plotting.plot_event(store[0])
    fig.savefig("event.png")
"""

from __future__ import annotations

import numpy as np

from .records import VERTEX_KINDS, EventRecord

__all__ = ["KIND_COLORS", "plot_event", "plot_plane", "plot_vertices", "found_and_links", "plot_glimpses", "plot_walk_steps", "plot_efficiency",
           "plot_confusion"]

#: Marker colour of each vertex class.
KIND_COLORS = {"interaction": "#d62728", "decay": "#2ca02c", "conversion": "#1f77b4"}


def plot_plane(ax, plane, *, vertices=(), view_index=0, vmax=100.0, title=None, walks=None, found=(), links=(),
               box=None):
    """Draw one plane crop in global-image coordinates (wire horizontal, drift vertical).

    Args:
        ax: matplotlib axes.
        plane: a PlaneImage.
        vertices: truth vertices (drawn as open circles coloured by class).
        view_index: index of this plane among the event's planes (selects the vertex projection).
        walks: optional list of arrays (steps, 2) of global coordinates, drawn as lines.
        found: optional list of (global wire, global drift, kind) of found vertices (crosses).
        links: optional list of ((wire, drift) of a vertex, (wire, drift) of its parent, kind, label):
            a dashed line from each found vertex to its parent, coloured by the vertex's class,
            with the label (a conversion's gap) beside the vertex.
        box: optional (wire min, wire max, drift min, drift max) to show instead of the whole crop.
    """
    w0, d0 = plane.origin
    nw, nd = plane.pixels.shape
    ax.imshow(plane.pixels.T, origin="lower", cmap="Greys", vmin=0, vmax=vmax, aspect="auto",
              extent=(w0, w0 + nw, d0, d0 + nd), interpolation="nearest")
    for v in vertices:
        if len(v.planes) > view_index and np.all(np.isfinite(v.planes[view_index])):
            w, d = v.planes[view_index]
            ax.plot(w, d, "o", mfc="none", mec=KIND_COLORS[v.kind], ms=9, mew=1.8)
    for walk in walks or ():
        walk = np.asarray(walk)
        ax.plot(walk[:, 0], walk[:, 1], "-", color="orange", lw=0.8, alpha=0.8)
        ax.plot(walk[-1, 0], walk[-1, 1], ".", color="orange", ms=3)
    for (w, d), (pw, pd), kind, label in links:
        ax.plot([w, pw], [d, pd], "--", color=KIND_COLORS.get(kind, "k"), lw=1.0)
        if label:
            ax.annotate(label, (w, d), xytext=(4, 4), textcoords="offset points", fontsize=7,
                        color=KIND_COLORS.get(kind, "k"))
    for w, d, kind in found:
        ax.plot(w, d, "x", color=KIND_COLORS.get(kind, "k"), ms=10, mew=2)
    if box is None:
        box = (w0, w0 + max(nw, 1), d0, d0 + max(nd, 1))
    ax.set_xlim(box[0], box[1])
    ax.set_ylim(box[2], box[3])
    ax.set_xlabel("global wire")
    ax.set_ylabel("global drift pixel")
    if title:
        ax.set_title(title, fontsize=9)


def plot_event(event: EventRecord, *, figsize=None, vmax=100.0, walks=None, found=None, title=None, links=None,
               boxes=None):
    """One row of panels, one per plane, with truth vertices by class; returns the Figure.

    Args:
        walks: optional {plane index: list of (steps, 2) arrays}.
        found: optional {plane index: list of (global wire, global drift, kind)}.
        links: optional {plane index: list of parent links} (see :func:`plot_plane`).
        boxes: optional {plane index: (wire min, wire max, drift min, drift max)} to zoom to.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    n = len(event.planes)
    fig, axes = plt.subplots(1, n, figsize=figsize or (5 * n, 4.2), squeeze=False)
    for i, plane in enumerate(event.planes):
        plot_plane(axes[0, i], plane, vertices=event.vertices, view_index=i, vmax=vmax,
                   title=f"{plane.view} plane", walks=(walks or {}).get(i), found=(found or {}).get(i, ()),
                   links=(links or {}).get(i, ()), box=(boxes or {}).get(i))
    handles = [Line2D([], [], ls="", marker="o", mfc="none", mec=KIND_COLORS[k], label=k) for k in VERTEX_KINDS]
    if found:
        handles.append(Line2D([], [], ls="", marker="x", color="k", label="found"))
    if links:
        handles.append(Line2D([], [], ls="--", color="k", label="to parent"))
    fig.legend(handles=handles, loc="upper right", fontsize=8, frameon=False)
    label = title or (
        f"{event.detector} run {event.run} subrun {event.subrun} event {event.event}"
        + (f"  {event.interaction} nu {event.nu_pdg}  E = {event.energy_gev:.2f} GeV" if event.nu_pdg else "")
    )
    fig.suptitle(label, fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.93, 0.95))
    return fig


def found_and_links(vertices, n_planes: int) -> tuple[dict, dict]:
    """({plane: [(global wire, global drift, kind)]}, {plane: [parent links]}) of found vertices, as
    :func:`plot_event` takes them: each vertex on every view it has, and a link from each vertex
    to its ``parent`` labelled with a conversion's gap."""
    found = {p: [] for p in range(n_planes)}
    links = {p: [] for p in range(n_planes)}
    for p in range(n_planes):
        for v in vertices:
            pv = v.planes[p] if p < len(v.planes) else None
            if pv is None:
                continue
            found[p].append((pv.global_wire, pv.global_drift, v.kind))
            parent = vertices[v.parent].planes[p] if 0 <= v.parent < len(vertices) else None
            if parent is not None:
                label = f"{v.gap_cm:.1f} cm" if np.isfinite(v.gap_cm) else ""
                links[p].append(((pv.global_wire, pv.global_drift), (parent.global_wire, parent.global_drift),
                                 v.kind, label))
    return found, links


def plot_vertices(event: EventRecord, vertices, *, walks=None, title=None, margin_px: float = 40.0, vmax=100.0):
    """An event's planes with its true vertices (circles), the found ones (crosses, by class), a
    dashed line from each found vertex to its ``parent`` and each conversion's ``gap_cm``, zoomed
    to the vertices (``margin_px`` around them); returns the Figure.

    Args:
        vertices: the finder's Vertex list of the event (``mode="all"``: the primary first).
        walks: optional {plane index: list of (steps, 2) arrays}, e.g. ``FindResult.walks``.
    """
    n = len(event.planes)
    found, links = found_and_links(vertices, n)
    boxes = {}
    for p in range(n):
        pts = [(v.planes[p].global_wire, v.planes[p].global_drift) for v in vertices if v.planes[p] is not None]
        pts += [tuple(t.planes[p]) for t in event.vertices if len(t.planes) > p and np.all(np.isfinite(t.planes[p]))]
        pts = np.array([x for x in pts if np.all(np.isfinite(x))]).reshape(-1, 2)
        if len(pts):
            lo, hi = pts.min(axis=0) - margin_px, pts.max(axis=0) + margin_px
            boxes[p] = (lo[0], hi[0], lo[1], hi[1])
    return plot_event(event, walks=walks, found=found, links=links, boxes=boxes, title=title, vmax=vmax)


def plot_glimpses(glimpses, *, axes=None, vmax=100.0, title=None, scale=(2, 2)):
    """One glimpse stack (K, Gw, Gd) as K panels, level k labelled with its pixel size; returns the axes.

    The walk's own pixel (Gw // 2, Gd // 2) is marked with a cross.
    """
    import matplotlib.pyplot as plt

    g = np.asarray(glimpses)
    k = g.shape[0]
    if axes is None:
        _, axes = plt.subplots(1, k, figsize=(2.2 * k, 2.4), squeeze=False)
        axes = axes[0]
    for i in range(k):
        ax = axes[i]
        ax.imshow(g[i].T, origin="lower", cmap="Greys", vmin=0, vmax=vmax, interpolation="nearest")
        ax.plot(g.shape[1] // 2 + 0.0, g.shape[2] // 2 + 0.0, "+", color="orange", ms=8)
        ax.set_title(f"level {i}: {scale[0] ** i}x{scale[1] ** i} px", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        axes[0].figure.suptitle(title, fontsize=9)
    return axes


def plot_walk_steps(pyramid, walk, *, vmax=100.0, max_steps=None, title=None):
    """The glimpse stack the network saw at every step of one walk: one row per step; returns the Figure.

    Args:
        pyramid: the generators.Pyramid the walk moved on.
        walk: (steps + 1, 2) positions in the pyramid's pixels (e.g. a FindResult walk minus the origin).
    """
    import matplotlib.pyplot as plt

    walk = np.asarray(walk)
    n = len(walk) - 1 if max_steps is None else min(max_steps, len(walk) - 1)
    k = pyramid.spec.num_levels
    fig, axes = plt.subplots(n, k, figsize=(1.8 * k, 1.8 * n), squeeze=False)
    stacks = pyramid.extract(np.floor(walk[:n]).astype(np.int64))
    for t in range(n):
        plot_glimpses(stacks[t], axes=axes[t], vmax=vmax, scale=pyramid.spec.scale)
        d = walk[t + 1] - walk[t]
        axes[t, 0].set_ylabel(f"step {t}\n({d[0]:+.1f}, {d[1]:+.1f})", fontsize=8)
    fig.suptitle(title or "glimpse stacks along a walk (rows: steps; label: the step taken)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_efficiency(distances: dict, *, max_cm=10.0, ax=None, title=None):
    """Cumulative fraction of distances (cm) below a radius, one curve per label; returns the axes.

    Args:
        distances: {label: array of distances in cm (inf for not found)}.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.6))
    r = np.linspace(0, max_cm, 201)
    for label, d in distances.items():
        d = np.asarray(d, dtype=float)
        if d.size:
            ax.plot(r, (d[None, :] <= r[:, None]).mean(axis=1), label=f"{label} ({d.size})")
    for cut in (1.0, 2.0):
        ax.axvline(cut, color="0.7", lw=0.8, ls="--")
    ax.set_xlabel("distance to the true vertex (cm)")
    ax.set_ylabel("fraction within")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_confusion(matrix, classes, *, ax=None, title="rows: true class, columns: found class"):
    """A confusion matrix with counts and row fractions; returns the axes."""
    import matplotlib.pyplot as plt

    m = np.asarray(matrix, dtype=float)
    frac = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.6))
    ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{int(m[i, j])}\n{frac[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if frac[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=30, fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_title(title, fontsize=9)
    return ax
