"""``cardiosr benchmark``: the paper's simulated experiments (§3.2, §4.1, Tables 1, 2, S1 and Fig. 3).

From HR label maps (a folder, or generated phantoms) the benchmark

1. splits the cases: the first ``train`` train one EDSR per motion pattern, the rest are test cases;
2. simulates every test case under each motion pattern (Eq. 1, ``s = (5, 1, 1)``; the same random draws
   scaled by the pattern, so patterns are paired);
3. restores each stack with every method: ``nn``, ``sbi``, ``edsr`` (the model of the same pattern, and for
   Table 2 the models of the other patterns), ``lo`` (exactly ``cardiosr enhance --method lo``, through one
   :class:`~cardiosr.pipeline.enhancer.Enhancer`: motion test, fusion and all; also reported before its
   data-consistency stage and fusion as ``lo-latent``);
4. scores each result on the ground truth's grid with :func:`cardiosr.metrics.evaluate`.

Outputs in the output folder (each written atomically): ``cases.csv`` (one row per case × pattern × method,
every metric), ``table_s1.md``/``table_s1.csv`` (methods × patterns × structures, mean ± std, as Table S1),
``table_2.md`` (EDSR trained on each pattern, tested on each, against LO, as Table 2), ``figure_3.png``
(one row per method, ground truth first, as Fig. 3), ``edsr_<pattern>/`` (the trained models) and
``benchmark.json`` (configuration and timings).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cardiosr.degradation import MOTION_PATTERNS
from cardiosr.errors import InputError
from cardiosr.io import atomic_path, write_csv, write_json
from cardiosr.labels import DEFAULT_CONVENTION, STRUCTURES
from cardiosr.pipeline.settings import EnhanceSettings
from cardiosr.volume import LabelVolume

#: Method names in the tables, in the paper's order.
METHOD_TITLES = {
    "nn": "NN",
    "sbi": "SBI",
    "edsr": "EDSR",
    "lo-latent": "LO (latent only)",
    "lo": "LO (proposed)",
}
NAMES = tuple(name for _, name in STRUCTURES)


@dataclass
class BenchmarkConfig:
    """What :func:`run_benchmark` does (the options of ``cardiosr benchmark``).

    Parameters
    ----------
    phantoms:
        Number of phantoms to generate (cohort ``seed``), or ``None`` with ``hr_dir``.
    hr_dir:
        Folder of HR label maps (mapped onto the canonical grid), or ``None`` with ``phantoms``.
    train:
        Cases (the first ones) that train the EDSR models; the others are test cases.
    test:
        Test cases to use (default: all the others).
    patterns:
        Motion patterns (``none``, ``normal``, ``severe``).
    edsr_steps:
        Optimiser steps of each EDSR (:class:`~cardiosr.edsr.EDSRTrainConfig`).
    settings:
        How LO runs: the same :class:`~cardiosr.pipeline.settings.EnhanceSettings` as ``cardiosr enhance``
        (prior, device, γ, ``optimise`` ...; ``method`` is ignored: every method runs).
    seed:
        Phantom cohort seed (default 1: held out from the default prior's cohort 0), and seed of the motion.
    labels:
        Label convention of ``hr_dir``'s files.
    slice_axis, ignore_labels:
        How ``hr_dir``'s files are read (:func:`cardiosr.io.load_labels`).
    workers:
        Processes generating phantoms.
    """

    phantoms: int | None = None
    hr_dir: str | None = None
    train: int | None = None
    test: int | None = None
    patterns: tuple[str, ...] = tuple(MOTION_PATTERNS)
    edsr_steps: int = 1000
    settings: EnhanceSettings = field(default_factory=EnhanceSettings)
    seed: int = 1
    labels: str = DEFAULT_CONVENTION
    slice_axis: int | None = None
    ignore_labels: tuple[int, ...] = ()
    workers: int | None = None


#: ``cardiosr benchmark --quick``: 12 phantoms (8 train EDSR, 4 test), 150 EDSR steps; about 5 min on 2 cores.
QUICK = {"phantoms": 12, "train": 8, "edsr_steps": 150}


def _load_cases(config: BenchmarkConfig, progress: bool) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Case names, HR arrays ``(N, 64, 128, 128)`` on the canonical grid, and their affine."""
    if (config.phantoms is None) == (config.hr_dir is None):
        raise InputError("give exactly one source: --phantoms N or --hr DIR")
    from cardiosr.phantom import phantom_world_affine
    from cardiosr.prior.train import phantom_training_data

    if config.phantoms is not None:
        if config.phantoms < 2:
            raise InputError(f"--phantoms must be at least 2 (train and test), got {config.phantoms}")
        data = phantom_training_data(config.phantoms, config.seed, workers=config.workers, progress=progress)
        names = [f"phantom_{i:04d}" for i in range(config.phantoms)]
        return names, data, phantom_world_affine()
    from cardiosr.simulate import iter_hr_sources

    names, arrays, affine = [], [], None
    for name, vol in iter_hr_sources(
        None,
        config.hr_dir,
        config.labels,
        config.seed,
        slice_axis=config.slice_axis,
        ignore_labels=config.ignore_labels,
    ):
        names.append(name)
        arrays.append(vol.array)
        affine = vol.affine if affine is None else affine
    if len(names) < 2:
        raise InputError("needs at least 2 HR label maps (train and test)", config.hr_dir)
    # each file has its own canonical affine; metrics need only the voxel size, which all share
    return names, np.stack(arrays), np.asarray(affine)


def _split(n: int, config: BenchmarkConfig) -> tuple[range, range]:
    train = config.train if config.train is not None else max(1, int(round(0.8 * n)))
    if not 1 <= train < n:
        raise InputError(f"--train must leave at least one test case: {train} of {n} cases")
    test_end = n if config.test is None else min(n, train + config.test)
    return range(train), range(train, test_end)


def _train_models(
    config: BenchmarkConfig,
    data: np.ndarray,
    affine: np.ndarray,
    out: Path,
    log: Callable[[str], None],
    record: dict[str, Any],
) -> dict[str, Any]:
    """One EDSR per pattern (reused from ``out/edsr_<pattern>`` when its training config matches).

    ``record[pattern]`` gets ``{'reused': bool, 'training_seconds': float}``.
    """
    from cardiosr.edsr import EDSR_FILE, EDSRTrainConfig, load_edsr, train_edsr

    models = {}
    for pattern in config.patterns:
        cfg = EDSRTrainConfig(motion_scale=MOTION_PATTERNS[pattern], steps=config.edsr_steps, seed=config.seed)
        folder = out / f"edsr_{pattern}"
        wanted = {**asdict(cfg), "cases": int(len(data))}
        if (folder / EDSR_FILE).is_file():
            model, meta = load_edsr(folder)
            done = {k: meta.get("training", {}).get(k) for k in wanted}
            if done == wanted:
                log(f"EDSR ({pattern}): reusing {folder / EDSR_FILE}")
                models[pattern] = model
                record[pattern] = {"reused": True, "training_seconds": meta["training"].get("seconds")}
                continue
        t0 = time.perf_counter()
        models[pattern], history = train_edsr(
            data,
            affine,
            cfg,
            output=folder,
            extra_metadata={"motion_pattern": pattern, "data": "benchmark train split"},
        )
        seconds = time.perf_counter() - t0
        record[pattern] = {"reused": False, "training_seconds": round(seconds, 1)}
        log(f"EDSR ({pattern}): {cfg.steps} steps in {seconds:.0f} s, loss {history[-1]['loss']:.4f}")
    return models


def run_benchmark(
    config: BenchmarkConfig,
    output: str | os.PathLike,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> dict[str, Path]:
    """Run the simulated benchmark and write its tables (see the module docstring). Returns the paths."""
    # Kept in one piece (~80 lines): it is the paper's experiment read top to bottom (data, split, EDSR
    # training, every method on every case, tables); each step is one call into a helper.
    from cardiosr.edsr import edsr_upsample
    from cardiosr.interpolation import nearest_upsample, shape_based_interpolation
    from cardiosr.metrics import evaluate
    from cardiosr.pipeline.enhancer import Enhancer
    from cardiosr.simulate import case_rng, simulate_case

    unknown = [p for p in config.patterns if p not in MOTION_PATTERNS]
    if unknown or not config.patterns:
        raise InputError(f"unknown motion pattern(s) {unknown} (choose from: {', '.join(MOTION_PATTERNS)})")
    if config.edsr_steps < 1:
        raise InputError(f"--edsr-steps must be at least 1, got {config.edsr_steps}")
    enhancer = Enhancer(dataclasses.replace(config.settings, method="lo", figure=False, mesh=None))
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    names, data, affine = _load_cases(config, progress)
    train, test = _split(len(names), config)
    log(f"{len(names)} cases: {len(train)} train the EDSR models, {len(test)} are test cases")
    edsr_record: dict[str, Any] = {}
    models = _train_models(config, data[list(train)], affine, out, log, edsr_record)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    rows: list[dict[str, Any]] = []
    examples: dict[str, dict[str, np.ndarray]] = {}
    for pattern in config.patterns:
        for i in test:
            hr = LabelVolume(data[i], affine)
            case = simulate_case(names[i], hr, MOTION_PATTERNS[pattern], case_rng(config.seed, i), pattern=pattern)
            results: dict[tuple[str, str], tuple[np.ndarray, float]] = {}
            for method, fn in (("nn", nearest_upsample), ("sbi", shape_based_interpolation)):
                t0 = time.perf_counter()
                results[(method, "")] = (fn(case.lr, hr.shape, hr.affine), time.perf_counter() - t0)
            for trained_on, model in models.items():
                t0 = time.perf_counter()
                labels = edsr_upsample(model, case.lr, hr.shape, hr.affine).argmax(0).astype(np.uint8)
                results[("edsr", trained_on)] = (labels, time.perf_counter() - t0)
            results.update(_run_lo(enhancer, case.lr, hr))
            for (method, trained_on), (labels, secs) in results.items():
                row = {"case": names[i], "pattern": pattern, "method": method, "edsr_trained_on": trained_on}
                row.update(evaluate(labels, hr.array, spacing))
                row["seconds"] = round(secs, 3)
                rows.append(row)
            if i == test[0]:
                examples[pattern] = {
                    "gt": hr.array,
                    **{m: lab for (m, t), (lab, _) in results.items() if t in ("", pattern)},
                }
            log(
                f"{pattern} {names[i]}: "
                + ", ".join(
                    f"{METHOD_TITLES[r['method']]}{'[' + r['edsr_trained_on'] + ']' if r['edsr_trained_on'] else ''} "
                    f"{r['dice_mean']:.3f}"
                    for r in rows[-len(results) :]
                )
            )
    paths = write_tables(rows, config.patterns, out)
    paths["figure"] = save_benchmark_figure(examples, spacing, out / "figure_3.png")
    info = {
        "config": json.loads(json.dumps(asdict(config), default=str)),
        "cases": {"train": [names[i] for i in train], "test": [names[i] for i in test]},
        "seconds": round(time.perf_counter() - start, 1),
        "edsr": edsr_record,
        "prior": enhancer.prior_metadata.get("source", {}).get("path") or "default",
    }
    paths["json"] = write_json(out / "benchmark.json", info)
    return paths


def _run_lo(enhancer: Any, lr: LabelVolume, hr: LabelVolume) -> dict[tuple[str, str], tuple[np.ndarray, float]]:
    """LO as ``cardiosr enhance`` runs it, on the HR grid: ``lo`` (its ``sr.nii.gz`` resampled; for a simulated
    stack the output grid's voxels are the HR grid's own), and ``lo-latent`` (before refine and fusion)."""
    from cardiosr.errors import InputWarning
    from cardiosr.geometry import resample_labels, resample_probabilities

    t0 = time.perf_counter()
    with warnings.catch_warnings():  # the input checks' notes (e.g. "labels reach the first slice") are expected
        warnings.simplefilter("ignore", InputWarning)
        result = enhancer.run(lr)
    seconds = time.perf_counter() - t0
    opt, to_hr = result.optimisation, result.frame.affine
    out = {("lo", ""): (resample_labels(result.sr.array, result.sr.affine, hr.shape, hr.affine), seconds)}
    if opt.latent_probs is not None:
        latent = resample_probabilities(opt.latent_probs, to_hr, hr.shape, hr.affine).argmax(0)
        out[("lo-latent", "")] = (latent.astype(np.uint8), seconds)
    return out


def read_cases(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a benchmark's ``cases.csv`` with numbers and booleans restored."""
    rows = []
    with Path(path).open(newline="") as f:
        for raw in csv.DictReader(f):
            row: dict[str, Any] = {}
            for key, value in raw.items():
                if value in ("True", "False"):
                    row[key] = value == "True"
                else:
                    try:
                        row[key] = (
                            float(value) if key not in ("case", "pattern", "method", "edsr_trained_on") else value
                        )
                    except ValueError:
                        row[key] = value
            rows.append(row)
    return rows


def rebuild_tables(output: str | os.PathLike) -> dict[str, Path]:
    """Rewrite the tables of a finished benchmark from its ``cases.csv`` (``cardiosr benchmark --tables-only``)."""
    out = Path(output)
    if not (out / "cases.csv").is_file():
        raise InputError("holds no cases.csv of a finished benchmark", out)
    rows = read_cases(out / "cases.csv")
    patterns = [p for p in MOTION_PATTERNS if any(r["pattern"] == p for r in rows)]
    paths = write_tables(rows, patterns, out)
    paths["json"] = out / "benchmark.json"
    return paths


def _write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def _mean_std(values: Sequence[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def _select(rows: list[dict[str, Any]], pattern: str, method: str, trained_on: str = "") -> list[dict[str, Any]]:
    if method == "edsr" and not trained_on:
        trained_on = pattern  # Table S1: EDSR trained and tested on the same pattern
    return [r for r in rows if r["pattern"] == pattern and r["method"] == method and r["edsr_trained_on"] == trained_on]


def table_s1(rows: list[dict[str, Any]], patterns: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Table S1: Dice per structure and their mean (mean ± std over test cases), methods × patterns."""
    header = [
        "motion",
        "method",
        *NAMES,
        "MEAN",
        "shift-optimal MEAN",
        "HD95 mean (mm)",
        "LV error (mL)",
        "LV mass error (g)",
        "plausible",
    ]
    table = []
    for pattern in patterns:
        for method, title in METHOD_TITLES.items():
            sel = _select(rows, pattern, method)
            if not sel:
                continue
            hd = [np.mean([r[f"hd95_{n}"] for n in NAMES]) for r in sel]
            table.append(
                [pattern, title]
                + [_mean_std([r[f"dice_{n}"] for r in sel]) for n in NAMES]
                + [_mean_std([r["dice_mean"] for r in sel]), _mean_std([r["sdice_mean"] for r in sel])]
                + [_mean_std(hd)]
                + [f"{np.mean([abs(float(r[k])) for r in sel]):.1f}" for k in ("err_LV_ml", "err_LV_mass_g")]
                + [f"{np.mean([bool(r['plausible']) for r in sel]):.0%}"]
            )
    return header, table


def table_2(rows: list[dict[str, Any]], patterns: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Table 2: mean Dice of the three structures, EDSR trained on each pattern × tested on each, and LO."""
    header = ["model", *(f"test: {p}" for p in patterns)]
    table = []
    for trained_on in patterns:
        table.append(
            [f"EDSR trained on {trained_on}"]
            + [_mean_std([r["dice_mean"] for r in _select(rows, p, "edsr", trained_on)]) for p in patterns]
        )
    table.append(["LO (proposed)"] + [_mean_std([r["dice_mean"] for r in _select(rows, p, "lo")]) for p in patterns])
    return header, table


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def write_tables(rows: list[dict[str, Any]], patterns: Sequence[str], out: Path) -> dict[str, Path]:
    """Write ``cases.csv``, ``table_s1.md``/``.csv`` and ``table_2.md`` into ``out``."""
    header_s1, s1 = table_s1(rows, patterns)
    header_2, t2 = table_2(rows, patterns)
    return {
        "cases": write_csv(out / "cases.csv", rows),
        "table_s1_md": _write_text(out / "table_s1.md", _markdown(header_s1, s1)),
        "table_s1_csv": write_csv(out / "table_s1.csv", [dict(zip(header_s1, r, strict=True)) for r in s1]),
        "table_2_md": _write_text(out / "table_2.md", _markdown(header_2, t2)),
    }


def save_benchmark_figure(examples: dict[str, dict[str, np.ndarray]], spacing: np.ndarray, path: Path) -> Path:
    """Fig. 3 style: one row per method (ground truth first), two through-plane sections per pattern."""
    from cardiosr.figures import LABEL_COLOURS, plt, save_figure

    patterns = list(examples)
    rows = ["gt", *(m for m in ("nn", "sbi", "edsr", "lo") if all(m in examples[p] for p in patterns))]
    fig, axes = plt.subplots(
        len(rows), 2 * len(patterns), figsize=(3 * len(patterns) * 2, 2.2 * len(rows)), squeeze=False
    )
    for col_p, pattern in enumerate(patterns):
        gt = examples[pattern]["gt"]
        centre = np.argwhere(gt > 0).mean(0).round().astype(int)
        for r, method in enumerate(rows):
            a = examples[pattern][method]
            sections = [(a[:, centre[1], :], spacing[0] / spacing[2]), (a[:, :, centre[2]], spacing[0] / spacing[1])]
            for k, (section, aspect) in enumerate(sections):
                ax = axes[r, 2 * col_p + k]
                ax.imshow(
                    section, cmap=LABEL_COLOURS, vmin=0, vmax=3, interpolation="nearest", aspect=aspect, origin="lower"
                )
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"{pattern} motion, {'D-W' if k == 0 else 'D-H'}", fontsize=9)
                if col_p == 0 and k == 0:
                    ax.set_ylabel("ground truth" if method == "gt" else METHOD_TITLES[method])
    return save_figure(fig, path)
