"""``cardiosr batch``: a cohort folder in, one output folder per case out (in the manner of nnU-Net's predict).

Naming rule of the input folder (``-i``):

* ``CASE_sa.nii.gz`` (or ``.nii``): the short-axis stack of case ``CASE`` (3D, or 4D for a cine), or
  ``CASE_sa_frameNN.nii.gz``: the 3D frames of a cine (e.g. ED and ES as ACDC distributes them), taken in the
  order of ``NN``; one or the other per case, required;
* ``CASE_la.nii.gz``, ``CASE_la_VIEW.nii.gz`` (e.g. ``CASE_la_4ch.nii.gz``, ``CASE_la_2ch.nii.gz``): long-axis
  views of the same case, optional, any number;
* anything else is ignored; a long-axis file without its short-axis file is a failure of that case.

Each case ``CASE`` gets ``OUTDIR/CASE/`` with the files of ``cardiosr enhance``. A case's outputs are
written into a hidden staging folder and renamed into place in one step, so ``OUTDIR/CASE/`` exists only
when complete; ``--continue`` skips exactly those cases. A case that fails (bad file, no heart labels,
...) is recorded in ``failures.csv`` with its one-line reason and the run goes on. After the run the
cohort table ``cohort.csv`` is rebuilt from every finished case's ``summary.json``.

Execution: in this process (``workers=1``), a local process pool (``workers=N``), or Ray tasks
(``backend='ray'``, optional extra ``cardiosr[ray]``). ``num_parts``/``part_id`` shard the sorted case list
(case ``k`` belongs to part ``k mod num_parts``) so that several machines can share one output folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cardiosr.errors import InputError
from cardiosr.io import write_csv

if TYPE_CHECKING:
    from cardiosr.pipeline.enhancer import Enhancer
    from cardiosr.pipeline.settings import EnhanceSettings

SA_PATTERN = re.compile(r"^(?P<case>.+)_sa\.nii(\.gz)?$", re.IGNORECASE)
#: One 3D frame of a cine case given as several files: ``CASE_sa_frameNN.nii.gz``.
FRAME_PATTERN = re.compile(r"^(?P<case>.+)_sa_frame(?P<frame>[0-9]+)\.nii(\.gz)?$", re.IGNORECASE)
LA_PATTERN = re.compile(r"^(?P<case>.+)_la(_(?P<view>[A-Za-z0-9-]+))?\.nii(\.gz)?$", re.IGNORECASE)
#: Columns of ``failures.csv``.
FAILURE_FIELDS = ["case", "file", "reason"]
BACKENDS = ("local", "ray")


@dataclass
class Case:
    """One case of the input folder: its name, short-axis file(s) and long-axis files.

    ``sa`` holds one file (a 3D stack or a 4D cine), the frame files of a cine in frame order, or nothing
    (long-axis files alone: the case fails).
    """

    name: str
    sa: list[Path] = field(default_factory=list)
    la: list[Path] = field(default_factory=list)
    #: Why the case cannot run (e.g. two short-axis files); it then fails on its own, not the whole run.
    problem: str = ""

    @property
    def sa_file(self) -> str:
        """The (first) short-axis file, as failures report it; ``""`` when there is none."""
        return str(self.sa[0]) if self.sa else ""


@dataclass
class CaseOutcome:
    """What happened to one case."""

    case: str
    status: str  # "done", "failed" or "skipped"
    reason: str = ""
    file: str = ""
    seconds: float = 0.0
    peak_rss_mb: float = 0.0


def find_stacks(folder: str | os.PathLike, pattern: str = "*.nii*") -> list[tuple[Path, list[Path]]]:
    """The short-axis stacks of a training folder, each with its long-axis files: ``(stack, [views])``, sorted.

    Every file matching ``pattern`` (a glob below ``folder``; ``**/`` descends into sub-folders) is a stack,
    except long-axis files by the batch naming rule (``CASE_la[_VIEW].nii.gz``), which join the stack
    ``CASE_sa.nii.gz`` beside them (and are left out when it is missing).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> for n in ("p1_frame01_gt.nii.gz", "a_sa.nii.gz", "a_la_4ch.nii.gz", "notes.txt"):
    ...     _ = (d / n).write_bytes(b"")
    >>> [(sa.name, [v.name for v in la]) for sa, la in find_stacks(d)]
    [('a_sa.nii.gz', ['a_la_4ch.nii.gz']), ('p1_frame01_gt.nii.gz', [])]
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("no such folder", folder)
    files = sorted(p for p in folder.glob(pattern) if p.is_file() and p.name.endswith((".nii", ".nii.gz")))
    views = [p for p in files if LA_PATTERN.match(p.name)]
    stacks = []
    for path in files:
        if path in views:
            continue
        m = SA_PATTERN.match(path.name)
        own = [v for v in views if m and v.parent == path.parent and LA_PATTERN.match(v.name)["case"] == m["case"]]
        stacks.append((path, own))
    if not stacks:
        raise InputError(f"holds no short-axis label maps matching {pattern!r}", folder)
    return stacks


