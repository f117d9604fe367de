"""`python -m train` and `python -m export` refuse input they cannot use in one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    """An empty folder, a run folder with a broken labels.json, a photo folder without class
    folders and one with (its photo is never read: the inputs are checked first)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "run"
    broken.mkdir()
    (broken / "labels.json").write_text("{")
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "face.jpg").write_bytes(b"")
    masked = tmp_path / "photos" / "WithMask"
    masked.mkdir(parents=True)
    (masked / "face.jpg").write_bytes(b"")
    no_val = tmp_path / "no_val"  # a prepared folder whose faces are all training faces
    no_val.mkdir()
    (no_val / "prepare.json").write_text('{"task": "mask", "size": 32, "margin": 0.2}')
    (no_val / "index.csv").write_text(
        "file,label,split,source,origin,face_found,synthetic\n"
        "train/WithMask/a.png,WithMask,train,x,a.jpg,1,0\n"
    )
    wide = tmp_path / "wide"  # a run trained on crops of another margin than no_val's
    wide.mkdir()
    (wide / "labels.json").write_text(
        '{"task": "mask", "class_names": ["WithMask", "WithoutMask"], "input_size": 32, '
        '"margin": 0.5}'
    )
    bare = tmp_path / "bare"  # a run whose labels.json lacks what every command reads
    bare.mkdir()
    (bare / "labels.json").write_text('{"task": "mask"}')
    no_model = tmp_path / "no_model"  # a run's labels.json, matching no_val, without a model
    no_model.mkdir()
    (no_model / "labels.json").write_text(
        '{"task": "mask", "class_names": ["WithMask", "WithoutMask"], "input_size": 32}'
    )
    voc = tmp_path / "voc"  # a scenes folder: one annotation (never read: checks come first)
    (voc / "annotations").mkdir(parents=True)
    (voc / "annotations" / "a.xml").write_text("<annotation/>")
    not_onnx = tmp_path / "model.onnx"
    not_onnx.write_bytes(b"\x0f" * 64)
    return {
        "empty": empty,
        "run": broken,
        "wide": wide,
        "not_onnx": not_onnx,
        "bare": bare,
        "no_model": no_model,
        "loose": loose,
        "masked": masked.parent,
        "no_val": no_val,
        "voc": voc,
        "out": tmp_path / "out",
    }


CASES = [
    ("prepare --task mask --data {loose} --out {out}", "no photos in folders"),
    ("prepare --task mask --out {out}", "nothing to prepare"),
    ("pack --data {empty} --out {out}.npz", "not a folder written by"),
    ("calibrate --run {run} --data {empty}", "labels.json: not valid JSON"),
    ("calibrate --run {wide} --data {no_val}", "32 px at margin 0.2; the model was trained on"),
    ("soup --runs {empty} {run} --out {out}", "not a run folder"),
    ("sheet --data {empty} --out {out}.png", "no photos in folders"),
    ("card --runs {empty}", "no finished runs"),
    (
        "prepare --task mask --data {masked} --exclude {run}/labels.json --out {out}",
        "needs a header with a `file` column",
    ),
    (
        "fit --task mask --data {empty} --init-from {run}/labels.json --out {out}",
        "--init-from takes a .keras model or an .onnx file",
    ),
    ("fit --task mask --data {no_val} --out {out}", "no real val faces"),
    ("fit --task mask --data {no_val} --init-from {not_onnx} --out {out}", "not an ONNX file"),
    ("failures --run {wide} --data {no_val}", "the model was trained on mask crops of 32 px"),
    ("calibrate --run {bare} --data {no_val}", "labels.json: class_names, input_size missing"),
    ("calibrate --run {no_model} --data {no_val}", "no_model: no model.keras (nor weights16"),
    ("failures --run {no_model} --data {no_val}", "no model.keras"),
    ("review --model {run}/labels.json --data {no_val} --out {out}", "an exported .onnx"),
    ("calibrate --model {run}/labels.json --data {no_val}", "not an exported classifier"),
    ("calibrate --model {not_onnx} --data {no_val}", "not a models folder"),
    ("detector --scenes {empty} --out {out}", "no annotations/*.xml"),
    ("pnet --scenes {empty} --out {out}", "no annotations/*.xml"),
    ("detector --scenes {voc} --init-from {empty} --out {out}", "not a models folder"),
    ("detector --scenes {voc} --keep-boxes --out {out}", "give both"),
]


@pytest.mark.parametrize(
    ("argv", "words"), CASES, ids=[f"{i}-{c[0].split()[0]}" for i, c in enumerate(CASES)]
)
def test_train_command_refuses_a_wrong_folder_in_one_line(
    folders: dict[str, Path], capsys, argv: str, words: str
):
    from train.__main__ import main

    assert main(argv.format(**folders).split()) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and words in err
    assert not folders["out"].exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "fit", "--task", "mask", "--data", "missing", "--out", "x"],
        ["train", "card", "--runs", "missing"],
        ["export", "model", "--keras", "missing.keras", "--data", ".", "--out", "x.onnx"],
    ],
    ids=["fit", "card", "export"],
)
def test_a_missing_input_path_is_a_usage_error(tmp_path: Path, capsys, argv: list[str]):
    import importlib

    main = importlib.import_module(f"{argv[0]}.__main__").main
    with pytest.raises(SystemExit) as stop:
        main([a.replace("missing", str(tmp_path / "missing")) for a in argv[1:]])
    assert stop.value.code == 2
    assert "missing" in capsys.readouterr().err.splitlines()[-1]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ("prepare --task mask --data . --margin -0.1 --out x", "-0.1 is not between 0.0 and 3.0"),
        ("pack --data . --out x.npz --quality 101", "101 is not between 1 and 100"),
        ("fit --task mask --data . --out x --epochs 0", "0 is not at least 1"),
        ("fit --task mask --data . --out x --grayscale 1.5", "1.5 is not between 0 and 1"),
    ],
    ids=["margin", "quality", "epochs", "grayscale"],
)
def test_an_option_out_of_range_is_a_usage_error(capsys, argv: str, words: str):
    from train.__main__ import main

    with pytest.raises(SystemExit) as stop:
        main(argv.split())
    assert stop.value.code == 2 and words in capsys.readouterr().err.splitlines()[-1]


def test_export_refuses_a_model_outside_a_run_folder(folders: dict[str, Path], capsys):
    from export.__main__ import main

    keras_file = folders["empty"] / "model.keras"
    keras_file.write_bytes(b"")
    argv = ["model", "--keras", str(keras_file), "--data", str(folders["empty"]), "--out"]
    assert main([*argv, str(folders["out"])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a run folder" in err


def test_an_empty_onnx_file_is_named_as_such(tmp_path: Path):
    from train.onnx_classifier import OnnxGraphError, onnx_input_size

    empty = tmp_path / "model.onnx"
    empty.write_bytes(b"")
    with pytest.raises(OnnxGraphError, match=r"model\.onnx: not an ONNX file"):
        onnx_input_size(empty)
