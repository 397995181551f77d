"""An output folder that cardiosr owns a set of files in: a lock against concurrent runs, a writability
check before any work, and replacing the whole set of cardiosr's files on a rerun.

* :func:`check_writable` creates (and removes) a probe file where the outputs will go, so an unwritable or
  immutable folder is refused before minutes of optimisation, not after.
* :func:`locked` holds an exclusive ``flock`` on ``.NAME.lock`` beside the folder for the whole run; a
  second run into the same folder is refused at once (one line) instead of racing the first.
* :func:`commit` moves a staged set of files in: in one rename for a new folder; into an existing one
  with ``summary.json`` removed first and moved last, and every file cardiosr writes
  (:data:`OWNED_FILES`, :data:`OWNED_PATTERNS`) that is not part of the new set removed, so no file of a
  previous subject stays beside the new result. Other files in the folder are left alone.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cardiosr.errors import InputError

#: Every file name ``enhance`` may write into its output folder.
OWNED_FILES: tuple[str, ...] = (
    "sr.nii.gz",
    "sr_canonical.nii.gz",
    "uncertainty.nii.gz",
    "shifts.json",
    "loss.csv",
    "figure.png",
    "volume_curves.png",
    *(f"{name}.{fmt}" for name in ("LV", "MYO", "RV") for fmt in ("vtk", "stl")),
    "summary.json",
)
#: Name patterns of the per-frame files of a cine (meshes ``LV_000.vtk`` ...), also owned.
OWNED_PATTERNS: tuple[str, ...] = tuple(
    f"{name}_[0-9][0-9][0-9].{fmt}" for name in ("LV", "MYO", "RV") for fmt in ("vtk", "stl")
)

_HELD: dict[str, tuple[int, int]] = {}  # lock path -> (fd, depth): re-entrant within one process


def _existing_ancestor(path: Path) -> Path:
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    return ancestor


def _probe(folder: Path, out: Path) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".cardiosr-write-test-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise InputError(f"cannot write here ({folder}: {exc.strerror or exc})", out) from None


def check_writable(output_dir: str | os.PathLike) -> None:
    """Refuse an output folder that cannot be written, before any work (nothing is left behind).

    The folder itself (when it exists) and the folder that will hold it (or its nearest existing
    ancestor) must accept a new file: a probe file is created and removed in each, which also detects
    read-only mounts and immutable folders that permission bits do not show.
    """
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", out)
    ancestor = _existing_ancestor(out.parent)
    if not ancestor.is_dir():
        raise InputError(f"cannot write here ({ancestor} is not a folder)", out)
    _probe(ancestor, out)
    if out.is_dir():
        _probe(out, out)


@contextlib.contextmanager
def locked(output_dir: str | os.PathLike) -> Iterator[None]:
    """Hold the exclusive lock of ``output_dir`` (``.NAME.lock`` beside it) for the block.

    Raises
    ------
    InputError
        When another process holds it: another cardiosr run writes into the same folder.
    """
    out = Path(output_dir).absolute()
    lock = out.parent / f".{out.name}.lock"
    key = str(lock)
    if key in _HELD:
        fd, depth = _HELD[key]
        _HELD[key] = (fd, depth + 1)
        try:
            yield
        finally:
            _HELD[key] = (fd, _HELD[key][1] - 1)
        return
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise InputError(
                        "is being written by another cardiosr run (wait for it to finish or choose another -o)", out
                    ) from None
                raise
            # the previous holder may have removed the file between our open and our lock: retry on a new one
            if lock.exists() and os.fstat(fd).st_ino == lock.stat().st_ino:
                break
            os.close(fd)
    except OSError as exc:
        raise InputError(f"cannot lock the output folder ({exc.strerror or exc})", out) from None
    _HELD[key] = (fd, 1)
    try:
        yield
    finally:
        del _HELD[key]
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)


def commit(stage: Path, out: Path, files: dict[str, Path]) -> dict[str, Path]:
    """Move the staged ``files`` into ``out`` as one set (see the module docstring)."""
    try:
        if not out.exists():
            os.replace(stage, out)
            stage.mkdir()  # for the caller's clean-up
        else:
            if not out.is_dir():
                raise InputError("exists and is not a folder", out)
            new = {p.name for p in files.values()}
            (out / "summary.json").unlink(missing_ok=True)  # the folder is incomplete until the new summary
            for key in sorted(files, key=lambda k: files[k].name == "summary.json"):
                if files[key].name != "summary.json":
                    os.replace(files[key], out / files[key].name)
            for name in OWNED_FILES:
                if name not in new:
                    (out / name).unlink(missing_ok=True)
            for pattern in OWNED_PATTERNS:
                for path in out.glob(pattern):
                    if path.name not in new:
                        path.unlink(missing_ok=True)
            for path in files.values():
                if path.name == "summary.json":
                    os.replace(path, out / path.name)
    except OSError as exc:
        raise InputError(f"cannot write ({exc.strerror or exc})", out) from None
    return {k: out / p.name for k, p in files.items()}