def find_cases(input_dir: str | os.PathLike) -> list[Case]:
    """The cases of ``input_dir`` by the naming rule (sorted by name).

    The rule is matched case-insensitively (``CASE_SA.nii.gz`` is a short-axis file). A cine given as frame
    files (``CASE_sa_frameNN.nii.gz``) has them in the order of ``NN`` (``frame01`` before ``frame12``). A
    case with two short-axis files (e.g. ``a_sa.nii`` and ``a_sa.nii.gz``), with both ``CASE_sa`` and frame
    files, or with two files of one frame number gets a ``problem`` and fails on its own. Files that follow
    no rule are listed in one :class:`~cardiosr.errors.InputWarning` (hidden files are skipped silently).

    Examples
    --------
    >>> import tempfile, pathlib, warnings
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> names = ("a_sa.nii.gz", "a_la_4ch.nii.gz", "B_SA.nii", "notes.txt", "c_la.nii.gz",
    ...          "p1_sa_frame12.nii.gz", "p1_sa_frame01.nii.gz")
    >>> for n in names:
    ...     _ = (d / n).write_bytes(b"")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     cases = find_cases(d)
    >>> [(c.name, [p.name for p in c.sa], [p.name for p in c.la]) for c in cases]  # doctest: +NORMALIZE_WHITESPACE
    [('B', ['B_SA.nii'], []), ('a', ['a_sa.nii.gz'], ['a_la_4ch.nii.gz']), ('c', [], ['c_la.nii.gz']),
     ('p1', ['p1_sa_frame01.nii.gz', 'p1_sa_frame12.nii.gz'], [])]
    >>> "notes.txt" in str(caught[0].message)
    True
    """
    import warnings

    from cardiosr.errors import InputWarning

    folder = Path(input_dir)
    if not folder.is_dir():
        raise InputError("is not a folder", folder)
    cases: dict[str, Case] = {}
    stacks: dict[str, list[Path]] = {}
    frames: dict[str, dict[int, list[Path]]] = {}
    ignored: list[str] = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if not path.is_file():
            ignored.append(path.name + "/")
            continue
        if m := FRAME_PATTERN.match(path.name):
            cases.setdefault(m["case"], Case(m["case"]))
            frames.setdefault(m["case"], {}).setdefault(int(m["frame"]), []).append(path)
        elif m := SA_PATTERN.match(path.name):
            cases.setdefault(m["case"], Case(m["case"]))
            stacks.setdefault(m["case"], []).append(path)
        elif m := LA_PATTERN.match(path.name):
            cases.setdefault(m["case"], Case(m["case"])).la.append(path)
        else:
            ignored.append(path.name)
    for name, case in cases.items():
        own, numbered = stacks.get(name, []), frames.get(name, {})
        twice = [paths for paths in numbered.values() if len(paths) > 1]
        if len(own) > 1:
            case.problem = f"case {name} has two short-axis files ({own[0].name}, {own[1].name}); keep one"
        elif own and numbered:
            case.problem = (
                f"case {name} has both {own[0].name} and frame files ({numbered[min(numbered)][0].name}, ...); "
                "give the cine one way"
            )
        elif twice:
            case.problem = f"case {name} has two files of one frame ({twice[0][0].name}, {twice[0][1].name}); keep one"
        case.sa = own[:1] + [numbered[t][0] for t in sorted(numbered)]
    if ignored:
        shown = ", ".join(ignored[:10]) + (f" and {len(ignored) - 10} more" if len(ignored) > 10 else "")
        warnings.warn(
            f"{folder}: ignored {len(ignored)} entries that follow no naming rule (CASE_sa.nii.gz, "
            f"CASE_sa_frameNN.nii.gz, CASE_la[_VIEW].nii.gz): {shown}",
            InputWarning,
            stacklevel=2,
        )
    if not cases:
        raise InputError("holds no CASE_sa.nii.gz files (see 'cardiosr batch --help' for the naming rule)", folder)
    return [cases[k] for k in sorted(cases)]


