"""Surface meshes of a label map in world coordinates (``--mesh vtk|stl``), for cardiac modelling.

Each structure (LV blood pool, LV myocardium, RV blood pool) becomes a closed triangle surface by
marching cubes (:func:`skimage.measure.marching_cubes`) at the 0.5 level of its binary mask (padded by
one voxel so that it closes at the grid's border). Vertices are mapped from voxel indices to world
millimetres by the volume's affine, and the triangles are re-ordered when the affine mirrors space, so
that normals point outwards in the world (right-hand rule). Files are written with :mod:`meshio` (legacy VTK or binary
STL), each atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cardiosr.errors import InputError
from cardiosr.io import atomic_path
from cardiosr.labels import STRUCTURES
from cardiosr.volume import LabelVolume

#: Mesh formats of ``--mesh``.
MESH_FORMATS = ("vtk", "stl")


def surface_mesh(mask: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangle surface of a binary mask: ``(vertices (N, 3) world mm, faces (M, 3) int)``.

    Examples
    --------
    >>> import numpy as np
    >>> cube = np.zeros((6, 6, 6), bool); cube[1:5, 1:5, 1:5] = True
    >>> v, f = surface_mesh(cube, np.diag([2.0, 1.0, 1.0, 1.0]))
    >>> float(v[:, 0].max() - v[:, 0].min())  # 4 voxels of 2 mm: the surface runs along their outer faces
    8.0
    """
    from skimage.measure import marching_cubes

    padded = np.pad(np.asarray(mask, bool), 1).astype(np.float32)
    verts, faces, _, _ = marching_cubes(padded, level=0.5)
    verts = verts - 1.0  # undo the padding: voxel indices of the mask
    world = verts @ np.asarray(affine, float)[:3, :3].T + np.asarray(affine, float)[:3, 3]
    # marching_cubes winds the triangles of a mask (1 inside) inwards in index space; reverse them, unless
    # the affine mirrors space and so reverses them already, so that normals point outwards in the world
    if np.linalg.det(np.asarray(affine, float)[:3, :3]) > 0:
        faces = faces[:, ::-1]
    return world.astype(np.float64), faces.astype(np.int64)


def write_meshes(
    volume: LabelVolume, output_dir: str | os.PathLike, fmt: str = "vtk", suffix: str = ""
) -> dict[str, Path]:
    """Write ``LV<suffix>.<fmt>``, ``MYO<suffix>.<fmt>``, ``RV<suffix>.<fmt>`` (absent structures are skipped).

    Parameters
    ----------
    volume:
        Label map with its world affine (e.g. :attr:`cardiosr.pipeline.Result.sr`).
    output_dir:
        Folder to write into.
    fmt:
        ``'vtk'`` (legacy VTK polydata) or ``'stl'`` (binary STL).
    suffix:
        Appended to the structure's name, e.g. ``'_007'`` for frame 7 of a cine: ParaView opens
        ``LV_000.vtk``, ``LV_001.vtk``, ... as one time series.
    """
    import meshio

    if fmt not in MESH_FORMATS:
        raise InputError(f"unknown mesh format {fmt!r} (choose one of: {', '.join(MESH_FORMATS)})")
    out = Path(output_dir)
    paths = {}
    for value, name in STRUCTURES:
        mask = volume.array == value
        if not mask.any():
            continue
        verts, faces = surface_mesh(mask, volume.affine)
        mesh = meshio.Mesh(verts, [("triangle", faces)])
        path = out / f"{name}{suffix}.{fmt}"
        with atomic_path(path) as tmp:
            if fmt == "stl":
                meshio.write(tmp, mesh, file_format="stl", binary=True)
            else:
                meshio.write(tmp, mesh, file_format="vtk", binary=True)
        paths[name] = path
    return paths
