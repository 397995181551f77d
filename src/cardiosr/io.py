"""Reading and writing NIfTI label maps with their geometry; atomic writes.

Every write goes to a temporary file in the destination folder and is renamed into place, so a crash
or a full disk never leaves a partial output under the final name.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io as _io
import json
import os
import tempfile
import warnings
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nibabel as nib
import numpy as np

from cardiosr.errors import InputError, InputWarning
from cardiosr.label_check import check_convention, choose_convention
from cardiosr.labels import (
    AUTO_CONVENTION,
    DEFAULT_CONVENTION,
    LabelConvention,
    describe,
    get_convention,
    parse_ignore_labels,
)
from cardiosr.slice_axis import choose_slice_axis, to_disk_order, to_internal_order
from cardiosr.volume import LabelVolume

if TYPE_CHECKING:
    import torch

#: Largest number of voxels accepted in one label map (guards against absurd headers).
MAX_VOXELS = 512 * 1024 * 1024


#: First bytes of a gzip stream.
_GZIP_MAGIC = b"\x1f\x8b"


def read_nifti(path: str | os.PathLike) -> nib.Nifti1Image:
    """Read a NIfTI-1 or NIfTI-2 file by its content: gzip-compressed or not, whatever its name says.

    Raises :class:`~cardiosr.errors.InputError` (one line naming the file) for anything unreadable.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file does not exist", path)
    if path.is_dir():
        raise InputError("is a folder, not a NIfTI file", path)
    if path.stat().st_size == 0:
        raise InputError("file is empty (0 bytes)", path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or _short(exc)})", path) from None
    if raw[:2] == _GZIP_MAGIC:
        try:
            # a cap on the decompressed size guards against gzip bombs (labels are at most 8 bytes a voxel)
            inflater = zlib.decompressobj(wbits=31)
            raw = inflater.decompress(raw, MAX_VOXELS * 8 + 1024)
            if not inflater.eof:
                raise InputError("compressed data is truncated or too large for a label map", path)
        except (zlib.error, EOFError) as exc:
            raise InputError(f"not a readable NIfTI file (bad gzip data: {_short(exc)})", path) from None
    if len(raw) < 348:
        raise InputError(f"not a readable NIfTI file (only {len(raw)} bytes, a header has 348)", path)
    sizes = {int.from_bytes(raw[:4], "little"), int.from_bytes(raw[:4], "big")}
    kind = nib.Nifti1Image if 348 in sizes else nib.Nifti2Image if 540 in sizes else None
    if kind is None:
        raise InputError("not a NIfTI file (the first 4 bytes are not a NIfTI-1 or NIfTI-2 header size)", path)
    try:
        img = kind.from_bytes(raw)
    except (
        nib.filebasedimages.ImageFileError,
        nib.spatialimages.HeaderDataError,
        OSError,
        EOFError,
        ValueError,
    ) as exc:
        raise InputError(f"not a readable NIfTI file ({_short(exc)})", path) from None
    return img


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def read_label_array(img: nib.Nifti1Image, path: str | os.PathLike, frames: bool = False) -> np.ndarray:
    """The voxel data of a label map: a 3D array, or with ``frames`` a 4D ``(x, y, z, t)`` array (a cine).

    Trailing singleton axes beyond the third (beyond the fourth with ``frames``) are dropped; with ``frames``
    a 3D file is one frame. Anything else is an :class:`~cardiosr.errors.InputError`.
    """
    path = Path(path)
    shape = tuple(int(n) for n in img.shape)
    if int(np.prod(shape, dtype=np.int64)) > MAX_VOXELS:
        raise InputError(f"array of shape {shape} is too large for a label map", path)
    try:
        data = np.asanyarray(img.dataobj)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile, ValueError) as exc:
        raise InputError(f"could not read the voxel data ({_short(exc)})", path) from None
    dims = 4 if frames else 3
    # Drop trailing singleton axes (e.g. X×Y×Z×1 exports); anything else must be 3D (4D for frames).
    while data.ndim > dims and data.shape[-1] == 1:
        data = data[..., 0]
    if frames and data.ndim == 3:
        data = data[..., None]
    if data.ndim != dims:
        what = "a 3D label map or a 4D cine (x, y, z, t)" if frames else "a 3D label map"
        hint = "; a 4D cine (x, y, z, t) is read by 'cardiosr enhance --sa'" if data.ndim == 4 else ""
        raise InputError(f"expected {what}, got an array of shape {tuple(data.shape)}{hint}", path)
    if min(data.shape) < 1:
        raise InputError(f"array of shape {tuple(data.shape)} has no voxels", path)
    return _to_integer_labels(data, path)


def _fmt_mm(values: np.ndarray) -> str:
    return "x".join(f"{v:g}" for v in np.round(np.asarray(values, float), 4))


