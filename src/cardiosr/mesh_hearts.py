"""Real hearts from shareable meshes, as label maps and as augmented training shapes.

Two sources may train weights that ship (their licences allow it; see ``docs/prior.md``):

* the **Rodero CT heart** (Rodero et al., PLoS Comput Biol 2021, case 01, CC BY 4.0; the file as shipped in
  the MIT-licensed ``ansys-health-heart`` wheel): a tetrahedral mesh. Read from the file: ``_volume-id`` 1 is
  the LV myocardium (126 mL) and 7 the septum (38 mL) — together our MYO —, 2 the RV free wall (62 mL, our
  background); ``_surface-id`` 1 and 2 are the closed LV (120 mL) and RV (186 mL) cavity surfaces;
* the **biv-me patient** (Apache-2.0): LV endocardium, RV endocardium and the biventricular epicardium of
  25 frames of one cardiac cycle, open at the four valves (closed here by :func:`~cardiosr.voxelise.cap_openings`).
  The epicardium wraps the RV free wall too; a wall voxel is LV myocardium when it is no further from the LV
  cavity than the LV free wall is thick (95th percentile of the wall's distance to the LV cavity where the
  RV is more than 20 mm away).

Each heart becomes a 1 mm label map whose first axis is the LV long axis (the principal axis of the LV
cavity), a short-axis volume for :func:`cardiosr.geometry.to_canonical`. :func:`augmented_shape` makes one
canonical training shape from it: the slice plane tilted against the long axis, scaled, smoothly deformed and
its wall thickened or thinned.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import meshio
import numpy as np
import trimesh
from scipy import ndimage
from scipy.spatial.transform import Rotation
from tqdm.auto import tqdm

from cardiosr.errors import InputError
from cardiosr.geometry import APEX_DIRECTION_RAS, CANONICAL_SHAPE, GeometryWarning, canonical_frame
from cardiosr.labels import LV, MYO, RV
from cardiosr.volume import LabelVolume
from cardiosr.voxelise import cap_openings, fill_surface

RODERO_FILE = "rodero-01/rodero_01_fullheart_2.0mm.vtu"
BIVME_FOLDER = "bivme-patient1"
BIVME_FRAMES = 25
#: Where each source comes from, its licence and what it gives the prior (the model card repeats this).
SOURCES = {
    "rodero-01": "Rodero et al. 2021 CT heart case 01 (CC BY 4.0; via ansys-health-heart 0.16.2, MIT): one ED heart",
    "bivme-patient1": "biv-me patient 1 (Apache-2.0): 25 frames of one cardiac cycle",
}
RODERO_LV_MYOCARDIUM = (1, 7)  # _volume-id: LV myocardium and septum
RODERO_LV_CAVITY, RODERO_RV_CAVITY = 1, 2  # _surface-id


def _region_boundary(points: np.ndarray, tets: np.ndarray) -> trimesh.Trimesh:
    """The closed boundary surface of a set of tetrahedra (faces used by one tetrahedron only)."""
    faces = tets[:, [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]].reshape(-1, 3)
    _, index, counts = np.unique(np.sort(faces, 1), axis=0, return_index=True, return_counts=True)
    return trimesh.Trimesh(points, faces[index[counts == 1]], process=False)


def rodero_surfaces(path: str | os.PathLike) -> dict[str, trimesh.Trimesh]:
    """The LV cavity, RV cavity and LV wall (myocardium + septum) surfaces of the Rodero heart, in mm."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path)
    mesh = meshio.read(path)
    points = np.asarray(mesh.points, float)
    triangles = mesh.cells_dict["triangle"]
    surface_id = np.asarray(mesh.cell_data_dict["_surface-id"]["triangle"])
    tets = mesh.cells_dict["tetra"]
    volume_id = np.asarray(mesh.cell_data_dict["_volume-id"]["tetra"])
    return {
        "lv": trimesh.Trimesh(points, triangles[surface_id == RODERO_LV_CAVITY], process=False),
        "rv": trimesh.Trimesh(points, triangles[surface_id == RODERO_RV_CAVITY], process=False),
        "wall": _region_boundary(points, tets[np.isin(volume_id, RODERO_LV_MYOCARDIUM)]),
    }


def bivme_surfaces(folder: str | os.PathLike, frame: int) -> dict[str, trimesh.Trimesh]:
    """The capped LV endocardium, RV endocardium and epicardium of one biv-me frame, in mm."""
    folder = Path(folder)
    names = {"lv": "LV_ENDOCARDIAL", "rv": "RV_ENDOCARDIAL", "epi": "EPICARDIAL"}
    out = {}
    for key, name in names.items():
        path = folder / f"patient1_{name}_{frame:03d}.obj"
        if not path.is_file():
            raise InputError("no such file", path)
        out[key] = cap_openings(trimesh.load(path, process=True))
    return out


