"""Command-line interface: one verb per stage, thin wrappers around the library.

Exit codes: 0 success, 2 a problem with the input or options (one line on stderr, no traceback, no
partial output), 3 a batch finished with failed cases, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM);
an interrupted or terminated run cleans up its staging files first.

Modules: :mod:`~cardiosr.cli.main` (parser, exit codes, signals), :mod:`~cardiosr.cli.options` (options
shared by several verbs, generated from the settings classes), and one module per group of verbs:
:mod:`~cardiosr.cli.data` (demo, phantoms, simulate, canonical), :mod:`~cardiosr.cli.enhance` (enhance, batch,
report), :mod:`~cardiosr.cli.train` (train-prior, train-edsr, sample-prior), :mod:`~cardiosr.cli.benchmark`.
Every verb imports its heavy libraries inside its function, so ``cardiosr --help`` stays fast.
"""

from cardiosr.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
