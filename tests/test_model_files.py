"""Model folders: a damaged or foreign .keras, or a config.json / refiner.json that does not describe
the model, is one error naming the file, raised before Keras builds anything (regressions of issue 14:
BadZipFile / EOFError from Keras, a 16-line TensorFlow error when the model was first called)."""

import io
import json
import zipfile

import pytest

keras = pytest.importorskip("keras")

import malformed  # noqa: E402
from vertexfinder.errors import ConfigError, ModelFileError, VertexFinderError  # noqa: E402
from vertexfinder.finder import VertexFinder  # noqa: E402
from vertexfinder.model import check_keras_archive  # noqa: E402


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    malformed.make_model_folder(folder)
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.fixture()
def folder(tmp_path, base):
    for name, data in base.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


def _rezip(raw: bytes, **members) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(raw))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for info in src.infolist():
            data = members.pop(info.filename, src.read(info.filename))
            if data is not None:
                zf.writestr(info.filename, data)
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def _inner(raw: bytes, **changes) -> bytes:
    cfg = json.loads(zipfile.ZipFile(io.BytesIO(raw)).read("config.json"))
    cfg["config"].update(changes)
    return _rezip(raw, **{"config.json": json.dumps(cfg)})


def _one_line_naming(err, path):
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg, msg
    return msg


def test_the_tiny_model_folder_loads_and_finds(folder):
    finder = VertexFinder.load(folder)
    assert finder.refiner is not None
    finder.find(malformed._tiny_event(), mode="all")


@pytest.mark.parametrize("damage", ["truncated", "not a zip", "flipped", "empty"])
def test_a_damaged_keras_file_is_named(folder, damage):
    path = folder / "walker.keras"
    raw = path.read_bytes()
    path.write_bytes({"truncated": raw[: len(raw) // 2], "not a zip": b"PK\x03\x04 no zip at all",
                      "flipped": raw[:3000] + bytes([raw[3000] ^ 0xFF]) + raw[3001:], "empty": b""}[damage])
    with pytest.raises(ModelFileError) as err:
        VertexFinder.load(folder)
    _one_line_naming(err, path)


def test_a_keras_file_of_another_model_is_named(folder, tmp_path):
    other = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    other.save(tmp_path / "other.keras")
    (folder / "walker.keras").write_bytes((tmp_path / "other.keras").read_bytes())
    with pytest.raises(ModelFileError, match="not a vertexfinder walker") as err:
        VertexFinder.load(folder)
    _one_line_naming(err, folder / "walker.keras")


def test_weights_of_another_model_are_named(folder, base):
    path = folder / "walker.keras"
    path.write_bytes(_rezip(base["walker.keras"], **{"model.weights.h5": zipfile.ZipFile(
        io.BytesIO(base["refiner.keras"])).read("model.weights.h5")}))
    with pytest.raises(ModelFileError, match="cannot load the walker") as err:
        VertexFinder.load(folder)
    _one_line_naming(err, path)


def test_a_config_json_that_does_not_describe_the_model_is_named_before_tensorflow_runs(folder):
    cfg = json.loads((folder / "config.json").read_text())
    cfg["num_levels"] = 4  # the model has 3: the first call failed with 16 lines of TensorFlow traceback
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="num_levels 4 vs 3") as err:
        VertexFinder.load(folder)
    _one_line_naming(err, folder / "config.json")
    assert "walker.keras" in str(err.value)


def test_layer_sizes_in_the_archive_are_bounded_before_keras_builds_them(folder, base, monkeypatch):
    path = folder / "walker.keras"
    path.write_bytes(_inner(base["walker.keras"], recurrent_units=10**7))

    def must_not_load(*a, **k):
        raise AssertionError("Keras was asked to build it")

    monkeypatch.setattr(keras.saving, "load_model", must_not_load)
    with pytest.raises(ModelFileError, match="recurrent_units") as err:
        VertexFinder.load(folder)
    _one_line_naming(err, path)


@pytest.mark.parametrize("text,match", [
    ('{"num_levels": ' + "[" * 50_000 + "]" * 50_000 + "}", "nested too deeply"),
    ("[1, 2]", "must be a JSON object"),
    ('{"num_levels": "three"}', "num_levels must be an integer"),
    ('{"cm_per_pixel": NaN}', "finite"),
    ('{"glimpse_size": [100000, 100000]}', "glimpse_size must be in"),
    ("\xff{}", "not valid JSON"),  # written as latin-1: a byte that is not UTF-8
])
def test_a_bad_config_json_is_named(folder, text, match):
    (folder / "config.json").write_text(text, encoding="latin-1")
    with pytest.raises(ConfigError, match=match) as err:
        VertexFinder.load(folder)
    _one_line_naming(err, folder / "config.json")


def test_a_refiner_json_that_does_not_describe_the_refiner_is_named(folder):
    cfg = json.loads((folder / "refiner.json").read_text())
    cfg["num_levels"] = 3
    (folder / "refiner.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="num_levels") as err:
        VertexFinder.load(folder)
    _one_line_naming(err, folder / "refiner.json")


def test_a_damaged_refiner_is_named(folder):
    (folder / "refiner.keras").write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFileError) as err:
        VertexFinder.load(folder)
    _one_line_naming(err, folder / "refiner.keras")


def test_archive_check_reads_no_keras(base, tmp_path):
    path = tmp_path / "walker.keras"
    path.write_bytes(base["walker.keras"])
    assert check_keras_archive(path)["num_levels"] == 3
    with pytest.raises(VertexFinderError, match="not a vertexfinder refiner"):
        check_keras_archive(path, "refiner")
