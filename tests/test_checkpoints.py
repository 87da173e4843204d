"""Run folders that survive a kill: atomic checkpoints, a two-step backup, a history without
duplicated or torn rows, a damaged backup named in one line. On a tiny Dense model (the callbacks
do not depend on the walker); the walker's and the refiner's training use the same callbacks."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from vertexfinder.training.checkpoints import (  # noqa: E402
    BACKUP_METADATA,
    AtomicModelCheckpoint,
    RunBackup,
    finish_run,
    run_callbacks,
    save_model_atomically,
    stop_logging,
    trim_history,
)
from vertexfinder.errors import RunError  # noqa: E402

X = np.linspace(-1, 1, 64, dtype=np.float32).reshape(32, 2)
Y = X.sum(axis=1, keepdims=True)


def _model():
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    m.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    return m


class Score(keras.callbacks.Callback):
    """A validation metric that improves, then gets worse."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_score"] = self.values[epoch]


class Stop(keras.callbacks.Callback):
    """Raises at the start of an epoch, as a Ctrl-C would."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def _fit(run, epochs, *, extra=(), values=(0.1, 0.5, 0.3, 0.2, 0.6, 0.1)):
    model = _model()
    cbs = [Score(values)] + run_callbacks(run, monitor="val_score", tensorboard=False)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(epoch)

    try:
        model.fit(X, Y, epochs=epochs, verbose=0, callbacks=cbs + [Record(), *extra])
    finally:
        stop_logging(cbs)
    return model, seen


def _history(run):
    with open(run / "history.csv") as f:
        return list(csv.DictReader(f))


def test_a_save_that_fails_leaves_the_previous_file(tmp_path):
    target = tmp_path / "last.keras"
    target.write_bytes(b"the previous checkpoint")

    class Dying:
        def save(self, path):
            Path(path).write_bytes(b"half a mod")  # what a kill during model.save leaves
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        save_model_atomically(Dying(), target)
    assert target.read_bytes() == b"the previous checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.keras"]


def test_checkpoints_are_written_through_a_temporary(tmp_path, monkeypatch):
    written = []
    real = keras.Model.save

    def spy(self, path, *a, **k):
        written.append(str(path))
        return real(self, path, *a, **k)

    monkeypatch.setattr(keras.Model, "save", spy)
    run = tmp_path / "run"
    run.mkdir()
    _fit(run, 2)
    assert written and all("/." in p and ".tmp" in p for p in written)  # never the checkpoint itself
    assert keras.saving.load_model(run / "last.keras").count_params() == 3


def test_resume_restores_epoch_weights_optimizer_and_best_and_trims_history(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(KeyboardInterrupt):
        _fit(run, 6, extra=[Stop(3)])
    meta = json.loads((run / "backup" / BACKUP_METADATA).read_text())
    assert meta["epoch"] == 3 and meta["best"] == {"best.keras": 0.5}
    assert sorted(p.name for p in (run / "backup").iterdir()) == ["epoch-000003.weights.h5", BACKUP_METADATA]
    # the history as a kill in the middle of epoch 3's end leaves it: epoch 3 written, a row torn
    with open(run / "history.csv", "a") as f:
        f.write("3,0.1,0.2\n4,0.")
    best_before = (run / "best.keras").read_bytes()
    model, seen = _fit(run, 6)
    assert seen == [3, 4, 5]
    assert int(model.optimizer.iterations) == 6  # one batch of 32 per epoch, the optimizer state came back
    assert [r["epoch"] for r in _history(run)] == ["0", "1", "2", "3", "4", "5"]
    # epochs 3-5 scored 0.2, 0.6, 0.1: only 0.6 beats the 0.5 of epoch 1, restored from the backup
    assert (run / "best.keras").read_bytes() != best_before


def test_best_checkpoint_is_not_replaced_by_a_worse_model_after_a_resume(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    values = (0.1, 0.5, 0.3, 0.2, 0.25, 0.1)
    with pytest.raises(KeyboardInterrupt):
        _fit(run, 6, extra=[Stop(3)], values=values)
    best = (run / "best.keras").read_bytes()
    _fit(run, 6, values=values)
    assert (run / "best.keras").read_bytes() == best  # 0.2, 0.25, 0.1 never beat 0.5


def test_a_kill_between_the_weights_and_the_commit_keeps_the_previous_epoch(tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(KeyboardInterrupt):
        _fit(run, 6, extra=[Stop(2)])
    real = RunBackup._save_model

    def dies_before_commit(self):
        import vertexfinder.training.checkpoints as ck

        monkeypatch.setattr(ck, "atomic_output", _dies_on(BACKUP_METADATA, ck.atomic_output))
        real(self)

    monkeypatch.setattr(RunBackup, "_save_model", dies_before_commit)
    with pytest.raises(KeyboardInterrupt):
        _fit(run, 6)
    monkeypatch.undo()
    assert json.loads((run / "backup" / BACKUP_METADATA).read_text())["epoch"] == 2
    _, seen = _fit(run, 6)
    assert seen == [2, 3, 4, 5]
    assert [r["epoch"] for r in _history(run)] == ["0", "1", "2", "3", "4", "5"]
    assert not [p for p in (run / "backup").iterdir() if p.name.startswith(".")]


def _dies_on(name, atomic_output):
    from contextlib import contextmanager

    @contextmanager
    def wrapper(path, **kw):
        if str(path).endswith(name):
            raise KeyboardInterrupt
        with atomic_output(path, **kw) as tmp:
            yield tmp

    return wrapper


@pytest.mark.parametrize("damage", ["weights", "metadata", "missing-weights"])
def test_a_damaged_backup_is_one_line_naming_the_file(tmp_path, damage):
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(KeyboardInterrupt):
        _fit(run, 6, extra=[Stop(2)])
    backup = run / "backup"
    weights = backup / "epoch-000002.weights.h5"
    if damage == "weights":
        weights.write_bytes(weights.read_bytes()[:300])  # torn, as in place writes left it
        named = weights
    elif damage == "metadata":
        (backup / BACKUP_METADATA).write_text('{"epoch": 2, "weights": ')
        named = backup / BACKUP_METADATA
    else:
        weights.unlink()
        named = backup / BACKUP_METADATA
    with pytest.raises(RunError) as err:
        _fit(run, 6)
    msg = str(err.value)
    assert str(named) in msg and "\n" not in msg and "damaged" in msg and str(backup) in msg


def test_a_torn_backup_of_keras_backupandrestore_is_named(tmp_path):
    """Backups written in place by keras.callbacks.BackupAndRestore (earlier versions) still resume, and a
    torn one says which file, where h5py said 'Unable to synchronously open file' naming none."""
    run = tmp_path / "run"
    model = _model()
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(str(run / "backup"),
                                                                                      delete_checkpoint=False)])
    _, seen = _fit(run, 4)
    assert seen == [2, 3]
    old = tmp_path / "old"
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(str(old / "backup"),
                                                                                      delete_checkpoint=False)])
    legacy = old / "backup" / "latest.weights.h5"
    legacy.write_bytes(legacy.read_bytes()[:200])
    with pytest.raises(RunError, match="damaged") as err:
        _fit(old, 4)
    assert str(legacy) in str(err.value) and "\n" not in str(err.value)


def test_finish_run_removes_the_backup_after_the_final_model(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(KeyboardInterrupt):
        _fit(run, 6, extra=[Stop(2)])
    model, _ = _fit(run, 3)
    assert (run / "backup").is_dir()  # kept when fit ends: the final model is not written yet
    finish_run(run, model, "final.keras")
    assert (run / "final.keras").is_file() and not (run / "backup").exists()


def test_trim_history_keeps_whole_rows_of_the_epochs_done(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,1.0\n1,0.5\n2,0.4\n2,0.4\n3,0.")
    trim_history(path, 2)
    assert path.read_text() == "epoch,loss\n0,1.0\n1,0.5\n"
    path.write_text("epo")  # the header torn
    trim_history(path, 0)
    assert path.read_text() == ""


def test_atomic_checkpoint_ignores_a_nan_metric(tmp_path):
    cb = AtomicModelCheckpoint(str(tmp_path / "best.keras"), monitor="val_score", mode="max", save_best_only=True)
    cb.set_model(_model())
    cb.on_epoch_end(0, {"val_score": float("nan")})
    cb.on_epoch_end(1, {"val_score": 0.3})
    assert cb.best == 0.3 and (tmp_path / "best.keras").is_file()


@pytest.mark.slow
def test_the_refiner_run_shares_the_run_folder_machinery(tmp_path):
    from vertexfinder.errors import RunFinishedError
    from vertexfinder.model import RefineConfig
    from vertexfinder.training import train_refiner

    cfg = RefineConfig(detector="test-detector", sample="numu-cc", train_events=20, validation_events=4,
                       validation_points=60, num_levels=2, glimpse_size=(16, 16), filters=(8,), units=16,
                       batch_size=16, steps_per_epoch=2, epochs=3)
    run = tmp_path / "refiner"
    with pytest.raises(KeyboardInterrupt):
        train_refiner(cfg, run, verbose=0, callbacks=[Stop(1)])
    assert json.loads((run / "backup" / BACKUP_METADATA).read_text())["epoch"] == 1
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(epoch)

    train_refiner(cfg, run, verbose=0, callbacks=[Record()])
    assert seen == [1, 2]
    assert [r["epoch"] for r in _history(run)] == ["0", "1", "2"]
    assert (run / "refiner.keras").is_file() and not (run / "backup").exists()
    with pytest.raises(RunFinishedError, match="finished"):
        train_refiner(cfg, run, verbose=0)
