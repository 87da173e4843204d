"""A Ctrl-C seen by the whole process, whatever swallowed the KeyboardInterrupt.

Python raises KeyboardInterrupt wherever the main thread happens to be when a SIGINT arrives:
inside Keras' model loading, a Numba dispatcher or an import, which may catch it, turn it into
another error (``ImportError``, ``SystemError``, a model that "cannot be loaded") or carry on with
a half-built object. The command line therefore also records the interrupt here (:func:`request`,
from its signal handler and its watcher thread), and the places that decide whether a command
succeeded ask: :func:`vertexfinder.io.atomic.atomic_output` publishes no output once an interrupt
was requested, and the command line reports any error that follows one as the interrupt it is.

Imports nothing from the package.
"""

from __future__ import annotations

import threading

__all__ = ["request", "requested", "check", "clear"]

_requested = threading.Event()


def request() -> None:
    """Record that the process was asked to stop (a SIGINT arrived)."""
    _requested.set()


def requested() -> bool:
    """Whether a stop was requested since the process started (or :func:`clear`)."""
    return _requested.is_set()


def check() -> None:
    """Raise KeyboardInterrupt if a stop was requested (before an output is published)."""
    if _requested.is_set():
        raise KeyboardInterrupt


def clear() -> None:
    """Forget a request (a command run in-process after an interrupted one)."""
    _requested.clear()
