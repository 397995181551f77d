"""The ``cardiosr`` parser and entry point: one-line errors, exit codes, Ctrl-C and SIGTERM handling."""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from collections.abc import Sequence

from cardiosr.cli.benchmark import add_benchmark_verb
from cardiosr.cli.data import add_canonical_verb, add_demo_verb, add_phantoms_verb, add_simulate_verb
from cardiosr.cli.enhance import add_batch_verb, add_enhance_verb, add_report_verb
from cardiosr.cli.train import add_sample_prior_verb, add_train_edsr_verb, add_train_prior_verb
from cardiosr.errors import InputError
from cardiosr.version import __version__


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2 (argparse's own code too)
        self.exit(2, f"cardiosr: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``cardiosr`` command."""
    parser = _Parser(prog="cardiosr", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"cardiosr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_demo_verb(sub)
    add_phantoms_verb(sub)
    add_simulate_verb(sub)
    add_canonical_verb(sub)
    add_enhance_verb(sub)
    add_batch_verb(sub)
    add_train_prior_verb(sub)
    add_report_verb(sub)
    add_benchmark_verb(sub)
    add_train_edsr_verb(sub)
    add_sample_prior_verb(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"cardiosr: warning: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cardiosr`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    previous_term = _install_sigterm()
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"cardiosr: error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        print("cardiosr: terminated (SIGTERM); nothing partial was left behind", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("cardiosr: interrupted; nothing partial was left behind", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = previous
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so that every clean-up that runs on Ctrl-C runs (exit 143)."""


def _raise_terminated(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one clean-up, even if the signal repeats
    raise Terminated


def _install_sigterm():  # noqa: ANN202
    """Treat SIGTERM like SIGINT in the main thread; returns the previous handler (``None`` elsewhere)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)
