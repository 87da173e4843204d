"""The command line under failure: one line on stderr, no TensorFlow chatter, arguments checked by the
parser, outputs refused before work, and a Ctrl-C that ends the process within seconds."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vertexfinder import cli
from vertexfinder.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _run(args, **kw):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "ABSL"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "vertexfinder.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300, **kw)


def test_a_failing_find_prints_exactly_one_line(tmp_path):
    """TensorFlow wrote 4-6 lines of its own before the error (even with TF_CPP_MIN_LOG_LEVEL=3)."""
    missing_model = _run(["find", str(tmp_path / "x.vfstore"), "--model", str(tmp_path / "nomodel"), "-o",
                          str(tmp_path / "o.csv")])
    bad_input = _run(["find", str(tmp_path / "x.vfstore"), "-o", str(tmp_path / "o.csv")])  # loads TensorFlow
    for out, needle in [(missing_model, "nomodel"), (bad_input, "x.vfstore")]:
        lines = out.stderr.splitlines()
        assert out.returncode == 1 and len(lines) == 1, out.stderr
        assert lines[0].startswith("vertexfinder find: error:") and needle in lines[0]
    assert not (tmp_path / "o.csv").exists()


def test_messages_on_several_lines_are_printed_on_one(monkeypatch, capsys):
    def fails(args):
        raise ValueError("first line\n\n    second line\tand more")

    monkeypatch.setattr(cli, "_cmd_detectors", fails)
    assert main(["detectors"]) == 1
    assert capsys.readouterr().err == "vertexfinder detectors: error: first line second line and more\n"


@pytest.mark.parametrize("args", [
    ["simulate", "--events", "-3", "-o", "x.vfstore"],
    ["simulate", "--events", "0", "-o", "x.vfstore"],
    ["simulate", "--jobs", "0", "-o", "x.vfstore"],
    ["simulate", "--seed", "-1", "-o", "x.vfstore"],
    ["convert", "in.root", "--drift-window", "0", "-o", "x.vfstore"],
    ["find", "in.root", "--drift-window", "-6", "-o", "x.csv"],
    ["show", "in.root", "--event", "-1", "-o", "x.png"],
    ["evaluate", "in.root", "--events", "-5"],
    ["demo", "--events", "0"],
    ["detectors", "--details", "--drift-window", "zero"],
])
def test_counts_and_windows_are_checked_by_the_parser(args, capsys):
    """--events -3 and --drift-window 0 exited 0 having done nothing."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert "expected" in capsys.readouterr().err


@pytest.mark.parametrize("output", ["missing/x.root", "missing/x.vfstore"])
def test_simulate_refuses_an_output_in_a_missing_folder_before_simulating(tmp_path, monkeypatch, capsys, output):
    import vertexfinder.simulation as simulation

    monkeypatch.setattr(simulation, "simulate", lambda *a, **k: pytest.fail("simulated before checking the output"))
    assert main(["simulate", "--detector", "test-detector", "--events", "2", "-o", str(tmp_path / output), "-q"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "missing" in err[0] and "does not exist" in err[0]
    existing = tmp_path / "x.root"
    existing.write_bytes(b"keep me")
    assert main(["simulate", "--detector", "test-detector", "--events", "2", "-o", str(existing), "-q"]) == 1
    assert "exists" in capsys.readouterr().err and existing.read_bytes() == b"keep me"


@pytest.mark.parametrize("args", [
    ["find", "in.root", "-o", "{out}/v.csv", "-q"],
    ["evaluate", "in.root", "--json", "{out}/e.json", "-q"],
    ["show", "in.root", "-o", "{out}/e.png"],
    ["export", "{out}/saved"],
])
def test_outputs_in_a_missing_folder_are_refused_before_loading_the_model(tmp_path, monkeypatch, capsys, args):
    from vertexfinder.finder import VertexFinder

    monkeypatch.setattr(VertexFinder, "load", classmethod(lambda *a, **k: pytest.fail("model loaded")))
    assert main([a.format(out=tmp_path / "nowhere") for a in args]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "nowhere" in err[0] and "does not exist" in err[0]


def test_a_finished_run_is_one_line(tmp_path, capsys):
    from test_training import TINY

    from vertexfinder.training import config_from_toml

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(config_from_toml(None, TINY).to_dict()))
    (run / "final.keras").write_bytes(b"")
    (run / "backup").mkdir()  # a kill after the final model left it
    assert main(["train", "-o", str(run), "-q"] + [a for s in TINY for a in ("--set", s)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "this run is finished" in err[0] and str(run) in err[0]
    assert not (run / "backup").exists()


def test_progress_bars_stay_off_a_log(tmp_path, capsys):
    """A bar in a log is a line of carriage returns; an error after it made two lines."""
    from test_cli import _records

    from vertexfinder.io.root import write_dump
    from vertexfinder.mapper import ImageMapper

    mapper = ImageMapper("test-detector", drift_window=6)
    src = tmp_path / "dump.root"
    write_dump(src, _records(mapper, 2), mapper=mapper)
    assert main(["convert", str(src), "-o", str(tmp_path / "s.vfstore"), "--detector", "test-detector"]) == 0
    assert "converting" not in capsys.readouterr().err


BLOCKED = r"""
import sys, threading, time
from vertexfinder import cli

# "exits": the interrupt reaches main(); "stuck": it never does, as when the main thread is held in
# native code (TensorFlow waiting for a batch) or a library swallows the KeyboardInterrupt
MODE = sys.argv[1]

def blocked(args):
    threading.Thread(target=time.sleep, args=(120,)).start()  # the interpreter would wait for it at exit
    ready = False
    while True:
        try:
            if not ready:
                ready = print("ready", flush=True) or True
            time.sleep(120)
        except KeyboardInterrupt:
            if MODE == "exits":
                raise

cli._cmd_detectors = blocked
sys.argv = ["vertexfinder", "detectors"]
sys.exit(cli.main())
"""


def _interrupt(mode, times, pause=1.5):
    """Run BLOCKED, send SIGINT ``times`` times (``pause`` s apart); (status, seconds from the last one, stderr)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # Ctrl-C as at a terminal, even when the tests run in the background of a non-interactive shell
    # (whose commands inherit SIGINT ignored)
    restore = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    with subprocess.Popen([sys.executable, "-c", BLOCKED, mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env, preexec_fn=restore) as p:
        try:
            assert p.stdout.readline().strip() == "ready"
            for i in range(times):
                if i:
                    time.sleep(pause)
                start = time.monotonic()
                p.send_signal(signal.SIGINT)
            rc = p.wait(timeout=60)
            return rc, time.monotonic() - start, p.stderr.read()
        finally:
            p.kill()


def test_ctrl_c_ends_the_program_at_once_though_its_exit_would_wait():
    """`train` stayed alive 45 s and more after Ctrl-C (and crashed at exit with TensorFlow's threads)."""
    rc, elapsed, err = _interrupt("exits", 1)
    assert rc == 130 and elapsed < 3
    assert err.count("vertexfinder: interrupted") == 1


def test_ctrl_c_ends_the_program_within_the_grace_when_the_interrupt_never_arrives():
    rc, elapsed, err = _interrupt("stuck", 1)
    assert rc == 130 and cli.INTERRUPT_GRACE_S - 0.5 < elapsed < cli.INTERRUPT_GRACE_S + 5
    assert err.count("vertexfinder: interrupted") == 1


def test_a_second_ctrl_c_ends_it_at_once():
    rc, elapsed, _ = _interrupt("stuck", 2)
    assert rc == 130 and elapsed < 2.0
