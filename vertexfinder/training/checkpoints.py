"""Run folders that survive a kill at any moment: checkpoints, the backup, the history.

Keras' ``ModelCheckpoint`` and ``BackupAndRestore`` write their files in place, so a kill during a
save leaves a torn file, and a torn backup makes every later run of the folder fail. The callbacks
here are the ones the walker's and the refiner's training share:

* :class:`AtomicModelCheckpoint`: ``ModelCheckpoint`` writing under a temporary name and renaming
  (:func:`vertexfinder.io.atomic.atomic_output`): ``last.keras`` and ``best.keras`` are whole or
  absent.
* :class:`RunBackup`: ``BackupAndRestore`` whose backup is committed in two steps. The weights
  (model and optimizer state) go to a new file ``epoch-NNNNNN.weights.h5``, written atomically;
  then ``training_metadata.json`` (the epoch reached, that weights file, the best values of the
  monitored checkpoints) replaces the previous one atomically; older weights files are removed
  after. A kill at any point leaves the previous commit or the new one, never a mix. The backup is
  kept when the run ends (the caller removes it once the final model is written), so a kill
  between the last epoch and the final model does not restart the run. A backup damaged by
  something else raises :class:`~vertexfinder.errors.RunError` naming the file.
* :func:`run_callbacks`: the checkpoints, ``history.csv`` (trimmed, when a run resumes, to the
  epochs its backup holds: an epoch redone after a kill is not listed twice and a row torn by the
  kill is dropped), optionally TensorBoard, and the backup last, so that an epoch counts as done
  only when everything it writes is written.

Imports Keras.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import keras

from ..errors import RunError
from ..io.atomic import atomic_output, remove_stale_temporaries_in
from ..text import first_line, shown

__all__ = ["AtomicModelCheckpoint", "RunBackup", "run_callbacks", "trim_history", "save_model_atomically",
           "stop_logging", "finish_run", "BACKUP_DIR", "BACKUP_METADATA"]

#: Folder of a run's backup, and the file that commits it.
BACKUP_DIR = "backup"
BACKUP_METADATA = "training_metadata.json"
_WEIGHTS = re.compile(r"^epoch-\d{6,}\.weights\.h5$")
_LEGACY_WEIGHTS = "latest.weights.h5"  # what keras.callbacks.BackupAndRestore writes


def save_model_atomically(model, path) -> None:
    """``model.save(path)`` under a temporary name, renamed onto ``path`` when complete."""
    path = Path(path)
    with atomic_output(path, suffix=path.suffix) as tmp:
        model.save(tmp)


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """``keras.callbacks.ModelCheckpoint`` (full model, ``.keras``) whose file is never torn: it is
    written under a temporary name and renamed when complete."""

    def _save_model(self, epoch, batch, logs):
        filepath = self._get_file_path(epoch, batch, logs)
        if self._should_save_model(epoch, batch, logs, filepath):
            save_model_atomically(self.model, filepath)

    def _should_save_model(self, epoch, batch, logs, filepath):
        current = (logs or {}).get(self.monitor)
        if self.save_best_only and isinstance(current, float) and math.isnan(current):
            return False  # a NaN would become the best value and nothing would ever beat it
        return super()._should_save_model(epoch, batch, logs, filepath)


class RunBackup(keras.callbacks.BackupAndRestore):
    """``keras.callbacks.BackupAndRestore`` whose backup survives a kill during its own save.

    Args:
        backup_dir: the backup folder (created when first needed).
        checkpoints: monitored checkpoints (``save_best_only``) whose best value is kept in the
            backup, so a resumed run does not replace ``best.keras`` by a worse model.

    The backup state is read when the callback is made (:attr:`epoch`), so the caller can trim
    what the interrupted epoch left (see :func:`run_callbacks`) before training starts; the weights
    are restored when training begins.

    Raises:
        RunError: the backup is damaged (the message names the file).
    """

    def __init__(self, backup_dir, *, checkpoints=()):
        super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=False)
        self.folder = Path(backup_dir)
        self.checkpoints = list(checkpoints)
        self.epoch, self.weights_file, best = self._read_state()
        for cb in self.checkpoints:
            value = best.get(Path(cb.filepath).name)
            if value is not None:
                cb.best = value

    # -- reading ------------------------------------------------------------------------------
    def _damaged(self, path, what: str) -> RunError:
        return RunError(f"{path}: the run's backup is damaged ({what}); remove the folder {self.folder} to start "
                        "the run again from its first epoch")

    def _read_state(self):
        """(epoch reached, weights file or None, best values) of the committed backup."""
        meta = self.folder / BACKUP_METADATA
        if not meta.is_file():  # nothing committed (a first epoch never finished)
            return 0, None, {}
        try:
            raw = meta.read_bytes()
            data = json.loads(raw.decode("utf-8")) if len(raw) < 1 << 20 else None
        except (OSError, ValueError, RecursionError) as exc:
            raise self._damaged(meta, first_line(exc)) from None
        if not isinstance(data, dict):
            raise self._damaged(meta, "not a JSON object")
        epoch = data.get("epoch")
        if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= 10**9:
            raise self._damaged(meta, f"epoch={shown(epoch)}")
        name = data.get("weights", _LEGACY_WEIGHTS)
        if not isinstance(name, str) or not (_WEIGHTS.match(name) or name == _LEGACY_WEIGHTS):
            raise self._damaged(meta, f"weights={shown(name)}")
        weights = self.folder / name
        if not weights.is_file():
            raise self._damaged(meta, f"its weights file {name} is missing")
        best = data.get("best", {})
        if not isinstance(best, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                 for v in best.values()):
            raise self._damaged(meta, f"best={shown(best)}")
        return epoch, weights, best

    # -- keras hooks --------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._load_model()  # no fallback to Keras' '.bkp' copies: a commit is whole or absent

    def _load_model(self):
        if not self.model.built:
            raise ValueError("RunBackup restores into a built model; build it before fit()")
        if self.weights_file is not None:
            if self.model.optimizer is not None and not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)
            try:
                self.model.load_weights(self.weights_file)
            except Exception as exc:  # h5py and Keras raise many kinds for a damaged or foreign file
                raise self._damaged(self.weights_file, first_line(exc)) from None
        self.model._initial_epoch = self.epoch

    def _save_model(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        epoch = self._current_epoch
        name = f"epoch-{epoch:06d}.weights.h5"
        with atomic_output(self.folder / name, suffix=".weights.h5") as tmp:
            self.model.save_weights(tmp)
        best = {}
        for cb in self.checkpoints:
            value = cb.best
            if value is not None:
                value = float(value)
                if math.isfinite(value):
                    best[Path(cb.filepath).name] = value
        state = {"format": "vertexfinder-run-backup", "epoch": epoch, "batch": 0, "weights": name, "best": best}
        with atomic_output(self.folder / BACKUP_METADATA) as tmp:
            tmp.write_text(json.dumps(state))
        self.epoch, self.weights_file = epoch, self.folder / name
        for old in self.folder.iterdir():  # what earlier commits and killed writers left
            if old.name != name and (_WEIGHTS.match(old.name) or old.name == _LEGACY_WEIGHTS
                                     or old.name.endswith(".bkp")):
                old.unlink(missing_ok=True)
        remove_stale_temporaries_in(self.folder)

    def on_train_end(self, logs=None):
        pass  # kept until the final model is written (the caller removes it)


def trim_history(path, epochs: int) -> None:
    """Keep the header and the whole rows of epochs ``< epochs`` of a CSVLogger file (atomically).

    A row of an epoch the backup does not hold is written again when the epoch is redone; a row
    torn by a kill (no line end, or fields missing) is dropped.
    """
    path = Path(path)
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines(keepends=True)
    if not lines or not lines[0].endswith("\n"):
        kept = []
    else:
        header = next(csv.reader([lines[0]]))
        kept = [lines[0]]
        column = header.index("epoch") if "epoch" in header else None
        for line in lines[1:]:
            if not line.endswith("\n"):
                break  # torn by a kill: the last line
            row = next(csv.reader([line]), [])
            try:
                epoch = int(row[column]) if column is not None else None
            except (ValueError, IndexError):
                continue
            if len(row) == len(header) and epoch is not None and epoch < epochs:
                kept.append(line)
    new = "".join(kept)
    if new != text:
        with atomic_output(path) as tmp:
            tmp.write_text(new, encoding="utf-8")


def run_callbacks(run_dir, *, monitor: str, mode: str = "max", tensorboard: bool = True) -> list:
    """The checkpoint, history, log and backup callbacks of a run folder, in the order they must run.

    ``last.keras`` every epoch and ``best.keras`` on ``monitor`` (atomic), ``history.csv``, TensorBoard
    logs in ``logs/`` (optional), and :class:`RunBackup` in ``backup/`` last. When the folder holds a
    backup, ``history.csv`` is trimmed to the epochs it holds.
    """
    run_dir = Path(run_dir)
    remove_stale_temporaries_in(run_dir)
    best = AtomicModelCheckpoint(str(run_dir / "best.keras"), monitor=monitor, mode=mode, save_best_only=True)
    backup = RunBackup(run_dir / BACKUP_DIR, checkpoints=[best])
    trim_history(run_dir / "history.csv", backup.epoch)
    cbs = [AtomicModelCheckpoint(str(run_dir / "last.keras")), best,
           keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True)]
    if tensorboard:
        cbs.append(keras.callbacks.TensorBoard(str(run_dir / "logs"), update_freq="epoch"))
    return cbs + [backup]


def stop_logging(callbacks) -> None:
    """Close the history and TensorBoard files of ``callbacks`` (an interrupted fit never reaches
    ``on_train_end``, where Keras closes them)."""
    for cb in callbacks:
        f = getattr(cb, "csv_file", None)
        if f is not None and not f.closed:
            f.close()
        if isinstance(cb, keras.callbacks.TensorBoard):
            try:
                cb._close_writers()
            except Exception:  # noqa: BLE001 - closing logs must not hide why training stopped
                pass


def finish_run(run_dir, model=None, final: str | None = None) -> None:
    """Write the final model of a run (atomically) and then remove its backup.

    In this order, a kill in between leaves a final model and a backup, which the next start of
    the run removes (the run is finished); never a run that has lost its backup but has no final
    model (which would start again from its first epoch).
    """
    import shutil

    run_dir = Path(run_dir)
    if model is not None:
        save_model_atomically(model, run_dir / final)
    backup = run_dir / BACKUP_DIR
    if backup.is_dir():
        (backup / BACKUP_METADATA).unlink(missing_ok=True)  # uncommit first: a half-removed backup is no backup
        shutil.rmtree(backup, ignore_errors=True)