def header_affine(img: nib.Nifti1Image, path: Path) -> tuple[np.ndarray, str | None]:
    """The voxel-to-world affine as ITK (and so nnU-Net, SimpleITK) reads the header, and a warning when
    the header's own sources of voxel size disagree.

    ITK takes the voxel size from ``pixdim[1:4]``, the directions (unit columns) and the origin from the
    sform when ``sform_code > 0``, else from the qform. nibabel's ``img.affine`` takes the voxel size from
    the sform's columns too, which differs when a writer stored a sform with other voxel sizes than
    pixdim (e.g. the ACDC files: a sform of unit voxel sizes, the true 1.5625×1.5625×10 mm in pixdim).
    When they disagree the ITK reading is returned with a one-line warning naming the header fields.
    """
    header = img.header
    sform_code, qform_code = int(header["sform_code"]), int(header["qform_code"])
    if sform_code == 0 and qform_code == 0:
        raise InputError("has no orientation (qform_code and sform_code are both 0), so its geometry is unknown", path)
    source = "sform" if sform_code > 0 else "qform"
    matrix = np.asarray(header.get_sform() if sform_code > 0 else header.get_qform(), dtype=np.float64)
    if not np.all(np.isfinite(matrix)):
        raise InputError(f"{source} contains NaN or infinite values", path)
    pixdim = np.abs(np.asarray(header["pixdim"][1:4], dtype=np.float64))
    columns = np.linalg.norm(matrix[:3, :3], axis=0)
    if np.any(columns < 1e-9) or abs(float(np.linalg.det(matrix[:3, :3]))) < 1e-9:
        raise InputError("affine is singular (voxel axes are degenerate)", path)
    note = None
    if np.all(np.isfinite(pixdim)) and np.all(pixdim > 0) and not np.allclose(columns, pixdim, rtol=1e-3, atol=1e-5):
        affine = matrix.copy()
        affine[:3, :3] = matrix[:3, :3] / columns * pixdim
        note = (
            f"header voxel sizes disagree: {source} (srow/quatern) {_fmt_mm(columns)} mm, pixdim {_fmt_mm(pixdim)} mm; "
            f"following ITK: voxel size from pixdim, directions and origin from the {source}"
        )
    else:
        affine = matrix
    if np.linalg.cond(affine[:3, :3]) > 1e6:
        raise InputError("affine is singular (voxel axes are degenerate)", path)
    return affine, note


def _to_integer_labels(data: np.ndarray, path: Path) -> np.ndarray:
    if data.dtype.kind in "iub":
        return data.astype(np.int64)
    if data.dtype.kind != "f":
        raise InputError(f"voxel type {data.dtype} is not a label type", path)
    if not np.all(np.isfinite(data)):
        raise InputError("contains NaN or infinite values; a label map has whole-number labels only", path)
    rounded = np.rint(data)
    if np.any(np.abs(data - rounded) > 1e-3):
        bad = data[np.abs(data - rounded) > 1e-3].flat[0]
        raise InputError(
            f"contains non-integer values (e.g. {float(bad):g}); is this an image or a probability map, "
            "not a label map?",
            path,
        )
    return rounded.astype(np.int64)


def load_labels(
    path: str | os.PathLike,
    convention: str | LabelConvention = DEFAULT_CONVENTION,
    slice_axis: int | None = None,
    ignore_labels: Sequence[int] = (),
    check_anatomy: bool | None = None,
) -> LabelVolume:
    """Read a NIfTI label map into internal labels and internal ``(D, H, W)`` axis order.

    Header rules: the file is read by its content (NIfTI-1 or NIfTI-2, gzip-compressed or not, whatever
    the name says); the geometry is the one ITK reads (:func:`header_affine`), with a warning when the
    header's voxel sizes disagree; the slice axis is chosen by
    :func:`cardiosr.slice_axis.choose_slice_axis` from the voxel sizes, the shape and where the labels are.

    Parameters
    ----------
    path:
        A ``.nii`` or ``.nii.gz`` file.
    convention:
        The file's label convention (``'ukbb'``, ``'mnms'``, ``'acdc'``), or ``'auto'`` to choose it from
        the anatomy (:func:`cardiosr.label_check.choose_convention`); values it does not know are an
        error.
    slice_axis:
        The on-disk array axis (0, 1 or 2) that is the through-plane axis; ``None`` chooses it.
    ignore_labels:
        On-disk values read as background (e.g. ``(4, 5)`` for the atria of UK Biobank long-axis views).
        A value the convention uses for a structure cannot be ignored.
    check_anatomy:
        Check the named convention against the anatomy (LV ringed by myocardium,
        :func:`cardiosr.label_check.check_convention`). Default: for stacks (more than one slice), not
        for single-slice views.

    Returns
    -------
    LabelVolume
        Internal labels, ``D`` the slice axis, and the affine of that axis order (the world position of
        every voxel is unchanged); ``warnings`` lists what was noticed on reading (also issued as
        :class:`~cardiosr.errors.InputWarning`).

    Raises
    ------
    InputError
        One line naming the file and the problem: missing, empty, truncated or not NIfTI, not 3D,
        non-integer or NaN values, unknown label values, a convention the anatomy contradicts, a singular
        or missing affine, an undecidable slice axis.

    Examples
    --------
    An M&Ms-2 stack stored as 256×256×12 (slice axis last on disk)::

        vol = load_labels("sa.nii.gz", convention="mnms")
        vol.array.shape        # (12, 256, 256): (slices, rows, columns)
    """
    path = Path(path)
    img = read_nifti(path)
    return labels_from_array(
        read_label_array(img, path), img, path, convention, slice_axis, ignore_labels, check_anatomy
    )


