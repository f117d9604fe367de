"""The student P-Net in miniature on real photos: tiles -> fit -> export -> the runtime.

The tiles must hold exactly what the runtime's P-Net sees (the same pyramid level, the
same cell grid), or the student would learn another task than the one it runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.image_io import load_image
from edge_runtime.manifest import DEFAULT_MODELS_DIR, LargeFaces, read_manifest
from tests.conftest import DATA, ROOT, needs_shared

pytestmark = pytest.mark.shared_data

PHOTO = "maksssksksss104"


def annotated_photo():
    from train.voc import read_voc

    scenes = needs_shared(DATA / "scenes_voc")
    return read_voc(scenes / "annotations" / f"{PHOTO}.xml", scenes / "images")


def test_a_tile_gets_the_teachers_map_of_its_level():
    """P-Net on a tile cut at even pixels of a level equals its map of the whole level there."""
    from edge_runtime.mtcnn import MTCNN, normalize, pyramid_level
    from train.pnet import CELLS, TILE, teacher_maps

    image = load_image(annotated_photo().image)
    teacher = MTCNN(detector="mtcnn").pnet
    level = pyramid_level(normalize(image), 0.6)
    planar = np.ascontiguousarray(level.transpose(2, 0, 1)[None])
    reg, prob = teacher.run(["box_reg", "face_prob"], {"input": planar})
    x0, y0 = 40, 22
    tile_prob, tile_reg = teacher_maps(teacher, level[y0 : y0 + TILE, x0 : x0 + TILE])
    cells = np.s_[y0 // 2 : y0 // 2 + CELLS, x0 // 2 : x0 // 2 + CELLS]
    assert np.allclose(tile_prob, prob[0][cells][..., 1], atol=1e-5)
    assert np.allclose(tile_reg, reg[0][cells], atol=1e-5)


def test_tiles_come_with_their_mirror_images_and_targets():
    from edge_runtime.mtcnn import MTCNN
    from train.pnet import CELLS, TILE, photo_tiles

    ann = annotated_photo()
    image = load_image(ann.image)
    teacher = MTCNN(detector="mtcnn").pnet
    faces = ann.boxes.astype(float)
    x, t = photo_tiles(teacher, image, faces, np.random.default_rng(0), random_tiles=4)
    assert len(x) == len(t) and len(x) % 2 == 0
    assert x[0].shape == (TILE, TILE, 3) and x[0].dtype == np.uint8
    assert t[0].shape == (CELLS, CELLS, 6)
    assert np.array_equal(x[1], x[0][:, ::-1])  # each tile is followed by its mirror image
    target = np.stack(t)[..., 0]
    assert (target == 1.0).sum() > 0, "cells framing an annotated face are faces"
    assert (target == 0.0).mean() > 0.5, "cells far from every annotated face are not"
    weights = np.stack(t)[..., 1]
    assert weights.min() >= 0 and weights.max() <= 4.0
    # Without boxes the teacher alone speaks: only random tiles, no forced 0 or 1.
    x, t = photo_tiles(teacher, image, None, np.random.default_rng(0), random_tiles=4)
    target = np.stack(t)[..., 0]
    assert len(x) == 8 and target.min() > 0 and target.max() < 1


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A 1-epoch student run on 6 photos per folder."""
    needs_shared(DATA)
    out = tmp_path_factory.mktemp("pnet")
    command = [sys.executable, "-m", "train", "pnet", "--scenes", str(DATA / "scenes_voc")]
    command += ["--unlabelled", str(DATA / "scenes_masked"), "--out", str(out)]
    command += ["--limit", "6", "--epochs", "1"]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return out


@pytest.mark.slow
def test_exported_student_matches_keras_and_runs_in_the_detector(run: Path, tmp_path: Path):
    from edge_runtime.mtcnn import MTCNN, normalize, pyramid_level
    from edge_runtime.sessions import create_session
    from export.mtcnn import export_student_pnet
    from train.pnet import student_pnet

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["widths"] == [16, 16, 16] and metrics["train_tiles"] > 0
    assert (run / "curves.png").exists() and (run / "tiles.json").exists()

    models = tmp_path / "models"
    shutil.copytree(DEFAULT_MODELS_DIR, models)
    path = export_student_pnet(run, models, threshold=0.55, large_faces=(80, 0.35))
    entry = read_manifest(models).detector("finetuned")
    assert entry.thresholds[0] == 0.55 and entry.pyramid == "chained"
    assert entry.pnet.provenance["source"]["distilled_from"]["package"] == "mtcnn"
    assert entry.large_faces == LargeFaces(80, 0.35)
    shipped = read_manifest(DEFAULT_MODELS_DIR).detector("finetuned")
    assert (entry.rnet, entry.onet) == (shipped.rnet, shipped.onet)  # kept

    level = pyramid_level(normalize(load_image(annotated_photo().image)), 0.3)
    keras_student = student_pnet()
    keras_student.load_weights(run / "pnet.weights.h5")
    want_reg, want_prob = (np.asarray(y) for y in keras_student(level[None]))
    session = create_session(path, None)
    planar = np.ascontiguousarray(level.transpose(2, 0, 1)[None])
    reg, prob = session.run(["box_reg", "face_prob"], {"input": planar})
    assert prob.shape == want_prob.shape
    assert np.allclose(prob, want_prob, atol=1e-4) and np.allclose(reg, want_reg, atol=1e-4)

    detector = MTCNN(models, detector="finetuned")
    assert detector.thresholds[0] == 0.55 and detector.large_faces == (80, 0.35)
    found = detector.detect(load_image(annotated_photo().image))
    assert found.boxes.shape == (len(found), 4)


def test_face_cells_of_a_mirror_image_are_mirrored():
    """Cell c of a mirrored tile is cell 18 - c of the tile; its faces are mirrored about
    the tile's centre, so the same cells (mirrored) frame them."""
    from train.pnet import CELLS, TILE, best_iou, cell_windows

    x0, y0, scale = 40, 30, 0.3
    faces = np.array([[170.0, 130.0, 210.0, 170.0], [240.0, 140.0, 275.0, 185.0]])
    windows = cell_windows(x0, y0, scale)
    mirrored = faces.copy()
    mirrored[:, [0, 2]] = (2 * x0 + TILE) / scale - faces[:, [2, 0]]
    iou = best_iou(windows, faces)
    assert iou.shape == (CELLS, CELLS) and (iou >= 0.65).any()
    assert np.allclose(iou, best_iou(windows, mirrored)[:, ::-1])
