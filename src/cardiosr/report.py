"""``cardiosr report OUTDIR``: a static HTML page of a ``batch`` output folder (no server needed).

``report.html`` holds the cohort table (one row per case, failed cases included; click a column header
to sort, QC-flagged cases and the highest losses first by default), a thumbnail per case (its
``figure.png``, the three-view figure of ``enhance``), and the distributions of shifts and volumes as
plots (``report_shifts.png``, ``report_volumes.png``, written beside it with matplotlib). Images are
referenced by relative paths, so the folder can be copied or served as it is.
"""

from __future__ import annotations

import csv
import datetime
import html
import os
from pathlib import Path
from typing import Any

import numpy as np

from cardiosr.batch import read_cohort, write_cohort_csv
from cardiosr.errors import InputError
from cardiosr.io import atomic_path
from cardiosr.version import __version__

#: Columns of the HTML table: (cohort.csv column, header).
COLUMNS = [
    ("qc_flag", "QC flag"),
    ("final_loss", "final loss"),
    ("consistency_dice_MYO", "consistency Dice MYO"),
    ("shift_mean_mm", "mean shift (mm)"),
    ("shift_max_mm", "max shift (mm)"),
    ("LV_ml", "LV (mL)"),
    ("RV_ml", "RV (mL)"),
    ("LV_mass_g", "LV mass (g)"),
    ("plausible", "plausible"),
    ("la_dice_mean", "long-axis Dice"),
    ("EF_LV", "LV EF (%)"),
    ("SV_LV_ml", "LV SV (mL)"),
    ("ESV_LV_ml", "LV ESV (mL)"),
    ("EF_RV", "RV EF (%)"),
    ("time_s", "time (s)"),
]

_SCRIPT = """
function sortTable(col, numeric, descending) {
  const table = document.getElementById('cohort');
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const key = r => { const t = r.cells[col].dataset.value ?? r.cells[col].textContent;
                     return numeric ? (t === '' ? -Infinity : parseFloat(t)) : t; };
  rows.sort((a, b) => { const x = key(a), y = key(b); const c = x < y ? -1 : x > y ? 1 : 0;
                        return descending ? -c : c; });
  rows.forEach(r => body.appendChild(r));
  table.dataset.sortedBy = table.tHead.rows[0].cells[col].textContent;
}
document.querySelectorAll('#cohort th').forEach((th, i) => {
  th.addEventListener('click', () => { const d = th.dataset.desc !== 'true'; th.dataset.desc = d;
                                       sortTable(i, th.dataset.numeric === 'true', d); });
});
// default: QC-flagged first, then the highest final loss
sortTable(3, true, true); sortTable(2, true, true);
document.getElementById('cohort').dataset.rendered = 'true';
"""