def labels_from_array(
    data: np.ndarray,
    img: nib.Nifti1Image,
    path: str | os.PathLike,
    convention: str | LabelConvention = DEFAULT_CONVENTION,
    slice_axis: int | None = None,
    ignore_labels: Sequence[int] = (),
    check_anatomy: bool | None = None,
) -> LabelVolume:
    """:func:`load_labels` of a 3D on-disk label array ``data`` read from ``img`` (e.g. one frame of a cine)."""
    path = Path(path)
    auto = isinstance(convention, str) and convention.lower() == AUTO_CONVENTION
    conv = None if auto else get_convention(convention)
    ignore = parse_ignore_labels(ignore_labels)
    if conv is not None and set(ignore) & set(conv.disk_values):
        clash = sorted(set(ignore) & set(conv.disk_values))
        raise InputError(
            f"--ignore-labels {clash} would remove structures of the '{conv.name}' convention ({describe(conv)})"
        )
    affine, note = header_affine(img, path)
    notes = [note] if note else []
    if ignore:
        data = np.where(np.isin(data, ignore), 0, data)
    try:
        axis, why = choose_slice_axis(affine, data.shape, slice_axis, foreground=data != 0)
    except InputError as exc:
        raise InputError(exc.problem, path) from None
    if why:
        notes.append(why)
    disk, internal_affine, disk_axes = to_internal_order(data, affine, axis)
    is_stack = disk.shape[0] > 1
    if conv is None:
        conv = choose_convention(disk, str(path))
        notes.append(f"--labels auto chose '{conv.name}' ({describe(conv)}) from the anatomy")
    labels = conv.to_internal(disk, path=str(path))
    if check_anatomy if check_anatomy is not None else is_stack:
        mismatch = check_convention(disk, conv, str(path))
        if mismatch:
            notes.append(mismatch)
    for text in notes:
        warnings.warn(f"{path}: {text}", InputWarning, stacklevel=2)
    return LabelVolume(
        array=labels,
        affine=internal_affine,
        convention=conv.name,
        disk_axes=disk_axes,
        path=str(path),
        header=img.header,
        warnings=notes,
    )


def _process_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: The process's umask, read once at import (reading it means setting it, which is not thread-safe).
_UMASK = _process_umask()


def default_mode(directory: bool = False) -> int:
    """The permissions a plain ``open()`` (``mkdir``) would give under the process's umask, e.g. ``0o644``.

    Temporary files and folders are created private (``0o600``, ``0o700``); outputs get these instead, so
    that a group sharing a cohort folder can read them as it would any other file.
    """
    return (0o777 if directory else 0o666) & ~_UMASK


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on failure delete it.

    The temporary name keeps the final suffixes (``.nii.gz``, ``.png``, ...) so that writers that choose
    a format from the name behave the same. Errors of the file system (unwritable folder, full disk)
    become :class:`InputError` naming ``path``.

    Examples
    --------
    ::

        with atomic_path("out/summary.json") as tmp:
            tmp.write_text("{}")   # out/summary.json appears only once this block succeeds
    """
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".nii.gz") else path.suffix
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{suffix}", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise InputError(f"cannot write here ({exc.strerror or _short(exc)})", path) from None
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write ({exc.strerror or _short(exc)})", path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_safetensors(module: torch.nn.Module, path: str | os.PathLike, key: str, metadata: dict) -> Path:
    """Write a module's weights with ``metadata`` as JSON under header ``key`` to ``path``, atomically.

    safetensors holds only tensors and strings, so the file can never run code when read back.
    """
    import json

    from safetensors.torch import save_file

    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={key: json.dumps(metadata)})
    return path


def read_safetensors_metadata(path: str | os.PathLike, key: str, what: str) -> dict:
    """The JSON metadata under header ``key`` of a ``.safetensors`` file (weights are not read).

    ``what`` names the kind of file in the one-line :class:`InputError` raised for an unreadable file,
    a missing key or invalid JSON (e.g. ``'prior'``, ``'EDSR checkpoint'``).
    """
    import json

    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"not a readable safetensors {what} ({_short(exc)})", path) from None
    if key not in header:
        raise InputError(f"safetensors file has no cardiosr {what} metadata", path)
    try:
        return json.loads(header[key])
    except json.JSONDecodeError:
        raise InputError(f"{what} metadata is not valid JSON", path) from None


def save_labels(
    volume: LabelVolume,
    path: str | os.PathLike,
    convention: str | LabelConvention | None = None,
) -> Path:
    """Write a label map atomically in a file's convention and on-disk axis order.

    Parameters
    ----------
    volume:
        Internal labels in ``(D, H, W)`` order with their affine.
    path:
        Destination ``.nii.gz`` (or ``.nii``).
    convention:
        Label convention to write; defaults to ``volume.convention`` (the one it was read in).

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    conv = get_convention(convention or volume.convention)
    # Internal voxel index i maps to on-disk index disk_axes[i]: undo that permutation (array and affine).
    disk, disk_affine = to_disk_order(conv.from_internal(volume.array), volume.affine, volume.disk_axes)
    return save_image(label_image(disk, disk_affine, volume.header), path)


