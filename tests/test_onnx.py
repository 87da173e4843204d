"""The ONNX export and the onnxruntime backend: every network agrees with Keras on real glimpse
batches, the finder gives the same vertices without TensorFlow, the Triton repository's
configurations parse with Triton's own schema, and stale or damaged ONNX files are refused."""

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("keras")
ort = pytest.importorskip("onnxruntime")

import vertexfinder as vf  # noqa: E402
from vertexfinder.cli import main  # noqa: E402
from vertexfinder.errors import ConfigError, ModelFileError  # noqa: E402
from vertexfinder.export import export_onnx, export_triton, triton_config  # noqa: E402
from vertexfinder.finder import VertexFinder, default_backend, default_model_path  # noqa: E402
from vertexfinder.finder.core import network_function  # noqa: E402
from vertexfinder.model.onnx import MANIFEST, NETWORKS, read_manifest  # noqa: E402

#: the largest difference allowed between an onnxruntime output and the Keras one
TOLERANCE = 1e-4
#: ... for the walker's step (pixels, up to +-max_step = 64): the float32 sums of the two libraries
#: (oneDNN or Eigen, MLAS) differ by a few 1e-7 relative before the last tanh, which the step's
#: scale of 64 turns into up to 1.1e-4 pixels (measured on 6,144 walks; 1.7e-6 of the step's range)
STEP_TOLERANCE = 2e-4


@pytest.fixture(scope="module")
def keras_finder():
    return VertexFinder.load(backend="keras")


@pytest.fixture(scope="module")
def events():
    return [e for e in vf.simulate("dune-fd-1x2x6", "nu-mix", events=3, seed=515) if e.primary is not None]


@pytest.fixture(scope="module")
def exported(keras_finder, tmp_path_factory):
    return export_onnx(keras_finder, tmp_path_factory.mktemp("onnx") / "model")


@pytest.fixture(scope="module")
def recorded(keras_finder, events):
    """Every network's inputs as the finder gives them on real events (``all`` mode), by network."""
    calls = {name: [] for name in NETWORKS}
    finder = VertexFinder.load(backend="keras")
    for attr, name in (("step", "walker"), ("refine_fn", "refiner"), ("secondary_fn", "secondary_refiner"),
                       ("proposal_fn", "proposer"), ("tagger_fn", "tagger")):
        fn = getattr(finder, attr)

        def recording(*args, fn=fn, name=name):
            calls[name].append([np.array(a) if isinstance(a, np.ndarray) else a for a in args])
            return fn(*args)

        setattr(finder, attr, recording)
    finder.find_many(events, mode="all")
    surface = [e for e in vf.simulate("sbnd", "nu-mix", events=1, seed=5, beam="booster", cosmics=3)]
    finder.find_many(surface, mode="primary")  # the tagger runs at the surface
    return calls


def _compare(keras_out, onnx_out):
    assert set(keras_out) == set(onnx_out)
    for key, value in keras_out.items():
        a, b = np.asarray(value), np.asarray(onnx_out[key])
        assert a.shape == b.shape, key
        assert np.max(np.abs(a - b), initial=0.0) <= (STEP_TOLERANCE if key == "step" else TOLERANCE), key


@pytest.mark.parametrize("folder", ["exported", pytest.param("bundled", marks=pytest.mark.slow)])
def test_every_network_agrees_with_keras_on_real_glimpses(folder, request, keras_finder, recorded):
    path = request.getfixturevalue("exported") if folder == "exported" else default_model_path()
    onnx = VertexFinder.load(path, backend="onnxruntime")
    assert onnx.backend == "onnxruntime" and keras_finder.backend == "keras"
    pairs = {"walker": (keras_finder.step, onnx.step), "refiner": (keras_finder.refine_fn, onnx.refine_fn),
             "secondary_refiner": (keras_finder.secondary_fn, onnx.secondary_fn),
             "proposer": (keras_finder.proposal_fn, onnx.proposal_fn), "tagger": (keras_finder.tagger_fn, onnx.tagger_fn)}
    for name, (k_fn, o_fn) in pairs.items():
        calls = recorded[name]
        assert calls, f"the finder never called the {name}"
        for args in calls[:4]:
            if name == "walker":  # a mid-walk state: the recorded one is Keras' own tensor
                g, f, _ = args
                state = np.random.default_rng(0).normal(0, 0.5, (len(g), keras_finder.model.recurrent_units))
                k_out, k_state = k_fn(g, f, None)
                o_out, o_state = o_fn(g, f, None)
                _compare(k_out, o_out)
                assert np.max(np.abs(np.asarray(k_state)[: len(g)] - o_state)) <= TOLERANCE
                k_out, k_state = k_fn(g, f, state.astype(np.float32))
                o_out, o_state = o_fn(g, f, state.astype(np.float32))
                _compare(k_out, o_out)
                assert np.max(np.abs(np.asarray(k_state)[: len(g)] - o_state)) <= TOLERANCE
            elif name == "tagger":
                assert np.max(np.abs(k_fn(*args) - o_fn(*args))) <= TOLERANCE
            else:
                _compare(k_fn(*args), o_fn(*args))


