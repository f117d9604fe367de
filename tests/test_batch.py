"""`python -m edge_runtime batch`: Parquet tables equal to the pipeline's answers, in one
process and on a real local Ray cluster; bad files as rows; kills and restarts."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import (
    DATA,
    ROOT,
    TEST_DATA,
    ctrl_c_stops_it,
    kill_when,
    needs_shared,
    two_person_video,
    wait_for,
)

pytest.importorskip("pyarrow", reason='batch output needs pyarrow: pip install ".[scale]"')

BAD = {"empty.jpg": b"", "text.jpg": b"not an image", "truncated.jpg": None}


def photos_with_bad_files(folder: Path) -> Path:
    """The eight seed photos and three files that cannot be read."""
    folder.mkdir(parents=True, exist_ok=True)
    for photo in TEST_DATA.glob("*.jpg"):
        shutil.copy(photo, folder / photo.name)
    for name, content in BAD.items():
        if content is None:
            content = (TEST_DATA / "male_image_with_mask.jpg").read_bytes()[:3000]
        (folder / name).write_bytes(content)
    return folder


def batch(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "edge_runtime", "batch", *args, "--json"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def summary_of(stdout: str) -> dict:
    """The job's summary: the last line it prints (Ray's own warnings may come before)."""
    return json.loads(stdout.strip().splitlines()[-1])


def rows_by_key(out: Path) -> tuple[dict, dict]:
    """Faces keyed by (source, frame, face) and inputs keyed by (source, frame)."""
    from edge_runtime.batch_output import read_tables

    faces, inputs = read_tables(out)
    face_rows = {(r["source"], r["frame"], r["face"]): r for r in faces.to_pylist()}
    input_rows = {}
    for r in inputs.to_pylist():
        key = (r["source"], r["frame"])
        assert key not in input_rows, f"{key} written twice"
        input_rows[key] = r
    assert len(face_rows) == faces.num_rows, "a face written twice"
    return face_rows, input_rows


def assert_same_tables(a: Path, b: Path) -> None:
    from edge_runtime.batch_output import differences

    rows_by_key(a), rows_by_key(b)  # no row twice
    assert differences(a, b) == []


def test_tables_hold_what_the_pipeline_says_and_bad_files_as_rows(tmp_path: Path):
    from edge_runtime.pipeline import Pipeline

    folder = photos_with_bad_files(tmp_path / "photos")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# a list file\n{folder / 'male_image_with_mask.jpg'}\n")
    done = batch(str(folder), str(listing), "--out", str(tmp_path / "out"), "--part-size", "4")
    assert done.returncode == 1, done.stderr[-2000:]  # 1: some inputs failed
    summary = summary_of(done.stdout)
    assert (summary["inputs"], summary["errors"]) == (11, 3)
    faces, inputs = rows_by_key(tmp_path / "out")
    errors = {Path(s).name: r["error"] for (s, _), r in inputs.items() if r["error"]}
    assert set(errors) == set(BAD)
    assert "empty" in errors["empty.jpg"] and "not an image" in errors["text.jpg"]
    assert "cannot decode" in errors["truncated.jpg"]

    pipeline = Pipeline()
    for photo in sorted(TEST_DATA.glob("*.jpg")):
        result = pipeline(str(folder / photo.name))
        row = inputs[(str(folder / photo.name), None)]
        assert (row["height"], row["width"], row["faces"]) == (*result.orig_shape, len(result))
        for number, face in enumerate(result.faces, 1):
            got = faces[(str(folder / photo.name), None, number)]
            assert (got["mask"], got["gender"]) == (face.mask, face.gender)
            assert abs(got["p_mask"] - face.p_mask) <= 1e-6
            assert abs(got["p_gender"] - face.p_gender) <= 1e-6
            assert np.allclose([got["x1"], got["y1"], got["x2"], got["y2"]], face.box, atol=1e-3)
            assert len(got["landmarks"]) == 10 and len(got["mask_model"]) == 12
    assert summary["faces"] == len(faces) == sum(r["faces"] or 0 for r in inputs.values())
    assert summary["with_mask"] + summary["without_mask"] == summary["faces"]


def test_each_failure_is_one_line_and_an_unwritable_out_is_a_usage_error(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "text.jpg").write_text("not an image")
    missing = tmp_path / "missing.jpg"
    done = batch(
        str(tmp_path / "empty"), str(tmp_path / "text.jpg"), str(missing),
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert done.returncode == 1
    errors = done.stderr.strip().splitlines()
    assert errors == [
        f"error: {tmp_path / 'empty'}: no images found",
        f"error: {tmp_path / 'text.jpg'}: not an image (unrecognised format)",
        f"error: {missing}: no such file",
    ]
    (tmp_path / "a_file").write_text("")
    refused = batch(str(TEST_DATA), "--out", str(tmp_path / "a_file"))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith(f"error: cannot write to {tmp_path / 'a_file'}")
    assert len(refused.stderr.strip().splitlines()) == 1


def test_a_video_gives_a_row_per_kept_frame(tmp_path: Path):
    video = tmp_path / "two.mp4"
    two_person_video(video, frames=12)
    done = batch(str(video), "--out", str(tmp_path / "out"), "--vid-stride", "3")
    assert done.returncode == 0, done.stderr[-2000:]
    faces, inputs = rows_by_key(tmp_path / "out")
    assert sorted(frame for _, frame in inputs) == [0, 3, 6, 9]
    assert all(r["faces"] == 2 for r in inputs.values())
    masks = {(frame, face["mask"]) for (_, frame, _), face in faces.items()}
    assert masks == {(f, m) for f in (0, 3, 6, 9) for m in (True, False)}


def has_a_part(out: Path) -> bool:
    """Whether a batch job writing to `out` has committed a part (its inputs file)."""
    return bool(list((out / "inputs").glob("part-*.parquet")))


def start_and_kill_after_first_part(command: list[str], out: Path) -> None:
    """Start a batch job, SIGKILL it (and its children) once a part is committed."""
    kill_when(command, lambda: has_a_part(out), "a part")


@pytest.mark.slow
def test_a_job_killed_half_way_resumes_without_duplicates(tmp_path: Path):
    folder = photos_with_bad_files(tmp_path / "photos")
    once = tmp_path / "once"
    assert batch(str(folder), "--out", str(once)).returncode == 1
    out = tmp_path / "resumed"
    command = [sys.executable, "-m", "edge_runtime", "batch", str(folder), "--out", str(out)]
    start_and_kill_after_first_part([*command, "--part-size", "2"], out)
    _, partial = rows_by_key(out)
    assert 0 < len(partial) < 11
    again = batch(str(folder), "--out", str(out), "--part-size", "2")
    assert summary_of(again.stdout)["processed_this_run"] == 11 - len(partial)
    assert_same_tables(once, out)


def test_ctrl_c_keeps_whole_parts_and_exits_130(tmp_path: Path):
    folder = photos_with_bad_files(tmp_path / "photos")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "edge_runtime", "batch", str(folder), "--out", str(out)]
    with subprocess.Popen(
        [*command, "--part-size", "1"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_stops_it,
    ) as process:
        wait_for(process, lambda: has_a_part(out), "its first part", seconds=300)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
        stderr = process.stderr.read()
    assert stderr.strip().splitlines()[-1].startswith(f"stopped: what is in {out} is complete")
    assert "Traceback" not in stderr
    _, partial = rows_by_key(out)
    assert 0 < len(partial) < 11


# Ray: a real local cluster of 2 CPUs, started by the job as a user's job starts it (the
# killed actor and killed driver test), or joined by the job (--ray=ADDRESS) where the test
# holds one for its own Ray Data pipeline as well.


def scenes(tmp_path: Path, count: int) -> Path:
    """Every k-th scenes_voc photo (real street and crowd photos), a corrupt file, a video."""
    source = needs_shared(DATA / "scenes_voc" / "images")
    photos = sorted(source.glob("*"))
    folder = tmp_path / "scenes"
    folder.mkdir()
    for photo in photos[:: max(1, len(photos) // count)]:
        os.symlink(photo, folder / photo.name)
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    two_person_video(folder / "clip.mp4", frames=8)
    return folder


@pytest.fixture(scope="module")
def scene_job(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """`scenes(..., 24)` (26 photos, a corrupt file, a video) and the in-process job's tables
    of it: the reference both Ray tests compare with, run once."""
    pytest.importorskip("ray")
    tmp = tmp_path_factory.mktemp("ray_scenes")
    folder = scenes(tmp, 24)
    local = batch(str(folder), "--out", str(tmp / "local"))
    return folder, tmp / "local", local


@pytest.mark.slow
@pytest.mark.shared_data
def test_ray_job_equals_the_in_process_job(scene_job, tmp_path: Path):
    import ray

    from edge_runtime.batch import PipelineActor, decoded_rows

    folder, reference, local = scene_job
    ray.init(num_cpus=2, log_to_driver=False)
    try:
        # The job joins the cluster this test holds for its own pipeline below (a cluster
        # start less); the survival test's jobs start their own.
        address = ray.get_runtime_context().gcs_address
        on_ray = batch(f"--ray={address}", str(folder), "--out", str(tmp_path / "ray"))
        assert on_ray.returncode == local.returncode == 1, on_ray.stderr[-2000:]  # corrupt file
        assert summary_of(on_ray.stdout)["inputs"] == summary_of(local.stdout)["inputs"] > 30
        assert_same_tables(reference, tmp_path / "ray")

        # The public pieces in a Ray Data pipeline of a user's own (docs/scale.md).
        photos = sorted(str(p) for p in folder.glob("*.jpg") if p.name != "corrupt.jpg")[:6]
        ds = ray.data.from_items([{"source": p} for p in photos])
        ds = ds.flat_map(decoded_rows, num_cpus=0, concurrency=2)  # the actors take the CPUs
        ds = ds.map_batches(
            PipelineActor,
            fn_constructor_kwargs={"options": {"threads": 1}},
            batch_size=8,
            concurrency=2,
            num_cpus=1,
        )
        records = [json.loads(row["record"]) for row in ds.iter_rows()]
    finally:
        ray.shutdown()
    faces, inputs = rows_by_key(reference)
    assert sorted(r["source"] for r in records) == photos
    for record in records:
        assert record["faces"] == inputs[(record["source"], None)]["faces"]
        for face in record["detections"]:
            row = faces[(record["source"], None, face["face"])]
            assert (face["mask"], face["gender"]) == (row["mask"], row["gender"])
            assert abs(face["p_gender"] - row["p_gender"]) <= 1e-6
            assert abs(face["x1"] - row["x1"]) <= 1e-3


@pytest.mark.slow
@pytest.mark.shared_data
def test_ray_job_survives_a_killed_actor_and_a_killed_driver(scene_job, tmp_path: Path):
    folder, reference, _ = scene_job

    out = tmp_path / "killed_actor"
    command = [
        sys.executable, "-m", "edge_runtime", "batch", str(folder), "--out", str(out),
        "--ray", "--part-size", "4", "--json",
    ]  # fmt: skip
    job = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    killed = kill_one_actor_once(out)
    stdout, stderr = job.communicate(timeout=600)
    assert killed, "no pipeline actor was found to kill"
    assert stdout.strip(), f"the job printed no summary: {stderr[-2000:]}"
    assert summary_of(stdout)["inputs"] == len(rows_by_key(reference)[1])  # the last line
    assert_same_tables(reference, out)

    stopped = tmp_path / "killed_driver"
    start_and_kill_after_first_part(
        [*command[:6], str(stopped), *command[7:]], stopped
    )  # the driver and the local cluster it started
    again = batch(str(folder), "--out", str(stopped), "--ray")
    assert again.returncode == 1, again.stderr[-2000:]
    assert_same_tables(reference, stopped)


def kill_one_actor_once(out: Path) -> bool:
    """SIGKILL one pipeline actor's process (Ray titles it after the class) once the job has
    committed its first part."""
    deadline = time.time() + 600
    while time.time() < deadline:
        if list((out / "inputs").glob("part-*.parquet")):
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    title = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                if "PipelineActor" in title:
                    os.kill(int(cmdline.parent.name), signal.SIGKILL)
                    return True
        time.sleep(0.05)
    return False