def long_axis_grid(
    lv_points: np.ndarray, all_points: np.ndarray, *, spacing_mm: float = 1.0, margin_mm: float = 8.0
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """A grid whose first axis is the principal axis of ``lv_points`` and which holds ``all_points``.

    Returns the 4×4 affine (voxel index → mm) and the shape. The sign of the axis is arbitrary;
    :func:`cardiosr.geometry.canonical_frame` orders apex→base from the anatomy.
    """
    centred = lv_points - lv_points.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt.T.copy()  # columns: principal axes, the long axis first
    if np.linalg.det(axes) < 0:
        axes[:, 2] *= -1
    along = all_points @ axes
    low, high = along.min(0) - margin_mm, along.max(0) + margin_mm
    shape = tuple(int(n) for n in np.ceil((high - low) / spacing_mm) + 1)
    affine = np.eye(4)
    affine[:3, :3] = axes * spacing_mm
    affine[:3, 3] = axes @ low
    return affine, shape  # type: ignore[return-value]


def _heart_volume(lv: np.ndarray, rv: np.ndarray, myo: np.ndarray, affine: np.ndarray, path: str) -> LabelVolume:
    """Internal labels from the three masks, apex at index 0, in a world whose base direction is the usual one.

    The LV cavity is wider at the base, so its centre of mass lies on the base side of the middle of its
    extent. The world is then rotated (rigidly, so the anatomy keeps its handedness) to put the long axis
    along the usual apex→base direction of a scanner's RAS world (``-APEX_DIRECTION_RAS``), so that
    :func:`cardiosr.geometry.canonical_frame` agrees with the anatomy whatever frame the mesh was drawn in.
    """
    labels = np.zeros(lv.shape, np.uint8)
    labels[rv] = RV
    labels[lv] = LV
    labels[myo] = MYO
    index = np.flatnonzero(lv.any(axis=(1, 2)))
    affine = affine.copy()
    if np.argwhere(lv)[:, 0].mean() < 0.5 * (index[0] + index[-1]):  # base at index 0: flip
        labels = labels[::-1].copy()
        affine[:3, 3] += affine[:3, 0] * (lv.shape[0] - 1)
        affine[:3, 0] *= -1
    axis = affine[:3, 0] / np.linalg.norm(affine[:3, 0])
    rotation, _ = Rotation.align_vectors(-APEX_DIRECTION_RAS[None], axis[None])
    world = np.eye(4)
    world[:3, :3] = rotation.as_matrix()
    return LabelVolume(labels, world @ affine, "ukbb", path=path)


def rodero_heart(path: str | os.PathLike, *, spacing_mm: float = 1.0) -> LabelVolume:
    """The Rodero heart as a label map along its LV long axis (internal labels, ``spacing_mm`` voxels)."""
    surfaces = rodero_surfaces(path)
    affine, shape = long_axis_grid(
        np.asarray(surfaces["lv"].vertices)[np.unique(surfaces["lv"].faces)],
        np.concatenate([surfaces[k].vertices[np.unique(surfaces[k].faces)] for k in surfaces]),
        spacing_mm=spacing_mm,
    )
    masks = {key: fill_surface(mesh, affine, shape) for key, mesh in surfaces.items()}
    return _heart_volume(masks["lv"], masks["rv"], masks["wall"], affine, str(path))


def bivme_heart(folder: str | os.PathLike, frame: int, *, spacing_mm: float = 1.0) -> LabelVolume:
    """One biv-me frame as a label map along its LV long axis (internal labels, ``spacing_mm`` voxels)."""
    surfaces = bivme_surfaces(folder, frame)
    affine, shape = long_axis_grid(
        np.asarray(surfaces["lv"].vertices), np.asarray(surfaces["epi"].vertices), spacing_mm=spacing_mm
    )
    lv, rv, heart = (fill_surface(surfaces[k], affine, shape) for k in ("lv", "rv", "epi"))
    rv &= ~lv
    wall = heart & ~lv & ~rv
    d_lv = ndimage.distance_transform_edt(~lv) * spacing_mm
    d_rv = ndimage.distance_transform_edt(~rv) * spacing_mm
    free_wall = wall & (d_rv > 20.0)
    thickness = float(np.percentile(d_lv[free_wall], 95)) if free_wall.any() else 10.0
    return _heart_volume(lv, rv, wall & (d_lv <= thickness), affine, str(folder))


def mesh_hearts(data_dir: str | os.PathLike, *, frames: Sequence[int] | None = None) -> list[tuple[str, LabelVolume]]:
    """Every shareable real heart under ``data_dir``: the Rodero heart and each biv-me frame.

    Parameters
    ----------
    data_dir:
        Folder holding ``rodero-01/`` and ``bivme-patient1/`` (``../shared/data`` of this project).
    frames:
        biv-me frames to use (all 25 by default).
    """
    data_dir = Path(data_dir)
    if not (data_dir / RODERO_FILE).is_file() or not (data_dir / BIVME_FOLDER).is_dir():
        raise InputError(f"needs {RODERO_FILE} and {BIVME_FOLDER}/ inside it", data_dir)
    hearts = [("rodero-01", rodero_heart(data_dir / RODERO_FILE))]
    for frame in range(BIVME_FRAMES) if frames is None else frames:
        hearts.append((f"bivme-{frame:03d}", bivme_heart(data_dir / BIVME_FOLDER, frame)))
    return hearts


def _tilted_grid(volume: LabelVolume, tilt: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]]:
    """A 2 mm grid over ``volume`` whose slice axis is the volume's first axis rotated by ``tilt``."""
    spacing = np.linalg.norm(volume.affine[:3, :3], axis=0)
    axes = tilt @ (volume.affine[:3, :3] / spacing)
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in volume.array.shape], indexing="ij")).reshape(3, -1).T
    world = corners @ volume.affine[:3, :3].T + volume.affine[:3, 3]
    along = world @ axes
    low, high = along.min(0), along.max(0)
    affine = np.eye(4)
    affine[:3, :3] = axes * 2.0
    affine[:3, 3] = axes @ low
    return affine, tuple(int(n) for n in np.ceil((high - low) / 2.0) + 1)  # type: ignore[return-value]


