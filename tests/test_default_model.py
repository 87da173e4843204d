"""The bundled default model: it loads safely, finds vertices on a fixed seeded sample, runs the demo.

The figures asserted here are floors agreed from the model card's measurement on the 500-event
test sample (models/default/MODEL_CARD.md), loosened only for the statistics of this small sample.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import vertexfinder as vf  # noqa: E402
from vertexfinder.cli import main  # noqa: E402
from vertexfinder.evaluation import evaluate  # noqa: E402
from vertexfinder.finder import default_model_path  # noqa: E402

#: floors on 40 seeded DUNE FD nu-mix events (seed 4242), where the bundled model (walker and refiner)
#: measured 0.875 within 1 cm, 0.925 within 2 and 5 cm and class accuracy 0.88 in `all` mode (the model
#: card has the 500-event test sample)
MIN_PRIMARY_WITHIN_1CM_3D = 0.70
MIN_PRIMARY_WITHIN_5CM_3D = 0.78
MIN_PRIMARY_WITHIN_2CM_3D = 0.75
MIN_CLASS_ACCURACY = 0.82


@pytest.fixture(scope="module")
def finder():
    return vf.VertexFinder.load()


def test_default_model_files_and_safe_loading():
    d = default_model_path()
    for name in ("walker.keras", "config.json", "train.toml", "history.csv", "MODEL_CARD.md", "refiner.keras",
                 "refiner.json", "refiner.toml", "refiner_history.csv", "scorer.json", "proposer.keras", "proposer.json",
                 "proposer.toml", "proposer_history.csv", "secondary_refiner.keras", "secondary_refiner.json",
                 "secondary_refiner.toml", "secondary_refiner_history.csv", "vertex_scorer.json", "onnx.json",
                 "walker.onnx", "refiner.onnx", "secondary_refiner.onnx", "proposer.onnx", "tagger.onnx"):
        assert (d / name).is_file(), name
    assert (d / "walker.keras").stat().st_size < 5e6  # ships in the package
    assert (d / "refiner.keras").stat().st_size < 10e6
    model = vf.load_model()
    from models import Walker

    assert isinstance(model, Walker)
    assert model.count_params() < 1_000_000
    from models import Refiner

    loaded = vf.VertexFinder.load(backend="keras")
    assert isinstance(loaded.refiner, Refiner)  # the refiner beside the walker is used
    assert isinstance(loaded.secondary_refiner, Refiner) and loaded.vertex_scorer is not None
    from models import Proposer

    assert isinstance(loaded.proposer, Proposer)


def test_default_model_finds_primary_vertices_on_a_fixed_sample(finder):
    events = list(vf.simulate("dune-fd-1x2x6", "nu-mix", events=40, seed=4242))
    m = evaluate(finder, events, progress=False)
    assert m["events"] == 40
    assert m["primary_within_1cm_3d"] >= MIN_PRIMARY_WITHIN_1CM_3D
    assert m["primary_within_5cm_3d"] >= MIN_PRIMARY_WITHIN_5CM_3D
    assert m["primary_within_2cm_3d"] >= MIN_PRIMARY_WITHIN_2CM_3D
    assert m["class_accuracy"] >= MIN_CLASS_ACCURACY
    # the primary figures are monotonic in the radius, and per plane too
    assert m["primary_within_1cm_3d"] <= m["primary_within_2cm_3d"] <= m["primary_within_5cm_3d"]
    for view in ("U", "V", "Z"):
        assert m["primary_within_1cm_2d"][view] <= m["primary_within_5cm_2d"][view]


def test_demo_prints_a_table_and_writes_a_picture(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert main(["demo", "--events", "3", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "true vertex" in text and "ms per event" in text
    rows = [line.split() for line in text.splitlines() if line.split()[1:2] in (["numu"], ["nue"])]
    assert len(rows) == 3
    dist = np.array([float(r[-2]) for r in rows])
    assert np.nanmin(dist) < 5.0  # the demo's seeded events: 0.38, 0.09, 0.61 cm with the bundled model
    assert out.read_bytes()[:4] == b"\x89PNG"


@pytest.fixture(scope="module")
def unit_sample():
    return [e for e in vf.simulate("dune-fd-1x2x6", "nu-mix", events=150, seed=4243)
            if e.primary is not None and any(p.pixels.any() for p in e.planes)]


@pytest.fixture(scope="module")
def unit_found(finder, unit_sample):
    return finder.find_many(unit_sample)


@pytest.mark.slow
@pytest.mark.parametrize("variation", ["gain=0.25", "gain=0.5", "gain=2", "gain=4", "noise=2.6"])
def test_the_answer_does_not_depend_on_the_charge_unit_or_low_level_noise(finder, unit_sample, unit_found, variation):
    """The same events in other units (charge x0.25 ... x4, saturating at 255) or with low-level noise
    over the whole crop: the finder normalises the charge and cuts the noise, so the primary vertex
    moves by less than 1 cm in most events and the share within 2 cm drops by at most 3 points (the
    issue's figure, measured on 500 events by bench_robustness.py), plus one event of slack for this
    sample. Events also change the other way: where two 3D candidates score alike, a small change of
    the image can turn a wrong choice into the right one; a gain is not a loss of robustness and is
    not counted against it. Such flips, 3-6 per variation either way on 60 events, were as large as
    the 3-point figure itself on a sample that size; 150 events measure it."""
    from vertexfinder.evaluation import parse_variation, vary_event

    var = parse_variation(variation)
    base = unit_found
    varied = finder.find_many([vary_event(e, var) for e in unit_sample])

    def within(results, cut):
        return sum(bool(r.vertices) and r.vertices[0].position_cm is not None
                   and np.linalg.norm(r.vertices[0].position_cm - e.primary.position_cm) <= cut
                   for e, r in zip(unit_sample, results))

    moved = [np.linalg.norm(a.vertices[0].position_cm - b.vertices[0].position_cm)
             for a, b in zip(base, varied) if a.vertices and b.vertices
             and a.vertices[0].position_cm is not None and b.vertices[0].position_cm is not None]
    assert len(moved) >= 0.9 * len(unit_sample)
    assert np.median(moved) < 1.0
    assert within(base, 2.0) - within(varied, 2.0) <= 0.03 * len(unit_sample) + 1


#: floors on 40 seeded DUNE FD class-mix events (seed 4244), where the bundled model measured decays
#: 0.54 efficiency / 0.52 purity within 2 cm (37 true), conversions 0.39 / 0.51 (64), class accuracy
#: 0.94 and parents right for 0.75 (the model card has the 500-event class-rich samples); the model
#: before the proposer and the vertex score found 0-5% of the decays and conversions
MIN_DECAY_EFFICIENCY, MIN_DECAY_PURITY = 0.2, 0.2
MIN_CONVERSION_EFFICIENCY, MIN_CONVERSION_PURITY = 0.2, 0.3
MIN_PARENT_ACCURACY = 0.5


@pytest.mark.slow
def test_default_model_finds_decays_and_conversions_with_their_parents(finder):
    events = list(vf.simulate("dune-fd-1x2x6", "class-mix", events=40, seed=4244))
    m = evaluate(finder, events, progress=False)
    eff, pur = m["efficiency"], m["purity"]
    assert eff["decay"]["2cm"] >= MIN_DECAY_EFFICIENCY and pur["decay"]["2cm"] >= MIN_DECAY_PURITY
    assert eff["conversion"]["2cm"] >= MIN_CONVERSION_EFFICIENCY and pur["conversion"]["2cm"] >= MIN_CONVERSION_PURITY
    assert m["class_accuracy"] >= MIN_CLASS_ACCURACY
    assert m["parent_accuracy"] >= MIN_PARENT_ACCURACY
    found = finder.find_many([e for e in events if any(p.pixels.any() for p in e.planes)][:10], mode="all")
    for r in found:
        others = [v for v in r.vertices if not v.primary]
        assert all(0.5 <= v.score <= 1.0 for v in others)  # the vertex score's probability, above the cut
        assert all(-1 <= v.parent < len(r.vertices) and v.parent != i for i, v in enumerate(r.vertices))
        assert all(np.isnan(v.gap_cm) or (v.kind == "conversion" and v.gap_cm >= 0) for v in r.vertices)