def shard(cases: list[Case], num_parts: int, part_id: int) -> list[Case]:
    """Part ``part_id`` of ``num_parts``: every ``num_parts``-th case starting at ``part_id``."""
    if num_parts < 1 or not 0 <= part_id < num_parts:
        raise InputError(f"--part-id must be in 0..{num_parts - 1} and --num-parts at least 1")
    return cases[part_id::num_parts]


def is_finished(output_dir: Path, case: str) -> bool:
    """A case is finished when its output folder holds ``summary.json`` (it appears in one rename)."""
    return (output_dir / case / "summary.json").is_file()


# --- one case (runs in a worker) ---------------------------------------------------------------------

#: The :class:`~cardiosr.pipeline.Enhancer` of a pool worker process, made once by :func:`_init_worker` (the
#: models are loaded once per worker, not once per case).
_worker_enhancer: Enhancer | None = None


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def process_case(case: Case, output_dir: str | os.PathLike, enhancer: Enhancer | None = None) -> CaseOutcome:
    """Enhance one case into ``output_dir/CASE/``; every problem becomes a ``failed`` outcome, never an exception."""
    import warnings

    start = time.perf_counter()
    out = Path(output_dir) / case.name
    try:
        if case.problem:
            raise InputError(case.problem, case.sa_file or None)
        if not case.sa:
            raise InputError(f"long-axis file(s) without a short-axis file {case.name}_sa.nii.gz", case.la[0])
        enhancer = enhancer or _worker_enhancer
        if enhancer is None:
            raise RuntimeError("process_case needs an Enhancer (or a pool worker made by _init_worker)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # geometry warnings are stored in summary.json
            result = _run_case(enhancer, case)
        if out.exists():  # recomputing without --continue: replace the old outputs
            shutil.rmtree(out)
        result.save(out, figure=enhancer.settings.figure, mesh=enhancer.settings.mesh)
        return CaseOutcome(case.name, "done", seconds=time.perf_counter() - start, peak_rss_mb=_peak_rss_mb())
    except InputError as exc:
        outcome = CaseOutcome(case.name, "failed", exc.problem, exc.path or "", time.perf_counter() - start)
    except MemoryError:
        outcome = CaseOutcome(case.name, "failed", "out of memory", case.sa_file, time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - isolate the case: a bug must not end a cohort run
        reason = f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        outcome = CaseOutcome(case.name, "failed", reason, case.sa_file, time.perf_counter() - start)
    # a case that failed in this run has no result: a folder from an earlier run would be stale
    shutil.rmtree(out, ignore_errors=True)
    return outcome


def _run_case(enhancer: Enhancer, case: Case) -> Any:
    """A :class:`~cardiosr.pipeline.result.Result`, or for a cine (4D ``CASE_sa`` or frame files) a ``CycleResult``."""
    from cardiosr.frames import count_frames, load_frames

    s = enhancer.settings
    if len(case.sa) == 1 and count_frames(case.sa[0]) == 1:
        return enhancer.run(case.sa[0], la=case.la or None)
    cine = load_frames(case.sa, s.convention, s.slice_axis, s.ignore_labels)
    # long-axis views: 4D ones frame by frame, single-frame ones at the ED frame or the frame they clearly agree
    # with better (Enhancer.run_cycle, cardiosr.pipeline.checks.matching_frame)
    return enhancer.run_cycle(cine, case.la or None, frames=s.frames)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(143)  # unwinds the case: its staging folder is removed by the `finally` blocks


def _init_worker(threads: int, settings: EnhanceSettings) -> None:
    """Set up a pool worker: torch threads, its Enhancer, stop when the parent dies, clean up on SIGTERM."""
    import signal

    import torch

    global _worker_enhancer  # noqa: PLW0603 - the worker process's own Enhancer (see _worker_enhancer)
    torch.set_num_threads(max(1, threads))
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what a Ctrl-C means
    if sys.platform.startswith("linux"):  # the kernel sends SIGTERM when the parent dies, even by SIGKILL
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            raise SystemExit(143)
    from cardiosr.pipeline.enhancer import Enhancer

    _worker_enhancer = Enhancer(settings)


# --- the run -----------------------------------------------------------------------------------------


@dataclass
class BatchReport:
    """What :func:`run_batch` did: outcomes per case (this run), and the files it wrote."""

    outcomes: list[CaseOutcome]
    cohort_csv: Path
    failures_csv: Path
    seconds: float

    @property
    def counts(self) -> dict[str, int]:
        """Number of cases per status."""
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.status] = out.get(o.status, 0) + 1
        return out


def _clean_stale_staging(output_dir: Path, cases: Iterable[Case]) -> None:
    """Remove staging folders left by a killed run (only those of this run's cases)."""
    for case in cases:
        for stale in output_dir.glob(f".{case.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)


def run_batch(
    input_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    settings: EnhanceSettings,
    resume: bool = False,
    workers: int = 1,
    num_parts: int = 1,
    part_id: int = 0,
    backend: str = "local",
    address: str | None = None,
    cpus_per_task: float = 1.0,
    gpus_per_task: float = 0.0,
    progress: bool = True,
    on_outcome: Callable[[CaseOutcome], None] | None = None,
) -> BatchReport:
    """Process every case of ``input_dir`` (this part of it) into ``output_dir`` (see the module docstring)."""
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r} (choose one of: {', '.join(BACKENDS)})")
    start = time.perf_counter()
    from cardiosr.pipeline.enhancer import Enhancer

    enhancer = Enhancer(settings)  # a bad setting or model file fails here, once, before any case
    cases = shard(find_cases(input_dir), num_parts, part_id)
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"cannot write to the output folder ({exc.strerror or exc})", out) from None
    _clean_stale_staging(out, cases)
    outcomes = [
        CaseOutcome(c.name, "skipped", "finished before (--continue)")
        for c in cases
        if resume and is_finished(out, c.name)
    ]
    todo = [c for c in cases if not (resume and is_finished(out, c.name))]

    from tqdm import tqdm

    bar = tqdm(total=len(todo), desc="cases", unit="case", disable=None if progress else True, file=sys.stderr)

    def record(outcome: CaseOutcome) -> None:
        outcomes.append(outcome)
        bar.update(1)
        if outcome.status == "failed":
            where = f"{outcome.file}: " if outcome.file else ""
            bar.write(f"cardiosr: {outcome.case} failed: {where}{outcome.reason}", file=sys.stderr)
        if on_outcome is not None:
            on_outcome(outcome)

    try:
        if backend == "ray":
            _run_ray(todo, out, settings, record, address, cpus_per_task, gpus_per_task)
        elif workers == 1:
            for case in todo:
                record(process_case(case, out, enhancer))
        else:
            _run_pool(todo, out, settings, record, workers)
    finally:
        bar.close()
        suffix = "" if num_parts == 1 else f"_part{part_id}of{num_parts}"
        failures = write_failures(out / f"failures{suffix}.csv", outcomes)
        cohort = write_cohort_csv(out)
    order = {c.name: k for k, c in enumerate(cases)}
    outcomes.sort(key=lambda o: order.get(o.case, -1))
    return BatchReport(outcomes, cohort, failures, time.perf_counter() - start)


