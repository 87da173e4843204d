"""Make the event displays of docs/images/ from seeded simulated events.

    python docs/make_event_displays.py [--outdir docs/images]

One PNG per sample: DUNE FD 1x2x6 nu_mu CC, nu_e CC, NC; ProtoDUNE-SP cosmics;
particle guns (muon with its Michel electron, 1 GeV photon, 500 MeV pi+).
All three planes, truth vertices marked by class. Then the bundled finder at work in ``all``
mode (``found_*.png``): a stopping muon with its Michel electron, a K+ at rest (p -> K+ nu like)
and an NC pi0 event whose photons convert away from the vertex, each the first event of its
seeded sample where a vertex of that class is found within 2 cm of a true one, with the found
vertices by class, each joined to its parent, and each conversion's gap.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from vertexfinder.plotting import plot_event, plot_vertices  # noqa: E402
from vertexfinder.simulation import simulate  # noqa: E402

SAMPLES = [
    ("dune_numu_cc", dict(detector="dune-fd-1x2x6", sample="numu-cc", seed=11)),
    ("dune_nue_cc", dict(detector="dune-fd-1x2x6", sample="nue-cc", seed=12)),
    ("dune_nc", dict(detector="dune-fd-1x2x6", sample="nc", seed=21)),
    ("protodune_cosmics", dict(detector="protodune-sp", sample="cosmics", seed=14)),
    ("gun_muon", dict(detector="dune-fd-1x2x6", sample="gun", particle="mu+", energy_mev=(400.0, 400.0), seed=15)),
    ("gun_gamma", dict(detector="dune-fd-1x2x6", sample="gun", particle="gamma", energy_mev=(1000.0, 1000.0), seed=16)),
    ("gun_pion", dict(detector="dune-fd-1x2x6", sample="gun", particle="pi+", energy_mev=(500.0, 500.0), seed=17)),
]

FOUND = [
    ("found_michel", "michel", 3, "decay", "stopping muon and its Michel electron: the decay found, its parent"),
    ("found_kaon", "proton-decay", 4, "decay", "K+ at rest (p -> K+ nu like): K+ -> mu+ nu, then the muon decays"),
    ("found_nc_pi0", "nc-pi0", 5, "conversion", "NC pi0: the photons convert away from the vertex (gaps in cm)"),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outdir", default=str(Path(__file__).parent / "images"))
    args = parser.parse_args(argv)
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    for name, opts in SAMPLES:
        seed = opts.pop("seed")
        event = next(simulate(events=1, seed=seed, **opts))
        fig = plot_event(event, vmax=80)
        fig.savefig(out / f"{name}.png", dpi=90)
        print(out / f"{name}.png", event)
    from vertexfinder.demo import first_found
    from vertexfinder.finder import VertexFinder

    finder = VertexFinder.load()
    for name, sample, seed, kind, title in FOUND:
        event, res = first_found(finder, sample, seed, kind)
        fig = plot_vertices(event, res.vertices, title=title, vmax=80)
        fig.savefig(out / f"{name}.png", dpi=90)
        print(out / f"{name}.png", event, [(v.kind, round(v.score, 2), v.parent, round(v.gap_cm, 1)) for v in res.vertices])


if __name__ == "__main__":
    main()
