"""`python -m edge_runtime`: answers, one-line errors and exit codes on a batch of inputs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from edge_runtime.__main__ import main
from tests.conftest import ROOT, TEST_DATA, ctrl_c_stops_it, two_person_video

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


def test_glob_source_ends_with_its_summary(capsys):
    pattern = str(TEST_DATA / "*_with_mask.jpg")
    assert main([pattern, "--json", "--faces-only"]) == 0
    *results, last = map(json.loads, capsys.readouterr().out.splitlines())
    assert len(results) == 2 and all(len(r["faces"]) == 1 for r in results)
    assert last["summary"] == {
        "source": pattern,
        "images": 2,
        "failed": 0,
        "videos_failed": 0,
        "faces": 2,
        "with_mask": 0,
        "without_mask": 0,
        "by_gender": {},
    }


def test_folder_summary_counts_masks_genders_and_failures(tmp_path: Path, capsys):
    for name in ("female_image_with_mask.jpg", "male_image_without_mask.jpg"):
        shutil.copy(TEST_DATA / name, tmp_path / name)
    (tmp_path / "broken.jpg").write_bytes(b"not a photo")
    assert main([str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == (
        f"{tmp_path}: 3 images (1 failed), 2 faces (1 with a mask, 1 without; Female 1, Male 1)"
    )


def test_a_video_that_does_not_open_is_one_line_and_its_folder_says_so(tmp_path: Path):
    """OpenCV's and FFmpeg's own lines stay out of it; the whole process, as users run it."""
    shutil.copy(GOOD, tmp_path / "photo.jpg")
    (tmp_path / "broken.mp4").write_bytes(b"not a video" * 100)
    command = [sys.executable, "-m", "edge_runtime", str(tmp_path), "--faces-only"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [f"error: {tmp_path / 'broken.mp4'}: cannot open video"]
    assert run.stdout.splitlines()[-1] == (
        f"{tmp_path}: 1 image, 1 face; 1 video could not be read"
    )


def test_saving_into_the_folder_being_read_keeps_the_photos(tmp_path: Path, capsys):
    photo = tmp_path / "photo.jpg"
    shutil.copy(GOOD, photo)
    before = photo.read_bytes()
    assert main([str(tmp_path), "--save", str(tmp_path), "--faces-only"]) == 0
    assert photo.read_bytes() == before and (tmp_path / "photo_2.jpg").is_file()


def test_json_has_a_record_for_each_failed_input(tmp_path: Path, capsys):
    missing = tmp_path / "nope.jpg"
    assert main([str(GOOD), str(missing), "--json", "--faces-only"]) == 1
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert records[1] == {"path": str(missing), "error": f"{missing}: no such file"}
    assert err.strip() == f"error: {missing}: no such file"


def test_save_into_a_file_or_an_unwritable_place_is_one_line_exit_two(tmp_path: Path, capsys):
    existing = tmp_path / "taken.jpg"
    existing.write_bytes(b"x")
    for target in (existing, existing / "out"):  # a file; a folder that cannot be made
        assert main([str(GOOD), "--faces-only", "--save", str(target)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and str(target) in err, err
    assert existing.read_bytes() == b"x"


def test_an_unwritable_csv_is_one_line_exit_two(tmp_path: Path, capsys):
    for target in (tmp_path, tmp_path / "no" / "faces.csv"):
        assert main([str(GOOD), "--faces-only", "--csv", str(target)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {target}: cannot write the CSV") and err.count("\n") == 1


@pytest.mark.parametrize(("given", "needed"), [("--blur", "--save"), ("--runs=3", "--benchmark")])
def test_a_flag_without_the_one_it_qualifies_is_a_usage_error(given, needed, capsys):
    with pytest.raises(SystemExit) as stop:
        main([str(GOOD), given])
    assert stop.value.code == 2 and f"give {needed}" in capsys.readouterr().err


def test_saved_names_never_collide(tmp_path: Path, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(GOOD, tmp_path / folder / "photo.jpg")
    out = tmp_path / "out"
    assert main([str(tmp_path / "a"), str(tmp_path / "b"), "--faces-only", "--save", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["photo.jpg", "photo_2.jpg"]


def test_csv_has_a_row_per_face(tmp_path: Path, capsys):
    import csv

    table = tmp_path / "faces.csv"
    photos = [
        str(TEST_DATA / n) for n in ("female_image_with_mask.jpg", "male_image_without_mask.jpg")
    ]
    assert main([*photos, "--csv", str(table)]) == 0
    rows = list(csv.DictReader(table.open()))
    assert [(r["path"], r["face"], r["mask"], r["gender"]) for r in rows] == [
        (photos[0], "1", "True", "Female"),
        (photos[1], "1", "False", "Male"),
    ]
    assert 0.5 < float(rows[0]["p_mask"]) <= 1 and float(rows[0]["w"]) > 50


def test_unavailable_or_unknown_provider_is_a_usage_error(capsys):
    assert main([str(GOOD), "--providers", "tensorrt", "--faces-only"]) == 2
    err = capsys.readouterr().err
    assert "not available" in err and "onnxruntime-gpu" in err and "--fallback" in err
    assert main([str(GOOD), "--providers", "gpu", "--faces-only"]) == 2
    assert "unknown provider(s) gpu: choose from cpu, cuda, tensorrt" in capsys.readouterr().err


def test_unavailable_provider_with_fallback_runs_on_cpu_and_says_so(caplog):
    assert main([str(GOOD), "--providers", "tensorrt", "--fallback", "--faces-only"]) == 0
    assert "TensorrtExecutionProvider not available: running on CPUExecutionProvider" in (
        caplog.messages
    )


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--min-face", "x"], "argument --min-face: invalid float value: 'x'"),
        (["--threshold", "2"], "threshold must be a number within 0..1, got 2.0"),
        (["--threads", "-1"], "argument --threads: -1 is not at least 1"),
        (["--max-frames", "0"], "argument --max-frames: 0 is not at least 1"),
        (["--models", "/nonexistent"], "error: models /nonexistent: no such folder"),
    ],
)
def test_a_bad_option_value_is_one_line_and_exit_two(flags: list[str], words: str):
    run = subprocess.run(
        [sys.executable, "-m", "edge_runtime", *flags, str(GOOD)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and words in run.stderr
    assert "Traceback" not in run.stderr


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
    manifest["models"] = {"mtcnn": manifest["models"]["mtcnn"]}
    (models / "manifest.json").write_text(json.dumps(manifest))
    assert main([str(GOOD), "--faces-only", "--models", str(models), "--detector", "mtcnn"]) == 0
    capsys.readouterr()
    code = main([str(GOOD), "--faces-only", "--models", str(models), "--detector", "finetuned"])
    assert code == 2
    assert "detector 'finetuned' is not listed" in capsys.readouterr().err


def test_one_photo_needs_no_progress_bar_and_its_import():
    """tqdm costs a one-photo run a noticeable share of its start-up: not imported for it."""
    code = (
        "import sys; from edge_runtime.__main__ import main; "
        f"code = main([{str(TEST_DATA / 'male_image_with_mask.jpg')!r}]); "
        "print(code, 'tqdm' in sys.modules)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert "WithMask" in run.stdout and run.stdout.splitlines()[-1] == "0 False"


def test_whole_process_finishes_its_video_when_the_reader_leaves(tmp_path: Path):
    """`python -m edge_runtime` skips the interpreter's teardown: the saved MP4 must be
    complete anyway, even when the reader of its output leaves after one line."""
    import cv2

    video, out = tmp_path / "clip.mp4", tmp_path / "out"
    two_person_video(video, frames=24)  # more lines than are written before the reader leaves
    command = [sys.executable, "-m", "edge_runtime", str(video), "--json", "--save", str(out)]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        first = json.loads(process.stdout.readline())
        process.stdout.close()
        assert process.wait(timeout=120) == 0
    assert len(first["faces"]) == 2
    saved = cv2.VideoCapture(str(out / "clip.mp4"))
    assert saved.isOpened() and saved.read()[0]
    saved.release()


@pytest.mark.parametrize("flags", [[str(GOOD)], ["--benchmark", "--runs", "1"]])
def test_output_on_a_full_disk_is_one_line_and_exit_one(flags: list[str]):
    """Written as it goes (a photo) or buffered to the end (--benchmark): said, not lost."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open("/dev/full", "w") as full:
        run = subprocess.run(
            [sys.executable, "-m", "edge_runtime", *flags],
            cwd=ROOT,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].startswith("error: could not write the output")
    assert "Traceback" not in run.stderr


def test_ctrl_c_on_a_folder_prints_its_summary_so_far_and_exits_130():
    command = [sys.executable, "-m", "edge_runtime", str(TEST_DATA), "--json"]
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=ctrl_c_stops_it
    ) as process:
        first = json.loads(process.stdout.readline())
        process.send_signal(signal.SIGINT)
        rest = [json.loads(line) for line in process.stdout]
        assert process.wait(timeout=60) == 130
    assert first["faces"] and rest, "stopped before the folder's end, with a summary"
    summary = rest[-1]["summary"]
    assert summary["source"] == str(TEST_DATA) and 1 <= summary["images"] < 8
    assert summary["images"] == 1 + sum("faces" in item for item in rest)


def test_a_folder_summary_says_one_image_and_one_face(tmp_path: Path, capsys):
    shutil.copy(GOOD, tmp_path / "photo.jpg")
    assert main([str(tmp_path / "*.jpg")]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith(f"{tmp_path}/*.jpg: 1 image, 1 face (")
