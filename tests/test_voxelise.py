"""The voxeliser (closed meshes of known volume, capped openings) and the shareable real hearts made from meshes."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from conftest import SHARED
from scipy import ndimage

from cardiosr.geometry import to_canonical
from cardiosr.labels import LV, MYO, RV
from cardiosr.mesh_hearts import (
    BIVME_FOLDER,
    RODERO_FILE,
    augmented_shape,
    bivme_heart,
    rodero_heart,
    upsampled_cubic,
)
from cardiosr.topology import topology_report
from cardiosr.volume import LabelVolume
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


@pytest.mark.parametrize(("coarse", "fine"), [((4, 6, 6), (64, 128, 128)), ((3, 5, 7), (17, 40, 9))])
def test_separable_cubic_upsampling_equals_scipys_zoom(coarse, fine):
    values = np.random.default_rng(3).normal(0.0, 3.0, coarse)
    zoom = [n / m for n, m in zip(fine, coarse, strict=True)]
    expected = ndimage.zoom(values, zoom, order=3, mode="nearest")
    assert expected.shape == fine
    np.testing.assert_allclose(upsampled_cubic(values, fine), expected, rtol=0, atol=1e-10)


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


def _straight_heart():
    """A straight heart on a 1 mm grid, its long axis along the first axis: LV cylinder, wall, RV beside."""
    z, y, x = np.meshgrid(np.arange(100), np.arange(100), np.arange(100), indexing="ij")
    r = np.hypot(y - 45, x - 45)
    labels = np.zeros((100, 100, 100), np.uint8)
    labels[(z >= 15) & (z < 85) & (r < 24)] = MYO
    labels[(z >= 22) & (z < 85) & (r < 16)] = LV
    labels[(z >= 30) & (z < 80) & (np.hypot(y - 45, x - 72) < 14) & (r >= 24)] = RV
    return LabelVolume(labels, np.eye(4))


@pytest.mark.parametrize("bend", [True, False])
def test_augmented_shape_bends_the_long_axis_only_when_asked(bend):
    heart = _straight_heart()
    spreads = []
    for seed in range(3):
        shape = augmented_shape(
            heart, np.random.default_rng(seed), max_tilt_deg=0.0, max_scaling=0.0, wall_change_mm=(0.0, 0.0), bend=bend
        )
        area = (shape == LV).sum(axis=(1, 2))
        full = np.flatnonzero(area >= 0.8 * area.max())  # slices away from the ends, where the cut is uneven
        centres = np.array([np.argwhere(shape[k] == LV).mean(0) for k in full])
        spreads.append(np.abs(centres - centres.mean(0)).max())
    # The LV centre moves across the slices (in voxels of 1.25 mm) only if the long axis is bent.
    assert (min(spreads) > 0.8) if bend else (max(spreads) < 0.4)


@pytest.mark.parametrize("flag", [[], ["--no-mesh-bend"]])
def test_train_prior_passes_the_mesh_bend_choice_and_records_it(tmp_path, monkeypatch, flag):
    import cardiosr.mesh_hearts
    import cardiosr.prior.train
    from cardiosr.cli import main

    seen = {}

    def shapes(n, data_dir, **options):
        seen["bend"] = options["bend"]
        return np.zeros((n, 2, 2, 2), np.uint8)

    def train(data, output, config, description, **options):
        seen["description"] = description
        return None, {}

    monkeypatch.setattr(cardiosr.mesh_hearts, "mesh_training_data", shapes)
    monkeypatch.setattr(cardiosr.prior.train, "train_prior", train)
    assert main(["train-prior", "--meshes", str(tmp_path), "--mesh-shapes", "4", "-o", str(tmp_path / "p"), *flag]) == 0
    assert seen["bend"] is not bool(flag)
    assert seen["description"].endswith("; no bent long axis") is bool(flag)
