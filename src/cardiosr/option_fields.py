"""Settings fields that carry their command-line form: one definition, one default, one help text per setting.

A dataclass field made with :func:`option` holds, besides its default, the flag and help of its command-line
option; :func:`cardiosr.cli.options.add_options` turns every such field of a settings class into an
``argparse`` option (so ``enhance``, ``batch`` and ``benchmark`` share them), and
:func:`cardiosr.cli.options.values` reads them back. No torch here: ``cardiosr --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any


def option(
    default: Any,
    help: str,  # noqa: A002 - the argparse name
    *,
    flag: str | None = None,
    off: str | None = None,
    off_help: str | None = None,
    choices: Sequence[Any] | None = None,
    metavar: str | None = None,
    kind: type | None = None,
) -> Any:
    """A dataclass field with its command-line option.

    Parameters
    ----------
    default:
        The default (immutable; a tuple rather than a list).
    help:
        Help text; ``{default}`` is replaced by the default.
    flag:
        The option (default: ``--`` + the field name with ``-``). A ``True`` default of a ``bool`` makes
        it ``--no-NAME`` (store false), a ``False`` default ``--NAME`` (store true).
    off, off_help:
        A second flag that sets the field to ``None`` (e.g. ``--no-fidelity``) and its help.
    choices, metavar, kind:
        As in ``argparse``; ``kind`` is the value type (default: the default's type).

    Examples
    --------
    >>> @dataclasses.dataclass(frozen=True)
    ... class S:
    ...     window: int = option(10, "iterations per window (default {default})")
    >>> dataclasses.fields(S)[0].metadata["cli"]["help"]
    'iterations per window (default 10)'
    """
    cli = {
        "help": help.replace("{default}", f"{default:g}" if isinstance(default, float) else str(default)),
        "flag": flag,
        "off": off,
        "off_help": off_help,
        "choices": tuple(choices) if choices is not None else None,
        "metavar": metavar,
        "kind": kind,
    }
    return dataclasses.field(default=default, metadata={"cli": cli})


def cli_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of settings class ``cls`` that have a command-line option, in order."""
    return [f for f in dataclasses.fields(cls) if "cli" in f.metadata]
