"""The model factory in miniature on real photos: prepare -> fit -> export -> gate -> table.

Small real runs (a few dozen photos, 32 px, one or two epochs): they check that every step
works and hands the next what it needs, not that the model is good.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATA, ROOT, kill_after_first_epoch, logged_epochs, needs_shared

pytestmark = pytest.mark.shared_data
SIZE = 32


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    needs_shared(DATA / "faces_mask")
    pytest.importorskip("tensorflow", reason="training needs the train extra")
    from train.prepare import prepare

    out = tmp_path_factory.mktemp("factory") / "mask"
    prepare("mask", [DATA / "faces_mask"], out, SIZE, limit=24)
    return out


@pytest.fixture(scope="module")
def resumed(prepared: Path) -> tuple[Path, list[int], bool]:
    """The one full training run the tests share (an EfficientNetV2S fit costs minutes on two
    CPUs): `python -m train fit` for 2 epochs, SIGKILLed once it has logged an epoch and run
    again to the end. Returns the run folder, the epochs the killed process had logged and
    whether it had left a backup to resume from."""
    run = prepared.parent / "run"
    command = fit_command(prepared, run, 2, "--eager")  # the packed run below builds the graph
    done = kill_after_first_epoch(command, run / "history.csv")
    had_backup = (run / "backup").exists()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return run, done, had_backup


@pytest.fixture(scope="module")
def trained(resumed: tuple[Path, list[int], bool]) -> Path:
    """The finished run folder that export, calibration and the packed run compare with."""
    return resumed[0]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_prepare_writes_crops_index_and_summary(prepared: Path):
    from PIL import Image

    summary = json.loads((prepared / "prepare.json").read_text())
    rows = read_csv(prepared / "index.csv")
    assert summary["size"] == SIZE and len(rows) == 48
    assert {r["label"] for r in rows} == {"WithMask", "WithoutMask"}
    assert {r["split"] for r in rows} <= {"train", "val", "test"}
    assert summary["counts"]["face_found"] + summary["counts"].get("whole_image_used", 0) == 48
    assert Image.open(prepared / rows[0]["file"]).size == (SIZE, SIZE)


def test_excluded_photos_leave_train_and_val_but_not_test(prepared: Path, tmp_path: Path):
    """Also: prepared again into the same folder, the crop left out is gone from disk."""
    from train.prepare import prepare

    rows = read_csv(prepared / "index.csv")
    by_split = {r["split"]: r for r in rows}
    assert {"train", "test"} <= set(by_split)
    names = {split: Path(r["origin"]).name for split, r in by_split.items()}
    exclusions = tmp_path / "exclude.csv"
    exclusions.write_text(f"file,reason\n{names['train']},x\n{names['test']},x\n")
    again = tmp_path / "p"
    shutil.copytree(prepared, again)
    (again / "notes.txt").write_text("mine")
    summary = prepare("mask", [DATA / "faces_mask"], again, SIZE, limit=24, exclude=exclusions)
    kept = {Path(r["origin"]).name for r in read_csv(again / "index.csv")}
    assert names["test"] in kept and names["train"] not in kept
    assert (
        len(kept) == len(rows) - 1
        and sum(n for k, n in summary["counts"].items() if k.startswith("excluded/")) == 1
    )
    assert summary["earlier_crops_removed"] == 1
    assert not (again / by_split["train"]["file"]).exists() and (again / "notes.txt").exists()


def test_boxes_crop_the_labelled_face_into_the_split_its_row_gives(tmp_path: Path):
    from PIL import Image

    from edge_runtime.crop import crop_face
    from edge_runtime.image_io import load_image
    from edge_runtime.mtcnn import MTCNN
    from train.prepare import prepare

    photos = needs_shared(DATA / "scenes_masked")
    table = ROOT / "train" / "labels" / "scenes_masked_gender.csv"
    labelled = read_csv(table)
    summary = prepare(
        "gender_masked", [], tmp_path / "p", SIZE, margin=0.5, limit=4, boxes=[(table, photos)]
    )
    rows = read_csv(tmp_path / "p" / "index.csv")
    assert summary["margin"] == 0.5
    assert len(rows) == 8 and {r["source"] for r in rows} == {"rwmfd"}
    assert summary["counts"]["labelled_box"] == 8 and "face_found" not in summary["counts"]
    for row in rows:  # its own box, not the largest face, and the split the list gives
        photo = Path(row["origin"]).name
        face = Path(row["file"]).stem.rsplit("_face", 1)[1]
        (entry,) = [e for e in labelled if e["photo"] == photo and e["face"] == face]
        assert (row["split"], row["label"].lower()) == (entry["split"], entry["label"])
        box = np.array([float(entry[k]) for k in ("x1", "y1", "x2", "y2")], np.float32)
        expected = crop_face(load_image(photos / photo), box, SIZE, margin=0.5)
        assert np.array_equal(np.asarray(Image.open(tmp_path / "p" / row["file"])), expected)
    # the list's boxes are in the convention the runtime crops around
    first = labelled[0]
    detector = MTCNN()
    found = detector.detect(load_image(photos / first["photo"]))
    detector.close()
    box = [float(first[k]) for k in ("x1", "y1", "x2", "y2")]
    assert np.abs(found.reference_boxes[int(first["face"])][:4] - box).max() < 1


def test_one_face_of_a_box_list_is_excluded_by_its_crop_name(tmp_path: Path):
    from collections import Counter

    from train.prepare import prepare

    photos = needs_shared(DATA / "scenes_masked")
    table = ROOT / "train" / "labels" / "scenes_masked_gender.csv"
    labelled = read_csv(table)
    faces_of = Counter(r["photo"] for r in labelled if r["split"] == "train")
    photo = next(p for p, n in sorted(faces_of.items()) if n >= 2)
    face = next(r["face"] for r in labelled if r["photo"] == photo)
    crop = f"{Path(photo).stem}_face{face}.png"
    exclusions = tmp_path / "exclude.csv"
    exclusions.write_text(f"file,reason\n{crop},not a face\nsome/where/{crop},a path\n")
    summary = prepare(
        "gender_masked", [], tmp_path / "p", SIZE, boxes=[(table, photos)], exclude=exclusions
    )
    assert summary["exclusions_unmatched"] == [f"some/where/{crop}"]  # names, not paths
    files = {Path(r["file"]).name for r in read_csv(tmp_path / "p" / "index.csv")}
    assert crop not in files and len(files) == len(labelled) - 1
    assert sum(f.startswith(f"{Path(photo).stem}_face") for f in files) == faces_of[photo] - 1


def test_face_photo_list_holds_the_faces_prepare_finds_in_those_photos():
    from edge_runtime.image_io import load_image
    from edge_runtime.mtcnn import MTCNN
    from train.prepare import main_face, read_boxes
    from train.tasks import TASKS

    photos = needs_shared(DATA / "faces_mask" / "with_mask")
    table = ROOT / "train" / "labels" / "faces_mask_gender.csv"
    faces = read_boxes(table, photos, TASKS["gender_masked"])
    assert {f.split for f in faces} == {"train", "val", "test"}
    assert all("copy" not in f.path.name and "Augmented" not in f.path.name for f in faces)
    for row in read_csv(table):  # two votes or more for the label, none against it
        ours, other = ("M", "F") if row["label"] == "male" else ("F", "M")
        assert row["votes"].count(ours) >= 2 and other not in row["votes"], row
    detector = MTCNN(detector="mtcnn", border_retries=())  # prepare's detector for a folder
    try:
        for face in faces[:: len(faces) // 4]:
            box, _, found = main_face(detector, load_image(face.path))
            assert found and np.abs(box - face.box).max() < 0.5
    finally:
        detector.close()


HEADER = "photo,face,x1,y1,x2,y2,label,split"


@pytest.mark.parametrize(
    "text, message",
    [
        (f"{HEADER}\na.jpg,0,1,2,3,4,masked,train", "line 2: label 'masked' is not a gender"),
        (f"{HEADER}\na.jpg,0,1,2,3,4,female,tst", "split 'tst' is not train, val or test"),
        (f"{HEADER}\na.jpg,0,1,2,x,4,female,test", "line 2: could not convert"),
        (f"{HEADER}\na.jpg,0,1,2,nan,4,female,test", "line 2: box .* is not x1 < x2"),
        (f"{HEADER}\na.jpg,0,3,2,1,4,female,test", "line 2: box .* is not x1 < x2"),
        (f"{HEADER}\na.jpg,0,1,2,3", "line 2: no y2, label"),
        (f"{HEADER}\nb.jpg,0,1,2,3,4,female,", "line 2: no photo"),
        (f"{HEADER}\na.jpg,0,1,2,3,4,female,\na.jpg,0,1,2,3,4,male,", "line 3: face 0 of a"),
        ("photo;face;x1;y1;x2;y2;label\na.jpg;0;1;2;3;4;female", "the header lacks photo, face"),
        (HEADER, "no faces listed"),
    ],
)
def test_a_bad_box_list_is_refused_naming_its_line(tmp_path: Path, text: str, message: str):
    from train.prepare import prepare

    (tmp_path / "a.jpg").write_bytes(b"")  # read_boxes checks that the photo is there
    table = tmp_path / "boxes.csv"
    table.write_text(text + "\n")
    with pytest.raises(ValueError, match=message):
        prepare("gender_masked", [], tmp_path / "p", SIZE, boxes=[(table, tmp_path)])
    with pytest.raises(ValueError, match="not a folder of photos"):
        prepare("gender_masked", [], tmp_path / "p", SIZE, boxes=[(table, tmp_path / "none")])


def test_a_face_in_two_box_lists_is_refused(tmp_path: Path):
    from train.prepare import read_box_lists
    from train.tasks import TASKS

    (tmp_path / "a.jpg").write_bytes(b"")
    table = tmp_path / "boxes.csv"
    table.write_text("\ufeff" + HEADER + "\na.jpg,0,1,2,3,4,female,\n")  # a BOM is fine
    (faces,) = read_box_lists([(table, tmp_path)], TASKS["gender_masked"])
    assert faces[0].box == (1.0, 2.0, 3.0, 4.0) and faces[0].split is None
    with pytest.raises(ValueError, match="listed in two box lists: face 0 of a"):
        read_box_lists([(table, tmp_path), (table, tmp_path)], TASKS["gender_masked"])


def test_prepare_command_refuses_a_bad_box_list_in_one_line(tmp_path: Path, capsys):
    from train.__main__ import main

    table = tmp_path / "boxes.csv"
    table.write_text("photo,face,x1,y1,x2,y2,label\na.jpg,0,1,2,3,4,masked\n")
    command = ["prepare", "--task", "gender_masked", "--data", str(tmp_path), "--out"]
    assert main([*command, str(tmp_path / "p"), "--boxes", str(table), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "line 2" in err
    assert not (tmp_path / "p").exists()


def test_split_is_stable_and_keeps_a_photo_together():
    from train.prepare import split_of

    a = Path("faces_masked_gender/male/pengeye_cloth_0__12_.jpg")
    b = Path("faces_mask/with_mask/peng_cloth_0__12_.jpg")
    assert split_of(a) == split_of(b)
    people = {
        "lfw": [f"lfw_Jennifer_Aniston_{i:04d}.jpg" for i in range(1, 30)],
        "halfface": [f"halfface_p{n:03d}_{xy}m.jpg" for n in (7, 58) for xy in ("00", "11", "12")],
    }
    for names in people.values():  # one person, with or without a mask: one split
        by_person = {}
        for name in names:
            by_person.setdefault(name.rsplit("_", 1)[0], set()).add(split_of(Path(name)))
        assert all(len(found) == 1 for found in by_person.values())
    assert len({split_of(Path(f"lfw_Person_{i}_0001.jpg")) for i in range(50)}) == 3
    pinned = {  # the same on every machine and run: shipped metrics depend on it
        "utk_23_1_0_2017.jpg": "test",
        "gdf_1.jpg": "val",
        "lfw_Aaron_Eckhart_0001.jpg": "train",
        "halfface_p058_11m.jpg": "train",
    }
    assert {name: split_of(Path(name)) for name in pinned} == pinned
    splits = [split_of(Path(f"x_{i}.jpg")) for i in range(2000)]
    shares = {s: splits.count(s) / 2000 for s in ("train", "val", "test")}
    assert 0.65 < shares["train"] < 0.75 and 0.11 < shares["test"] < 0.19


def test_synthetic_mask_covers_mouth_not_eyes():
    from edge_runtime.image_io import load_image
    from edge_runtime.mtcnn import MTCNN
    from tests.conftest import TEST_DATA
    from train.prepare import main_face
    from train.synthetic_mask import draw_mask

    image = load_image(TEST_DATA / "female_image_without_mask.jpg")
    box, marks, found = main_face(MTCNN(detector="mtcnn"), image)
    masked = draw_mask(image, marks, box, np.random.default_rng(1))
    changed = np.abs(masked.astype(int) - image).sum(axis=2) > 30
    mouth = np.round(marks[3:].mean(axis=0)).astype(int)
    eye = np.round(marks[0]).astype(int)
    assert found and changed[mouth[1], mouth[0]] and not changed[eye[1], eye[0]]


@pytest.mark.parametrize("mirrored", [False, True])
def test_real_mask_templates_cover_nose_and_mouth_not_eyes(mirrored: bool):
    from edge_runtime.image_io import load_image
    from edge_runtime.mtcnn import MTCNN
    from tests.conftest import TEST_DATA
    from train.mask_templates import draw_template_mask, load_templates
    from train.prepare import main_face

    templates = load_templates(needs_shared(DATA / "mask_templates"))
    image = load_image(TEST_DATA / "female_image_without_mask.jpg")  # tilted, turned a bit
    if mirrored:
        image = np.ascontiguousarray(image[:, ::-1])
    _, marks, found = main_face(MTCNN(detector="mtcnn"), image)
    assert found
    eye_dist = float(np.linalg.norm(marks[1] - marks[0]))
    for seed in range(8):
        masked = draw_template_mask(image, marks, templates, np.random.default_rng(seed))
        changed = np.abs(masked.astype(int) - image).sum(axis=2) > 30
        mouth = np.round(marks[3:].mean(axis=0)).astype(int)
        below_nose = np.round(marks[2] + [0, 0.15 * eye_dist]).astype(int)
        for eye in np.round(marks[:2]).astype(int):
            assert not changed[eye[1], eye[0]], seed
        assert changed[mouth[1], mouth[0]] and changed[below_nose[1], below_nose[0]], seed


def test_a_face_turned_aside_gets_the_side_view():
    from train.mask_templates import YAW_SIDE, face_points, load_templates, pick_template

    templates = load_templates(needs_shared(DATA / "mask_templates"))
    eyes_mouth = np.array([[40, 50], [80, 50], [60, 75], [45, 95], [75, 95]], np.float32)
    for shift, suffix in ((-12, "_left"), (0, ""), (12, "_right")):
        marks = eyes_mouth.copy()
        marks[2, 0] += shift
        _, yaw = face_points(marks)
        assert (abs(yaw) > YAW_SIDE) == bool(suffix)
        names = {pick_template(templates, yaw, np.random.default_rng(k)).name for k in range(40)}
        assert (
            all(n.endswith(suffix) for n in names)
            if suffix
            else not any(n.endswith(("_left", "_right")) for n in names)
        )
        assert len(names) >= 4  # several kinds of mask, not one


@pytest.mark.slow
def test_fit_writes_model_metrics_and_pictures(trained: Path):
    metrics = json.loads((trained / "metrics.json").read_text())
    for name in ("model.keras", "labels.json", "confusion_matrix.png", "training_curves.png"):
        assert (trained / name).stat().st_size > 0
    test = metrics["test"]
    assert test["n"] == sum(map(sum, test["confusion_matrix"]))
    assert set(test["per_class"]) == {"WithMask", "WithoutMask"}
    assert test["per_source"] and 0.0 <= test["ci95"][0] <= test["accuracy"] <= test["ci95"][1]


@pytest.fixture(scope="module")
def exported(trained: Path, prepared: Path, tmp_path_factory) -> tuple:
    """The finished run exported to float32 ONNX (gated): its manifest entry and folder."""
    from export.classifier import export_classifier

    folder = tmp_path_factory.mktemp("exported")
    return export_classifier(trained / "model.keras", prepared, folder / "mask.onnx"), folder


@pytest.mark.slow
def test_export_passes_gate_and_is_listed(trained: Path, prepared: Path, exported: tuple):
    from edge_runtime.manifest import verified_classifier
    from export.classifier import export_classifier

    entry, folder = exported
    half = export_classifier(
        trained / "model.keras",
        prepared,
        folder / "mask_fp16.onnx",
        name="mask_fp16",
        weights="float16",
    )
    parity = entry.model.provenance["parity"]
    assert parity["float32"]["label_agreement"] == 1.0
    assert parity["float32"]["max_abs_dp"] <= 1e-4
    assert half.model.provenance["parity"]["float16_weights"]["label_agreement"] >= 0.999
    assert half.model.bytes < 0.6 * entry.model.bytes
    _, listed = verified_classifier(folder, "mask")
    assert listed.class_names == ("WithMask", "WithoutMask") and listed == entry

    from benchmarks.accuracy import compare_variants

    table = compare_variants(
        trained / "model.keras", prepared, [folder / "mask.onnx", folder / "mask_fp16.onnx"]
    )
    keras_row, fp32_row, _ = table["rows"]
    assert fp32_row["accuracy"] == keras_row["accuracy"]
    assert fp32_row["agreement_with_keras"] == 1.0


@pytest.mark.slow
def test_int8_quantizes_every_layer_but_the_stem_and_the_head(prepared: Path, exported: tuple):
    """Of the calibrations, the copy kept follows the float model best on the crops given;
    a data set too small to hold crops out keeps the first calibration's copy."""
    import onnx

    from export.classifier import closest_int8, onnx_probabilities
    from export.quantize import CALIBRATIONS, float_nodes, held_out_crops
    from train.prepare import load_split_images

    proto = onnx.load(str(exported[1] / "mask.onnx"))
    assert held_out_crops(prepared) is None  # 48 photos: all of train tops calibration up
    images, _ = load_split_images(prepared)
    float_p = onnx_probabilities(proto.SerializeToString(), images)
    int8, chosen = closest_int8(proto, prepared, float_p, images, 0.5, flip=False)
    scores = {name: (s["agree"], -s["mean_abs_dp"]) for name, s in chosen["held_out"].items()}
    assert set(scores) == set(CALIBRATIONS) and len(set(scores.values())) == 2  # copies differ
    assert scores[chosen["calibration"]] == max(scores.values())
    _, fallback = closest_int8(proto, prepared, None, None, 0.5, flip=False)
    assert fallback == {"calibration": next(iter(CALIBRATIONS)), "held_out": {}}
    producer = {out: node.op_type for node in int8.graph.node for out in node.output}
    weighted = {
        node.name: producer.get(node.input[1]) == "DequantizeLinear"
        for node in int8.graph.node
        if node.op_type in ("Conv", "MatMul", "Gemm")
    }
    kept = float_nodes(int8)
    node = {n.name: n for n in int8.graph.node}
    shapes = {t.name: list(t.dims) for t in int8.graph.initializer}
    # the stem reads the 3 colour channels; the head maps 1280 features to 128, then to 1
    assert [shapes[node[name].input[1]][1] for name in kept] == [3, 128, 1]
    assert not any(weighted[name] for name in kept)
    assert all(quantized for name, quantized in weighted.items() if name not in kept)
    images, _ = load_split_images(prepared)
    dp = onnx_probabilities(int8.SerializeToString(), images) - onnx_probabilities(
        proto.SerializeToString(), images
    )
    assert 0 < np.abs(dp).max() < 0.2


