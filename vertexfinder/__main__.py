"""``python -m vertexfinder``: the command line, as the ``vertexfinder`` program."""

import sys

from .cli import main

sys.exit(main())
