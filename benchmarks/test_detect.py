"""Face detection latency: our ONNX MTCNN and the reference `mtcnn` package on the same photos.

    pytest benchmarks/test_detect.py --benchmark-json benchmarks/results/detect.json

Each round detects on all 8 photos; divide by 8 for time per photo.
"""

from __future__ import annotations

import pytest


@pytest.mark.benchmark(group="detect-vga-8-photos")
def test_onnx_mtcnn(benchmark, vga_photos):
    from edge_runtime.mtcnn import MTCNN

    detector = MTCNN(detector="mtcnn")
    faces = benchmark.pedantic(
        lambda: [len(detector.detect(p)) for p in vga_photos], rounds=15, warmup_rounds=1
    )
    assert sum(faces) > 0


@pytest.mark.benchmark(group="detect-vga-8-photos")
def test_reference_mtcnn(benchmark, vga_photos):
    mtcnn = pytest.importorskip("mtcnn", reason="the reference needs the train extra")
    detector = mtcnn.MTCNN()
    detector.detect_faces(vga_photos[0])  # build TensorFlow's functions outside the timing
    faces = benchmark.pedantic(
        lambda: [len(detector.detect_faces(p)) for p in vga_photos], rounds=15, warmup_rounds=1
    )
    assert sum(faces) > 0
