"""The whole cascade with the shipped models, on real photos, through the API and the CLI."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from edge_runtime.__main__ import main
from edge_runtime.boxes import face_size
from edge_runtime.cascade import Cascade
from edge_runtime.image_io import load_image
from edge_runtime.manifest import DEFAULT_MODELS_DIR, ModelIntegrityError
from edge_runtime.types import Face, Labels, Result
from tests.conftest import DATA, TEST_DATA, needs_shared
from train.voc import match, read_voc

SEED_PHOTOS = sorted(p for p in TEST_DATA.glob("*_image_*.jpg") if "cropped" not in p.name)
# Every seed photo and cropped copy (the cropped unmasked man's face runs past the frame:
# found by the detector's border retries).
SEED_CASES = sorted(TEST_DATA.glob("*_image_*.jpg"))


def shipped_models_with(tmp_path: Path, name: str, **changes) -> Path:
    """A models folder of the shipped files whose manifest entry `name` has `changes`."""
    models = tmp_path / "models"
    models.mkdir()
    for item in DEFAULT_MODELS_DIR.iterdir():
        if item.name != "manifest.json":
            (models / item.name).symlink_to(item)
    manifest = json.loads((DEFAULT_MODELS_DIR / "manifest.json").read_text())
    manifest["models"][name].update(changes)
    (models / "manifest.json").write_text(json.dumps(manifest))
    return models


@pytest.fixture(scope="module")
def pipeline():
    from edge_runtime.pipeline import Pipeline

    return Pipeline()


@pytest.mark.parametrize("path", SEED_CASES, ids=lambda p: p.stem)
def test_seed_photos_get_the_labels_their_names_say(pipeline, path: Path):
    faces = pipeline.predict(path)
    assert len(faces) == 1
    face = faces[0]
    assert face.mask == ("with_mask" in path.name)
    assert face.gender == ("Male" if path.name.startswith("male") else "Female")


@pytest.mark.parametrize("path", SEED_CASES, ids=lambda p: p.stem)
def test_a_face_keeps_the_raw_probabilities_and_its_json_is_as_before(pipeline, path: Path):
    """The labels follow the cascade's rule on the models' outputs, every shown probability
    is derived from them, and the JSON is what the cascade wrote when it stored P(mask) and
    P(gender shown), computed from the float32 outputs."""
    (face,) = pipeline(path).faces
    cascade = pipeline.cascade
    assert face.mask == (face.p_without_mask <= cascade.mask.threshold)
    assert face.gender == (
        "Male" if face.p_male > cascade.gender[face.mask].threshold else "Female"
    )
    assert face.p_mask == 1 - face.p_without_mask and face.mask_label == face.labels.mask_label
    assert face.p_gender == (face.p_male if face.gender == "Male" else 1 - face.p_male)
    assert face.p_mask_label == (face.p_mask if face.mask else face.p_without_mask)
    p_without, p_male = np.float32(face.p_without_mask), np.float32(face.p_male)
    before = {
        "mask": bool(p_without <= cascade.mask.threshold),
        "p_mask": round(float(1.0 - p_without), 4),
        "gender": face.gender,
        "p_gender": round(float(p_male if face.gender == "Male" else 1.0 - p_male), 4),
    }
    data = face.to_dict()
    assert list(data) == ["box", "confidence", "landmarks", "mask", "p_mask", "gender", "p_gender"]
    assert {key: data[key] for key in before} == before


def test_labels_derive_every_shown_probability_from_the_raw_ones():
    masked, unmasked = Labels(True, 0.25, "Female", 0.375), Labels(False, 0.875, "Male", 0.625)
    assert (masked.p_mask, masked.mask_label, masked.p_mask_label) == (0.75, "WithMask", 0.75)
    assert (unmasked.p_mask, unmasked.p_mask_label) == (0.125, 0.875)
    assert unmasked.mask_label == "WithoutMask"
    assert (masked.p_gender, unmasked.p_gender) == (0.625, 0.625)
    assert masked.to_dict() == {"mask": True, "p_mask": 0.75, "gender": "Female", "p_gender": 0.625}
    assert Labels.from_dict(masked.to_dict()) == masked
    assert Labels.from_dict(unmasked.to_dict()) == unmasked
    bare = Face(np.zeros(4), 0.9, np.zeros((5, 2))).to_dict()
    assert [bare[k] for k in ("mask", "p_mask", "gender", "p_gender")] == [None] * 4


def test_a_manifest_that_names_the_classes_otherwise_is_refused(tmp_path: Path):
    """The runtime reads each output as P(WithoutMask) or P(Male): swapped class names in
    the manifest would swap every label, so the cascade refuses them."""
    models = shipped_models_with(tmp_path, "gender_unmasked", class_names=["Male", "Female"])
    with pytest.raises(ModelIntegrityError, match="'gender_unmasked' has class_names"):
        Cascade(models)


def test_group_photo_yields_every_face_of_40_px_and_more(pipeline):
    folder = needs_shared(DATA / "scenes_voc")
    truth = read_voc(folder / "annotations" / "maksssksksss699.xml", folder / "images")
    faces = pipeline.predict(truth.image)
    big = face_size(truth.boxes) >= 40
    assert big.sum() == 6
    found = np.array([f.box for f in faces])
    matched = match(truth.boxes, found, np.array([f.confidence for f in faces]), 0.5)
    assert (matched[big] >= 0).all()
    assert all(f.mask is not None and f.gender in ("Female", "Male") for f in faces)


def test_api_takes_arrays_and_paths_alike(pipeline):
    path = SEED_PHOTOS[0]
    from_path = pipeline.run(path)
    from_array = pipeline.run(load_image(path))
    assert from_path.path == str(path) and from_array.path is None
    assert from_path.faces[0].to_dict() == from_array.faces[0].to_dict()
    assert {"decode", "detect", "crop", "mask", "gender"} <= set(from_path.speed)
    many = pipeline(iter(SEED_PHOTOS))
    assert not isinstance(many, Result)  # a generator for many inputs
    assert [len(r) for r in many] == [1, 1, 1, 1]


def test_no_flip_scores_a_masked_face_once_instead_of_with_its_mirror(pipeline):
    from edge_runtime.crop import crop_faces

    image = load_image(TEST_DATA / "female_image_with_mask.jpg")
    model = pipeline.cascade.gender[True]
    assert model.flip  # the shipped masked-gender model asks for flip averaging
    found = pipeline.detector.detect(image)
    crops = crop_faces(image, found.reference_boxes, model.input_size, model.margin)
    plain = model.predict(crops, no_flip=True)
    mirrored = model.predict(crops[:, :, ::-1].copy(), no_flip=True)
    averaged = pipeline.run(image).faces[0].p_male
    once = pipeline.run(image, no_flip=True).faces[0].p_male
    assert abs(plain[0] - mirrored[0]) > 0.01  # else the test could not tell them apart
    assert once == pytest.approx(plain[0], abs=1e-6)
    assert averaged == pytest.approx((plain[0] + mirrored[0]) / 2, abs=1e-6)
    assert pipeline.options.no_flip is False  # one photo's option, not the pipeline's


def test_a_gender_model_gets_its_crop_at_the_margin_it_was_trained_with(tmp_path: Path):
    """The mask model's crop is reused only where a gender model's input size and margin
    match it; otherwise the face is cropped again as that model's manifest entry says."""
    from edge_runtime.crop import crop_faces
    from edge_runtime.pipeline import Pipeline

    models = shipped_models_with(tmp_path, "gender_masked", crop_margin=0.5)
    image = load_image(TEST_DATA / "female_image_with_mask.jpg")
    with Pipeline(models) as wide:
        model = wide.cascade.gender[True]
        assert model.margin == 0.5 and wide.cascade.mask.margin == 0.2
        boxes = wide.detector.detect(image).reference_boxes
        (at_05,) = model.predict(crop_faces(image, boxes, model.input_size, 0.5))
        (at_02,) = model.predict(crop_faces(image, boxes, model.input_size, 0.2))
        (face,) = wide.run(image).faces
    assert face.mask and abs(at_05 - at_02) > 0.01  # else the test could not tell them apart
    assert face.p_male == pytest.approx(at_05, abs=1e-6)


