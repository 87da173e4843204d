"""``python -m vertexfinder.cli``: the command line, as the ``vertexfinder`` program."""

import sys

from ..__main__ import run

sys.exit(run())