def test_the_two_backends_find_the_same_vertices(keras_finder, events):
    onnx = VertexFinder.load(backend="onnxruntime", threads=1)
    for mode in ("primary", "all"):
        k_res, o_res = keras_finder.find_many(events, mode=mode), onnx.find_many(events, mode=mode)
        for a, b in zip(k_res, o_res):
            assert [v.kind for v in a.vertices] == [v.kind for v in b.vertices]
            for va, vb in zip(a.vertices, b.vertices):
                assert np.linalg.norm(np.asarray(va.position_cm) - np.asarray(vb.position_cm)) < 0.01


def test_the_export_writes_every_network_and_what_the_finder_reads(exported):
    manifest = json.loads((exported / MANIFEST).read_text())
    assert set(manifest["networks"]) == set(NETWORKS)
    for name, entry in manifest["networks"].items():
        session = ort.InferenceSession(str(exported / entry["file"]), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == [i["name"] for i in entry["inputs"]]
        assert entry["source_sha256"] == read_manifest(default_model_path())["networks"][name]["source_sha256"]
    for name in ("config.json", "refiner.json", "scorer.json", "scorer_surface.json", "vertex_scorer.json"):
        assert (exported / name).read_bytes() == (default_model_path() / name).read_bytes()
    assert not list(exported.glob("*.keras"))


def test_the_bundled_onnx_networks_are_those_of_the_keras_archives():
    manifest = read_manifest(default_model_path())  # raises if a .keras archive changed since the export
    assert set(manifest["networks"]) == set(NETWORKS)
    assert default_backend() == "onnxruntime"


def test_stale_damaged_and_foreign_onnx_folders_are_refused(exported, tmp_path):
    stale = tmp_path / "stale"
    shutil.copytree(exported, stale)
    shutil.copyfile(default_model_path() / "refiner.keras", stale / "walker.keras")  # another archive
    with pytest.raises(ModelFileError, match="walker.onnx: out of date"):
        VertexFinder.load(stale, backend="onnxruntime")
    assert default_backend(stale) == "keras"  # the default falls back to the archives

    damaged = tmp_path / "damaged"
    shutil.copytree(exported, damaged)
    with open(damaged / "refiner.onnx", "r+b") as f:
        f.seek(1000)
        f.write(b"\0" * 64)
    with pytest.raises(ModelFileError, match="refiner.onnx: damaged"):
        VertexFinder.load(damaged, backend="onnxruntime")

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / MANIFEST).write_text('{"format": "something-else"}')
    with pytest.raises(ConfigError, match="not a vertexfinder ONNX manifest"):
        VertexFinder.load(foreign, backend="onnxruntime")
    with pytest.raises(FileNotFoundError, match="no ONNX models"):
        VertexFinder.load(tmp_path, backend="onnxruntime")
    with pytest.raises(ValueError, match="backend must be one of"):
        VertexFinder.load(backend="torch")


