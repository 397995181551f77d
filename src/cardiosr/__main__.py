"""``python -m cardiosr``: the ``cardiosr`` command."""

import sys

from cardiosr.cli import main

sys.exit(main())
