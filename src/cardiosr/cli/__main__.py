"""``python -m cardiosr.cli``: the ``cardiosr`` command."""

import sys

from cardiosr.cli.main import main

sys.exit(main())
