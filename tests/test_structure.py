"""The shape of the package (issue 16): settings in one place, models loaded once, a light command line,
no private names across modules, no import cycles."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cardiosr.cli import build_parser
from cardiosr.errors import InputError
from cardiosr.optimise.options import OptimiseOptions
from cardiosr.option_fields import cli_fields
from cardiosr.pipeline.settings import EnhanceSettings

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "cardiosr"


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every ``from cardiosr... import`` in a file, function-level imports included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cardiosr"):
            out.append((node.module, [a.name for a in node.names]))
    return out


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_module_imports_another_modules_private_names():
    offenders = [
        f"{_module_name(p)} imports {name} from {module}"
        for p in PACKAGE.rglob("*.py")
        for module, names in _imports(p)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert offenders == []


def test_no_import_cycles_function_level_imports_included():
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {m: set() for m in modules}
    for m, p in modules.items():
        for module, names in _imports(p):
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in modules] or [module]
            graph[m] |= {t for t in targets if t in modules and t != m and not m.startswith(t + ".")}
    # a package's __init__ that re-exports lazily is not an edge; the lazy table is a string
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle.extend(stack[stack.index(nxt) :] + [node, nxt] if nxt in stack else [node, nxt])
                return True
            if nxt not in state and visit(nxt, [*stack, node]):
                return True
        state[node] = 2
        return False

    for m in sorted(graph):
        if m not in state and visit(m, []):
            break
    assert cycle == []


def test_every_enhance_option_is_a_batch_option_with_the_same_default():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices  # noqa: SLF001 - argparse API
    enhance, batch = subparsers["enhance"], subparsers["batch"]
    enhance_options = {a.dest: a.default for a in enhance._actions if a.option_strings}  # noqa: SLF001
    batch_options = {a.dest: a.default for a in batch._actions if a.option_strings}  # noqa: SLF001
    verb_only = {"sa", "la", "la_eval", "la_frame", "output"}  # inputs: batch finds its files by name (la at ED)
    for dest, default in enhance_options.items():
        if dest in verb_only:
            continue
        assert dest in batch_options, dest
        assert batch_options[dest] == default, dest


def test_benchmark_takes_the_optimisation_options_of_enhance_with_the_same_defaults():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices  # noqa: SLF001 - argparse API
    enhance, benchmark = subparsers["enhance"], subparsers["benchmark"]
    bench = {a.dest for a in benchmark._actions if a.option_strings}  # noqa: SLF001
    defaults = parser.parse_args(["benchmark", "-o", "o"])
    for f in cli_fields(OptimiseOptions):
        if f.name != "seed":  # benchmark's --seed is its cohort seed
            assert f.name in bench and getattr(defaults, f.name) == f.default, f.name
    assert defaults.seed == 1 and "method" not in bench
    # the parsed options reach the benchmark's EnhanceSettings
    from cardiosr.cli.benchmark import NOT_BENCHMARK_OPTIONS
    from cardiosr.cli.options import enhance_settings

    args = parser.parse_args(["benchmark", "--quick", "-o", "o", "--no-fidelity", "--max-iterations", "7"])
    settings = enhance_settings(args, exclude=NOT_BENCHMARK_OPTIONS)
    assert settings.optimise.fidelity is None and settings.optimise.max_iterations == 7
    assert settings.optimise.seed == OptimiseOptions().seed
    assert {a.dest for a in enhance._actions} >= set(bench) - {  # noqa: SLF001
        "phantoms",
        "hr",
        "train",
        "test",
        "patterns",
        "edsr_steps",
        "quick",
        "tables_only",
        "seed",
        "workers",
    }


def test_command_line_defaults_are_the_settings_defaults():
    args = build_parser().parse_args(["enhance", "--sa", "x.nii.gz", "-o", "out"])
    for cls, defaults in ((EnhanceSettings, EnhanceSettings()), (OptimiseOptions, OptimiseOptions())):
        for f in cli_fields(cls):
            assert getattr(args, f.name) == getattr(defaults, f.name), f.name
    off = build_parser().parse_args(
        ["batch", "-i", "in", "-o", "out", "--no-fidelity", "--no-refine", "--no-blunt-base", "--no-estimate-search"]
    )
    assert off.fidelity is None and off.refine is False and off.basal_absent_mm is None
    assert off.estimate_search is None


def test_settings_are_frozen_and_keywords_are_checked():
    settings = EnhanceSettings.from_keywords(method="sbi", max_iterations=7)
    assert settings.optimise.max_iterations == 7 and settings.method == "sbi"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.method = "lo"  # type: ignore[misc]
    with pytest.raises(InputError, match="unknown option"):
        EnhanceSettings.from_keywords(max_iteratons=3)
    with pytest.raises(InputError, match="--edsr is only used with --method edsr"):
        EnhanceSettings.from_keywords(method="lo", edsr="model.safetensors")
    with pytest.raises(InputError, match="unknown method"):
        EnhanceSettings.from_keywords(method="bicubic")


def test_enhancer_loads_the_prior_once_and_runs_many_subjects(monkeypatch, default_prior):
    import cardiosr.pipeline.enhancer as enhancer_module
    from cardiosr.degradation import downsample_slices
    from cardiosr.phantom import generate_phantom

    calls = []
    real = enhancer_module.load_prior

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(enhancer_module, "load_prior", counting)
    enhancer = enhancer_module.Enhancer(method="nn", device="cpu")
    stacks = [downsample_slices(generate_phantom(seed)[0]) for seed in (0, 1)]
    results = [enhancer.run(s) for s in stacks] + enhancer.run_batch(stacks)
    assert len(calls) == 1 and len(results) == 4
    assert all(r.method == "nn" for r in results)
    assert (results[0].sr.array == results[2].sr.array).all()


def test_help_and_version_do_not_load_torch_or_numpy_and_are_fast():
    code = (
        "import sys, time; t = time.perf_counter()\n"
        "from cardiosr.cli import main\n"
        "for argv in (['--version'], ['--help'], ['enhance', '--help'], ['batch', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print(time.perf_counter() - t, 'torch' in sys.modules, 'numpy' in sys.modules, file=sys.stderr)\n"
    )
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    wall = time.perf_counter() - start
    seconds, torch_loaded, numpy_loaded = proc.stderr.split()
    assert (torch_loaded, numpy_loaded) == ("False", "False")
    assert float(seconds) < 0.5 and wall < 5.0  # the interpreter's own start is not ours; the wall bound is loose


def test_argparse_error_names_the_program_once(capsys):
    from cardiosr.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--bogus"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "see 'cardiosr --help'" in err and "cardiosr cardiosr" not in err
    with pytest.raises(SystemExit):
        main(["enhance", "--bogus"])
    assert "see 'cardiosr enhance --help'" in capsys.readouterr().err


def test_background_map_keeps_order_bounds_what_waits_and_raises_errors():
    from cardiosr.threads import background_map

    made, done = [], []

    def produce():
        for i in range(8):
            made.append(i)
            assert len(made) - len(done) <= 4  # at most `ahead` waiting, one running, one being made
            yield i

    def square(i: int) -> int:
        done.append(i)
        return i * i

    assert background_map(square, produce(), ahead=2) == [i * i for i in range(8)]
    with pytest.raises(ZeroDivisionError):
        background_map(lambda i: 1 // i, iter([2, 1, 0, 3]))
