"""The malformed-input corpus (tests/malformed.py): seeded mutations of detector descriptions, Wire-Cell
wires files, training configurations and model folders either work or raise the package's error on one
line naming the file. Each kind runs in a subprocess whose address space is capped, so an allocation
sized by a declared value (terabytes, before issue 14) fails the run. The default run takes a few
hundred cases; ``-m slow`` runs thousands."""

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GiB = 1 << 30


def _corpus(tmp_path, kind, cases, seed, memory):
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "malformed.py"), kind, str(cases), str(seed),
                          str(tmp_path)], capture_output=True, text=True, env=env, preexec_fn=cap, timeout=3600)
    assert out.stdout, out.stderr[-3000:]
    summary = json.loads(out.stdout.splitlines()[-1])
    assert sum(summary["outcomes"].values()) == cases
    assert not summary["failures"], json.dumps(summary["failures"][:5], indent=1)
    assert out.returncode == 0, out.stderr[-3000:]
    return summary


@pytest.mark.parametrize("kind,cases", [("detector-toml", 100), ("detector-json", 100), ("wires-toml", 40),
                                        ("wires-file", 100), ("train-toml", 100)])
def test_malformed_inputs(tmp_path, kind, cases):
    summary = _corpus(tmp_path, kind, cases, seed=2026, memory=3 * GiB)
    assert summary["outcomes"].get("works", 0) < cases  # the mutations do break things


def test_impossible_detectors_are_refused_and_touching_ones_work(tmp_path):
    """Overlapping drift volumes and coincident wire planes (issue 21) are refused naming the file; TPCs that only
    share a face work (the runner fails a case whose outcome is not the expected one)."""
    import malformed

    n = len(malformed.GEOMETRY_CASES)
    summary = _corpus(tmp_path, "impossible-detector", n, seed=0, memory=3 * GiB)
    works = sum(expect == "works" for _, expect, _ in malformed.GEOMETRY_CASES)
    assert summary["outcomes"] == {"DetectorSchemaError": n - works, "works": works}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["detector-toml", "detector-json", "wires-toml", "wires-file", "train-toml"])
def test_malformed_inputs_thousands(tmp_path, kind):
    _corpus(tmp_path, kind, 3000, seed=1, memory=3 * GiB)


@pytest.mark.slow  # TensorFlow and a model to build: tests/test_model_files.py covers model folders by default
def test_malformed_model_folders(tmp_path):
    _corpus(tmp_path, "model", 500, seed=1, memory=8 * GiB)
