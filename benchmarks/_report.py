"""Shared helpers of the benchmark scripts: machine description and the docs/benchmarks.md sections."""

from __future__ import annotations

import datetime
import os
import platform
import re
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = REPO / "docs" / "benchmarks.md"
SHARED = REPO.parent / "shared" / "data"


def machine() -> str:
    """One line describing where the benchmark ran."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads{gpu}; "
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(name: str, title: str, body: str) -> None:
    """Replace (or append) the section ``name`` of docs/benchmarks.md, stamped with command, machine and date."""
    command = "python " + " ".join([os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]])
    stamp = f"Command: `{command}`  \nMachine: {machine()}  \nDate: {datetime.date.today().isoformat()}\n"
    section = f"<!-- begin {name} -->\n## {title}\n\n{stamp}\n{body.strip()}\n<!-- end {name} -->"
    text = (
        BENCHMARKS_MD.read_text()
        if BENCHMARKS_MD.exists()
        else "# Benchmarks\n\nWritten by the scripts in `benchmarks/`.\n"
    )
    pattern = re.compile(rf"<!-- begin {re.escape(name)} -->.*?<!-- end {re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    tmp = BENCHMARKS_MD.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(BENCHMARKS_MD)


def report(name: str, title: str, header: list[str], rows: list[list[str]], intro: str, write: bool = True) -> str:
    """Print the table of ``rows`` and (with ``write``) put it, after ``intro``, into section ``name``."""
    table = markdown_table(header, rows)
    print(table)
    if write:
        write_section(name, title, intro.strip() + "\n\n" + table)
    return table
