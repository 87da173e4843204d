"""The command line's process: progress bars, TensorFlow's start-up chatter kept off stderr, and
a Ctrl-C that ends the process within seconds whatever the main thread does."""

from __future__ import annotations

import contextlib
import os
import sys
import threading

from .. import interrupts


def _bars_shown(args) -> bool:
    """Progress bars only on a terminal (in a log a bar is a line of carriage returns)."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


@contextlib.contextmanager
def _progress(iterable, **options):
    """A tqdm bar over ``iterable`` that is erased, not left behind, when the command fails."""
    from tqdm import tqdm

    bar = tqdm(iterable, **options)
    try:
        yield bar
    except BaseException:
        bar.leave = False
        raise
    finally:
        bar.close()


@contextlib.contextmanager
def _native_stderr_silenced():
    """Point file descriptor 2 at /dev/null (what native libraries write goes nowhere), then back."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _quiet_environment(debug: bool) -> None:
    """Ask TensorFlow for errors only, before anything imports it (a user's own setting is kept)."""
    if not debug:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _tensorflow(debug: bool) -> None:
    """Import TensorFlow and Keras without their start-up lines on stderr (absl's, oneDNN's, CUDA's:
    4-6 lines even with TF_CPP_MIN_LOG_LEVEL=3), and keep their Python loggers to fatal errors; the
    commands' own errors say what failed. ``debug``: import them as they are."""
    from ..model.files import import_keras

    if debug:
        import_keras()
        return
    if "tensorflow" not in sys.modules:
        with _native_stderr_silenced():
            import_keras()  # a clear error without them
    import logging

    logging.getLogger("tensorflow").setLevel(logging.CRITICAL)
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.FATAL)


def _raise_interrupt(signum, frame):
    """SIGINT's Python handler: record the interrupt (:mod:`vertexfinder.interrupts`), then raise
    KeyboardInterrupt as Python's own handler does."""
    interrupts.request()
    raise KeyboardInterrupt


class _InterruptDeadline:
    """After a Ctrl-C (SIGINT), end the process within ``grace`` seconds whatever the main thread does.

    Python turns SIGINT into KeyboardInterrupt only when the main thread next runs Python code: a
    ``train`` whose batches come from the simulation sits in one TensorFlow call, waiting for data,
    for minutes after a Ctrl-C. The C-level signal handler writes the signal number to a wakeup
    socket at once; a watcher thread reading it gives the normal path (KeyboardInterrupt, cleanup,
    exit) ``grace`` seconds, then ends the process with status 130; a second Ctrl-C (a second or
    more after the first) ends it at once. ``faulthandler`` backs the watcher up for the last phase
    of the interpreter's exit, where Python threads no longer run. Every output is written
    atomically and a run's backup is committed atomically, so ending this way leaves what a kill
    leaves: outputs complete or absent, a run that resumes.
    """

    def __init__(self, grace: float):
        import signal
        import socket

        self.grace = grace
        self._read, self._write = socket.socketpair()  # kept open for the life of the process
        self._write.setblocking(False)
        signal.signal(signal.SIGINT, _raise_interrupt)  # recorded at once, then raised as Python does
        signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        self._null = None
        self.reported = False  # main() has said "interrupted" already
        threading.Thread(target=self._watch, name="vertexfinder-interrupt-deadline", daemon=True).start()

    def _watch(self) -> None:
        import faulthandler
        import signal
        import time

        first = deadline = None
        while True:
            self._read.settimeout(None if deadline is None else max(0.0, deadline - time.monotonic()))
            try:
                data = self._read.recv(64)
            except TimeoutError:
                self._exit()  # the grace is over
            except OSError:
                return
            if int(signal.SIGINT) not in data:
                continue
            interrupts.request()  # seen even where the main thread's KeyboardInterrupt is swallowed
            now = time.monotonic()
            if first is None:
                first, deadline = now, now + self.grace
                self._null = open(os.devnull, "w")  # noqa: SIM115 - kept open for faulthandler
                faulthandler.dump_traceback_later(self.grace + 2.0, exit=True, file=self._null)
            elif now - first >= 1.0:
                self._exit()  # a second Ctrl-C

    def _exit(self) -> None:
        if not self.reported:
            os.write(2, b"vertexfinder: interrupted\n")
        os._exit(130)
