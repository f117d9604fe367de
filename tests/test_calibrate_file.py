"""`python -m train calibrate --model FILE`: a shipped classifier's threshold chosen as the
runtime runs it, written into its manifest entry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.manifest import DEFAULT_MODELS_DIR, read_manifest

NAME = "gender_unmasked"


@pytest.fixture(scope="module")
def faces(shared_data, tmp_path_factory) -> Path:
    """250 real unmasked faces of each gender, prepared as the gender_unmasked model's crops."""
    from train.__main__ import main

    out = tmp_path_factory.mktemp("prepared") / "faces"
    photos = shared_data / "faces_gender"
    size = str(read_manifest(DEFAULT_MODELS_DIR).classifier(NAME).input_size)
    args = ["prepare", "--task", NAME, "--data", str(photos), "--size", size, "--limit", "250"]
    assert main([*args, "--out", str(out)]) == 0
    return out


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """A models folder holding the shipped manifest and unmasked-gender file."""
    folder = tmp_path / "models"
    folder.mkdir()
    for name in ("manifest.json", f"{NAME}.onnx"):
        shutil.copy(DEFAULT_MODELS_DIR / name, folder / name)
    return folder


@pytest.mark.slow
def test_the_choice_is_written_into_the_files_manifest_entry(faces, models, capsys):
    from train.__main__ import main

    shipped = read_manifest(models).classifier(NAME)
    assert main(["calibrate", "--model", str(models / f"{NAME}.onnx"), "--data", str(faces)]) == 0
    printed = capsys.readouterr()
    chosen = json.loads(printed.out)
    assert f"threshold {shipped.threshold} -> {chosen['threshold']}" in printed.err
    entry = read_manifest(models).classifier(NAME)
    assert (entry.threshold, entry.test_time_flip) == (chosen["threshold"], chosen["flip"])
    assert entry.model.sha256 == shipped.model.sha256  # the file itself is untouched
    calibration = entry.model.provenance["calibration"]
    exported = calibration["exported_with"]  # what export wrote, kept across reruns
    before = shipped.model.provenance["calibration"]["exported_with"]
    assert (exported["threshold"], exported["flip"]) == (before["threshold"], before["flip"])
    assert min(calibration["val_counts"].values()) >= 20
    chosen_gap = abs(np.subtract(*calibration["val_error_rates_chosen"]))
    assert chosen_gap <= abs(np.subtract(*exported["val_error_rates"]))


def test_crops_of_another_task_are_refused(models, tmp_path, capsys):
    from train.__main__ import main

    prepared = tmp_path / "mask_crops"
    prepared.mkdir()
    (prepared / "prepare.json").write_text('{"task": "mask", "size": 64, "margin": 0.2}')
    file = str(models / f"{NAME}.onnx")
    assert main(["calibrate", "--model", file, "--data", str(prepared)]) == 2
    assert "mask crops" in capsys.readouterr().err
    assert (
        read_manifest(models).classifier(NAME).threshold
        == read_manifest(DEFAULT_MODELS_DIR).classifier(NAME).threshold
    )


def test_a_file_the_manifest_does_not_list_is_refused(models, tmp_path, capsys):
    from train.__main__ import main

    stray = models / "other.onnx"
    shutil.copy(models / f"{NAME}.onnx", stray)
    assert main(["calibrate", "--model", str(stray), "--data", str(tmp_path)]) == 2
    assert "none for this file" in capsys.readouterr().err


def test_data_with_too_few_validation_faces_of_a_class_is_refused(models, tmp_path, capsys):
    from train.__main__ import main

    prepared = tmp_path / "train_only"
    prepared.mkdir()
    size = read_manifest(models).classifier(NAME).input_size
    (prepared / "prepare.json").write_text(
        json.dumps({"task": NAME, "size": size, "margin": 0.2, "class_names": ["Female", "Male"]})
    )
    (prepared / "index.csv").write_text(
        "file,label,split,source,origin,face_found,synthetic\n"
        "train/Male/a.png,Male,train,x,a.jpg,1,0\n"
        + "".join(f"val/Male/{i}.png,Male,val,x,{i}.jpg,1,0\n" for i in range(30))
    )
    file = str(models / f"{NAME}.onnx")
    assert main(["calibrate", "--model", file, "--data", str(prepared)]) == 2
    assert "0 Female and 30 Male validation faces" in capsys.readouterr().err


def test_a_file_that_fails_its_check_is_refused(models, tmp_path, capsys):
    from train.__main__ import main

    with open(models / f"{NAME}.onnx", "ab") as file:
        file.write(b"changed")
    assert (
        main(["calibrate", "--model", str(models / f"{NAME}.onnx"), "--data", str(tmp_path)]) == 2
    )
    assert "sha256" in capsys.readouterr().err
