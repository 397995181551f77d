"""Shape priors: networks, training, checkpoints, published checkpoints, the shipped default, sampling."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import DEMO_HR, SHARED, needs_shared
from safetensors.torch import load_file, save_file
from scipy import ndimage

from cardiosr.cli import main
from cardiosr.errors import InputError
from cardiosr.geometry import CANONICAL_SHAPE, CANONICAL_SPACING, REFERENCE_LV_TO_RV_ANGLE_DEG, to_canonical
from cardiosr.io import load_labels
from cardiosr.labels import LV, MYO, RV
from cardiosr.metrics import dice
from cardiosr.prior import DCGAN3D, VAE3D, canonical_placement, default_prior_path, load_prior, save_prior
from cardiosr.prior.augment import RandomInPlaneAffine
from cardiosr.prior.metadata import METADATA_KEY, make_metadata
from cardiosr.prior.sample import sample_prior
from cardiosr.prior.train import TrainConfig, one_hot_tensor, train_prior, vae_loss

SRHEART = SHARED / "srheart-prior" / "VAECE_zdim_32_epoch_100_beta_1.00E-03_alpha.pt"
TINY = {"latent_dim": 4, "width": 2, "levels": 5, "max_channels": 4}


@pytest.fixture(scope="module")
def tiny_data() -> np.ndarray:
    from cardiosr.phantom import cohort_member

    return np.stack([cohort_member(3, i)[0].array for i in range(4)])


def _tiny_config(**kw) -> TrainConfig:
    base = {**TINY, "batch_size": 2, "epochs": 1, "lr": 3e-3, "val_fraction": 0.25, "device": "cpu"}
    base.update(kw)
    return TrainConfig(**base)


def test_tiny_vae_loss_decreases(tiny_data):
    torch.manual_seed(0)
    model = VAE3D(**TINY)
    labels = torch.from_numpy(tiny_data).long()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(12):
        logits, mu, logvar = model(one_hot_tensor(labels), noise=torch.randn(len(labels), 4))
        total, ce, kl = vae_loss(logits, labels, mu, logvar, beta=1e-3)
        assert torch.isclose(total, ce + 1e-3 * kl)
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append(total.item())
    assert losses[-1] < 0.6 * losses[0], losses


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, tiny_data):
    quiet = {"progress": False, "log": lambda s: None}
    straight, _ = train_prior(tiny_data, tmp_path / "a", _tiny_config(epochs=2), **quiet)
    train_prior(tiny_data, tmp_path / "b", _tiny_config(epochs=1), **quiet)
    resumed, meta = train_prior(tiny_data, tmp_path / "b", _tiny_config(epochs=2), resume=True, **quiet)
    assert meta["training"]["epochs"] == 2
    assert len(json.loads((tmp_path / "b" / "history.json").read_text())) == 2
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), name
    with pytest.raises(InputError, match="width"):
        train_prior(tiny_data, tmp_path / "b", _tiny_config(epochs=3, width=4), resume=True, **quiet)


def test_save_then_load_gives_identical_decodes(tmp_path):
    torch.manual_seed(1)
    model = VAE3D(**TINY).eval()
    path = save_prior(model, tmp_path / "p.safetensors", make_metadata(model, "vae", beta=1e-3))
    loaded, meta = load_prior(path)
    z = torch.randn(2, 4)
    with torch.no_grad():
        assert torch.equal(model.decode(z), loaded.decode(z))
    assert meta["latent_dim"] == 4 and meta["labels"] == ["background", "LV", "MYO", "RV"]
    assert load_prior(tmp_path / "p.safetensors")[1]["model"] == TINY | {"encoder_final_activation": "leaky_relu"}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m["grid"].update(shape=[32, 64, 64]), "does not match the canonical grid"),
        (lambda m: m["grid"].update(spacing_mm=[1.0, 1.0, 1.0]), "does not match the canonical spacing"),
        (lambda m: m.update(labels=["background", "RV", "MYO", "LV"]), "label order"),
        (lambda m: m["model"].update(width=4), "weights do not match"),
    ],
)
def test_mismatched_metadata_gives_a_clear_error(tmp_path, edit, message):
    model = VAE3D(**TINY)
    path = save_prior(model, tmp_path / "p.safetensors", make_metadata(model, "vae"))
    meta = make_metadata(model, "vae")
    edit(meta)
    save_file(load_file(str(path)), str(path), metadata={METADATA_KEY: json.dumps(meta)})
    with pytest.raises(InputError, match=message) as info:
        load_prior(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_not_a_prior_file_gives_a_clear_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not safetensors at all")
    with pytest.raises(InputError, match="not a readable safetensors prior"):
        load_prior(bad)
    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, str(plain))
    with pytest.raises(InputError, match="no cardiosr prior metadata"):
        load_prior(plain)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    torch.save({"fc11.weight": _Exploit(marker)}, path)
    with pytest.raises(InputError, match="refusing to load"):
        load_prior(f"srheart:{path}")
    with pytest.raises(InputError, match="refusing to load"):
        load_prior(path)
    assert not marker.exists()


def test_dcgan_trains_saves_and_loads(tmp_path, tiny_data):
    model, meta = train_prior(
        tiny_data, tmp_path, _tiny_config(architecture="dcgan"), progress=False, log=lambda s: None
    )
    history = json.loads((tmp_path / "history.json").read_text())
    assert {"train_loss", "train_loss_d"} <= set(history[0]) and math.isfinite(history[0]["train_loss_d"])
    loaded, meta = load_prior(tmp_path)
    assert isinstance(loaded, DCGAN3D) and meta["architecture"] == "dcgan"
    z = torch.randn(1, 4)
    with torch.no_grad():
        assert loaded.decode(z).shape == (1, 4, *CANONICAL_SHAPE)
        assert torch.equal(model.decode(z), loaded.decode(z))


def _lv_to_rv_angle(labels: np.ndarray) -> float:
    lv = np.argwhere(labels == LV).mean(0)
    rv = np.argwhere(labels == RV).mean(0)
    return float(np.degrees(np.arctan2(rv[2] - lv[2], rv[1] - lv[1])))


def test_augmentation_identity_rotation_and_mirror(phantom):
    labels = torch.from_numpy(phantom[0].array[None])
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(RandomInPlaneAffine(0.0, 0.0)(labels, gen), labels.long())
    mirrored = RandomInPlaneAffine(0.0, 0.0, mirror_probability=1.0)(labels, gen)[0].numpy()
    original = phantom[0].array
    # The mirror keeps the LV→RV direction and the volumes, but it is not the identity.
    assert abs(_lv_to_rv_angle(mirrored) - _lv_to_rv_angle(original)) < 3.0
    for label in (LV, MYO, RV):
        assert abs((mirrored == label).sum() / (original == label).sum() - 1) < 0.03
    assert dice(mirrored, original)["RV"] < 0.95
    # A 10° rotation turns the LV→RV direction by 10° (either way).
    rotated = RandomInPlaneAffine(10.0, 0.0)
    theta = rotated.matrices(1, torch.Generator().manual_seed(3))
    angle = math.degrees(math.atan2(theta[0, 1, 0], theta[0, 0, 0]))
    out = rotated(labels, torch.Generator().manual_seed(3))[0].numpy()
    turned = _lv_to_rv_angle(out) - _lv_to_rv_angle(original)
    assert abs(abs(turned) - abs(angle)) < 2.0 and abs(angle) > 1.0


def _rod_tilt_deg(labels: np.ndarray) -> float:
    """Angle (degrees) between the line through the slice centroids of label 1 and the slice normal."""
    spacing = np.asarray(CANONICAL_SPACING)
    rows = [(k, *np.argwhere(labels[k] == 1).mean(0)) for k in range(labels.shape[0]) if (labels[k] == 1).sum() > 5]
    points = np.asarray(rows) * spacing
    slope = np.polyfit(points[:, 0], points[:, 1:], 1)[0]
    return float(np.degrees(np.arctan(np.linalg.norm(slope))))


def test_tilt_augmentation_leans_the_long_axis_by_a_rotation_within_its_disc():
    augment = RandomInPlaneAffine(0.0, 0.0, max_tilt_deg=15.0)
    half = (np.asarray(CANONICAL_SHAPE) * np.asarray(CANONICAL_SPACING) / 2)[::-1]
    tilts = augment.tilts(200, torch.Generator().manual_seed(0)).numpy()
    angles = []
    for tilt in tilts:
        rotation = np.diag(half) @ tilt @ np.diag(1 / half)  # back to millimetres
        assert np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-12) and np.linalg.det(rotation) > 0
        angles.append(np.degrees(np.arccos(rotation[2, 2])))
    angles = np.asarray(angles)
    # Uniform over the disc: at most 15°, and the share within 7.5° is a quarter, not a half.
    assert angles.max() <= 15.0 + 1e-9 and 0.15 < np.mean(angles < 7.5) < 0.35
    # A rod along the slice normal through the centre leans by the drawn angle.
    rod = torch.zeros(1, *CANONICAL_SHAPE, dtype=torch.uint8)
    rod[0, 8:56, 60:68, 60:68] = 1
    assert _rod_tilt_deg(rod[0].numpy()) < 0.1
    for seed in range(3):
        theta = augment.matrices(1, torch.Generator().manual_seed(seed)).numpy()[0, :, :3]
        drawn = np.degrees(np.arccos((np.diag(half) @ theta @ np.diag(1 / half))[2, 2]))
        leaned = _rod_tilt_deg(augment(rod, torch.Generator().manual_seed(seed))[0].numpy())
        assert abs(leaned - drawn) < 1.0, (seed, leaned, drawn)
    # Without a tilt nothing leans and no random numbers are drawn for it.
    plain = RandomInPlaneAffine(10.0, 0.1)
    first = plain.matrices(3, torch.Generator().manual_seed(1))
    assert torch.equal(
        first, RandomInPlaneAffine(10.0, 0.1, max_tilt_deg=0.0).matrices(3, torch.Generator().manual_seed(1))
    )
    assert np.allclose(first[:, 2, :3].numpy(), [0, 0, 1])


@needs_shared
def test_published_checkpoint_reconstructs_demo_hr():
    prior, meta = load_prior(f"srheart:{SRHEART}")
    assert prior.latent_dim == 32 and meta["beta"] == pytest.approx(1e-3)
    canon, _ = to_canonical(load_labels(DEMO_HR, "ukbb"), **canonical_placement(meta))
    with torch.no_grad():
        logits, _, _ = prior(torch.from_numpy(canon.one_hot()).float()[None])
    scores = dice(logits.argmax(1)[0].numpy(), canon.array)
    print("published prior, demo_HR encode→decode Dice:", scores)
    assert scores["LV"] >= 0.85 and scores["RV"] >= 0.85 and scores["MYO"] >= 0.75


@needs_shared
def test_published_checkpoint_is_recognised_without_the_prefix():
    prior, meta = load_prior(SRHEART)
    assert isinstance(prior, VAE3D) and meta["source"]["format"] == "srheart-genvae3d"


def test_default_prior_is_shipped_small_and_decodes_z0_to_one_heart():
    path = default_prior_path()
    assert path.stat().st_size <= 10 * 2**20
    prior, meta = load_prior()
    assert meta["training"]["epochs"] >= 1 and meta["metrics"]["val_dice"]["MYO"] > 0.5
    with torch.no_grad():
        raw = prior.decode(torch.zeros(1, prior.latent_dim)).argmax(1)[0].numpy()
    for label in (LV, MYO, RV):  # the decoder itself gives one heart (specks aside)...
        components, n = ndimage.label(raw == label)
        sizes = np.bincount(components.ravel())[1:]
        assert n >= 1 and sizes.max() >= 0.99 * sizes.sum(), (label, sorted(sizes)[-3:])
    labels = sample_prior(prior, 1, temperature=0.0)[0].array
    for label in (LV, MYO, RV):  # ...and the samples it gives users are exactly one piece each
        n_components = ndimage.label(labels == label)[1]
        assert n_components == 1, (label, n_components)
    centre = np.argwhere(labels > 0).mean(0)
    assert np.all(np.abs(centre - (np.asarray(CANONICAL_SHAPE) - 1) / 2) < 6)
    assert abs(_lv_to_rv_angle(labels) - REFERENCE_LV_TO_RV_ANGLE_DEG) < 15


def test_sample_prior_temperature_zero_is_the_z0_heart():
    prior, _ = load_prior()
    a, b = sample_prior(prior, 2, seed=0, temperature=0.0)
    assert np.array_equal(a.array, b.array)
    c, d = sample_prior(prior, 2, seed=0, temperature=1.0)
    assert not np.array_equal(c.array, d.array)


def test_train_prior_and_sample_prior_commands(tmp_path, capsys):
    out = tmp_path / "prior"
    args = ["train-prior", "--phantoms", "3", "-o", str(out), "--width", "2", "--max-channels", "4"]
    args += [
        "--latent-dim",
        "4",
        "--batch-size",
        "2",
        "--max-tilt",
        "7",
        "--quiet",
        "--workers",
        "1",
        "--val-fraction",
        "0.3",
    ]
    assert main([*args, "--epochs", "1"]) == 0
    assert (out / "prior.safetensors").is_file() and (out / "last.pt").is_file()
    assert main([*args, "--epochs", "2", "--resume"]) == 0
    meta = json.loads((out / "prior.json").read_text())
    assert meta["training"]["epochs"] == 2 and "train-prior" in meta["training"]["command"]
    assert meta["training"]["config"]["augment"] and meta["training"]["config"]["max_tilt_deg"] == 7.0
    capsys.readouterr()
    assert main([*args, "--epochs", "3", "--resume", "--seed", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cardiosr: error:") and "seed" in err and "\n" not in err

    samples = tmp_path / "samples"
    assert main(["sample-prior", "--prior", str(out), "-n", "2", "-o", str(samples)]) == 0
    img = nib.load(samples / "sample_001.nii.gz")
    assert img.shape == CANONICAL_SHAPE and (samples / "samples.png").stat().st_size > 1000
    assert np.allclose(np.linalg.norm(img.affine[:3, :3], axis=0), [2.0, 1.25, 1.25])


def test_sample_prior_with_a_missing_prior_exits_2(tmp_path, capsys):
    assert main(["sample-prior", "--prior", str(tmp_path / "nope.safetensors"), "-o", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"cardiosr: error: {tmp_path / 'nope.safetensors'}: no such prior file"
    assert not (tmp_path / "s").exists()


def test_train_prior_from_a_folder_in_another_convention(tmp_path, tiny_data, capsys):
    from cardiosr.io import save_labels
    from cardiosr.phantom import phantom_world_affine
    from cardiosr.volume import LabelVolume

    folder = tmp_path / "hr"
    folder.mkdir()
    for i, array in enumerate(tiny_data[:3]):
        save_labels(LabelVolume(array, phantom_world_affine(), "mnms"), folder / f"case_{i}.nii.gz", convention="mnms")
    out = tmp_path / "prior"
    args = ["train-prior", "-i", str(folder), "--labels", "mnms", "-o", str(out), "--width", "2", "--quiet"]
    args += ["--max-channels", "4", "--latent-dim", "4", "--batch-size", "2", "--epochs", "1", "--no-augment"]
    assert main(args) == 0
    meta = json.loads((out / "prior.json").read_text())
    assert meta["training"]["n_train"] + meta["training"]["n_val"] == 3 and "mnms labels" in meta["training"]["data"]
    # The same maps read with the wrong convention are refused (ukbb has no label 3), in one line.
    capsys.readouterr()
    assert main([*args[:4], "ukbb", *args[5:]]) == 2
    assert "\n" not in capsys.readouterr().err.strip()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train-prior", "-i", str(empty), "-o", str(tmp_path / "p2"), "--quiet"]) == 2


def test_cuda_without_a_gpu_is_a_clear_error(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["train-prior", "--phantoms", "2", "-o", str(tmp_path), "--device", "cuda", "--quiet"]) == 2
    assert "no usable CUDA GPU" in capsys.readouterr().err