def _failures(output_dir: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted(output_dir.glob("failures*.csv")):
        with path.open(newline="") as f:
            rows += list(csv.DictReader(f))
    finished = {p.parent.name for p in output_dir.glob("*/summary.json")}
    return [r for r in rows if r.get("case") not in finished]


def _plot_distributions(rows: list[dict[str, Any]], output_dir: Path) -> dict[str, Path]:
    from cardiosr.figures import plt, save_figure

    def values(key: str) -> np.ndarray:
        return np.array([float(r[key]) for r in rows if r.get(key) not in ("", None)])

    paths = {}
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, key, title in zip(
        axes, ("shift_mean_mm", "shift_max_mm"), ("mean shift per case", "largest shift"), strict=True
    ):
        ax.hist(values(key), bins=20, color="#2e86ab")
        ax.set_xlabel("mm")
        ax.set_title(title)
    axes[0].set_ylabel("cases")
    paths["shifts"] = save_figure(fig, output_dir / "report_shifts.png")
    fig, axes = plt.subplots(1, 3, figsize=(11, 3))
    for ax, (key, title, unit) in zip(
        axes, (("LV_ml", "LV cavity", "mL"), ("RV_ml", "RV cavity", "mL"), ("LV_mass_g", "LV mass", "g")), strict=True
    ):
        ax.hist(values(key), bins=20, color="#e4572e")
        ax.set_xlabel(unit)
        ax.set_title(title)
    axes[0].set_ylabel("cases")
    paths["volumes"] = save_figure(fig, output_dir / "report_volumes.png")
    return paths


def _cell(value: Any, numeric: bool) -> str:
    text = "" if value is None else str(value)
    if numeric and text:
        try:
            shown = f"{float(text):.3g}"
        except ValueError:
            shown = text
        return f'<td data-value="{html.escape(text)}">{html.escape(shown)}</td>'
    return f"<td>{html.escape(text)}</td>"


def write_report(output_dir: str | os.PathLike) -> Path:
    """Write ``report.html`` (and its plots, and a fresh ``cohort.csv``) into a ``batch`` output folder."""
    out = Path(output_dir)
    if not out.is_dir():
        raise InputError("is not a folder", out)
    rows = read_cohort(out)
    failures = _failures(out)
    if not rows and not failures:
        raise InputError("holds no finished cases (CASE/summary.json) and no failures.csv: is it a batch output?", out)
    write_cohort_csv(out)
    plots = _plot_distributions(rows, out) if rows else {}
    head = "".join(
        ['<th data-numeric="false">case</th><th data-numeric="false">status</th>']
        + [f'<th data-numeric="true">{html.escape(title)}</th>' for _, title in COLUMNS]
        + ['<th data-numeric="false">QC reasons / failure</th><th data-numeric="false">figure</th>']
    )
    body = []
    for r in rows:
        name = "volume_curves.png" if (out / r["case"] / "volume_curves.png").is_file() else "figure.png"  # cines
        figure = out / r["case"] / name
        thumb = (
            f'<a href="{html.escape(r["case"])}/{name}"><img src="{html.escape(r["case"])}/{name}" '
            f'alt="{html.escape(r["case"])}" width="240" loading="lazy"></a>'
            if figure.is_file()
            else "no figure"
        )
        status = "QC flag" if str(r["qc_flag"]) == "1" else "done"
        cells = [f"<td>{html.escape(r['case'])}</td>", f"<td>{status}</td>"]
        cells += [_cell(r.get(key), True) for key, _ in COLUMNS]
        cells += [f"<td>{html.escape(r.get('qc_reasons', ''))}</td>", f"<td>{thumb}</td>"]
        css = ' class="flag"' if status == "QC flag" else ""
        body.append(f"<tr{css}>" + "".join(cells) + "</tr>")
    for f in failures:
        cells = [f"<td>{html.escape(f['case'])}</td>", "<td>failed</td>"]
        cells += ['<td data-value="2">failed</td>'] + [_cell("", True) for _ in COLUMNS[1:]]
        reason = f"{f.get('file', '')}: {f.get('reason', '')}" if f.get("file") else f.get("reason", "")
        cells += [f"<td>{html.escape(reason)}</td>", "<td></td>"]
        body.append('<tr class="failed">' + "".join(cells) + "</tr>")
    n_flag = sum(str(r["qc_flag"]) == "1" for r in rows)
    plots_html = "".join(
        f'<img src="{p.name}" alt="{html.escape(k)} distribution" style="max-width:100%">' for k, p in plots.items()
    )
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>cardiosr report: {html.escape(out.name)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.5em; vertical-align: middle; }}
th {{ cursor: pointer; background: #f0f0f0; }}
tr.flag {{ background: #fff3cd; }} tr.failed {{ background: #f8d7da; }}
</style></head>
<body>
<h1>cardiosr cohort report</h1>
<p>{len(rows)} finished cases ({n_flag} QC-flagged), {len(failures)} failed;
folder <code>{html.escape(str(out))}</code>; cardiosr {__version__}; written {stamp}.
Click a column header to sort. The table is also in <a href="cohort.csv">cohort.csv</a>.</p>
<h2>Distributions</h2>
{plots_html}
<h2>Cases</h2>
<table id="cohort"><thead><tr>{head}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody></table>
<script>{_SCRIPT}</script>
</body></html>
"""
    path = out / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
