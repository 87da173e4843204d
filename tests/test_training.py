"""Training from the command line: a tiny run, its artefacts, and resuming after a kill."""

import csv
import json

import pytest

keras = pytest.importorskip("keras")

from vertexfinder.cli import main  # noqa: E402
from vertexfinder.training import TrainConfig, config_from_toml, train  # noqa: E402

TINY = [
    "detector='test-detector'", "sample='numu-cc'", "train_events=20", "validation_events=4",
    "validation_walks=24", "num_levels=3", "glimpse_size=[16, 16]", "num_steps=4", "max_step=32.0",
    "filters=[8, 16]", "encoder_units=16", "recurrent_units=16", "batch_size=8", "steps_per_epoch=3",
    "epochs=2", "composition_every=2",
]


def tiny_config(**kw):
    cfg = config_from_toml(None, TINY)
    return TrainConfig.from_dict({**cfg.to_dict(), **kw})


def test_config_from_toml_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("batch_size = 16\nglimpse_size = [24, 24]\ndetector = 'microboone'\n")
    cfg = config_from_toml(path, ["epochs=3", "target=primary"])
    assert (cfg.batch_size, cfg.glimpse_size, cfg.detector, cfg.epochs, cfg.target) == (16, (24, 24), "microboone", 3, "primary")
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="unknown training options"):
        config_from_toml(None, ["batchsize=3"])


def test_train_command_writes_models_logs_and_validation_metrics(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "-o", str(run), "-q"] + [a for s in TINY for a in ("--set", s)]
    assert main(args) == 0
    for name in ("config.json", "last.keras", "best.keras", "final.keras", "history.csv"):
        assert (run / name).exists(), name
    assert any((run / "logs").rglob("*"))
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert 0.0 <= float(rows[-1]["val_within_1cm"]) <= 1.0 and 0.0 <= float(rows[-1]["val_class_accuracy"]) <= 1.0
    loaded = keras.saving.load_model(run / "final.keras", safe_mode=True)
    assert loaded.max_step == 32.0


@pytest.mark.slow
def test_a_killed_run_resumes_where_it_stopped(tmp_path):
    run = tmp_path / "run"
    cfg = tiny_config(epochs=3)

    class Kill(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        train(cfg, run, verbose=0, callbacks=[Kill()])
    assert (run / "backup").exists()
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(epoch)

    model = train(cfg, run, verbose=0, callbacks=[Record()])
    assert seen == [1, 2]  # epoch 0 was not trained again
    # the optimizer state came back too: the step count (and so the learning-rate schedule) goes on
    assert int(model.optimizer.iterations) == cfg.epochs * cfg.steps_per_epoch
    with pytest.raises(ValueError, match="another configuration"):
        train(tiny_config(epochs=5), run, verbose=0)


MIRRORED = r"""
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from vertexfinder.training import TrainConfig, config_from_toml, train
cfg = config_from_toml(None, TINY + ["distribute='mirrored'", "epochs=1"])
model = train(cfg, sys.argv[1], verbose=0)
assert tf.distribute.has_strategy() is False
print("replicas", len(tf.config.list_logical_devices("CPU")))
"""


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    import subprocess
    import sys

    code = f"TINY = {TINY!r}\n" + MIRRORED
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "replicas 2" in out.stdout
    assert (tmp_path / "run" / "final.keras").exists()
