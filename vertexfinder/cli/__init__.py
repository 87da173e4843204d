"""The ``vertexfinder`` command line: the parser, the commands, and error reporting.

The command line only: it parses, calls the library and reports. :func:`build_parser` adds each
command's arguments (:mod:`.arguments`, one function per command); each command (:mod:`.commands`)
checks its output, calls functions the Python API exposes too (:mod:`vertexfinder.io.events`,
:mod:`vertexfinder.training`, :mod:`vertexfinder.demo`, ...) and prints its summary. Bad events are
skipped and reported on stderr. A failing command prints one line on stderr naming the file and the
problem and exits non-zero (``--debug`` shows the traceback); the start-up chatter of TensorFlow's
native libraries is kept off stderr (``--debug`` shows it too). Progress bars are drawn on
terminals only (:mod:`.runtime`).

Run as the program (arguments from the command line), a Ctrl-C ends the process within
``INTERRUPT_GRACE_S`` seconds even when it arrives while TensorFlow or an exit handler holds the
main thread; a second Ctrl-C ends it at once. Outputs are written atomically, so whatever the
moment, an output is complete or absent, and ``train`` resumes where its backup stands.

May import: ``vertexfinder`` (any of its modules and packages: the command line is the top layer).

Nothing in the package imports it.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

from .. import interrupts
from ..text import one_line
from .arguments import _COMMANDS
from .commands import (_cmd_convert, _cmd_demo, _cmd_detectors, _cmd_evaluate, _cmd_export, _cmd_find,  # noqa: F401
                       _cmd_info, _cmd_show, _cmd_simulate, _cmd_train, _cmd_train_proposer, _cmd_train_refiner,
                       _cmd_train_scorer, _cmd_train_tagger)
from .runtime import _InterruptDeadline, _quiet_environment

__all__ = ["main", "build_parser"]

#: Seconds a process run from the command line may take to end after a Ctrl-C.
INTERRUPT_GRACE_S = 5.0
#: Longest error message printed (the rest is cut).
_MAX_MESSAGE = 1000


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="vertexfinder",
        description="Recurrent multi-resolution vertex finder for liquid-argon TPCs.",
    )
    parser.add_argument("--version", action="version", version=f"vertexfinder {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, add_arguments in _COMMANDS:
        # the command is looked up in this module when the parser is built, so it can be replaced here
        add_arguments(sub).set_defaults(func=globals()["_cmd_" + name.replace("-", "_")])
    return parser


def _interrupted(args, deadline) -> int:
    """Report an interrupted command; status 130. The program itself ends here (see :func:`main`)."""
    hint = "; run the same command again to resume" if args.command == "train" else ""
    print(f"vertexfinder: interrupted{hint}", file=sys.stderr)
    if deadline is not None:
        # The program ends here: the cleanup has run (finally blocks, atomic outputs), and the
        # interpreter's own shutdown, with TensorFlow's data threads still running, can hang or crash.
        deadline.reported = True
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    return 130


def main(argv: list[str] | None = None) -> int:
    """Run a command; returns the exit status (0, 1 on an error, 130 when interrupted).

    ``argv`` None: the program itself (the process's own arguments). Then a Ctrl-C ends the process
    at once once the command has cleaned up, and within ``INTERRUPT_GRACE_S`` seconds whatever the
    main thread does (see :class:`_InterruptDeadline`).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _quiet_environment(args.debug)
    deadline = None
    if argv is None and threading.current_thread() is threading.main_thread():
        deadline = _InterruptDeadline(INTERRUPT_GRACE_S)
    try:
        status = int(args.func(args) or 0)
        interrupts.check()  # a Ctrl-C some library swallowed: the command did not finish as asked
        return status
    except KeyboardInterrupt:
        return _interrupted(args, deadline)
    except Exception as exc:  # the one place errors become a one-line message
        if interrupts.requested():  # a KeyboardInterrupt a library turned into another error
            return _interrupted(args, deadline)
        if args.debug:
            raise
        from ..errors import VertexFinderError

        if isinstance(exc, (VertexFinderError, OSError, ValueError, KeyError)):
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            print(f"vertexfinder {args.command}: error: {one_line(msg, _MAX_MESSAGE)}", file=sys.stderr)
            return 1
        print(f"vertexfinder {args.command}: internal error: {type(exc).__name__}: {one_line(exc, _MAX_MESSAGE)} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 1
    finally:
        if deadline is not None:
            # The command is over: a Ctrl-C during the interpreter's exit (where Python puts back the
            # default handler, and TensorFlow's teardown takes a second or two) would turn a finished
            # command into a death by SIGINT.
            import signal

            signal.signal(signal.SIGINT, signal.SIG_IGN)