def test_the_onnx_backend_never_imports_tensorflow_or_keras(tmp_path):
    """In a process where TensorFlow and Keras cannot be imported at all, the bundled model finds
    vertices (library call and command line), and neither is in sys.modules after."""
    store = tmp_path / "ev.vfstore"
    assert main(["simulate", "-o", str(store), "--events", "2", "--seed", "3", "-q"]) == 0
    code = textwrap.dedent(f"""
        import importlib.abc, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
                    raise ImportError(f"{{name}} is not installed")

        sys.meta_path.insert(0, Block())
        import vertexfinder as vf
        from vertexfinder.cli import main

        finder = vf.VertexFinder.load()
        assert finder.backend == "onnxruntime"
        ev = next(iter(vf.simulate("dune-fd-1x2x6", "nu-mix", events=1, seed=8)))
        assert finder.find(ev, mode="all")
        assert main(["find", {str(store)!r}, "-o", {str(tmp_path / "out.csv")!r}, "-q"]) == 0
        assert main(["find", {str(store)!r}, "-o", {str(tmp_path / "k.csv")!r}, "-q", "--backend", "keras"]) == 1
        bad = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "models")]
        assert not bad, bad
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "ok" in run.stdout
    assert "pip install 'vertexfinder[train]'" in run.stderr  # the Keras backend says what is missing
    assert (tmp_path / "out.csv").read_text().count("\n") > 1


def test_the_triton_repository_parses_with_tritons_model_configuration_schema(keras_finder, tmp_path):
    model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
    from google.protobuf import text_format

    repo = export_triton(keras_finder, tmp_path / "repo")
    client = read_manifest(repo / "vertexfinder", check_sources=False)
    assert (repo / "vertexfinder" / "config.json").is_file()
    types = {"uint8": model_config_pb2.TYPE_UINT8, "float32": model_config_pb2.TYPE_FP32}
    for name, entry in client["networks"].items():
        config = text_format.Parse((repo / name / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
        assert config.name == name and config.backend == "onnxruntime"
        batched = config.max_batch_size > 0
        assert batched == (name != "proposer")
        session = ort.InferenceSession(str(repo / name / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
        for kind, declared, actual in (("inputs", config.input, session.get_inputs()),
                                       ("outputs", config.output, session.get_outputs())):
            assert [d.name for d in declared] == [a.name for a in actual] == [e["name"] for e in entry[kind]]
            for d, e in zip(declared, entry[kind]):
                assert d.data_type == types[e["dtype"]]
                shape = e["shape"][1:] if batched else e["shape"]
                assert list(d.dims) == [-1 if s is None else s for s in shape]
    assert "max_batch_size: 0" in triton_config("proposer", client["networks"]["proposer"])
    local = VertexFinder.load(repo / "vertexfinder", backend="onnxruntime")  # the served files, in process
    ev = next(iter(vf.simulate("dune-fd-1x2x6", "nu-mix", events=1, seed=8)))
    assert np.allclose(local.find(ev)[0].position_cm, keras_finder.find(ev)[0].position_cm, atol=0.01)


@pytest.mark.slow
def test_evaluate_reports_both_backends_and_their_agreement(tmp_path, capsys):
    store = tmp_path / "ev.vfstore"
    assert main(["simulate", "-o", str(store), "--events", "2", "--seed", "21", "-q"]) == 0
    out = tmp_path / "m.json"
    assert main(["evaluate", str(store), "--backend", "both", "--mode", "primary", "-q", "--json",
                        str(out)]) == 0
    m = json.loads(out.read_text())
    assert set(m["backends"]) == {"onnxruntime", "keras"}
    assert m["backends"]["keras"]["backend"] == "keras"
    assert m["agreement"]["events"] == 2 and m["agreement"]["same_primary"] == 1.0
    for key in ("primary_within_1cm_3d", "primary_within_5cm_3d"):
        assert m["backends"]["onnxruntime"][key] == m["backends"]["keras"][key]
    assert "backends agree" in capsys.readouterr().out


def test_agreement_counts_moved_missing_and_extra_vertices():
    from vertexfinder.evaluation import agreement

    p = np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 5.0]])
    a = [((1, 0, 1), p), ((1, 0, 2), p), ((1, 0, 3), p[:1]), ((1, 0, 4), np.full((1, 3), np.nan))]
    b = [((1, 0, 1), p + 0.001), ((1, 0, 2), p + [[0.0, 0.0, 0.0], [0.5, 0, 0]]), ((1, 0, 3), p),
         ((1, 0, 4), np.full((1, 3), np.nan))]
    out = agreement(a, b)
    assert out["events"] == 4
    assert out["same_primary"] == 1.0  # the first vertices agree everywhere (NaN with NaN)
    assert out["same_vertices"] == 0.5  # event 2 moved its second vertex, event 3 has one more
    c = [((1, 0, 1), p[1:] + 1.0)]
    assert agreement(a, c)["same_primary"] == 0.0 and agreement(a, c)["max_primary_cm"] > 8
    assert agreement(a, [((1, 0, 4), p[:1])])["max_primary_cm"] == np.inf


def test_network_function_builds_the_keras_call_for_keras_networks(keras_finder):
    g = np.zeros((3, keras_finder.spec.num_levels, *keras_finder.spec.glimpse_size), np.uint8)
    f = np.zeros((3, keras_finder.model.num_features), np.float32)
    out, _ = network_function(keras_finder.model, "walker")(g, f, None)
    assert out["step"].shape == (3, 2)


def test_every_network_call_goes_through_run_so_a_client_can_send_it_to_a_server(events):
    """The README's Triton client replaces each OnnxNetwork's ``run``: every network the finder
    uses is then called through it, and the answers stay the same."""
    finder = VertexFinder.load(backend="onnxruntime")
    want = [[v.position_cm for v in r.vertices] for r in finder.find_many(events, mode="all")]
    sent = {}
    for net in (finder.model, finder.refiner, finder.secondary_refiner, finder.proposer):
        def served(net=net, original=net.run, **inputs):  # a stand-in for the server: the same session
            sent[net.name] = sent.get(net.name, 0) + 1
            return original(**inputs)

        net.run = served
    got = [[v.position_cm for v in r.vertices] for r in finder.find_many(events, mode="all")]
    assert set(sent) == {"walker", "refiner", "secondary_refiner", "proposer"}
    assert all(np.allclose(a, b) for a, b in zip(want, got))


def test_the_bundled_model_is_found_when_another_models_package_comes_first(tmp_path, monkeypatch):
    """onnxruntime's quantisation tools put a folder with a package named ``models`` first on
    sys.path: the bundled model is still the one installed beside vertexfinder."""
    other = tmp_path / "models"
    (other / "default").mkdir(parents=True)
    (other / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "models", raising=False)  # as in a process that has not imported it
    import importlib.util

    assert importlib.util.find_spec("models").origin == str(other / "__init__.py")
    assert default_model_path() == (default_model_path.__globals__["Path"](vf.__file__).resolve().parents[1]
                                    / "models" / "default")
    assert (default_model_path() / MANIFEST).is_file()
