"""Seeded anatomical phantoms of the two ventricles on the canonical grid.

A phantom is built from implicit surfaces in the canonical frame (``D`` = apex→base, mm coordinates
``(z, y, x)`` along ``(D, H, W)``):

* **LV cavity**: a prolate ellipsoid (semi-axes ``a``, ``b`` across, ``c`` along the long axis) truncated
  by a basal plane parallel to the slices, ``h`` mm above its equator;
* **LV myocardium**: the shell between the cavity and a second ellipsoid ``thickness`` mm larger on every
  semi-axis, cut by the same basal plane, so it closes the apex and is open at the base;
* **RV cavity**: an ellipsoid beside the septum, in the reference LV→RV direction, wide tangentially and
  shorter than the LV, minus the LV epicardium, which leaves a crescent wrapped around the septum;
* the long axis is tilted 0–20° from the slice normal, and a smooth random low-frequency displacement
  (a few long-wavelength Fourier modes, at most ~2.5 mm) deforms everything together.

Sizes are drawn so that the cavity and myocardial volumes fall in adult ranges
(:data:`VOLUME_RANGES`); a draw whose measured volumes fall outside is rejected and redrawn.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np

from cardiosr.geometry import (
    CANONICAL_SHAPE,
    CANONICAL_SPACING,
    REFERENCE_HANDEDNESS,
    REFERENCE_LV_TO_RV_ANGLE_DEG,
)
from cardiosr.labels import LV, MYO, RV
from cardiosr.topology import largest_component
from cardiosr.volume import LabelVolume

#: Myocardial density used for mass, g/mL.
MYOCARDIAL_DENSITY = 1.05
#: Accepted ranges: LV and RV cavity in mL, LV myocardial mass in g.
VOLUME_RANGES: dict[str, tuple[float, float]] = {
    "lv_ml": (90.0, 220.0),
    "rv_ml": (100.0, 250.0),
    "myo_g": (80.0, 200.0),
}


@dataclass
class PhantomParameters:
    """Shape parameters of one phantom (lengths in mm, angles in degrees)."""

    seed: int
    lv_a: float
    lv_b: float
    lv_c: float
    base_height: float
    thickness: float
    tilt_deg: float
    tilt_azimuth_deg: float
    rv_offset: float
    rv_radial: float
    rv_tangential: float
    rv_length: float
    rv_equator_below_base: float
    rv_angle_jitter_deg: float
    deformation_mm: float
    frame_rotation_deg: float = 0.0
    cohort_index: int | None = None
    lv_ml: float = 0.0
    rv_ml: float = 0.0
    myo_g: float = 0.0


def phantom_world_affine(shape: tuple[int, int, int] = CANONICAL_SHAPE) -> np.ndarray:
    """World affine of a phantom: the canonical grid in a typical short-axis scanner orientation.

    The slice axis (apex→base) points to the patient's right, posterior and superior, i.e. the apex
    points left, anterior and inferior; the axes have the reference handedness; the grid is centred on
    the world origin.
    """
    e_d = np.array([1.0, -1.0, 1.0]) / np.sqrt(3.0)
    e_h = np.cross(e_d, [0.0, 0.0, 1.0])
    e_h /= np.linalg.norm(e_h)
    e_w = REFERENCE_HANDEDNESS * np.cross(e_d, e_h)
    affine = np.eye(4)
    affine[:3, :3] = np.stack([e_d, e_h, e_w], 1) * np.asarray(CANONICAL_SPACING)
    affine[:3, 3] = -affine[:3, :3] @ ((np.asarray(shape, float) - 1) / 2)
    return affine


def _truncated_ellipsoid_ml(a: float, b: float, c: float, h: float) -> float:
    """Volume (mL) of an ellipsoid with semi-axes a, b, c cut at height h above its equator."""
    eta = min(h / c, 1.0)
    return float(np.pi * a * b * c * ((eta + 1.0) - (eta**3 + 1.0) / 3.0)) / 1000.0


def _draw(rng: np.random.Generator, seed: int) -> PhantomParameters:
    while True:
        lv_ml = rng.uniform(100.0, 205.0)
        ratio_b, ratio_c = rng.uniform(0.88, 1.12), rng.uniform(1.9, 3.0)
        eta = rng.uniform(0.2, 0.4)
        f = (eta + 1.0) - (eta**3 + 1.0) / 3.0
        a = (lv_ml * 1000.0 / (np.pi * ratio_b * ratio_c * f)) ** (1.0 / 3.0)
        b, c = a * ratio_b, a * ratio_c
        h = eta * c
        thickness = rng.uniform(6.0, 12.0)
        outer = _truncated_ellipsoid_ml(a + thickness, b + thickness, c + thickness, h)
        myo_g = MYOCARDIAL_DENSITY * (outer - _truncated_ellipsoid_ml(a, b, c, h))
        if VOLUME_RANGES["myo_g"][0] + 8 <= myo_g <= VOLUME_RANGES["myo_g"][1] - 8:
            break
    r_out = 0.5 * (a + b) + thickness
    return PhantomParameters(
        seed=seed,
        lv_a=a,
        lv_b=b,
        lv_c=c,
        base_height=h,
        thickness=thickness,
        tilt_deg=rng.uniform(0.0, 20.0),
        tilt_azimuth_deg=rng.uniform(0.0, 360.0),
        rv_offset=r_out * rng.uniform(0.55, 0.75),
        rv_radial=r_out * rng.uniform(0.8, 1.0),
        rv_tangential=r_out * rng.uniform(1.25, 1.6),
        rv_length=c * rng.uniform(0.9, 1.1),
        rv_equator_below_base=rng.uniform(0.05, 0.25) * c,
        rv_angle_jitter_deg=rng.uniform(-10.0, 10.0),
        deformation_mm=rng.uniform(0.5, 2.5),
    )


def _smooth_field(rng: np.random.Generator, amplitude: float, n_modes: int = 3) -> list[tuple]:
    modes = []
    for _ in range(n_modes):
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        wavelength = rng.uniform(70.0, 140.0)
        modes.append((direction * 2 * np.pi / wavelength, rng.uniform(0, 2 * np.pi), rng.normal(size=3)))
    norm = sum(np.linalg.norm(m[2]) for m in modes)
    return [(k, phase, amp * amplitude / norm) for k, phase, amp in modes]


def _render(p: PhantomParameters, field: list[tuple], offset: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    spacing = np.asarray(CANONICAL_SPACING, np.float32)
    axes = [(np.arange(n, dtype=np.float32) - (n - 1) / 2) * s for n, s in zip(shape, spacing, strict=True)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    # A rotation of the whole heart about the slice axis, chosen so that the LV→RV centroid direction is
    # exactly the canonical one (the RV's own angular jitter then only changes its shape).
    rot = np.deg2rad(p.frame_rotation_deg)
    y, x = np.cos(rot) * y - np.sin(rot) * x, np.sin(rot) * y + np.cos(rot) * x
    pts = [z + offset[0], y + offset[1], x + offset[2]]
    # The basal cut is a plane parallel to the slices, in undeformed coordinates, so that on every slice
    # the cavity is ringed by myocardium.
    below_base = pts[0] <= 0.0
    # Smooth deformation: every structure is evaluated at displaced coordinates.
    disp = [np.zeros_like(z) for _ in range(3)]
    for k, phase, amp in field:
        wave = np.sin(k[0] * pts[0] + k[1] * pts[1] + k[2] * pts[2] + phase)
        for i in range(3):
            disp[i] += amp[i] * wave
    z, y, x = (pts[i] + disp[i] for i in range(3))

    # Long axis: tilted from the slice normal (z) by tilt_deg towards azimuth.
    tilt, azi = np.deg2rad(p.tilt_deg), np.deg2rad(p.tilt_azimuth_deg)
    u = np.array([np.cos(tilt), np.sin(tilt) * np.cos(azi), np.sin(tilt) * np.sin(azi)])
    theta = np.deg2rad(REFERENCE_LV_TO_RV_ANGLE_DEG + p.rv_angle_jitter_deg)
    r_dir = np.array([0.0, np.cos(theta), np.sin(theta)])  # (z, y, x) LV→RV direction in-plane
    p1 = r_dir - (r_dir @ u) * u
    p1 /= np.linalg.norm(p1)
    p2 = np.cross(u, p1)
    # LV equator centre sits on the long axis, base_height below the basal plane z = 0 (before offset).
    t = (z * u[0] + y * u[1] + x * u[2]) + p.base_height
    s1 = z * p1[0] + y * p1[1] + x * p1[2]
    s2 = z * p2[0] + y * p2[1] + x * p2[2]

    cavity = below_base & ((s1 / p.lv_a) ** 2 + (s2 / p.lv_b) ** 2 + (t / p.lv_c) ** 2 <= 1.0)
    th = p.thickness
    epi = below_base & ((s1 / (p.lv_a + th)) ** 2 + (s2 / (p.lv_b + th)) ** 2 + (t / (p.lv_c + th)) ** 2 <= 1.0)
    t_rv = t - p.base_height + p.rv_equator_below_base
    rv_shell = ((s1 - p.rv_offset) / p.rv_radial) ** 2 + (s2 / p.rv_tangential) ** 2 + (t_rv / p.rv_length) ** 2 <= 1.0
    rv = below_base & rv_shell & ~epi
    # The RV ends short of the LV: nothing of it on the epicardial apex slice or below.
    epi_slices = np.flatnonzero(epi.any(axis=(1, 2)))
    if epi_slices.size:
        rv[: epi_slices[0] + 1] = False

    labels = np.zeros(shape, np.uint8)
    labels[epi] = MYO
    labels[cavity] = LV
    labels[rv] = RV
    return labels


def _rotate_in_plane(vector: np.ndarray, angle_deg: float) -> np.ndarray:
    t = np.deg2rad(angle_deg)
    z, y, x = vector
    return np.array([z, np.cos(t) * y - np.sin(t) * x, np.sin(t) * y + np.cos(t) * x])


def _measure(labels: np.ndarray) -> dict[str, float]:
    voxel_ml = float(np.prod(CANONICAL_SPACING)) / 1000.0
    return {
        "lv_ml": float((labels == LV).sum()) * voxel_ml,
        "rv_ml": float((labels == RV).sum()) * voxel_ml,
        "myo_g": float((labels == MYO).sum()) * voxel_ml * MYOCARDIAL_DENSITY,
    }


def generate_phantom(
    seed: int | np.random.SeedSequence, shape: tuple[int, int, int] = CANONICAL_SHAPE
) -> tuple[LabelVolume, PhantomParameters]:
    """Generate one phantom on the canonical grid, centred on the heart's centre of mass.

    Parameters
    ----------
    seed:
        Integer seed (or a :class:`numpy.random.SeedSequence`); the same seed gives the same phantom.
    shape:
        Grid shape ``(D, H, W)`` at the canonical 2×1.25×1.25 mm voxel size.

    Returns
    -------
    (LabelVolume, PhantomParameters)
        Internal labels with the world affine of :func:`phantom_world_affine`, and the parameters with
        the measured volumes (mL) and myocardial mass (g).

    Examples
    --------
    >>> vol, params = generate_phantom(0)
    >>> vol.array.shape
    (64, 128, 128)
    """
    labels, params, _, _ = _generate(seed, shape)
    return LabelVolume(labels, phantom_world_affine(shape), "ukbb"), params


def _generate(
    seed: int | np.random.SeedSequence, shape: tuple[int, int, int]
) -> tuple[np.ndarray, PhantomParameters, list[tuple], np.ndarray]:
    """The phantom's labels, parameters, deformation field and centring offset (the cycle re-renders them)."""
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))
    seed_value = int(seq.entropy) if isinstance(seq.entropy, int) else 0
    rng = np.random.default_rng(seq)
    spacing = np.asarray(CANONICAL_SPACING)
    for _ in range(50):
        params = _draw(rng, seed_value)
        field = _smooth_field(rng, params.deformation_mm)
        target_rv = rng.uniform(VOLUME_RANGES["rv_ml"][0] + 15, VOLUME_RANGES["rv_ml"][1] - 20)
        offset = np.array([-0.35 * params.lv_c, 0.0, 0.0])  # first guess of the heart's centre
        for _ in range(4):  # scale the RV to its target volume and centre the heart on the grid
            labels = _render(params, field, offset, shape)
            idx = np.argwhere(labels > 0)
            lv_to_rv = (np.argwhere(labels == RV).mean(0) - np.argwhere(labels == LV).mean(0)) * spacing
            error = np.degrees(np.arctan2(lv_to_rv[2], lv_to_rv[1])) - REFERENCE_LV_TO_RV_ANGLE_DEG
            params.frame_rotation_deg += (error + 180.0) % 360.0 - 180.0
            # the offset is applied after the rotation: express the centroid error in rotated coordinates
            centre_error = (idx.mean(0) - (np.asarray(shape) - 1) / 2) * spacing
            offset = offset + _rotate_in_plane(centre_error, params.frame_rotation_deg)
            rv_ml = _measure(labels)["rv_ml"]
            if rv_ml > 0:
                scale = float(np.clip((target_rv / rv_ml) ** 0.5, 0.8, 1.25))
                params.rv_radial *= scale**0.5
                params.rv_tangential *= scale
        labels = _render(params, field, offset, shape)
        for value in (LV, MYO, RV):  # keep one component per structure (tiny slivers can split off)
            mask = labels == value
            labels[mask & ~largest_component(mask)] = 0
        measured = _measure(labels)
        touches_edge = any(labels.take(i, axis=a).any() for a in range(3) for i in (0, shape[a] - 1))
        if not touches_edge and all(lo <= measured[k] <= hi for k, (lo, hi) in VOLUME_RANGES.items()):
            params.lv_ml, params.rv_ml, params.myo_g = measured["lv_ml"], measured["rv_ml"], measured["myo_g"]
            return labels, params, field, offset
    raise RuntimeError("could not draw a phantom inside the volume ranges")  # pragma: no cover


