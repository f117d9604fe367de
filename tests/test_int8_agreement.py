"""The int8 classifiers give the same answers on every x86-64 CPU: this one, and an AVX2 CPU
without VNNI (a Haswell, emulated by qemu-x86_64), where ONNX Runtime's u8s8 kernels
saturate unless our sessions ask for its precise path (edge_runtime.sessions)."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys

import numpy as np
import pytest

from edge_runtime.manifest import read_manifest
from tests.conftest import DATA, ROOT, needs_shared

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]
MAX_DP = 1e-2

SCRIPT = """
import json, sys
from pathlib import Path
import cv2, numpy as np
import numpy._core._multiarray_umath as umath
from edge_runtime.classifier import Classifier
from edge_runtime.image_io import load_image
from edge_runtime.manifest import DEFAULT_MODELS_DIR
paths = sorted(Path(sys.argv[1]).glob("*/*.jpg"))[:: int(sys.argv[2])]
crops = np.stack([cv2.resize(load_image(p), (64, 64), interpolation=cv2.INTER_AREA) for p in paths])
out = {"avx512": bool(umath.__cpu_features__.get("AVX512F"))}
for name in ("mask", "gender_unmasked"):
    out[name] = Classifier(DEFAULT_MODELS_DIR, name, threads=1).predict(crops).tolist()
print(json.dumps(out))
"""


def probabilities(prefix: list[str], stride: int) -> dict:
    folder = needs_shared(DATA / "faces_gender")
    command = [*prefix, sys.executable, "-c", SCRIPT, str(folder), str(stride)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_int8_models_agree_on_an_avx2_cpu_without_vnni():
    if platform.machine() != "x86_64":
        pytest.skip("an x86-64 check (Arm: scripts/check_aarch64.sh)")
    qemu = shutil.which("qemu-x86_64-static")
    if qemu is None:
        pytest.skip("needs qemu-x86_64-static (Debian's qemu-user-static) to emulate a Haswell")
    stride = max(1, len(list((DATA / "faces_gender").glob("*/*.jpg"))) // 96)
    native = probabilities([], stride)
    haswell = probabilities([qemu, "-cpu", "Haswell"], stride)
    assert not haswell["avx512"], "the emulated CPU should have AVX2 only"
    manifest = read_manifest(ROOT / "models")
    for name in ("mask", "gender_unmasked"):
        threshold = manifest.classifier(name).threshold
        ours, theirs = np.array(native[name]), np.array(haswell[name])
        assert len(ours) >= 90
        assert np.abs(ours - theirs).max() <= MAX_DP, name
        assert ((ours > threshold) == (theirs > threshold)).all(), name
