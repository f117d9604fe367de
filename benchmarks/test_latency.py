"""Latency per stage and end to end, ours against the seed notebook's path, in one run.

    pytest benchmarks/test_latency.py --benchmark-json benchmarks/results/latency.json \\
        --benchmark-autosave --benchmark-compare
    python -m benchmarks.table benchmarks/results/latency.json --png benchmarks/results/latency.png

Photos: real 4:3 scenes_voc photos (400x300) upscaled to VGA, one with 1 face and one with
5 or more. Cold start and peak RSS run the CLI as a fresh process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
# As a user's install runs: with its modules' bytecode cached (pip compiles a wheel's;
# a checkout writes its own on the first run), even where the environment says not to.
BYTECODE_ON = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
# Peak memory through a small fresh parent: a child's ru_maxrss on Linux starts from its
# forking parent's high-water mark (pytest's, with TensorFlow loaded, if forked from here),
# and the CLI ends without the teardown that reading its own VmHWM at exit would need.
RSS_SNIPPET = (
    "import resource, subprocess, sys\n"
    "subprocess.run([sys.executable, '-m', *sys.argv[1:]], check=True)\n"
    "print('peak_rss_kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


@pytest.fixture(scope="module")
def pipeline():
    from edge_runtime.pipeline import Pipeline

    return Pipeline()


@pytest.fixture(scope="module")
def jpeg_files(vga_scenes, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("vga")
    paths = {}
    for name, image in vga_scenes.items():
        paths[name] = folder / f"{name}.jpg"
        Image.fromarray(image).save(paths[name], quality=92)
    return paths


@pytest.mark.benchmark(group="stage: decode VGA JPEG")
def test_decode(benchmark, jpeg_files):
    from edge_runtime.image_io import load_image

    assert benchmark(load_image, jpeg_files["one_face"]).shape == (480, 640, 3)


@pytest.mark.parametrize("scene", ["one_face", "five_faces"])
@pytest.mark.benchmark(group="stage: detect (MTCNN)")
def test_detect(benchmark, pipeline, vga_scenes, scene):
    found = benchmark(pipeline.detector.detect, vga_scenes[scene])
    assert len(found) >= (1 if scene == "one_face" else 5)


@pytest.mark.parametrize("scene", ["one_face", "five_faces"])
@pytest.mark.benchmark(group="stage: crop")
def test_crop(benchmark, pipeline, vga_scenes, scene):
    from edge_runtime.crop import crop_faces

    boxes = pipeline.detector.detect(vga_scenes[scene]).boxes
    size = pipeline.cascade.mask.input_size
    assert benchmark(crop_faces, vga_scenes[scene], boxes, size).shape[0] == len(boxes)


@pytest.mark.parametrize("faces", [1, 5])
@pytest.mark.benchmark(group="stage: mask model")
def test_mask_model(benchmark, pipeline, vga_scenes, faces):
    crops = _crops(pipeline, vga_scenes["five_faces"], pipeline.cascade.mask)[:faces]
    assert benchmark(pipeline.cascade.mask.predict, crops).shape == (faces,)


@pytest.mark.parametrize("faces", [1, 5])
@pytest.mark.benchmark(group="stage: gender model")
def test_gender_model(benchmark, pipeline, vga_scenes, faces):
    model = pipeline.cascade.gender[False]
    crops = _crops(pipeline, vga_scenes["five_faces"], model)[:faces]
    assert benchmark(model.predict, crops).shape == (faces,)


@pytest.mark.parametrize("flip", [False, True], ids=["single", "flip-averaged"])
@pytest.mark.benchmark(group="gender model, 1 face: flip averaging")
def test_flip_averaging_cost(benchmark, pipeline, vga_scenes, flip):
    from edge_runtime.classifier import flip_mean

    model = pipeline.cascade.gender[False]
    crop = _crops(pipeline, vga_scenes["one_face"], model)[:1].astype(np.float32)
    predict = (lambda x: flip_mean(model._run, x)) if flip else model._run
    assert benchmark(predict, crop).shape == (1,)


@pytest.mark.parametrize("scene", ["one_face", "five_faces"])
@pytest.mark.benchmark(group="end to end (decode + cascade)")
def test_end_to_end(benchmark, pipeline, jpeg_files, scene):
    pipeline.run(jpeg_files[scene])  # warm, as the seed path is: a masked face loads its model
    result = benchmark(pipeline.run, jpeg_files[scene])
    assert len(result.faces) >= 1


@pytest.mark.parametrize("scene", ["one_face", "five_faces"])
@pytest.mark.benchmark(group="end to end, --no-flip (one pass per masked face)")
def test_end_to_end_no_flip(benchmark, pipeline, jpeg_files, scene):
    pipeline.run(jpeg_files[scene], no_flip=True)
    result = benchmark(pipeline.run, jpeg_files[scene], no_flip=True)
    assert len(result.faces) >= 1


@pytest.fixture(scope="module")
def seed_path():
    """The notebook's path, built once for both photos (TensorFlow MTCNN, two 260 px models)."""
    pytest.importorskip("mtcnn", reason="the seed path needs the train extra")
    from benchmarks.seed_path import SeedPath

    return SeedPath()