def _sample(volume: np.ndarray, affine: np.ndarray, world: np.ndarray) -> np.ndarray:
    """Nearest-neighbour values of ``volume`` at world points ``(3, ...)`` (0 outside)."""
    inverse = np.linalg.inv(affine)
    index = np.tensordot(inverse[:3, :3], world, 1) + inverse[:3, 3].reshape(3, *([1] * (world.ndim - 1)))
    return ndimage.map_coordinates(volume, index, order=0, mode="constant", cval=0)


def upsampled_cubic(values: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """``ndimage.zoom(values, zoom, order=3, mode="nearest")`` to ``shape``, made one axis at a time.

    A cubic spline zoom is separable: its prefilter and its interpolation both act on each axis alone, so the
    3D zoom equals a product of one small matrix per axis (each column the zoom of a unit vector, made by
    :func:`scipy.ndimage.zoom` itself). For a coarse lattice upsampled to the canonical grid this gives the
    same numbers (to about 1e-14) about 25 times faster: scipy evaluates the 64-point 3D spline support at
    each of the million output voxels, the product needs four multiply-adds per voxel and axis.

    Examples
    --------
    >>> c = np.random.default_rng(0).normal(size=(4, 6, 6))
    >>> ref = ndimage.zoom(c, (16, 64 / 3, 64 / 3), order=3, mode="nearest")
    >>> bool(np.allclose(upsampled_cubic(c, (64, 128, 128)), ref, atol=1e-12))
    True
    """
    matrices = [
        np.stack([ndimage.zoom(np.eye(m)[j], n / m, order=3, mode="nearest") for j in range(m)], 1)
        for m, n in zip(values.shape, shape, strict=True)
    ]
    return np.einsum("ia,jb,kc,abc->ijk", *matrices, values, optimize=True)


def _random_rotation(rng: np.random.Generator, axis: np.ndarray, max_deg: float) -> np.ndarray:
    """A rotation by up to ``max_deg`` about a random direction perpendicular to ``axis``."""
    normal = np.cross(axis, rng.normal(size=3))
    normal /= np.linalg.norm(normal)
    angle = np.deg2rad(rng.uniform(0.0, max_deg))
    k = np.array([[0, -normal[2], normal[1]], [normal[2], 0, -normal[0]], [-normal[1], normal[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def augmented_shape(
    heart: LabelVolume,
    rng: np.random.Generator,
    *,
    max_tilt_deg: float = 20.0,
    max_scaling: float = 0.12,
    deformation_mm: float = 3.0,
    wall_change_mm: tuple[float, float] = (-1.5, 2.5),
    bend: bool = True,
) -> np.ndarray:
    """One canonical training shape (uint8, 64×128×128) made from a real heart.

    Parameters
    ----------
    heart:
        Label map whose first axis is the LV long axis (:func:`rodero_heart`, :func:`bivme_heart`).
    rng:
        Random generator; the same state gives the same shape.
    max_tilt_deg:
        The slice normal is the long axis tilted by an angle uniform in [0, ``max_tilt_deg``] degrees, as a
        planned short-axis stack is.
    max_scaling:
        Each canonical axis is scaled by a factor uniform in 1 ± ``max_scaling`` about the heart's centre.
    deformation_mm:
        Amplitude (standard deviation, mm) of a smooth random displacement (a 4×6×6 lattice upsampled cubically).
    wall_change_mm:
        The LV myocardium grows outwards (positive) or thins from outside (negative) by a distance uniform in
        this range (mm).
    bend:
        Whether the smooth displacement's in-plane components vary along the slice normal, bending the long
        axis. ``False`` makes them the same on every slice (each lattice column's mean over its four layers,
        scaled by 2 to keep the amplitude), so that no shape shows the slice-to-slice in-plane offsets that
        breathing gives a stack; the random stream, and so every other draw, is unchanged.
    """
    tilt = _random_rotation(rng, heart.affine[:3, 0] / np.linalg.norm(heart.affine[:3, 0]), max_tilt_deg)
    coarse_affine, coarse_shape = _tilted_grid(heart, tilt)
    idx = np.indices(coarse_shape, dtype=float).reshape(3, -1)
    coarse = _sample(heart.array, heart.affine, coarse_affine[:3, :3] @ idx + coarse_affine[:3, 3:])
    frame = canonical_frame(LabelVolume(coarse.reshape(coarse_shape), coarse_affine))
    grid = np.indices(CANONICAL_SHAPE, dtype=float)
    world = np.tensordot(frame.affine[:3, :3], grid, 1) + frame.affine[:3, 3].reshape(3, 1, 1, 1)
    # Inverse warp: where in the heart each canonical voxel comes from.
    rot = frame.affine[:3, :3] / np.linalg.norm(frame.affine[:3, :3], axis=0)
    scale = 1.0 + rng.uniform(-max_scaling, max_scaling, 3)
    offset = world - frame.centre.reshape(3, 1, 1, 1)
    local = np.tensordot(rot.T, offset, 1) / scale.reshape(3, 1, 1, 1)
    lattice = rng.normal(0.0, deformation_mm, (3, 4, 6, 6))
    if not bend:
        lattice[1:] = 2.0 * lattice[1:].mean(axis=1, keepdims=True)
    local += np.stack([upsampled_cubic(c, CANONICAL_SHAPE) for c in lattice])
    source = np.tensordot(rot, local, 1) + frame.centre.reshape(3, 1, 1, 1)
    labels = _sample(heart.array, heart.affine, source).astype(np.uint8)
    change = rng.uniform(*wall_change_mm)
    spacing = np.linalg.norm(frame.affine[:3, :3], axis=0)
    lv_or_wall = (labels == LV) | (labels == MYO)
    if change > 0:
        grown = ndimage.distance_transform_edt(~lv_or_wall, sampling=spacing) <= change
        labels[grown & (labels == 0)] = MYO
    elif change < 0:
        thinned = ndimage.distance_transform_edt(lv_or_wall, sampling=spacing) <= -change
        labels[thinned & (labels == MYO)] = 0
    return _recentred(labels)


def _recentred(labels: np.ndarray) -> np.ndarray:
    """Shift by whole voxels so that the heart's centre of mass is at the grid centre (as inputs are)."""
    centre = np.argwhere(labels > 0).mean(0)
    shift = np.round((np.asarray(labels.shape) - 1) / 2 - centre).astype(int)
    return ndimage.shift(labels, shift, order=0, mode="constant", cval=0)


_HEARTS: list[LabelVolume] = []


def _init_worker(data_dir: str) -> None:
    _HEARTS.extend(volume for _, volume in mesh_hearts(data_dir))


def _make_shape(seed: int, index: int, bend: bool = True) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
    with warnings.catch_warnings():  # a tilted base slice can leave the apex undecided; the affine is right
        warnings.simplefilter("ignore", GeometryWarning)
        return augmented_shape(_HEARTS[index % len(_HEARTS)], rng, bend=bend)


def mesh_training_data(
    n: int,
    data_dir: str | os.PathLike,
    *,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    bend: bool = True,
) -> np.ndarray:
    """``n`` augmented canonical shapes of the shareable real hearts (uint8, ``(n, 64, 128, 128)``).

    Shape ``i`` comes from heart ``i mod 26`` (the Rodero heart, then biv-me frames 0–24) with its own
    random stream of ``seed``, so the set does not depend on the number of workers. ``bend`` is passed to
    :func:`augmented_shape`.
    """
    workers = workers or os.cpu_count() or 1
    out = np.empty((n, *CANONICAL_SHAPE), np.uint8)
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(str(data_dir),)) as pool:
        jobs = pool.map(_make_shape, [seed] * n, range(n), [bend] * n, chunksize=4)
        for i, shape in enumerate(tqdm(jobs, total=n, desc="real-heart shapes", disable=not progress, leave=False)):
            out[i] = shape
    return out
