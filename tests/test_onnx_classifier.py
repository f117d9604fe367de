"""The shipped classifiers are checkpoints: an exported ONNX file rebuilds the Keras model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_runtime.manifest import read_manifest
from tests.conftest import DATA, ROOT, needs_shared

pytestmark = pytest.mark.slow

# int8 files quantize activations too, so no float model follows them label for label:
# the rebuilt model must follow its file about as closely as the original Keras model did
# at export (the manifest's int8 gate numbers), with room for a sample of ~100-200 faces
# (one face is 0.5-1 point): 3 faces of 182 (1.6 points) apart in accuracy was seen.
AGREEMENT_ROOM = 0.03
ACCURACY_ROOM = 0.025
FLOAT_MAX_DP = 1e-4
# task -> the shared folders its test faces come from (the mask model is stored as the
# gender models are: int8)
FOLDERS = {
    "gender_unmasked": ["faces_gender"],
    "gender_masked": ["faces_masked_gender"],
}


def randomized_model(size: int):
    """A classifier with random weights and batch-norm statistics, so folding them matters."""
    from train.model import make_model

    model = make_model(size)
    rng = np.random.default_rng(0)
    for layer in model.layers[1].layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32),
                    rng.normal(0, 0.2, beta.shape).astype(np.float32),
                    rng.normal(0, 0.2, mean.shape).astype(np.float32),
                    rng.uniform(0.5, 2.0, var.shape).astype(np.float32),
                ]
            )
    return model


def test_float32_and_float16_files_rebuild_the_same_model(tmp_path: Path):
    pytest.importorskip("tf2onnx", reason="export needs the train extra")
    import keras

    from export.classifier import keras_to_onnx
    from export.onnx_graph import store_weights_as_float16
    from train.onnx_classifier import keras_from_onnx

    size = 32
    original = randomized_model(size)
    images = np.random.default_rng(1).uniform(0, 255, (6, size, size, 3)).astype(np.float32)
    proto = keras_to_onnx(original, size)
    (tmp_path / "fp32.onnx").write_bytes(proto.SerializeToString())
    store_weights_as_float16(proto)
    (tmp_path / "fp16.onnx").write_bytes(proto.SerializeToString())

    def features(model) -> np.ndarray:
        pooled = keras.Model(model.inputs, model.get_layer("pool").output)
        return pooled.predict(images, verbose=0)

    rebuilt = keras_from_onnx(tmp_path / "fp32.onnx")
    reference = features(original)
    assert np.abs(features(rebuilt) - reference).max() <= 1e-4 * np.abs(reference).max()
    dp = rebuilt.predict(images, verbose=0) - original.predict(images, verbose=0)
    assert np.abs(dp).max() <= FLOAT_MAX_DP

    half = keras_from_onnx(tmp_path / "fp16.onnx", input_size=48)
    wider = np.random.default_rng(2).uniform(0, 255, (4, 48, 48, 3)).astype(np.float32)
    assert half.input_shape[1:3] == (48, 48)
    assert np.isfinite(half.predict(wider, verbose=0)).all()


@pytest.fixture(scope="module")
def split_faces(tmp_path_factory) -> dict:
    """Real test-split crops (made by the runtime's detector and crop, as training makes
    them) of each shipped classifier's task, with their labels.

    The faces of `prepare(..., limit=600)`'s test split, and only those: the photos that
    limit keeps whose split is "test" are linked (same names, so the same split) into a
    folder of their own, which is prepared whole. The same crops in the same order as
    preparing all 600 photos per class and folder, without detecting faces in the ~85% of
    train and val photos that were cropped for nothing (~2,100 photos -> ~320)."""
    pytest.importorskip("tensorflow", reason="training needs the train extra")
    from train.prepare import (
        _limited,
        find_photos,
        load_split_images,
        prepare,
        read_index,
        split_of,
    )
    from train.tasks import TASKS

    faces = {}
    for task, folders in FOLDERS.items():
        linked = []
        for folder in folders:
            root, into = needs_shared(DATA / folder), tmp_path_factory.mktemp(folder)
            for photo in _limited(find_photos(root, TASKS[task]), 600):
                if (photo.split or split_of(photo.path)) == "test":
                    link = into / photo.path.relative_to(root)
                    link.parent.mkdir(parents=True, exist_ok=True)
                    link.symlink_to(photo.path)
            linked.append(into)
        out = tmp_path_factory.mktemp(task)
        prepare(task, linked, out, 64)
        images, rows = load_split_images(out, "test")
        assert {r["split"] for r in read_index(out)} == {"test"}
        faces[task] = (images, [r["label"] for r in rows])
    return faces


@pytest.mark.shared_data
@pytest.mark.parametrize("task", sorted(FOLDERS))
def test_shipped_model_rebuilds_from_its_onnx_file(task: str, split_faces: dict):
    from edge_runtime.sessions import create_session
    from train.onnx_classifier import keras_from_onnx

    entry = read_manifest(ROOT / "models").classifier(task)
    path = ROOT / "models" / entry.model.file
    images, labels = split_faces[task]
    assert len(images) >= 100
    truth = np.array([entry.class_names.index(label) for label in labels])
    threshold = entry.threshold
    calibration = images[::2]
    rebuilt = keras_from_onnx(path, images=calibration)
    ours = rebuilt.predict(images, verbose=0).reshape(-1)
    session = create_session(path)  # the runtime's session (precise int8 on AVX2-only CPUs)
    theirs = np.concatenate(
        [
            session.run(["probability"], {"image": images[i : i + 64]})[0].reshape(-1)
            for i in range(0, len(images), 64)
        ]
    )
    agreement = np.mean((ours > threshold) == (theirs > threshold))
    if entry.weights_dtype == "int8":
        gate = entry.model.provenance["parity"]["int8"]
        assert agreement >= gate["label_agreement"] - AGREEMENT_ROOM, agreement
        gap = np.mean((ours > threshold) == truth) - np.mean((theirs > threshold) == truth)
        allowed = abs(gate["accuracy_keras"] - gate["accuracy"]) + ACCURACY_ROOM
        assert abs(gap) <= allowed, gap
    else:
        assert agreement == 1.0
        assert np.abs(ours - theirs).max() <= FLOAT_MAX_DP