@pytest.mark.slow
def test_calibrate_then_export_carries_threshold_and_flip(
    trained: Path, prepared: Path, tmp_path: Path
):
    import shutil

    from edge_runtime.classifier import Classifier
    from export.classifier import export_classifier
    from train.calibrate import GRID, calibrate

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    chosen = calibrate(run, prepared)
    labels = json.loads((run / "labels.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert labels["threshold"] == chosen["threshold"] and chosen["threshold"] in GRID
    assert (
        labels["flip"]
        == chosen["flip"]
        == (chosen["val_accuracy_flip"] - chosen["val_accuracy_plain"] >= 0.005)
    )
    assert metrics["calibration"] == chosen and "test_at_0.5_no_flip" in metrics

    labels["flip"] = True  # exported with flip averaging, whatever was chosen
    (run / "labels.json").write_text(json.dumps(labels))
    entry = export_classifier(run / "model.keras", prepared, tmp_path / "m" / "mask.onnx")
    assert entry.test_time_flip is True and entry.threshold == chosen["threshold"]
    assert entry.model.provenance["parity"]["float32"]["label_agreement"] == 1.0
    classifier = Classifier(tmp_path / "m", "mask")
    crops = np.random.default_rng(0).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    single = classifier._run(crops.astype(np.float32))
    mirrored = classifier._run(crops[:, :, ::-1].astype(np.float32))
    assert classifier.flip and np.allclose(classifier.predict(crops), (single + mirrored) / 2)


def fit_command(data: Path, run: Path, epochs: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "train",
        "fit",
        "--task",
        "mask",
        "--data",
        str(data),
        "--out",
        str(run),
        "--epochs",
        str(epochs),
        "--batch-size",
        "8",
        "--patience",
        "9",
        *extra,
    ]


@pytest.mark.slow
def test_killed_training_resumes_from_last_epoch(resumed: tuple[Path, list[int], bool]):
    run, done, had_backup = resumed  # killed after its first epoch of 2, then run again
    assert done and len(done) < 2 and had_backup
    epochs = logged_epochs(run / "history.csv")
    assert epochs == [0, 1], f"expected a continuation after epoch {done[-1]}, got {epochs}"


def test_repeat_real_only_where_synthetic_masks_are_mixed_in():
    from train.fit import repeat_real
    from train.prepare import is_real

    mixed = [{"synthetic": "1"}, {"synthetic": "0"}, {"synthetic": "1"}]
    assert len(repeat_real(mixed, [is_real(r) for r in mixed], 3)) == 5
    real = [{"synthetic": "0"}] * 4
    assert repeat_real(real, [is_real(r) for r in real], 3) == real


@pytest.mark.slow
def test_gpu_scripts_train_from_the_shipped_model_and_bring_back_a_run(
    prepared: Path, trained: Path, tmp_path: Path
):
    """The GPU call on this machine's backend: `scripts/gpu_bundle.sh` (pack train and val,
    the shipped model, sha256-summed parts) -> `scripts/gpu_train.sh` (unpack, fit on the
    .npz from `models/mask.onnx`, float16 parts into $OUT) -> a run folder here that loads
    (model.keras rebuilt from the parts) like a folder run's. The fit runs under the mirrored
    strategy on two logical CPUs (`--distribute mirrored`) too, so that strategy needs no
    training run of its own."""
    from PIL import Image

    from train.packed import load_packed, pack
    from train.run_model import PART_BYTES, load_run_model

    pack(prepared, tmp_path / "mask.npz")
    packed = load_packed(tmp_path / "mask.npz")
    rows = read_csv(prepared / "index.csv")
    assert len(packed["label"]) == len(rows)
    first = np.asarray(Image.open(prepared / rows[0]["file"]).convert("RGB"), np.float32)
    assert np.abs(packed["image"][0] - first).mean() < 3  # JPEG quality 95

    gpu, out, back = tmp_path / "gpu", tmp_path / "out", tmp_path / "back"
    env = {**os.environ, "PYTHON": sys.executable, "GPU_WHEELS": "0", "GPU_PART_SIZE": "8M"}
    bundle = ["bash", "scripts/gpu_bundle.sh", str(gpu), f"mask={prepared}"]
    made = subprocess.run(bundle, cwd=ROOT, env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr[-2000:]
    swapped = [*bundle[:2], str(tmp_path / "swapped"), f"gender_masked={prepared}"]
    refused = subprocess.run(swapped, cwd=ROOT, env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "prepared for mask" in refused.stderr
    assert len(list(gpu.glob("part*"))) >= 3  # the shipped model alone is 23 MB

    def gpu_train(folder: Path, out: Path, *fetch: str) -> subprocess.CompletedProcess:
        out.mkdir()
        command = ["bash", "scripts/gpu_train.sh", str(folder), *fetch]
        return subprocess.run(
            command, cwd=ROOT, env=env | {"OUT": str(out)}, capture_output=True, text=True
        )

    damaged = tmp_path / "damaged"
    shutil.copytree(gpu, damaged)
    with open(damaged / "part01", "r+b") as part:
        part.seek(1000)
        byte = part.read(1)
        part.seek(1000)
        part.write(bytes([byte[0] ^ 1]))
    refused = gpu_train(damaged, tmp_path / "out_damaged")
    assert refused.returncode != 0 and "FAILED" in refused.stdout + refused.stderr
    assert not (damaged / "bundle").exists()

    # 3 epochs asked, but a time limit (minutes) that the first epoch already passes
    flags = "--epochs 3 --batch-size 8 --time-limit 0.001 --distribute mirrored"
    env |= {"KERAS_BACKEND": "tensorflow", "GPU_FIT_ARGS": flags}
    result = gpu_train(gpu, out)
    log = (out / "mask.log").read_text()
    assert result.returncode == 0, result.stdout[-1000:] + log[-2000:]
    assert "started from" in log and "num_replicas_in_sync=2" in log and "arrays" in log

    train_val = load_packed(gpu / "bundle" / "mask.npz")
    assert len(train_val["label"]) == sum(r["split"] != "test" for r in rows)
    assert set(train_val["split"].tolist()) == {0, 1}
    run = gpu / "runs" / "mask"
    assert logged_epochs(run / "history.csv") == [0]
    assert {p.name for p in trained.iterdir()} <= {p.name for p in run.iterdir()}
    metrics = json.loads((run / "metrics.json").read_text())
    assert "val" in metrics and "test" not in metrics

    back.mkdir()
    subprocess.run(["tar", "-xzf", str(out / "mask" / "run.tar.gz"), "-C", str(back)], check=True)
    fetched = gpu_train(gpu, tmp_path / "fetched", "fetch", "mask")
    assert fetched.returncode == 0, fetched.stderr[-2000:]
    assert {p.name for p in (tmp_path / "fetched" / "mask").iterdir()} == {
        p.name for p in (out / "mask").iterdir()
    }
    untrained = gpu_train(gpu, tmp_path / "untrained", "fetch", "gender_masked")
    assert untrained.returncode == 1 and "gender_masked has no trained run" in untrained.stderr
    assert not any((tmp_path / "untrained").iterdir())
    parts = sorted((out / "mask").glob("weights16.npz.part*"))
    assert parts and all(p.stat().st_size <= PART_BYTES for p in parts)
    for part in parts:
        shutil.copy(part, back / part.name)
    assert {"config.json", "labels.json", "metrics.json", "history.csv"} <= {
        p.name for p in back.iterdir()
    }
    assert not (back / "model.keras").exists()
    images = packed["image"][packed["split"] == 2].astype(np.float32)
    original = load_run_model(run).predict(images, verbose=0).reshape(-1)
    rebuilt = load_run_model(back).predict(images, verbose=0).reshape(-1)
    assert (back / "model.keras").exists()
    assert np.abs(rebuilt - original).max() < 0.02  # float16 weights
