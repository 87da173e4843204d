"""Pictures of events (matplotlib): the planes of an event with its vertices and walks.

Used by ``vertexfinder show``, the notebooks and the documentation scripts, so a
user gets the same pictures from their own scripts::

    fig = vertexfinder.plotting.plot_event(store[0])
    fig.savefig("event.png")
"""

from __future__ import annotations

import numpy as np

from .records import VERTEX_KINDS, EventRecord

__all__ = ["KIND_COLORS", "plot_event", "plot_plane"]

#: Marker colour of each vertex class.
KIND_COLORS = {"interaction": "#d62728", "decay": "#2ca02c", "conversion": "#1f77b4"}


def plot_plane(ax, plane, *, vertices=(), view_index=0, vmax=100.0, title=None, walks=None, found=()):
    """Draw one plane crop in global-image coordinates (wire horizontal, drift vertical).

    Args:
        ax: matplotlib axes.
        plane: a PlaneImage.
        vertices: truth vertices (drawn as open circles coloured by class).
        view_index: index of this plane among the event's planes (selects the vertex projection).
        walks: optional list of arrays (steps, 2) of global coordinates, drawn as lines.
        found: optional list of (global wire, global drift, kind) of found vertices (crosses).
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
    for w, d, kind in found:
        ax.plot(w, d, "x", color=KIND_COLORS.get(kind, "k"), ms=10, mew=2)
    ax.set_xlim(w0, w0 + max(nw, 1))
    ax.set_ylim(d0, d0 + max(nd, 1))
    ax.set_xlabel("global wire")
    ax.set_ylabel("global drift pixel")
    if title:
        ax.set_title(title, fontsize=9)


def plot_event(event: EventRecord, *, figsize=None, vmax=100.0, walks=None, found=None, title=None):
    """One row of panels, one per plane, with truth vertices by class; returns the Figure.

    Args:
        walks: optional {plane index: list of (steps, 2) arrays}.
        found: optional {plane index: list of (global wire, global drift, kind)}.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    n = len(event.planes)
    fig, axes = plt.subplots(1, n, figsize=figsize or (5 * n, 4.2), squeeze=False)
    for i, plane in enumerate(event.planes):
        plot_plane(axes[0, i], plane, vertices=event.vertices, view_index=i, vmax=vmax,
                   title=f"{plane.view} plane", walks=(walks or {}).get(i), found=(found or {}).get(i, ()))
    handles = [Line2D([], [], ls="", marker="o", mfc="none", mec=KIND_COLORS[k], label=k) for k in VERTEX_KINDS]
    fig.legend(handles=handles, loc="upper right", fontsize=8, frameon=False)
    label = title or (
        f"{event.detector} run {event.run} subrun {event.subrun} event {event.event}"
        + (f"  {event.interaction} nu {event.nu_pdg}  E = {event.energy_gev:.2f} GeV" if event.nu_pdg else "")
    )
    fig.suptitle(label, fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.93, 0.95))
    return fig