def label_image(disk: np.ndarray, disk_affine: np.ndarray, header: object | None = None) -> nib.Nifti1Image:
    """A uint8 NIfTI image of on-disk labels (3D, or 4D ``(x, y, z, t)``) reusing ``header`` (format, codes, units).

    The affine goes into the sform (the input's code, else 2 "aligned") and the qform (the input's code, else 0).
    """
    header = header.copy() if isinstance(header, nib.Nifti1Header) else nib.Nifti1Header()
    kind = nib.Nifti2Image if isinstance(header, nib.Nifti2Header) else nib.Nifti1Image  # the input's format
    img = kind(np.ascontiguousarray(disk, dtype=np.uint8), disk_affine, header=header)
    img.set_data_dtype(np.uint8)
    img.header.set_slope_inter(1.0, 0.0)
    img.set_sform(disk_affine, code=int(header["sform_code"]) or 2)
    img.set_qform(disk_affine, code=int(header["qform_code"]) or 0)
    return img


def save_image(img: nib.Nifti1Image, path: str | os.PathLike) -> Path:
    """Write a NIfTI image atomically; one-line :class:`~cardiosr.errors.InputError` if it cannot be encoded."""
    path = Path(path)
    with atomic_path(path) as tmp:
        try:
            nib.save(img, str(tmp))
        except OSError:
            raise  # file-system errors are reported by atomic_path, naming the destination
        except Exception as exc:  # nibabel raises several types for unencodable headers
            raise InputError(f"cannot encode as NIfTI ({_short(exc)})", path) from None
    return path


def save_scalar_map(like: LabelVolume, array: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a float32 map on ``like``'s grid (same affine, on-disk axis order and header geometry) atomically.

    Used for per-voxel maps such as the restart uncertainty; ``array`` is in internal ``(D, H, W)`` order.
    """
    path = Path(path)
    array = np.asarray(array, dtype=np.float32)
    if array.shape != like.shape:
        raise ValueError(f"map shape {array.shape} differs from the grid {like.shape}")
    disk, disk_affine = to_disk_order(array, like.affine, like.disk_axes)
    img = nib.Nifti1Image(np.ascontiguousarray(disk), disk_affine)
    img.set_data_dtype(np.float32)
    img.set_sform(disk_affine, code=2)
    img.set_qform(disk_affine, code=0)
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
    return path


def write_json(path: str | os.PathLike, content: Any) -> Path:
    """Write ``content`` as indented JSON (one trailing newline) atomically; the one JSON writer of the package."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(content, indent=2) + "\n")
    return path


def write_csv(
    path: str | os.PathLike,
    rows: Sequence[dict[str, Any]],
    fields: Sequence[str] | None = None,
    float_format: str | None = None,
) -> Path:
    """Write ``rows`` as CSV atomically; the one CSV writer of the package.

    ``fields`` are the columns (default: every key, in order of first appearance; keys not in ``fields`` are
    left out); ``float_format`` (e.g. ``'.6g'``) formats floats.

    Examples
    --------
    >>> import tempfile
    >>> p = write_csv(Path(tempfile.mkdtemp()) / "t.csv", [{"a": 1, "b": 0.5}, {"a": 2, "c": "x"}])
    >>> p.read_text().splitlines()
    ['a,b,c', '1,0.5,', '2,,x']
    """
    if fields is None:
        fields = []
        for row in rows:
            fields += [k for k in row if k not in fields]
    buffer = _io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        if float_format:
            row = {k: (format(v, float_format) if isinstance(v, float) else v) for k, v in row.items()}
        writer.writerow(row)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue())
    return path