def _run_pool(
    todo: list[Case], out: Path, settings: EnhanceSettings, record: Callable[[CaseOutcome], None], workers: int
) -> None:
    import multiprocessing

    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")  # no fork after torch's threads have started
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(threads, settings))
    try:
        futures = {pool.submit(process_case, case, out): case for case in todo}
        for future in as_completed(futures):
            try:
                record(future.result())
            except Exception as exc:  # noqa: BLE001 - a worker that died (killed, out of memory)
                case = futures[future]
                record(CaseOutcome(case.name, "failed", f"worker died: {type(exc).__name__}", case.sa_file))
    except BaseException:
        # interrupted or terminated: the workers stop with us (they clean up their staging folders on SIGTERM)
        _stop_workers(pool)
        _clean_stale_staging(out, todo)
        raise
    pool.shutdown(wait=True)


def _stop_workers(pool: ProcessPoolExecutor, grace_s: float = 5.0) -> None:
    """Terminate a pool's worker processes now (SIGTERM, then SIGKILL after ``grace_s``) and drop its queue."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    deadline = time.monotonic() + grace_s
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def _ray_process_case(case: Case, out: str, settings: EnhanceSettings) -> CaseOutcome:
    """One case in a Ray task, with the task's own Enhancer (loading the prior takes well under a second)."""
    from cardiosr.pipeline.enhancer import Enhancer

    return process_case(case, out, Enhancer(settings))


