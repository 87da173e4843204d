"""Training configurations: wrong types, non-finite and out-of-range values are refused with one line
naming the TOML file (or the --set option) and the value, before anything is built from them."""

import pytest

from vertexfinder.errors import ConfigError
from vertexfinder.model import ModelConfig
from vertexfinder.training import TrainConfig, config_from_toml


def _toml(tmp_path, text, name="train.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _refused(path, overrides=(), *needles):
    with pytest.raises(ConfigError) as err:
        config_from_toml(path, list(overrides))
    msg = str(err.value)
    assert "\n" not in msg, msg
    if path is not None:
        assert str(path) in msg, msg
    for needle in needles:
        assert needle in msg, msg
    return msg


@pytest.mark.parametrize("line,needles", [
    ("batch_size = 64.5", ["batch_size must be an integer", "64.5"]),
    ('epochs = "ten"', ["epochs must be an integer"]),
    ("learning_rate = nan", ["learning_rate must be finite"]),
    ("learning_rate = inf", ["learning_rate must be finite"]),
    ("loss_weights = [1.0, nan, 1.0]", ["loss_weights must be finite"]),
    ("loss_weights = [1.0, 1.0]", ["loss_weights must have 3 values"]),
    ("glimpse_size = 16", ["glimpse_size must be a list"]),
    ("glimpse_size = [100000, 100000]", ["glimpse_size must be in"]),
    ("filters = [1000000]", ["filters must be in"]),
    ("recurrent_units = 100000000000", ["recurrent_units must be in"]),
    ("seed = -1", ["seed must be in"]),
    ("validation_events = 1000000000", ["validation_events must be in"]),
    ("coord_channels = 1", ["coord_channels must be true or false"]),
    ("store = 5", ["store must be a string"]),
    ("composition_every = 0", ["composition_every must be in"]),
    ("num_levels = " + "9" * 5000, ["not valid TOML", "5000 digits"]),
    ("batch_size = 65536\nnum_steps = 64\nglimpse_size = [64, 64]", ["GiB", "batch_size"]),
    ("min_learning_rate = 0.1\nlearning_rate = 0.01", ["min_learning_rate must not exceed"]),
    ("batchsize = 3", ["unknown training options"]),
])
def test_bad_values_in_the_toml_name_the_file_and_the_value(tmp_path, line, needles):
    _refused(_toml(tmp_path, line + "\n"), (), *needles)


def test_unreadable_tomls_name_the_file(tmp_path):
    _refused(_toml(tmp_path, "batch_size = = 3"), (), "not valid TOML")
    _refused(_toml(tmp_path, "a = " + "[" * 100_000 + "]" * 100_000), (), "nested too deeply")
    bad = tmp_path / "latin.toml"
    bad.write_bytes(b"store = '\xe4'\n")
    _refused(bad, (), "not valid TOML")
    _refused(_toml(tmp_path, "#" * (2 << 20), "big.toml"), (), "larger than")
    _refused(tmp_path / "missing.toml", (), "cannot read")


def test_bad_overrides_name_the_option(tmp_path):
    msg = _refused(None, ["batch_size=-4"], "--set batch_size=-4", "batch_size must be in")
    assert "train.toml" not in msg
    path = _toml(tmp_path, "epochs = 3\n")
    _refused(path, ["epochs=1e9"], "--set epochs=1e9", "epochs must be an integer")
    _refused(None, ["nonsense"], "--set expects key=value")


def test_a_good_file_still_reads(tmp_path):
    cfg = config_from_toml(_toml(tmp_path, "batch_size = 16\nmax_step = 32\nloss_weights = [1, 2, 0]\n"), ["epochs=3"])
    assert (cfg.batch_size, cfg.max_step, cfg.loss_weights, cfg.epochs) == (16, 32.0, (1.0, 2.0, 0.0), 3)
    assert isinstance(cfg.max_step, float)


def test_model_and_train_configs_keep_their_round_trip():
    cfg = TrainConfig(glimpse_size=[24, 24], filters=[8, 16])
    assert cfg.glimpse_size == (24, 24) and TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert ModelConfig.from_dict(cfg.model_config().to_dict()) == cfg.model_config()
