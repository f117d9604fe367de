"""`python -m train calibrate --model FILE`: a shipped classifier's threshold chosen as the
runtime runs it, written into its manifest entry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edge_runtime.manifest import DEFAULT_MODELS_DIR, read_manifest

NAME = "gender_unmasked"


@pytest.fixture(scope="module")
def halfface(shared_data, tmp_path_factory) -> Path:
    """Real unmasked halfFace faces, prepared as the gender_unmasked model's crops."""
    from train.__main__ import main

    out = tmp_path_factory.mktemp("prepared") / "halfface"
    photos = shared_data / "faces_halfface" / "unmasked"
    size = str(read_manifest(DEFAULT_MODELS_DIR).classifier(NAME).input_size)
    args = ["prepare", "--task", NAME, "--data", str(photos), "--size", size]
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
def test_the_choice_is_written_into_the_files_manifest_entry(halfface, models, capsys):
    from train.__main__ import main

    shipped = read_manifest(models).classifier(NAME)
    assert (
        main(["calibrate", "--model", str(models / f"{NAME}.onnx"), "--data", str(halfface)]) == 0
    )
    chosen = json.loads(capsys.readouterr().out)
    entry = read_manifest(models).classifier(NAME)
    assert (entry.threshold, entry.test_time_flip) == (chosen["threshold"], chosen["flip"])
    assert entry.model.sha256 == shipped.model.sha256  # the file itself is untouched
    calibration = entry.model.provenance["calibration"]
    assert calibration["before"] == {"threshold": shipped.threshold, "flip": shipped.test_time_flip}
    assert calibration["val_n"] > 0
    gap = abs(calibration["val_error_rates_chosen"][0] - calibration["val_error_rates_chosen"][1])
    at_half = calibration["val_error_rates_at_0.5"]
    assert chosen["flip"] or gap <= abs(at_half[0] - at_half[1])


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
    assert "no classifier entry" in capsys.readouterr().err
