"""Fine-tuning MTCNN in miniature on real photos: mine windows -> fit R-Net and O-Net ->
export -> the runtime loads the result as the "finetuned" detector.

Small real runs (40 scene photos, one epoch): they check that each step hands the next
what it needs and that the box arithmetic is right, not that the detector is good.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_runtime import boxes as bx
from edge_runtime.manifest import DEFAULT_MODELS_DIR, Manifest, read_manifest, write_manifest
from tests.conftest import DATA, ROOT, kill_after_first_epoch, logged_epochs, needs_shared

pytestmark = pytest.mark.shared_data


def test_offsets_undo_regression():
    from train.detector_data import box_offsets

    windows = np.array([[10.0, 20.0, 58.0, 68.0], [0.0, 0.0, 23.0, 23.0]])
    faces = np.array([[14.0, 18.0, 50.0, 70.0], [2.0, -3.0, 20.0, 25.0]])
    assert np.allclose(bx.apply_regression(windows, box_offsets(windows, faces)), faces)


def test_flipped_offsets_describe_the_mirrored_face():
    from train.detector import with_flips

    # A 24x24 window at the origin and a face in its left part: mirrored, the face must
    # sit in the right part, at x = 23 - x.
    windows = np.array([[0.0, 0.0, 23.0, 23.0]])
    face = np.array([[2.0, 4.0, 12.0, 20.0]])
    from train.detector_data import box_offsets

    offsets = box_offsets(windows, face).astype(np.float32)
    patch = np.zeros((1, 24, 24, 3), np.uint8)
    _, _, both = with_flips(patch, np.array([1]), offsets)
    mirrored = bx.apply_regression(windows, both[1:])
    assert np.allclose(mirrored, [[23 - 12, 4, 23 - 2, 20]], atol=1e-4)


def test_jitter_labels_windows_by_iou():
    from train.detector_data import IOU_NEGATIVE, IOU_PART, NEGATIVE, jitter, label_windows

    rng = np.random.default_rng(0)
    faces = np.array([[100.0, 100.0, 160.0, 180.0]])
    windows = np.concatenate([jitter(faces, rng, 50), [[0.0, 0.0, 50.0, 50.0]]])
    kind, offsets, keep = label_windows(windows, faces, np.array([True]))
    iou = bx.pairwise_iou(windows, faces)[:, 0]
    assert kind[-1] == NEGATIVE and keep[-1]
    assert np.all(keep == ((iou >= IOU_PART) | (iou < IOU_NEGATIVE)))
    assert np.allclose(bx.apply_regression(windows[keep], offsets[keep])[kind[keep] > 0], faces)


def test_the_default_detector_mines_what_it_will_hand_on():
    # Mined with "finetuned", R-Net and O-Net learn the student P-Net's candidates (its
    # threshold and chained pyramid), not the reference P-Net's.
    needs_shared(DATA / "scenes_voc")
    from train.detector_data import make_samples, miner

    student = miner("finetuned")
    shipped = read_manifest(DEFAULT_MODELS_DIR).detector("finetuned")
    assert student.thresholds == (shipped.thresholds[0], 0.3, 0.8)
    assert student.pyramid == "chained" and miner("mtcnn").pyramid == "area"
    folder = [DATA / "scenes_voc"]
    mined = {m: make_samples(folder, [], limit=4, mined_with=(m,)) for m in ("mtcnn", "finetuned")}
    assert mined["finetuned"][1]["mined_with"] == ["finetuned"]
    counts = [len(samples.kind) for samples, _ in mined.values()]
    assert min(counts) > 0 and counts[0] != counts[1]


@pytest.mark.slow
@pytest.mark.parametrize("net", ["rnet", "onet"])
def test_shipped_network_reloads_into_keras_to_train_further(net: str):
    # `train detector --init-from models` starts from the shipped ONNX networks' weights.
    pytest.importorskip("tensorflow", reason="training needs the train extra")
    from edge_runtime.manifest import verified_detector
    from edge_runtime.sessions import create_session
    from train.mtcnn_networks import NETWORKS, keras_network

    path = verified_detector(DEFAULT_MODELS_DIR, "finetuned")[0][net]
    network = keras_network(net, path)
    side = NETWORKS[net][2][1]
    x = np.random.default_rng(0).uniform(-1, 1, (8, side, side, 3)).astype(np.float32)
    session = create_session(path)
    names = [o.name for o in session.get_outputs()]
    onnx_out = dict(zip(names, session.run(None, {"input": x.transpose(0, 3, 1, 2)}), strict=True))
    keras_out = dict(zip(NETWORKS[net][3], network(x), strict=True))
    for name, value in keras_out.items():
        np.testing.assert_allclose(np.asarray(value), onnx_out[name], atol=1e-5)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    needs_shared(DATA / "scenes_voc")
    pytest.importorskip("tensorflow", reason="training needs the train extra")
    from train.__main__ import main

    out = tmp_path_factory.mktemp("detector") / "run"
    assert main(detector_args(out)) == 0
    return out


def detector_args(out: Path) -> list[str]:
    """A small real `python -m train detector` run: 40 photos, 60 crops, one epoch."""
    args = ["detector", "--scenes", str(DATA / "scenes_voc"), "--limit", "40"]
    args += ["--crops", str(DATA / "faces_mask" / "with_mask"), "--crops-per-folder", "60"]
    return [*args, "--out", str(out), "--epochs", "1", "--batch-size", "64"]


@pytest.mark.slow
def test_mining_makes_every_kind_of_window(run: Path):
    counts = json.loads((run / "samples.json").read_text())
    train = counts["windows"]["train"]
    assert counts["photos"]["train"] > 0
    assert min(train["negative"], train["positive"], train["part"], train["crop"]) > 0


@pytest.mark.slow
def test_fit_writes_weights_history_and_metrics(run: Path):
    for net in ("rnet", "onet"):
        metrics = json.loads((run / net / "metrics.json").read_text())
        assert (run / net / f"{net}.weights.h5").stat().st_size > 0
        assert (run / net / "curves.png").stat().st_size > 0
        assert metrics["train_windows"] > 0
        assert {"before", "after"} <= set(metrics) and "face_recall" in metrics["after"]["val"]


@pytest.mark.slow
def test_rerun_keeps_what_is_finished(run: Path, capsys):
    from train.__main__ import main

    files = [
        run / "samples.npz",
        run / "rnet" / "rnet.weights.h5",
        run / "onet" / "onet.weights.h5",
    ]
    before = [f.stat().st_mtime_ns for f in files]
    assert main(detector_args(run)) == 0
    assert "rnet: already trained" in capsys.readouterr().out
    assert [f.stat().st_mtime_ns for f in files] == before


@pytest.mark.slow
def test_training_can_start_from_the_shipped_detector(run: Path, tmp_path: Path):
    from train.__main__ import main

    warm = tmp_path / "warm"
    warm.mkdir()
    shutil.copy(run / "samples.npz", warm / "samples.npz")
    args = [*detector_args(warm), "--nets", "rnet", "--init-from", str(DEFAULT_MODELS_DIR)]
    assert main(args) == 0
    metrics = json.loads((warm / "rnet" / "metrics.json").read_text())
    shipped = read_manifest(DEFAULT_MODELS_DIR).detector("finetuned").rnet
    assert metrics["started_from"]["sha256"] == shipped.sha256
    # Before any step, the shipped R-Net already finds more of the masked faces than mtcnn's.
    cold = json.loads((run / "rnet" / "metrics.json").read_text())
    assert cold["started_from"] == {"package": "mtcnn"}
    assert metrics["before"]["val"]["face_recall"] > cold["before"]["val"]["face_recall"]


@pytest.mark.slow
def test_export_gives_a_detector_the_runtime_loads(run: Path, tmp_path: Path):
    from edge_runtime.image_io import load_image
    from edge_runtime.mtcnn import MTCNN
    from export.mtcnn import export_finetuned

    models = tmp_path / "models"
    shutil.copytree(DEFAULT_MODELS_DIR / "mtcnn", models / "mtcnn")
    (models / "finetuned").mkdir()
    shutil.copy(DEFAULT_MODELS_DIR / "finetuned" / "pnet.onnx", models / "finetuned")
    shipped = read_manifest(DEFAULT_MODELS_DIR)
    write_manifest(models, Manifest({k: shipped.models[k] for k in ("mtcnn", "finetuned")}))
    export_finetuned(run, models, (0.6, 0.5, 0.7))
    entry = read_manifest(models).detector("finetuned")
    assert entry.thresholds == (0.6, 0.5, 0.7)
    assert entry.onet.provenance["source"]["finetuned_from"]["package"] == "mtcnn"
    assert entry.reference_box is not None and entry.reference_box.faces > 0
    # R-Net and O-Net from the export; the student P-Net and its settings kept.
    old = shipped.detector("finetuned")
    assert entry.pnet == old.pnet and entry.onet.sha256 != old.onet.sha256
    assert (entry.pyramid, entry.large_faces) == (old.pyramid, old.large_faces)
    # Without thresholds, the detector keeps its own.
    export_finetuned(run, models)
    assert read_manifest(models).detector("finetuned").thresholds == (0.6, 0.5, 0.7)

    detector = MTCNN(models, detector="finetuned")
    assert detector.thresholds == (0.6, 0.5, 0.7)
    image = load_image(DATA / "scenes_voc" / "images" / "maksssksksss104.jpg")
    found = detector.detect(image)
    assert found.boxes.shape == (len(found), 4) and found.landmarks.shape == (len(found), 5, 2)
    assert np.all(found.scores > 0.7)


@pytest.mark.slow
def test_killed_network_training_resumes_from_its_last_epoch(run: Path, tmp_path: Path):
    """Kill `train detector` after R-Net's first epoch; a rerun continues, not restarts.

    R-Net, not O-Net: both go through the same resumable fit (train.detector.fit_network),
    and an R-Net epoch on these windows takes ~14 s where an O-Net one takes ~90 s."""
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copy(run / "samples.npz", resumed / "samples.npz")  # mined windows are reused
    command = [sys.executable, "-m", "train", *detector_args(resumed)]
    command[command.index("--epochs") + 1] = "3"
    command += ["--nets", "rnet"]
    history = resumed / "rnet" / "history.csv"
    done = kill_after_first_epoch(command, history)
    assert done and len(done) < 3 and (resumed / "rnet" / "backup").exists()

    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    epochs = logged_epochs(history)
    assert epochs == [0, 1, 2], f"expected a continuation after epoch {done[-1]}, got {epochs}"
    assert (resumed / "rnet" / "metrics.json").exists()


@pytest.mark.parametrize("grayscale", [0.0, 1.0])
def test_grayscale_turns_training_windows_grey_and_leaves_inference_alone(grayscale: float):
    pytest.importorskip("tensorflow", reason="training needs the train extra")
    import keras

    from train.detector import augmented_input

    inputs, x = augmented_input(24, grayscale)
    model = keras.Model(inputs, x)
    patches = np.random.default_rng(0).integers(0, 256, (4, 24, 24, 3), dtype=np.uint8)
    trained = np.asarray(model(patches, training=True))
    spread = np.ptp(trained, axis=-1).max()
    assert (spread < 1e-5) if grayscale else (spread > 0.1)
    inferred = np.asarray(model(patches, training=False))
    np.testing.assert_allclose(inferred, (patches - 127.5) / 128, atol=1e-5)


def test_keep_boxes_takes_the_starting_networks_own_offsets():
    pytest.importorskip("tensorflow", reason="training needs the train extra")
    from edge_runtime.manifest import verified_detector
    from train.detector import targets, teacher_outputs
    from train.detector_data import POSITIVE
    from train.mtcnn_networks import keras_network

    start = verified_detector(DEFAULT_MODELS_DIR, "finetuned")[0]["rnet"]
    x = np.random.default_rng(0).integers(0, 256, (6, 24, 24, 3), dtype=np.uint8)
    kind = np.full(6, POSITIVE)
    annotated = np.full((6, 4), 0.5, np.float32)
    kept = targets("rnet", x, kind, annotated, box_teacher=start)[:, 2:6]
    np.testing.assert_allclose(kept, teacher_outputs(keras_network("rnet", start), x, 0), atol=1e-6)
    assert not np.allclose(kept, annotated)
    np.testing.assert_array_equal(targets("rnet", x, kind, annotated)[:, 2:6], annotated)
