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
    mods = _modules_after("import vertexfinder, vertexfinder.mapper, vertexfinder.store, vertexfinder.io.root")
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