def cohort_member(seed: int, index: int) -> tuple[LabelVolume, PhantomParameters]:
    """Case ``index`` of the cohort of ``seed`` (its own random stream, whatever the cohort's size)."""
    vol, params = generate_phantom(np.random.SeedSequence(int(seed), spawn_key=(int(index),)))
    params.cohort_index = int(index)
    return vol, params


def iter_phantoms(n: int, seed: int = 0) -> Iterator[tuple[LabelVolume, PhantomParameters]]:
    """Yield the first ``n`` cases of the cohort of ``seed`` one at a time (see :func:`cohort_member`)."""
    for index in range(int(n)):
        yield cohort_member(seed, index)


def phantom_cohort(n: int, seed: int = 0) -> list[tuple[LabelVolume, PhantomParameters]]:
    """The first ``n`` cases of the cohort of ``seed``, as a list."""
    return list(iter_phantoms(n, seed))


def parameters_row(params: PhantomParameters) -> dict[str, float | int]:
    """Parameters as a flat dict (for CSV), lengths rounded to 0.01 mm."""
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(params).items()}


#: Cardiac cycle of the phantoms (``phantom_cycle``), at end-systole relative to end-diastole: LV cavity
#: semi-axes across (× 0.74) and along (× 0.88) the long axis, wall thickness (× 1.3), RV semi-axes (× 0.8).
CYCLE_AT_ES = {"lv_across": 0.74, "lv_along": 0.88, "thickness": 1.3, "rv": 0.8}