def _run_ray(
    todo: list[Case],
    out: Path,
    settings: EnhanceSettings,
    record: Callable[[CaseOutcome], None],
    address: str | None,
    cpus: float,
    gpus: float,
) -> None:
    try:
        import ray
    except ImportError:
        raise InputError("the Ray backend needs Ray: pip install 'cardiosr[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InputError(f"cannot connect to Ray at {address or 'a new local instance'}: {exc}") from None
    try:
        task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(_ray_process_case)
        pending = {task.remote(case, str(out), settings): case for case in todo}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                case = pending.pop(ref)
                try:
                    record(ray.get(ref))
                except Exception as exc:  # noqa: BLE001 - a task whose worker died
                    record(CaseOutcome(case.name, "failed", f"Ray task failed: {type(exc).__name__}", case.sa_file))
    finally:
        if started_here:
            ray.shutdown()


# --- tables ------------------------------------------------------------------------------------------


def write_failures(path: Path, outcomes: list[CaseOutcome]) -> Path:
    """``failures.csv``: one row per failed case of this run (case, file, one-line reason)."""
    rows = [asdict(o) for o in sorted(outcomes, key=lambda o: o.case) if o.status == "failed"]
    return write_csv(path, rows, FAILURE_FIELDS)


#: Columns of ``cohort.csv`` (from each case's ``summary.json``).
COHORT_FIELDS = [
    "case",
    "method",
    "qc_flag",
    "qc_reasons",
    "final_loss",
    "final_loss_sa",
    "consistency_dice_LV",
    "consistency_dice_MYO",
    "consistency_dice_RV",
    "shift_mean_mm",
    "shift_max_mm",
    "LV_ml",
    "RV_ml",
    "LV_mass_g",
    "plausible",
    "la_dice_mean",
    "iterations",
    "converged",
    "time_s",
    "frames",
    "EDV_LV_ml",
    "ESV_LV_ml",
    "EF_LV",
    "SV_LV_ml",
    "EDV_RV_ml",
    "ESV_RV_ml",
    "EF_RV",
    "SV_RV_ml",
    "warnings",
]


def cohort_row(case: str, summary: dict[str, Any]) -> dict[str, Any]:
    """One row of ``cohort.csv`` from a case's ``summary.json`` (a cine's: :func:`cycle_row`)."""
    if "cycle" in summary:
        return cycle_row(case, summary)
    final = summary.get("final_loss", {})
    consistency = summary.get("consistency_dice", {})
    shifts = summary.get("shifts", {})
    la = summary.get("long_axis_evaluation") or []
    la_mean = [sum(v["dice"].values()) / len(v["dice"]) for v in la]
    iterations = summary.get("iterations", {})
    return {
        "case": case,
        "method": summary.get("method", "lo"),
        "qc_flag": int(bool(summary.get("qc", {}).get("flag"))),
        "qc_reasons": "; ".join(summary.get("qc", {}).get("reasons", [])),
        "final_loss": _fmt(final.get("total")),
        "final_loss_sa": _fmt(final.get("sa")),
        **{f"consistency_dice_{k}": _fmt(consistency.get(k)) for k in ("LV", "MYO", "RV")},
        "shift_mean_mm": _fmt(shifts.get("mean_mm")),
        "shift_max_mm": _fmt(shifts.get("max_mm")),
        **{k: _fmt(summary.get("clinical", {}).get(k)) for k in ("LV_ml", "RV_ml", "LV_mass_g")},
        "plausible": int(bool(summary.get("plausibility", {}).get("plausible"))),
        "la_dice_mean": _fmt(sum(la_mean) / len(la_mean)) if la_mean else "",
        "iterations": sum(iterations.values()) if iterations else "",
        "converged": int(bool(summary.get("converged"))),
        "time_s": _fmt(summary.get("time_s")),
        "warnings": "; ".join(summary.get("warnings", []) + summary.get("canonical_frame", {}).get("warnings", [])),
    }


def cycle_row(case: str, summary: dict[str, Any]) -> dict[str, Any]:
    """A cine's row: volumes at ED (``LV_ml``…) and ES, EF and stroke volumes, the worst frame's consistency,
    the mean final loss, QC reasons prefixed with their frame, ``plausible`` 1 when every fitted frame is."""
    c = summary["cycle"]
    # None where the fitted frames do not include the cycle's ED and ES (``not_computed``)
    ed, es = (None if c.get(k) is None else c["frames"].index(c[k]) for k in ("ED_frame", "ES_frame"))

    def volume(key: str, index: int | None) -> Any:
        return "" if index is None else _fmt(c[key][index])

    finals = summary.get("final_loss", [])
    consistency = summary.get("consistency_dice", [])
    qc = summary.get("qc", {})
    reasons = qc.get("reasons", []) + [
        f"frame {q['frame']}: {r}" for q in qc.get("frames", []) for r in q.get("reasons", [])
    ]
    worst = {k: min((d[k] for d in consistency if k in d), default=None) for k in ("LV", "MYO", "RV")}
    return {
        "case": case,
        "method": summary.get("method", "lo"),
        "qc_flag": int(bool(qc.get("flag"))),
        "qc_reasons": "; ".join(reasons),
        "final_loss": _fmt(sum(f["total"] for f in finals) / len(finals)) if finals else "",
        "final_loss_sa": _fmt(sum(f["sa"] for f in finals) / len(finals)) if finals else "",
        **{f"consistency_dice_{k}": _fmt(v) for k, v in worst.items()},
        "shift_mean_mm": _fmt(summary.get("shifts", {}).get("mean_mm")),
        "shift_max_mm": _fmt(summary.get("shifts", {}).get("max_mm")),
        "LV_ml": volume("LV_ml", ed),
        "RV_ml": volume("RV_ml", ed),
        "LV_mass_g": volume("LV_mass_g", ed),
        "plausible": int(all(p.get("plausible") for p in summary["plausibility"])) if "plausibility" in summary else "",
        "la_dice_mean": "",
        "iterations": sum(sum(i.values()) for i in summary.get("iterations", [])),
        "converged": "",
        "time_s": _fmt(summary.get("time_s")),
        "frames": len(c["frames"]),
        "EDV_LV_ml": volume("LV_ml", ed),
        "ESV_LV_ml": volume("LV_ml", es),
        "EF_LV": _fmt(c["EF_LV"]),
        "SV_LV_ml": _fmt(c["SV_LV_ml"]),
        "EDV_RV_ml": volume("RV_ml", ed),
        "ESV_RV_ml": volume("RV_ml", es),
        "EF_RV": _fmt(c["EF_RV"]),
        "SV_RV_ml": _fmt(c["SV_RV_ml"]),
        "warnings": "; ".join(summary.get("warnings", [])),
    }


def _fmt(value: Any) -> Any:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else value


def read_cohort(output_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of every finished case under ``output_dir`` (sorted by case name)."""
    rows = []
    for summary_path in sorted(Path(output_dir).glob("*/summary.json")):
        try:
            summary = json.loads(summary_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        rows.append(cohort_row(summary_path.parent.name, summary))
    return rows


def write_cohort_csv(output_dir: str | os.PathLike) -> Path:
    """``cohort.csv``: one row per finished case (QC flag, losses, shifts, volumes, plausibility, time)."""
    return write_csv(Path(output_dir) / "cohort.csv", read_cohort(output_dir), COHORT_FIELDS)
