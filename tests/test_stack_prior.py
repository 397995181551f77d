"""Learning a prior from thick-slice stacks (``train-prior --stacks``, issue 18)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests_helpers import long_axis_view

from cardiosr.cli import main
from cardiosr.errors import InputError
from cardiosr.io import save_labels
from cardiosr.optimise.stack_prior import TrainingStack, split_subjects
from cardiosr.phantom import cohort_member
from cardiosr.simulate import simulate_case
from cardiosr.volume import LabelVolume

TINY = ["--init", "none", "--width", "2", "--max-channels", "4", "--latent-dim", "4", "--copies", "1"]
TINY += ["--fit-steps", "2", "--val-steps", "2"]


@pytest.fixture(scope="module")
def stack_folder(tmp_path_factory):
    """Four simulated subjects (normal motion, M&Ms labels); subject s0 also has a long-axis view."""
    folder = tmp_path_factory.mktemp("stacks")
    for i in range(4):
        hr = cohort_member(5, i)[0]
        case = simulate_case(f"s{i}", hr, 1.0, np.random.default_rng(i))
        save_labels(case.lr, folder / f"s{i}_sa.nii.gz", convention="mnms")
        if i == 0:
            save_labels(long_axis_view(hr), folder / "s0_la_4ch.nii.gz", convention="mnms")
    return folder


def test_a_tiny_prior_learns_from_stacks_resumes_and_runs_in_enhance(tmp_path, stack_folder, capsys):
    out = tmp_path / "prior"
    args = ["train-prior", "--stacks", str(stack_folder), "--labels", "mnms", "-o", str(out), *TINY, "--quiet"]
    args += ["--lr", "3e-3", "--val-fraction", "0.25", "--data-licence", "ours (simulated)"]
    assert main([*args, "--epochs", "3"]) == 0
    history = json.loads((out / "history.json").read_text())
    losses = [row["train_loss"] for row in history if row["epoch"]]
    assert len(losses) == 3 and losses[-1] < losses[0], losses
    assert set(history[0]["val_drop_slice_dice"]) == {"LV", "MYO", "RV"}  # the starting prior's score
    meta = json.loads((out / "prior.json").read_text())
    training = meta["training"]
    assert training["data_licence"] == "ours (simulated)" and "--stacks" in training["command"]
    assert (training["n_train_stacks"], training["n_val_stacks"]) == (3, 1)
    assert "s0_sa.nii.gz" not in training["val_stacks"]  # the stack with a long-axis view was trained on (γ = 1)
    assert main([*args, "--epochs", "4", "--resume"]) == 0
    assert json.loads((out / "prior.json").read_text())["training"]["epochs"] == 4
    capsys.readouterr()
    assert main([*args, "--epochs", "5", "--resume", "--copies", "2"]) == 2  # a different set-up cannot resume
    assert "\n" not in capsys.readouterr().err.strip()

    result = tmp_path / "enhanced"
    sa = str(stack_folder / "s1_sa.nii.gz")
    assert main(["enhance", "--sa", sa, "--labels", "mnms", "--prior", str(out), "-o", str(result), "--quiet"]) == 0
    assert (result / "sr.nii.gz").is_file()


def test_long_axis_files_join_their_stack_and_bad_set_ups_are_one_line_errors(tmp_path, stack_folder, capsys):
    from cardiosr.batch import find_stacks
    from cardiosr.optimise.stack_prior import load_training_stacks

    files = find_stacks(stack_folder)
    assert [(sa.name, [v.name for v in la]) for sa, la in files][:2] == [
        ("s0_sa.nii.gz", ["s0_la_4ch.nii.gz"]),
        ("s1_sa.nii.gz", []),
    ]
    stacks = load_training_stacks(files, "mnms", progress=False)
    assert [len(s.la) for s in stacks] == [1, 0, 0, 0] and stacks[0].subject == "s0"

    out = str(tmp_path / "p")
    bad = (["--phantoms", "3"], ["--labels", "ukbb"], ["--glob", "*.txt"], ["--copies", "0"], ["--val-steps", "0"])
    for extra in bad:
        args = ["train-prior", "--stacks", str(stack_folder), "-o", out, *TINY, "--quiet", "--labels", "mnms"]
        capsys.readouterr()
        assert main([*args, *extra]) == 2, extra
        err = capsys.readouterr().err.strip()
        assert err.startswith("cardiosr: error:") and "\n" not in err, err
    # options of --stacks are refused, not ignored, when training on HR maps
    assert main(["train-prior", "--phantoms", "3", "-o", out, "--copies", "2", "--quiet"]) == 2
    assert "--copies only apply to --stacks" in capsys.readouterr().err


def test_the_validation_split_keeps_a_subjects_frames_together():
    empty = LabelVolume(np.zeros((2, 2, 2), np.uint8), np.eye(4))
    names = [f"patient{p:03d}_frame{f:02d}_gt.nii.gz" for p in range(10) for f in (1, 12)]
    stacks = [TrainingStack(n, n.split("_")[0], empty) for n in names]
    train, val = split_subjects(stacks, 0.2, seed=0)
    assert len(val) == 4 and sorted(train + val) == list(range(20))
    assert {stacks[i].subject for i in train}.isdisjoint({stacks[i].subject for i in val})
    assert split_subjects(stacks, 0.2, seed=0) == (train, val)
    assert split_subjects(stacks[:2], 0.5, seed=0) == ([0, 1], [])  # one subject: all for training
    with pytest.raises(InputError):
        split_subjects([], 0.5, seed=0)
