"""Packaging contracts: light imports, dependency direction, console script."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True, text=True, check=True,
    )
    return set(out.stdout.split())


def test_import_vertexfinder_does_not_load_tensorflow():
    mods = _modules_after("import vertexfinder, vertexfinder.mapper, vertexfinder.io.store, vertexfinder.io.root")
    assert "vertexfinder.mapper" in mods
    assert "tensorflow" not in mods and "keras" not in mods


def test_cli_help_does_not_load_tensorflow():
    mods = _modules_after(
        "from vertexfinder.cli import build_parser\n"
        "try:\n    build_parser().parse_args(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert "vertexfinder.cli" in mods
    assert "tensorflow" not in mods


def test_generators_and_models_never_import_vertexfinder():
    for pkg in ("generators", "models"):
        for path in (ROOT / pkg).rglob("*.py"):
            text = path.read_text()
            assert "import vertexfinder" not in text and "from vertexfinder" not in text, path


@pytest.mark.parametrize("name", ["detectors", "convert", "info"])
def test_console_script_subcommand_help(name):
    out = subprocess.run([sys.executable, "-m", "vertexfinder.cli", name, "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert name in out.stdout


@pytest.mark.parametrize("module", ["vertexfinder", "vertexfinder.cli"])
def test_the_command_line_runs_as_a_module(module):
    out = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().startswith("vertexfinder ")


def test_numpy_side_of_generators_and_the_model_folder_load_no_tensorflow():
    mods = _modules_after(
        "import generators.rollout, generators.glimpses, generators.features, generators.truth, generators.walks\n"
        "import generators.composition\n"
        "from generators.features import walk_features\n"
        "from vertexfinder.finder import default_model_path\n"
        "assert (default_model_path() / 'walker.keras').is_file()"
    )
    assert "generators.rollout" in mods and "vertexfinder.finder" in mods
    assert "tensorflow" not in mods and "keras" not in mods


def test_finder_and_export_import_nothing_from_training():
    mods = _modules_after("import vertexfinder.finder, vertexfinder.export, vertexfinder.model")
    assert "vertexfinder.finder" in mods and "vertexfinder.model" in mods
    assert "vertexfinder.training" not in mods
    import ast

    for name in ("finder", "export.py", "model", "evaluation.py"):
        path = ROOT / "vertexfinder" / name
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            tree = ast.parse(file.read_text())
            imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
            imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
            assert not [m for m in imported if "training" in m], file


def test_cli_holds_only_the_command_line_layer():
    import ast

    from vertexfinder import cli

    assert sorted(cli.__all__) == ["build_parser", "main"]
    public = []
    for file in sorted((ROOT / "vertexfinder" / "cli").glob("*.py")):
        tree = ast.parse(file.read_text())
        public += [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                   and not n.name.startswith("_")]
    assert sorted(public) == ["build_parser", "main"]
    for file in (ROOT / "vertexfinder" / "cli").glob("*.py"):
        assert len(file.read_text().splitlines()) <= 400, file


def test_names_agree_across_packages():
    import generators
    from generators import truth
    from vertexfinder import records
    from vertexfinder.records import DRIFT_POOLINGS
    from vertexfinder.model import ModelConfig
    from vertexfinder.training import TrainConfig
    from generators.glimpses import PYRAMID_POOLINGS

    assert records.VERTEX_KINDS == generators.CLASS_NAMES[: generators.NONE_CLASS]
    assert generators.CLASS_NAMES[generators.NONE_CLASS] == "none"
    for flag in ("FLAG_HADRONIC", "FLAG_PI0", "FLAG_DECAY", "FLAG_CONVERSION", "FLAG_NU_PRIMARY"):
        assert getattr(records, flag) == getattr(truth, flag)
    assert ModelConfig.classes == generators.CLASS_NAMES
    assert set(ModelConfig.model_fields()) <= {f for f in TrainConfig.__dataclass_fields__}
    assert "pooling" not in ModelConfig.model_fields()  # drift pooling is "pooling"; the pyramid's is pyramid_pooling
    assert set(PYRAMID_POOLINGS) < set(DRIFT_POOLINGS)


def test_model_configs_written_with_old_key_names_still_read(tmp_path):
    import json

    from vertexfinder.model import ModelConfig
    from vertexfinder.training import TrainConfig

    old = {**TrainConfig(pyramid_pooling="mean").to_dict()}
    old["pooling"] = old.pop("pyramid_pooling")  # how runs wrote it before the rename
    path = tmp_path / "config.json"
    path.write_text(json.dumps(old))
    assert ModelConfig.read(path).pyramid_pooling == "mean"
    assert TrainConfig.from_dict(old) == TrainConfig(pyramid_pooling="mean")
    assert ModelConfig.read(path) == TrainConfig(pyramid_pooling="mean").model_config()