@pytest.mark.parametrize("scene", ["one_face", "five_faces"])
@pytest.mark.benchmark(group="end to end (decode + cascade)")
def test_seed_path(benchmark, seed_path, jpeg_files, scene):
    from edge_runtime.image_io import load_image

    seed_path.predict(load_image(jpeg_files[scene]))
    result = benchmark.pedantic(
        lambda: seed_path.predict(load_image(jpeg_files[scene])), rounds=10, warmup_rounds=1
    )
    assert result is not None


@pytest.mark.benchmark(group="cold start: process to first answer")
def test_cold_start_cli(benchmark, jpeg_files):
    command = [sys.executable, "-m", "edge_runtime", str(jpeg_files["one_face"])]
    result = benchmark.pedantic(
        subprocess.run,
        args=(command,),
        kwargs={"cwd": ROOT, "capture_output": True, "check": True, "env": BYTECODE_ON},
        rounds=5,
        warmup_rounds=1,
    )
    assert b"face 1" in result.stdout
    if benchmark.enabled:  # a measurement to record, not a check: skipped with timing off
        benchmark.extra_info["peak_rss_mb"] = peak_rss_mb("edge_runtime", jpeg_files["one_face"])


@pytest.mark.benchmark(group="cold start: process to first answer")
def test_cold_start_seed(benchmark, jpeg_files):
    pytest.importorskip("mtcnn", reason="the seed path needs the train extra")
    command = [sys.executable, "-m", "benchmarks.seed_path", str(jpeg_files["one_face"])]
    benchmark.pedantic(
        subprocess.run,
        args=(command,),
        kwargs={"cwd": ROOT, "capture_output": True, "check": True, "env": BYTECODE_ON},
        rounds=3,
        warmup_rounds=1,
    )
    if benchmark.enabled:
        benchmark.extra_info["peak_rss_mb"] = peak_rss_mb(
            "benchmarks.seed_path", jpeg_files["one_face"]
        )


def test_download_size(record_property):
    """Not timed: the bytes a device must fetch besides Python (recorded, and bounded)."""
    models = sum(p.stat().st_size for p in (ROOT / "models").rglob("*") if p.is_file())
    code = sum(p.stat().st_size for p in (ROOT / "edge_runtime").rglob("*.py"))
    record_property("models_mb", round(models / 1e6, 1))
    record_property("code_kb", round(code / 1e3, 1))
    print(f"\nmodels {models / 1e6:.1f} MB, edge_runtime code {code / 1e3:.0f} kB")
    assert models < 140e6


def peak_rss_mb(module: str, photo: Path) -> float:
    """Peak resident memory of `python -m module photo`, in MB."""
    done = subprocess.run(
        [sys.executable, "-c", RSS_SNIPPET, module, str(photo)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=BYTECODE_ON,
    )
    assert done.returncode == 0, done.stderr
    return round(int(done.stdout.split()[-1]) / 1024, 1)


def _crops(pipeline, image: np.ndarray, model) -> np.ndarray:
    from edge_runtime.crop import crop_faces

    boxes = pipeline.detector.detect(image).boxes
    return crop_faces(image, boxes, model.input_size, model.margin)
