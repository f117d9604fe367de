"""The manifest's typed entries: read and written in one module, checked by sha256."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from edge_runtime.manifest import (
    MANIFEST_FORMAT,
    ClassifierEntry,
    DetectorEntry,
    LargeFaces,
    Manifest,
    ModelFile,
    ModelIntegrityError,
    TensorSpec,
    read_manifest,
    update_detector,
    verified_classifier,
    verified_detector,
    write_entry,
    write_manifest,
)
from tests.conftest import ROOT

SHIPPED = ROOT / "models"


def shipped_json() -> dict:
    return json.loads((SHIPPED / "manifest.json").read_text())


def write_json(folder: Path, document: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(document))
    return folder


def test_the_shipped_manifest_has_one_entry_per_detector_and_classifier():
    manifest = read_manifest(SHIPPED)
    assert shipped_json()["format"] == MANIFEST_FORMAT == 2
    assert sorted(manifest.models) == [
        "finetuned",
        "gender_masked",
        "gender_unmasked",
        "mask",
        "mtcnn",
    ]
    finetuned = manifest.detector("finetuned")
    assert finetuned.pnet.file == "finetuned/pnet.onnx" and finetuned.pyramid == "chained"
    assert finetuned.thresholds == (0.6, 0.6, 0.8)
    assert finetuned.large_faces == LargeFaces(60.0, 0.3)
    assert finetuned.reference_box is not None and finetuned.reference_box.faces == 766
    assert finetuned.onet.provenance["training"]["after"]["val"]["face_recall"] > 0.9
    reference = manifest.detector("mtcnn")
    assert reference.thresholds == (0.6, 0.7, 0.8) and reference.pyramid == "area"
    assert reference.large_faces is None and reference.reference_box is None
    mask = manifest.classifier("mask")
    assert mask.class_names == ("WithMask", "WithoutMask") and mask.input_size == 64
    assert mask.crop_margin == 0.2 and mask.test_time_flip is False
    assert (
        mask.model.provenance["parity"]["int8"]["n"] == mask.model.provenance["metrics"]["test_n"]
    )


def test_every_shipped_file_matches_its_entry():
    manifest = read_manifest(SHIPPED)
    for name in ("mtcnn", "finetuned"):
        paths, entry = verified_detector(SHIPPED, name)
        assert [p.name for p in paths.values()] == ["pnet.onnx", "rnet.onnx", "onet.onnx"]
        assert all(
            p.stat().st_size == m.bytes for p, m in zip(paths.values(), entry.files, strict=True)
        )
    for name in ("mask", "gender_unmasked", "gender_masked"):
        path, entry = verified_classifier(SHIPPED, name)
        assert entry == manifest.classifier(name) and path.stat().st_size == entry.model.bytes


def test_round_trip_writes_the_shipped_manifest_byte_for_byte(tmp_path: Path):
    manifest = read_manifest(SHIPPED)
    written = write_manifest(tmp_path, manifest)
    assert written.models == manifest.models == read_manifest(tmp_path).models
    assert (tmp_path / "manifest.json").read_bytes() == (SHIPPED / "manifest.json").read_bytes()


def test_write_entry_lists_a_new_file_with_its_hash(tmp_path: Path):
    (tmp_path / "tiny.onnx").write_bytes(b"not really a model")
    model = ModelFile.hashed(
        tmp_path,
        "tiny.onnx",
        TensorSpec("image", (None, 32, 32, 3), "float32"),
        ("probability",),
        "RGB",
        {"metrics": {"test_n": 3}},
    )
    entry = ClassifierEntry(model, "mask", ("WithMask", "WithoutMask"), 0.5, 0.2, True, "float32")
    assert write_entry(tmp_path, "tiny", entry) == entry
    path, listed = verified_classifier(tmp_path, "tiny")
    assert listed == entry and listed.input_size == 32 and model.bytes == 18
    with pytest.raises(ModelIntegrityError, match=r"'tiny' in .* is a classifier, not a detector"):
        read_manifest(tmp_path).detector("tiny")
    # A changed file is refused before it is loaded.
    path.write_bytes(b"not really a model!")
    with pytest.raises(ModelIntegrityError, match=r"tiny\.onnx has sha256 .* changed or damaged"):
        verified_classifier(tmp_path, "tiny")


def test_a_changed_detector_network_is_caught_by_its_sha256(tmp_path: Path):
    models = tmp_path / "models"
    shutil.copytree(SHIPPED / "mtcnn", models / "mtcnn")
    shutil.copy(SHIPPED / "manifest.json", models / "manifest.json")
    with open(models / "mtcnn" / "onet.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelIntegrityError, match=r"onet\.onnx has sha256") as caught:
        verified_detector(models, "mtcnn")
    assert "\n" not in str(caught.value)
    with pytest.raises(ModelIntegrityError, match=r"finetuned/pnet\.onnx is missing"):
        verified_detector(models, "finetuned")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["mask"].update(threshold="high"), "'mask'.*'threshold' must be a number"),
        (lambda d: d["mask"].update(threshold=1.5), "'threshold' must be a number in \\[0, 1\\]"),
        (lambda d: d["mask"].pop("crop_margin"), "'mask' is malformed: 'crop_margin' is missing"),
        (lambda d: d["mask"].update(treshold=0.5), "unknown key 'treshold'"),
        (lambda d: d["mask"].update(kind="segmenter"), "'kind' must be one of"),
        (lambda d: d["mask"].update(sha256="abc"), "'sha256' must be 64 lowercase hex digits"),
        (
            lambda d: d["finetuned"].update(thresholds=[0.6, 0.7]),
            "'thresholds' must be a list of 3",
        ),
        (lambda d: d["finetuned"]["onet"].pop("file"), "'finetuned'.*'onet.file' is missing"),
        (
            lambda d: d["finetuned"]["pnet"]["input"].update(shape=[1, 3, "h", None]),
            "pnet.input.shape",
        ),
        (lambda d: d["finetuned"]["large_faces"].pop("threshold"), "'large_faces.threshold'"),
        (lambda d: d["mtcnn"].update(reference_box=[0, 0]), "'reference_box' must be an object"),
    ],
)
def test_a_malformed_entry_is_one_line_naming_entry_and_field(tmp_path: Path, change, message):
    document = shipped_json()
    change(document["models"])
    models = write_json(tmp_path, document)
    with pytest.raises(ModelIntegrityError, match=message) as caught:
        read_manifest(models)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 250


def test_another_format_is_refused_naming_it(tmp_path: Path):
    models = write_json(tmp_path / "old", {"format": 1, "models": {}})
    with pytest.raises(ModelIntegrityError, match="manifest format 1; this version reads format 2"):
        read_manifest(models)
    (tmp_path / "bad" / "manifest.json").parent.mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    with pytest.raises(ModelIntegrityError, match="cannot be read as JSON"):
        read_manifest(tmp_path / "bad")


def test_a_model_not_listed_names_its_kind_and_the_manifest(tmp_path: Path):
    models = write_json(tmp_path, {"format": 2, "models": {}})
    with pytest.raises(ModelIntegrityError, match=r"detector 'finetuned' is not listed in .*json"):
        verified_detector(models, "finetuned")
    with pytest.raises(ModelIntegrityError, match="classifier 'mask' is not listed"):
        verified_classifier(models, "mask")


def test_a_models_folder_that_is_not_one_says_why(tmp_path: Path):
    (tmp_path / "photo.jpg").write_bytes(b"")
    for folder, why in [("nope", "no such folder"), ("photo.jpg", "not a folder"),
                        (".", r"not a models folder \(no manifest.json\)")]:  # fmt: skip
        with pytest.raises(ModelIntegrityError, match=f"^models {tmp_path / folder}: {why}$"):
            verified_classifier(tmp_path / folder, "mask")


def test_a_new_detector_takes_its_other_networks_from_the_reference(tmp_path: Path):
    shipped = read_manifest(SHIPPED)
    write_manifest(tmp_path, Manifest({"mtcnn": shipped.detector("mtcnn")}))
    new_onet = shipped.detector("finetuned").onet

    def change(detector: DetectorEntry) -> DetectorEntry:
        return replace(detector, onet=new_onet, thresholds=(0.5, 0.6, 0.7))

    entry = update_detector(tmp_path, "finetuned", change)
    reference = shipped.detector("mtcnn")
    assert (entry.pnet, entry.rnet, entry.onet) == (reference.pnet, reference.rnet, new_onet)
    assert entry.pyramid == "area" and entry.thresholds == (0.5, 0.6, 0.7)
    assert read_manifest(tmp_path).detector("finetuned") == entry
    # Updated again, it keeps what the change leaves alone.
    again = update_detector(tmp_path, "finetuned", lambda d: replace(d, pyramid="chained"))
    assert again.onet == new_onet and again.thresholds == (0.5, 0.6, 0.7)
    with pytest.raises(ModelIntegrityError, match="run `python -m export mtcnn` first"):
        update_detector(tmp_path / "empty", "finetuned", change)
