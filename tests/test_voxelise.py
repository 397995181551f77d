"""The voxeliser (closed meshes of known volume, capped openings) and the shareable real hearts made from meshes."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from conftest import SHARED

from cardiosr.geometry import to_canonical
from cardiosr.labels import LV, MYO, RV
from cardiosr.mesh_hearts import BIVME_FOLDER, RODERO_FILE, augmented_shape, bivme_heart, rodero_heart
from cardiosr.topology import topology_report
from cardiosr.voxelise import cap_openings, fill_surface


def _grid(spacing, low=-40.0, size=80.0, rotation=None):
    rotation = np.eye(3) if rotation is None else rotation
    affine = np.eye(4)
    affine[:3, :3] = rotation * np.asarray(spacing, float)
    affine[:3, 3] = rotation @ np.full(3, low)
    return affine, tuple(int(np.ceil(size / s)) for s in spacing)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.0, 1.25, 1.25), (10.0, 1.5, 1.5)])
def test_closed_meshes_of_known_volume(spacing):
    rotation = trimesh.transformations.rotation_matrix(0.4, [1, 2, 3])[:3, :3]
    affine, shape = _grid(spacing, rotation=rotation)
    voxel = float(np.prod(spacing))
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=25.0)
    box = trimesh.creation.box(extents=(30.0, 20.0, 40.0))
    for mesh, exact in ((sphere, 4 / 3 * np.pi * 25.0**3), (box, 30.0 * 20.0 * 40.0)):
        volume = fill_surface(mesh, affine, shape).sum() * voxel
        assert volume == pytest.approx(exact, rel=0.02 if spacing[0] < 5 else 0.06), (spacing, volume, exact)


def test_nested_surfaces_fill_the_wall_between_them():
    outer = trimesh.creation.icosphere(subdivisions=4, radius=25.0)
    inner = trimesh.creation.icosphere(subdivisions=4, radius=15.0)
    affine, shape = _grid((1.0, 1.0, 1.0))
    wall = fill_surface(trimesh.util.concatenate([outer, inner]), affine, shape)
    assert wall.sum() == pytest.approx(4 / 3 * np.pi * (25.0**3 - 15.0**3), rel=0.02)
    assert not wall[40, 40, 40]  # the centre is inside the inner surface: not wall


def test_capping_closes_an_open_cup_to_the_volume_of_the_cut_sphere():
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=20.0)
    cup = trimesh.Trimesh(sphere.vertices, sphere.faces[sphere.triangles_center[:, 2] < 10.0])
    closed = cap_openings(cup)
    assert not cup.is_watertight and closed.is_watertight
    height = 20.0 + cup.vertices[:, 2].max()  # the cap is a plane at the rim's height
    exact = np.pi * height**2 * (3 * 20.0 - height) / 3  # spherical cap below the rim
    affine, shape = _grid((1.0, 1.0, 1.0))
    assert fill_surface(closed, affine, shape).sum() == pytest.approx(exact, rel=0.03)


needs_meshes = pytest.mark.skipif(
    not (SHARED / RODERO_FILE).is_file() or not (SHARED / BIVME_FOLDER).is_dir(),
    reason="../shared/data (Rodero and biv-me meshes) is absent",
)


@needs_meshes
def test_the_rodero_heart_keeps_its_mesh_volumes_and_puts_the_apex_first():
    heart = rodero_heart(SHARED / RODERO_FILE)
    ml = {k: (heart.array == v).sum() * 1e-3 for k, v in (("LV", LV), ("MYO", MYO), ("RV", RV))}
    # Mesh volumes read from the file: LV cavity 120.4 mL, RV cavity 185.6 mL, LV myocardium + septum 164.1 mL.
    assert ml["LV"] == pytest.approx(120.4, rel=0.05) and ml["RV"] == pytest.approx(185.6, rel=0.03)
    assert ml["MYO"] == pytest.approx(164.1, rel=0.03)
    first = {v: np.flatnonzero((heart.array == v).any(axis=(1, 2)))[0] for v in (LV, MYO)}
    assert first[MYO] + 3 <= first[LV]  # index 0 is the apex: myocardium closes the LV there
    assert not to_canonical(heart)[1].flipped


@needs_meshes
def test_biv_me_end_diastole_is_larger_than_end_systole_and_shapes_are_clean():
    ed, es = (bivme_heart(SHARED / BIVME_FOLDER, f) for f in (0, 10))
    lv_ed, lv_es = ((v.array == LV).sum() * 1e-3 for v in (ed, es))
    assert 120 < lv_ed < 250 and 40 < lv_es < 120 and 0.4 < 1 - lv_es / lv_ed < 0.7
    myo = (ed.array == MYO).sum() * 1e-3 * 1.05
    assert 60 < myo < 200  # LV mass in g: the RV free wall is not counted as LV myocardium
    shape = augmented_shape(es, np.random.default_rng(0))
    again = augmented_shape(es, np.random.default_rng(0))
    assert np.array_equal(shape, again) and shape.shape == (64, 128, 128)
    centre = np.argwhere(shape > 0).mean(0)
    assert np.all(np.abs(centre - np.array([31.5, 63.5, 63.5])) <= 1.0)
    assert {LV, MYO, RV} <= set(np.unique(shape).tolist())
    assert topology_report(shape)["LV"]["components"] == 1


def test_train_prior_without_training_data_is_one_line_exit_2(tmp_path, capsys):
    from cardiosr.cli import main

    assert main(["train-prior", "-o", str(tmp_path / "p"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--meshes" in err[0]
    assert not (tmp_path / "p").exists()


def _box_heart() -> np.ndarray:
    """A 1 mm box heart: LV cavity in a MYO wall (the septum at columns 35-38), the RV beside the septum."""
    heart = np.zeros((40, 60, 70), np.uint8)
    heart[5:38, 15:39, 15:39] = MYO
    heart[9:38, 21:33, 21:33] = LV
    heart[9:36, 15:39, 39:55] = RV
    return heart


def test_rv_change_grows_into_background_and_shrinks_from_it_never_from_the_septum():
    from cardiosr.mesh_hearts import _change_rv

    spacing = np.ones(3)
    grown, shrunk = _box_heart(), _box_heart()
    _change_rv(grown, 2.0, spacing)
    _change_rv(shrunk, -2.0, spacing)
    base = _box_heart()
    for out in (grown, shrunk):  # the LV and its wall are untouched
        assert np.array_equal(out == LV, base == LV) and np.array_equal(out == MYO, base == MYO)
    assert (grown == RV).sum() > 1.2 * (base == RV).sum() and (shrunk == RV).sum() < 0.8 * (base == RV).sum()
    assert np.all(grown[base == RV] == RV)  # growing only adds
    # RV voxels touching the septum stay RV: the cavity shrinks from the background side only
    assert np.all(shrunk[12:33, 20:34, 39] == RV)
    assert np.all(shrunk[12:33, 20:34, 53:55] == 0)


def test_wall_growth_splits_between_cavity_and_outside_and_thinning_keeps_the_cavity():
    from cardiosr.mesh_hearts import _change_wall

    spacing = np.ones(3)
    base = _box_heart()
    out_only, half_in, thinned = _box_heart(), _box_heart(), _box_heart()
    _change_wall(out_only, 2.0, 0.0, spacing)
    _change_wall(half_in, 2.0, 0.5, spacing)
    _change_wall(thinned, -2.0, 0.0, spacing)
    assert np.array_equal(out_only == LV, base == LV) and np.array_equal(out_only == RV, base == RV)
    assert (half_in == LV).sum() < (base == LV).sum()  # hypertrophy narrows the cavity
    assert (half_in == RV).sum() < (base == RV).sum()  # and the septum grows into the RV
    assert (half_in == MYO).sum() > (base == MYO).sum()
    assert np.array_equal(thinned == LV, base == LV) and (thinned == MYO).sum() < (base == MYO).sum()


def test_clean_augmented_shapes_have_one_piece_per_structure():
    from cardiosr.volume import LabelVolume

    heart = _box_heart()
    heart[2, 2, 2] = RV  # an island, as voxelised meshes leave
    volume = LabelVolume(heart, np.diag([1.0, 1.0, 1.0, 1.0]))
    shape = augmented_shape(volume, np.random.default_rng(0), rv_change_mm=(-2.0, 2.0), clean=True)
    assert all(v["components"] == 1 and v["holes"] == 0 for v in topology_report(shape).values())
