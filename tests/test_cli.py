"""`python -m edge_runtime`: answers, one-line errors and exit codes on a batch of inputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

from edge_runtime.__main__ import main
from tests.conftest import ROOT, TEST_DATA

GOOD = TEST_DATA / "male_image_with_mask.jpg"


def test_all_good_exits_zero_and_no_face_is_an_answer(tmp_path: Path, capsys):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (300, 200), (200, 200, 200)).save(blank)
    assert main([str(GOOD), str(blank), "--faces-only"]) == 0
    out = capsys.readouterr().out
    assert f"{GOOD}  face 1  (" in out
    assert f"{blank}  no face found" in out


def test_empty_folder_and_missing_file_fail(tmp_path: Path, capsys):
    assert main([str(tmp_path), str(tmp_path / "nope.jpg"), "--faces-only"]) == 1
    err = capsys.readouterr().err
    assert f"error: {tmp_path}: no images found" in err
    assert "nope.jpg: no such file" in err


def test_glob_source(capsys):
    assert main([str(TEST_DATA / "*_with_mask.jpg"), "--json", "--faces-only"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_unavailable_provider_is_a_usage_error(capsys):
    assert main([str(GOOD), "--providers", "tensorrt", "--faces-only"]) == 2
    assert "not available" in capsys.readouterr().err


def test_unavailable_provider_with_fallback_runs_on_cpu(capsys):
    assert main([str(GOOD), "--providers", "tensorrt", "--fallback", "--faces-only"]) == 0


def test_bad_option_is_exit_two():
    result = subprocess.run(
        [sys.executable, "-m", "edge_runtime", "--min-face", "x", str(GOOD)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2


def test_whole_process_prints_faces():
    result = subprocess.run(
        [sys.executable, "-m", "edge_runtime", str(GOOD)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "face 1" in result.stdout and result.stderr == ""


def test_both_detectors_find_the_seed_face(capsys):
    boxes = {}
    for name in ("mtcnn", "finetuned"):
        assert main([str(GOOD), "--json", "--faces-only", "--detector", name]) == 0
        (record,) = map(json.loads, capsys.readouterr().out.splitlines())
        assert len(record["faces"]) == 1
        boxes[name] = record["faces"][0]["box"]
    # The fine-tuned detector learnt the annotated boxes' convention: not the same box.
    assert boxes["mtcnn"] != boxes["finetuned"]


def test_a_model_missing_from_the_manifest_is_a_usage_error(tmp_path: Path, capsys):
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models" / "mtcnn", models / "mtcnn")
    manifest = json.loads((ROOT / "models" / "manifest.json").read_text())
    manifest["models"] = {k: v for k, v in manifest["models"].items() if k.startswith("mtcnn_")}
    (models / "manifest.json").write_text(json.dumps(manifest))
    assert main([str(GOOD), "--faces-only", "--models", str(models), "--detector", "mtcnn"]) == 0
    capsys.readouterr()
    code = main([str(GOOD), "--faces-only", "--models", str(models), "--detector", "finetuned"])
    assert code == 2
    assert "finetuned_pnet" in capsys.readouterr().err
