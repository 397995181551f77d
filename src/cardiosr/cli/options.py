"""Options shared by several verbs: label conventions, and the settings options generated from the fields of
:class:`~cardiosr.pipeline.settings.EnhanceSettings` and :class:`~cardiosr.optimise.options.OptimiseOptions`
(:mod:`cardiosr.option_fields`), so that each setting has one flag, one help text and one default."""

from __future__ import annotations

import argparse
from typing import Any

from cardiosr.labels import AUTO_CONVENTION, CONVENTIONS, DEFAULT_CONVENTION, parse_ignore_labels


def add_labels(p: argparse.ArgumentParser, reads: bool = False, auto: bool = True) -> None:
    """``--labels``; for verbs that read label maps also ``--slice-axis``, ``--ignore-labels`` and (unless the
    verb writes files in ``--labels``) ``--labels auto``."""
    auto = reads and auto
    choices = sorted(CONVENTIONS) + ([AUTO_CONVENTION] if auto else [])
    p.add_argument(
        "--labels",
        default=DEFAULT_CONVENTION,
        choices=choices,
        help=f"label convention of the files (default: {DEFAULT_CONVENTION}: 1 LV, 2 MYO, 4 RV)"
        + ("; auto: choose from the anatomy" if auto else ""),
    )
    if reads:
        p.add_argument(
            "--slice-axis", type=int, choices=(0, 1, 2), help="on-disk slice axis of the input maps (default: choose)"
        )
        p.add_argument(
            "--ignore-labels",
            type=parse_ignore_labels,
            default=(),
            metavar="V,V",
            help="label values read as background in every input, e.g. 4,5 (atria of UK Biobank long-axis views)",
        )


def add_settings_options(p: argparse.ArgumentParser, exclude: tuple[str, ...] = ()) -> None:
    """The options of ``enhance``, ``batch`` and ``benchmark``, generated from the fields of
    :class:`~cardiosr.pipeline.settings.EnhanceSettings` and :class:`~cardiosr.optimise.options.OptimiseOptions`
    (flag, default and help of each field); the fields named in ``exclude`` get no option (their default holds)."""
    from cardiosr.optimise.options import OptimiseOptions
    from cardiosr.option_fields import cli_fields
    from cardiosr.pipeline.settings import EnhanceSettings

    for cls in (EnhanceSettings, OptimiseOptions):
        for f in cli_fields(cls):
            if f.name in exclude:
                continue
            cli, name = f.metadata["cli"], f.name.replace("_", "-")
            if isinstance(f.default, bool):
                flag = cli["flag"] or (f"--no-{name}" if f.default else f"--{name}")
                p.add_argument(flag, dest=f.name, action="store_false" if f.default else "store_true", help=cli["help"])
                continue
            p.add_argument(
                cli["flag"] or f"--{name}",
                dest=f.name,
                type=cli["kind"] or type(f.default),
                default=f.default,
                choices=cli["choices"],
                metavar=cli["metavar"],
                help=cli["help"],
            )
            if cli["off"]:
                p.add_argument(cli["off"], dest=f.name, action="store_const", const=None, help=cli["off_help"])


def enhance_settings(args: argparse.Namespace, exclude: tuple[str, ...] = ()) -> Any:
    """The :class:`~cardiosr.pipeline.settings.EnhanceSettings` of arguments parsed with the options of
    :func:`add_settings_options` (the same ``exclude``)."""
    from cardiosr.optimise.options import OptimiseOptions
    from cardiosr.option_fields import cli_fields
    from cardiosr.pipeline.settings import EnhanceSettings

    values = {
        f.name: getattr(args, f.name)
        for cls in (EnhanceSettings, OptimiseOptions)
        for f in cli_fields(cls)
        if f.name not in exclude
    }
    return EnhanceSettings.from_keywords(
        **values, convention=args.labels, slice_axis=args.slice_axis, ignore_labels=args.ignore_labels
    )


def check_output_folder(path: str) -> None:
    """Refuse an unwritable output folder before any work (:func:`cardiosr.output_folder.check_writable`)."""
    from cardiosr.output_folder import check_writable

    check_writable(path)
