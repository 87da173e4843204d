"""Event pictures (vertexfinder.plotting): found vertices with their parents and conversion gaps."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from vertexfinder.finder.types import PlaneVertex, Vertex  # noqa: E402
from vertexfinder.plotting import KIND_COLORS, plot_vertices  # noqa: E402
from vertexfinder.simulation import simulate  # noqa: E402


def found_like_truth(event):
    """The event's true vertices as found ones, each naming its true parent, a conversion with its gap."""
    out = []
    for t in event.vertices:
        planes = tuple(PlaneVertex(p.view, *t.planes[i]) for i, p in enumerate(event.planes))
        gap = float(np.linalg.norm(t.position_cm - event.vertices[t.parent].position_cm)) \
            if t.kind == "conversion" and t.parent >= 0 else float("nan")
        out.append(Vertex(t.kind, 1.0, planes, t.position_cm, primary=t.is_primary, parent=t.parent, gap_cm=gap))
    return out


def test_plot_vertices_links_each_vertex_to_its_parent_and_labels_gaps():
    import matplotlib.pyplot as plt

    event = next(e for e in simulate("dune-fd-1x2x6", "nc-pi0", events=6, seed=3)
                 if sum(v.kind == "conversion" and v.parent >= 0 for v in e.vertices) >= 1)
    vertices = found_like_truth(event)
    fig = plot_vertices(event, vertices)
    try:
        with_parent = [v for v in vertices if 0 <= v.parent < len(vertices)]
        gaps = sorted(f"{v.gap_cm:.1f} cm" for v in with_parent if np.isfinite(v.gap_cm))
        assert gaps
        for ax, plane in zip(fig.axes, event.planes):
            dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
            assert len(dashed) == len(with_parent)
            for ln, v in zip(dashed, with_parent):
                assert matplotlib.colors.same_color(ln.get_color(), KIND_COLORS[v.kind])
            assert sorted(t.get_text() for t in ax.texts) == gaps
            crosses = [ln for ln in ax.lines if ln.get_marker() == "x"]
            assert len(crosses) == len(vertices)
            # zoomed to the vertices: every one inside the view, and less than the whole crop shown
            lo, hi = ax.get_xlim()
            ws = [v.planes[event.planes.index(plane)].global_wire for v in vertices]
            assert lo <= min(ws) and max(ws) <= hi
    finally:
        plt.close(fig)


def test_found_and_links_skips_views_a_vertex_lacks_and_vertices_without_a_parent():
    from vertexfinder.plotting import found_and_links

    a = Vertex("interaction", 1.0, (PlaneVertex("U", 1.0, 2.0), None, PlaneVertex("Z", 5.0, 6.0)), primary=True)
    b = Vertex("conversion", 0.8, (PlaneVertex("U", 3.0, 4.0), PlaneVertex("V", 7.0, 8.0), None), parent=0, gap_cm=2.25)
    found, links = found_and_links([a, b], 3)
    assert found == {0: [(1.0, 2.0, "interaction"), (3.0, 4.0, "conversion")], 1: [(7.0, 8.0, "conversion")],
                     2: [(5.0, 6.0, "interaction")]}
    assert links == {0: [((3.0, 4.0), (1.0, 2.0), "conversion", "2.2 cm")], 1: [], 2: []}  # the parent lacks V
