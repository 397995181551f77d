"""Closed surface meshes → voxel masks on any grid.

A voxel is inside when its centre is inside the surface. The surface is cut by the plane of each grid slice
(:meth:`trimesh.Trimesh.section`) and every closed cross-section is filled with
:func:`skimage.draw.polygon2mask`, combined by the even–odd rule (so a wall, whose cross-section is two nested
loops, fills as a ring). :meth:`trimesh.Trimesh.voxelized` marks every voxel the surface touches, which adds a
shell of half a voxel (+7 % on a 30 mm sphere at 1 mm) and works only on grids aligned with the mesh axes;
:meth:`trimesh.Trimesh.contains` needed more than 20 GB for a 70³ grid.

Surfaces open at valves are closed first by :func:`cap_openings`: one fan of triangles per boundary loop, from
the loop's centroid. trimesh's own ``fill_holes`` closes only holes of three or four edges.
"""

from __future__ import annotations

import numpy as np
import trimesh
from skimage.draw import polygon2mask


def cap_openings(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Close every opening of a surface with a fan of triangles from the centroid of its boundary loop.

    Parameters
    ----------
    mesh:
        Triangle surface; its openings (valve rings) are boundary loops of edges used by one face only.

    Returns
    -------
    trimesh.Trimesh
        A new mesh with one extra vertex and one extra triangle per boundary edge; a closed mesh comes back
        unchanged.

    Examples
    --------
    >>> import trimesh
    >>> cup = trimesh.creation.icosphere(subdivisions=3, radius=10.0)
    >>> cup = trimesh.Trimesh(cup.vertices, cup.faces[cup.triangles_center[:, 2] < 5.0])
    >>> (cup.is_watertight, cap_openings(cup).is_watertight)
    (False, True)
    """
    outline = mesh.outline()
    if len(outline.entities) == 0:
        return mesh.copy()
    vertices = [np.asarray(mesh.vertices, float)]
    faces = [np.asarray(mesh.faces)]
    n = len(mesh.vertices)
    edges_of_face = {tuple(e) for e in np.asarray(mesh.faces)[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)}
    for entity in outline.entities:
        loop = np.asarray(entity.points)
        if loop[0] == loop[-1]:
            loop = loop[:-1]
        centre = mesh.vertices[loop].mean(0)
        a, b = loop, np.roll(loop, -1)
        # The fan must run against the direction in which the neighbouring faces use each edge.
        forward = (int(a[0]), int(b[0])) in edges_of_face
        fan = np.stack([b, a, np.full_like(a, n)] if forward else [a, b, np.full_like(a, n)], 1)
        vertices.append(centre[None])
        faces.append(fan)
        n += 1
    return trimesh.Trimesh(np.concatenate(vertices), np.concatenate(faces), process=False)


def fill_surface(mesh: trimesh.Trimesh, affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Mask of the grid voxels whose centres lie inside a closed surface.

    Parameters
    ----------
    mesh:
        Closed triangle surface, vertices in world millimetres (nested closed surfaces give the region
        between them, by the even–odd rule).
    affine:
        4×4 voxel index ``(i, j, k)`` → world (mm) of the grid; any rotation and spacing.
    shape:
        Grid shape ``(D, H, W)``; the surface is cut once per index along the first axis.

    Returns
    -------
    numpy.ndarray
        Boolean mask of ``shape``.

    Examples
    --------
    A sphere of radius 30 mm on a 2×1.4×1.8 mm grid holds its volume to 0.1 %:

    >>> import numpy as np, trimesh
    >>> sphere = trimesh.creation.icosphere(subdivisions=4, radius=30.0)
    >>> affine = np.diag([2.0, 1.4, 1.8, 1.0]); affine[:3, 3] = -40.0
    >>> mask = fill_surface(sphere, affine, (40, 58, 45))
    >>> float(round(mask.sum() * 2.0 * 1.4 * 1.8 / sphere.volume, 3))
    1.0
    """
    inverse = np.linalg.inv(np.asarray(affine, float))
    index = np.asarray(mesh.vertices, float) @ inverse[:3, :3].T + inverse[:3, 3]
    # Put the slice index on z so that every section is a horizontal plane.
    in_index = trimesh.Trimesh(index[:, [1, 2, 0]], np.asarray(mesh.faces), process=False)
    out = np.zeros(shape, bool)
    low, high = in_index.bounds[:, 2]
    for i in range(max(0, int(np.ceil(low))), min(shape[0], int(np.floor(high)) + 1)):
        section = in_index.section(plane_origin=(0.0, 0.0, float(i)), plane_normal=(0.0, 0.0, 1.0))
        if section is None:
            continue
        for loop in section.discrete:
            out[i] ^= polygon2mask(shape[1:], loop[:, :2])
    return out
