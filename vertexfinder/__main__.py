"""The ``vertexfinder`` program: the console script and ``python -m vertexfinder``.

:func:`run` records a Ctrl-C from its first moment (:mod:`vertexfinder.interrupts`), before the
command line and the libraries it loads are imported, so an interrupt at any moment of a command's
start-up ends it with status 130 and "interrupted", never with a traceback or another error.
"""

import signal
import sys


def _on_sigint(signum, frame):
    from . import interrupts

    interrupts.request()
    raise KeyboardInterrupt


def run() -> int:
    """Run the command line on the process's own arguments; returns the exit status."""
    signal.signal(signal.SIGINT, _on_sigint)
    try:
        from .cli import main

        return main()
    except KeyboardInterrupt:  # before the command started (its own interrupts end in main)
        print("vertexfinder: interrupted", file=sys.stderr)
        return 130
    except ImportError:  # a Ctrl-C inside a library's C-level import comes out as an ImportError
        from . import interrupts  # (numpy's: "PyCapsule_Import could not import module 'datetime'")

        if not interrupts.requested():
            raise
        print("vertexfinder: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(run())