def test_result_draws_saves_and_serialises_itself(pipeline, tmp_path: Path):
    from edge_runtime import Face, Pipeline

    assert Pipeline is type(pipeline)
    path = TEST_DATA / "female_image_with_mask.jpg"
    result = pipeline(path)
    face = next(iter(result))
    assert isinstance(face, Face) and face is result[0] and face.mask_label == "WithMask"
    assert face.xywh[2] == pytest.approx(face.box[2] - face.box[0])
    plotted = result.plot()
    assert plotted.shape == result.image.shape and (plotted != result.image).any()
    saved = result.save(tmp_path / "out" / "annotated.png")
    assert load_image(saved).shape == result.image.shape
    data = json.loads(result.to_json())
    assert data == result.to_dict() and data["faces"][0]["confidence"] == round(face.confidence, 4)
    assert repr(result).startswith(f"Result({path}, 260x260, 1 faces: WithMask {face.gender}")


def test_photo_without_faces_gives_empty_result(pipeline):
    result = pipeline.predict(np.full((240, 320, 3), 128, np.uint8))
    assert len(result) == 0 and list(result) == [] and "0 faces" in repr(result)


def test_cli_lines_name_mask_and_gender(capsys):
    path = TEST_DATA / "female_image_with_mask.jpg"
    assert main([str(path)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{path}  face 1  (")
    assert re.fullmatch(r".*  WithMask \d+\.\d%  (Female|Male) \d+\.\d%", line)


def test_cli_batch_with_bad_inputs_reports_and_goes_on(tmp_path: Path, capsys):
    folder = tmp_path / "batch"
    folder.mkdir()
    for p in SEED_PHOTOS:
        shutil.copy(p, folder / p.name)
    (folder / "broken.jpg").write_bytes(SEED_PHOTOS[0].read_bytes()[:3000])
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("hello")
    Image.new("1", (12000, 12000)).save(folder / "huge.png")
    Image.new("RGB", (1, 1)).save(folder / "dot.png")
    Image.open(SEED_PHOTOS[0]).convert("CMYK").save(folder / "cmyk.jpg")
    Image.open(SEED_PHOTOS[1]).convert("L").save(folder / "gray.png")
    Image.open(SEED_PHOTOS[2]).convert("RGBA").save(folder / "rgba.png")
    gray16 = np.asarray(Image.open(SEED_PHOTOS[3]).convert("L")).astype(np.uint16) * 257
    Image.fromarray(gray16).save(folder / "gray16.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, shown upright
    sideways = np.ascontiguousarray(np.rot90(load_image(SEED_PHOTOS[0]), k=1))
    Image.fromarray(sideways).save(folder / "exif.jpg", exif=exif)
    empty_dir = tmp_path / "nothing_here"
    empty_dir.mkdir()
    code = main([str(folder), str(tmp_path / "missing.jpg"), str(empty_dir), "--json"])
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    (summary,) = (r["summary"] for r in records if "summary" in r)
    results = {Path(r["path"]).name: r for r in records if "path" in r}
    assert code == 1
    assert len(err.strip().splitlines()) == 6 and "Traceback" not in err
    for name in ("broken.jpg", "empty.png", "text.jpg", "huge.png", "missing.jpg"):
        assert name in err and name in results[name]["error"] and "faces" not in results[name]
    assert "nothing_here: no images found" in err
    assert results["nothing_here"]["error"].endswith("nothing_here: no images found")
    assert summary["source"] == str(folder)
    assert (summary["images"], summary["failed"]) == (len(SEED_PHOTOS) + 10, 4)
    assert results["dot.png"]["faces"] == []
    upright = results["exif.jpg"]["faces"][0]["landmarks"]
    assert upright[2][1] > upright[0][1]  # nose below the eye: the face was turned upright
    for name in (
        "cmyk.jpg",
        "gray.png",
        "rgba.png",
        "gray16.png",
        "exif.jpg",
        *(p.name for p in SEED_PHOTOS),
    ):
        assert len(results[name]["faces"]) == 1, name
        assert results[name]["faces"][0]["gender"] in ("Female", "Male")


def test_save_writes_annotated_copies(tmp_path: Path):
    path = TEST_DATA / "male_image_without_mask.jpg"
    assert main([str(path), "--save", str(tmp_path)]) == 0
    saved = load_image(tmp_path / "male_image_without_mask.jpg")
    original = load_image(path)
    assert saved.shape == original.shape
    assert np.abs(saved.astype(int) - original).max() > 100  # a box and a caption were drawn


def test_video_frames_are_processed(tmp_path: Path, capsys):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (260, 260))
    for p in SEED_PHOTOS:
        writer.write(cv2.imread(str(p)))
    writer.release()
    assert main([str(video), "--json"]) == 0
    *results, last = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["path"] for r in results] == [f"{video}#{i}" for i in range(4)]
    assert all(len(r["faces"]) == 1 for r in results)
    assert last["summary"]["source"] == str(video) and last["summary"]["frames"] == 4


def test_tampered_classifier_is_refused_with_exit_two(tmp_path: Path, capsys):
    models = tmp_path / "models"
    models.mkdir()
    for item in DEFAULT_MODELS_DIR.iterdir():  # links: only the damaged file is a copy
        (models / item.name).symlink_to(item)
    (models / "gender_masked.onnx").unlink()
    shutil.copy(DEFAULT_MODELS_DIR / "gender_masked.onnx", models / "gender_masked.onnx")
    with open(models / "gender_masked.onnx", "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert main([str(SEED_PHOTOS[0]), "--models", str(models)]) == 2
    err = capsys.readouterr().err
    assert "gender_masked.onnx has sha256" in err and "changed or damaged" in err


def test_benchmark_option_times_every_stage(capsys):
    assert main(["--benchmark", "--runs", "1", "--json", "--no-flip"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["providers"] == ["CPUExecutionProvider"] and report["options"] == {
        "no_flip": True
    }
    assert len(report["photos"]) == 4
    assert report["ms"]["total"]["median"] >= report["ms"]["detect"]["median"] > 0


def test_a_pil_image_gives_the_same_answer_as_its_path(pipeline):
    path = TEST_DATA / "female_image_with_mask.jpg"
    from_path, from_pil = pipeline(path), pipeline(Image.open(path).convert("L"))
    assert len(from_path) == len(from_pil) == 1
    (streamed,) = pipeline.stream(Image.open(path))
    assert streamed[0].mask == from_path[0].mask and streamed[0].gender == from_path[0].gender
    assert from_pil[0].mask is True


def test_pipeline_as_a_context_manager_stops_its_threads():
    import threading

    from edge_runtime.pipeline import Pipeline

    before = {t.ident for t in threading.enumerate()}
    with Pipeline() as pipeline:
        assert len(pipeline(SEED_PHOTOS[0])) == 1
        started = [t for t in threading.enumerate() if t.ident not in before]
        assert started  # the detector's and classifiers' workers
    for thread in started:
        thread.join(timeout=5)
    assert not any(t.is_alive() for t in started)


def test_grayscale_and_rgba_arrays_are_converted_and_others_refused(pipeline):
    rgb = load_image(SEED_PHOTOS[0])
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    assert len(pipeline(gray)) == 1 and len(pipeline(rgba)) == 1
    assert pipeline(rgba)[0].to_dict() == pipeline(rgb)[0].to_dict()
    with pytest.raises(ValueError, match=r"expected an RGB uint8 array \(H, W, 3\), got float32"):
        pipeline(rgb.astype(np.float32))
