"""Warm starts (init_from), finished runs and the history of a chain of runs (tiny walkers)."""

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from vertexfinder.training import (RunFinishedError, TrainConfig, build_walker, config_from_toml,  # noqa: E402
                                   run_history, train)

TINY = [
    "detector='test-detector'", "sample='numu-cc'", "train_events=20", "validation_events=3",
    "validation_walks=18", "num_levels=2", "glimpse_size=[16, 16]", "num_steps=3", "max_step=32.0",
    "filters=[8, 8]", "encoder_units=8", "recurrent_units=8", "batch_size=8", "steps_per_epoch=2",
    "epochs=1", "composition_every=2",
]


def tiny_config(**kw):
    cfg = config_from_toml(None, TINY)
    return TrainConfig.from_dict({**cfg.to_dict(), **kw})


class StartWeights(keras.callbacks.Callback):
    """The model's weights when fit begins (after any warm start or restore); optionally stops the run there."""

    def __init__(self, stop=False):
        super().__init__()
        self.stop = stop

    def on_train_begin(self, logs=None):
        self.weights = [np.array(w) for w in self.model.get_weights()]
        if self.stop:
            raise KeyboardInterrupt("stopped before the first step")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A run folder as a finished run leaves it: config.json, final.keras, history.csv (one epoch)."""
    run = tmp_path_factory.mktemp("finished")
    cfg = tiny_config()
    keras.utils.set_random_seed(123)
    model = build_walker(cfg)
    model.build()
    model.save(run / "final.keras")
    (run / "config.json").write_text(json.dumps(cfg.to_dict()))
    (run / "history.csv").write_text("epoch,loss,val_within_1cm\n0,2.5,0.1\n")
    return run, cfg, [np.array(w) for w in model.get_weights()]


def test_a_warm_started_run_begins_with_the_other_models_weights(finished_run, tmp_path):
    run, _, weights = finished_run
    start = StartWeights(stop=True)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(init_from=str(run), learning_rate=1e-4), tmp_path / "next", verbose=0, callbacks=[start])
    assert len(start.weights) == len(weights)
    for a, b in zip(start.weights, weights):
        np.testing.assert_array_equal(a, b)
    # a run without init_from starts elsewhere (its own seeded initialisation)
    fresh = StartWeights(stop=True)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(learning_rate=1e-4), tmp_path / "fresh", verbose=0, callbacks=[fresh])
    assert any(not np.array_equal(a, b) for a, b in zip(fresh.weights, weights))
    # init_from may also name the model file itself
    direct = StartWeights(stop=True)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(init_from=str(run / "final.keras")), tmp_path / "direct", verbose=0, callbacks=[direct])
    for a, b in zip(direct.weights, weights):
        np.testing.assert_array_equal(a, b)


def test_a_finished_run_says_so(finished_run):
    run, cfg, _ = finished_run
    with pytest.raises(RunFinishedError, match="finished") as info:
        train(cfg, run, verbose=0)
    assert f"init_from = '{run}'" in str(info.value) and isinstance(info.value, ValueError)
    with pytest.raises(ValueError, match="another configuration") as other:
        train(tiny_config(epochs=3), run, verbose=0)  # a different run in that folder is another error
    assert not isinstance(other.value, RunFinishedError)


def test_a_warm_start_from_another_model_description_is_refused(finished_run, tmp_path):
    run, _, _ = finished_run
    target = tmp_path / "other"
    with pytest.raises(ValueError, match=r"init_from \S*final\.keras.*'filters'") as info:
        train(tiny_config(init_from=str(run), filters=(8, 16)), target, verbose=0)
    assert "(8, 8)" in str(info.value) and "(8, 16)" in str(info.value)  # what it has, what this run wants
    assert not (target / "config.json").exists()  # refused before anything was written
    with pytest.raises(FileNotFoundError, match="nowhere"):
        train(tiny_config(init_from=str(tmp_path / "nowhere")), tmp_path / "third", verbose=0)


def test_run_history_concatenates_a_chain_of_runs(finished_run, tmp_path):
    first, _, _ = finished_run
    second, third = tmp_path / "second", tmp_path / "third"
    chain = ((second, first / "final.keras", "0,2.0,0.2\n1,1.5,0.3\n"), (third, second, "0,1.2,0.5\n"))
    for run, parent, rows in chain:
        run.mkdir()
        (run / "config.json").write_text(json.dumps(tiny_config(init_from=str(parent)).to_dict()))
        (run / "history.csv").write_text("epoch,loss,val_within_1cm\n" + rows)
    rows = run_history(third)
    assert [r["run"] for r in rows] == [str(first), str(second), str(second), str(third)]
    assert [r["epoch_total"] for r in rows] == [0, 1, 2, 3]
    assert [r["epoch"] for r in rows] == [0.0, 0.0, 1.0, 0.0]
    assert [r["loss"] for r in rows] == [2.5, 2.0, 1.5, 1.2]
    assert [r["run"] for r in run_history(second)] == [str(first), str(second), str(second)]


@pytest.mark.slow
def test_two_real_runs_chain_their_weights_and_history(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    start_first, start_second = StartWeights(), StartWeights()
    train(tiny_config(), first, verbose=0, callbacks=[start_first])
    model2 = train(tiny_config(init_from=str(first), epochs=2, learning_rate=1e-4, seed=5), second, verbose=0,
                   callbacks=[start_second])
    final_first = keras.saving.load_model(first / "final.keras", compile=False).get_weights()
    for a, b in zip(start_second.weights, final_first):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(start_first.weights, final_first))  # the first one trained
    assert int(model2.optimizer.iterations) == 2 * 2  # its own schedule
    rows = run_history(second)
    assert [r["run"] for r in rows] == [str(first), str(second), str(second)]
    assert [r["epoch_total"] for r in rows] == [0, 1, 2]
    assert all(0 <= r["val_within_1cm"] <= 1 for r in rows)
    with pytest.raises(RunFinishedError):
        train(tiny_config(), first, verbose=0)
