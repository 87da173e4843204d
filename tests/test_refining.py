"""Refiner training (vertexfinder.training.refiner; its description vertexfinder.model.RefineConfig): its configuration, validation figures and a tiny run."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from generators.truth import NONE_CLASS  # noqa: E402
from vertexfinder.model import RefineConfig, refine_spec  # noqa: E402
from vertexfinder.training import build_refiner, refine_validation, train_refiner  # noqa: E402

TINY = dict(detector="test-detector", sample="numu-cc", store="", epochs=2, steps_per_epoch=3, batch_size=16,
            validation_events=3, validation_points=60, filters=(8, 8, 8), units=16)


def test_config_round_trips_through_plain_data_and_json(tmp_path):
    cfg = RefineConfig(**TINY, glimpse_size=[24, 24], sigmas=[0.5, 2, 4], loss_weights=[1, 0, 2])
    assert cfg.glimpse_size == (24, 24) and cfg.sigmas == (0.5, 2.0, 4.0) and cfg.loss_weights == (1.0, 0.0, 2.0)
    data = cfg.to_dict()
    assert data["filters"] == [8, 8, 8] and isinstance(data["glimpse_size"], list)
    assert RefineConfig.from_dict(data) == cfg
    path = tmp_path / "refiner.json"
    path.write_text(json.dumps(data))
    assert RefineConfig.read(path) == cfg


def test_unknown_options_and_bad_values_raise_naming_them(tmp_path):
    with pytest.raises(ValueError, match=r"unknown refiner options \['batchsize', 'radiuss'\]"):
        RefineConfig.from_dict({"batchsize": 3, "radiuss": 2.0, "epochs": 1})
    with pytest.raises(ValueError, match="epochs"):
        RefineConfig(epochs=0)
    with pytest.raises(ValueError, match="loss_weights"):
        RefineConfig(loss_weights=(1.0, 1.0))
    bad = tmp_path / "refiner.json"
    bad.write_text(json.dumps({"batch_size": 4, "colour": "red"}))
    with pytest.raises(ValueError, match=r"refiner.json.*colour"):
        RefineConfig.read(bad)
    with pytest.raises(ValueError, match="missing.json"):
        RefineConfig.read(tmp_path / "missing.json")


def test_points_and_model_follow_the_config():
    cfg = RefineConfig(**{**TINY, "num_levels": 2, "glimpse_size": (16, 16), "radius": 7.0, "sigmas": (1.0, 2.0, 5.0),
                          "none_fraction": 0.4})
    spec = refine_spec(cfg)
    assert (spec.glimpse.num_levels, spec.glimpse.glimpse_size, spec.radius) == (2, (16, 16), 7.0)
    assert spec.sigmas == (1.0, 2.0, 5.0) and len(spec.sigma_weights) == 3 and spec.none_fraction == 0.4
    m = build_refiner(cfg)
    assert (m.num_levels, m.glimpse_size, m.radius, m.filters, m.units) == (2, (16, 16), 7.0, (8, 8, 8), 16)
    assert m.num_features == 3 + 1 + 2 * 2


class LookupModel:
    """A fake refiner: answers every point with its target offset plus ``error`` and a given class/primary."""

    def __init__(self, targets, error, kind, primary):
        self.targets, self.error, self.kind, self.primary = targets, error, kind, primary

    def __call__(self, inputs, training=False):
        i = inputs["features"][:, 0].astype(int)
        logits = np.eye(4)[self.kind[i]]
        return {"offset": self.targets["offset"][i] + self.error[i], "kind": logits, "primary": self.primary[i]}


def test_validation_figures_measure_what_they_say():
    n = 40
    rng = np.random.default_rng(0)
    kind = np.where(np.arange(n) % 4 == 0, NONE_CLASS, 0)
    offset = np.where((kind != NONE_CLASS)[:, None], rng.normal(size=(n, 2)) * 3, 0.0).astype(np.float32)
    targets = {"offset": offset, "kind": kind, "primary": (np.arange(n) % 2).astype(np.float32)}
    inputs = {"glimpses": np.zeros((n, 2, 8, 8), np.uint8), "features": np.arange(n, dtype=np.float32)[:, None]}
    error = np.zeros((n, 2))
    error[:10] = [3.0, 4.0]  # 5 pixels off for the first ten points
    predicted_kind = kind.copy()
    predicted_kind[:8] = 1  # eight wrong classes
    primary_logit = np.where(targets["primary"] > 0.5, 2.0, -2.0)
    primary_logit[-5:] *= -1  # five wrong primary answers
    m = refine_validation(LookupModel(targets, error, predicted_kind, primary_logit), inputs, targets, batch_size=7)
    has = kind != NONE_CLASS
    err = np.linalg.norm(error, axis=1)[has]
    assert m["val_offset_median_px"] == pytest.approx(np.median(err))
    assert m["val_within_1px"] == pytest.approx(np.mean(err <= 1.0))
    assert m["val_start_median_px"] == pytest.approx(np.median(np.linalg.norm(offset[has], axis=1)))
    assert m["val_class_accuracy"] == pytest.approx(1 - 8 / n)
    assert m["val_primary_accuracy"] == pytest.approx(1 - 5 / n)


def test_a_run_folder_with_another_configuration_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "refiner.json").write_text(json.dumps(RefineConfig(**TINY).to_dict()))
    with pytest.raises(ValueError, match="another configuration"):
        train_refiner(RefineConfig(**{**TINY, "epochs": 3}), run, verbose=0)
    assert sorted(p.name for p in run.iterdir()) == ["refiner.json"]  # nothing else was written


@pytest.fixture(scope="module")
def refiner_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("refiner") / "run"
    cfg = RefineConfig(**TINY)
    return run, cfg, train_refiner(cfg, run, verbose=0)


def history_epochs(run):
    with open(run / "history.csv") as f:
        return [r["epoch"] for r in csv.DictReader(f)]


@pytest.mark.slow
def test_a_tiny_refiner_run_writes_its_model_config_and_history(refiner_run):
    run, cfg, model = refiner_run
    for name in ("refiner.keras", "refiner.json", "history.csv", "last.keras", "best.keras"):
        assert (run / name).is_file(), name
    assert RefineConfig.read(run / "refiner.json") == cfg
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    for col in ("val_offset_median_px", "val_within_1px", "val_start_median_px", "val_class_accuracy",
                "val_primary_accuracy", "offset_loss", "kind_loss", "primary_loss"):
        assert col in rows[0], col
    assert 0 <= float(rows[-1]["val_within_1px"]) <= 1 and 0 <= float(rows[-1]["val_class_accuracy"]) <= 1
    assert float(rows[-1]["val_start_median_px"]) > 0
    assert int(model.optimizer.iterations) == cfg.epochs * cfg.steps_per_epoch
    loaded = keras.saving.load_model(run / "refiner.keras", safe_mode=True)
    x = {"glimpses": np.zeros((2, 3, 32, 32), np.uint8), "features": np.zeros((2, 10), np.float32)}
    for k, v in model(x).items():
        np.testing.assert_allclose(np.asarray(loaded(x)[k]), np.asarray(v), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="another configuration"):
        train_refiner(RefineConfig(**{**TINY, "units": 8}), run, verbose=0)
    assert history_epochs(run) == ["0", "1"]


@pytest.mark.slow
def test_a_finished_refiner_run_is_not_trained_again(refiner_run, tmp_path):
    run, cfg, _ = refiner_run
    run = Path(shutil.copytree(run, tmp_path / "copy"))  # the finished run stays as it was for the other test
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(epoch)

    try:
        train_refiner(cfg, run, verbose=0, callbacks=[Record()])
    except ValueError:
        pass  # refusing (like train's RunFinishedError) is fine too
    assert seen == [] and history_epochs(run) == ["0", "1"]


@pytest.mark.slow
def test_train_refiner_command_writes_a_refiner_and_refuses_to_train_it_again(tmp_path, capsys):
    from vertexfinder.cli import main

    run = tmp_path / "ref"
    opts = {**TINY, "epochs": 1, "steps_per_epoch": 2, "validation_events": 2, "validation_points": 24}
    toml = tmp_path / "ref.toml"
    toml.write_text("\n".join(f"{k} = {json.dumps(list(v) if isinstance(v, tuple) else v)}" for k, v in opts.items()))
    assert main(["train-refiner", "--config", str(toml), "--set", "seed=3", "-o", str(run), "-q"]) == 0
    assert "refiner.keras" in capsys.readouterr().out
    assert (run / "refiner.keras").is_file() and RefineConfig.read(run / "refiner.json").seed == 3
    assert main(["train-refiner", "--config", str(toml), "--set", "seed=3", "-o", str(run), "-q"]) == 1
    assert "finished" in capsys.readouterr().err


@pytest.mark.slow
def test_a_warm_started_refiner_run_begins_with_the_weights_it_names(refiner_run, tmp_path):
    src, cfg, model = refiner_run
    start = {}

    class Record(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            start["weights"] = [np.array(w) for w in self.model.get_weights()]

    warm = RefineConfig(**{**TINY, "epochs": 1, "steps_per_epoch": 1, "seed": 5, "init_from": str(src)})
    train_refiner(warm, tmp_path / "warm", verbose=0, callbacks=[Record()])
    want = keras.saving.load_model(src / "refiner.keras", safe_mode=True).get_weights()
    assert len(start["weights"]) == len(want)
    for a, b in zip(start["weights"], want):
        np.testing.assert_array_equal(a, b)
    assert RefineConfig.read(tmp_path / "warm" / "refiner.json").init_from == str(src)


def test_a_warm_start_from_another_network_or_no_refiner_is_refused_before_anything_is_written(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "refiner.json").write_text(json.dumps(RefineConfig(**{**TINY, "units": 8}).to_dict()))
    (other / "refiner.keras").write_bytes(b"")
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="units"):
        train_refiner(RefineConfig(**{**TINY, "init_from": str(other)}), run, verbose=0)
    assert not (run / "refiner.json").exists()
    with pytest.raises(ValueError, match="refiner.keras and refiner.json"):
        train_refiner(RefineConfig(**{**TINY, "init_from": str(tmp_path / "nowhere")}), run, verbose=0)
    assert not (run / "refiner.json").exists()