def cycle_phase(n_frames: int) -> np.ndarray:
    """Contraction of each frame of a cycle sampled at ``n_frames`` phases: 0 at ED (frame 0), 1 at ES (mid-cycle).

    Examples
    --------
    >>> cycle_phase(4).round(2).tolist()
    [0.0, 0.5, 1.0, 0.5]
    """
    return (1.0 - np.cos(2.0 * np.pi * np.arange(n_frames) / n_frames)) / 2.0


def phantom_cycle(
    seed: int | np.random.SeedSequence, n_frames: int, shape: tuple[int, int, int] = CANONICAL_SHAPE
) -> list[LabelVolume]:
    """A phantom through one cardiac cycle, ED → ES → ED, on one grid (frame 0 is :func:`generate_phantom`'s).

    The LV cavity shrinks across and along its axis (the base descends towards the apex), the wall thickens,
    the RV contracts (:data:`CYCLE_AT_ES`), smoothly with :func:`cycle_phase`; the deformation field and the
    placement stay those of end-diastole.

    Examples
    --------
    >>> frames = phantom_cycle(0, 4)
    >>> lv = [int((f.array == 1).sum()) for f in frames]
    >>> lv[0] > lv[1] > lv[2] and lv[2] < lv[3]
    True
    """
    from dataclasses import replace

    labels, params, field, offset = _generate(seed, shape)
    frames = []
    for c in cycle_phase(n_frames):
        if c == 0.0:
            frame = labels
        else:
            k = {name: 1.0 + (value - 1.0) * c for name, value in CYCLE_AT_ES.items()}
            p = replace(
                params,
                lv_a=params.lv_a * k["lv_across"],
                lv_b=params.lv_b * k["lv_across"],
                lv_c=params.lv_c * k["lv_along"],
                base_height=params.base_height * k["lv_along"],
                thickness=params.thickness * k["thickness"],
                rv_radial=params.rv_radial * k["rv"],
                rv_tangential=params.rv_tangential * k["rv"],
                rv_length=params.rv_length * k["rv"],
            )
            frame = _render(p, field, offset, shape)
            for value in (LV, MYO, RV):
                mask = frame == value
                frame[mask & ~largest_component(mask)] = 0
        frames.append(LabelVolume(frame, phantom_world_affine(shape), "ukbb"))
    return frames
