"""benchmarks.scenes on real annotated webcam frames, in colour and grey (--grey)."""

import json

import pytest

from benchmarks.scenes import main


def scenes(folder, out, *extra: str) -> dict:
    argv = [str(folder), "--split", "val", "--detectors", "finetuned", "--faces-only"]
    assert main([*argv, *extra, "--out", str(out)]) == 0
    return json.loads(out.with_suffix(".json").read_text())


def test_grey_photos_are_measured_on_the_same_faces(shared_data, tmp_path):
    folder = shared_data / "scenes_webcam"
    colour = scenes(folder, tmp_path / "colour")
    grey = scenes(folder, tmp_path / "grey", "--grey")
    assert (colour["grey"], grey["grey"]) == (False, True)
    assert "grey" in (tmp_path / "grey.md").read_text().splitlines()[0]
    sizes = colour["results"][0]["by_size"]
    grey_sizes = grey["results"][0]["by_size"]
    assert sum(c["faces"] for c in sizes.values()) > 0
    assert {k: c["faces"] for k, c in sizes.items()} == {
        k: c["faces"] for k, c in grey_sizes.items()
    }
    found = [sum(c["found@0.5"] for c in r.values()) for r in (sizes, grey_sizes)]
    assert found[0] > 0 and found[1] != found[0]  # the detector saw other photos


def test_a_folder_without_annotated_photos_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path), "--out", str(tmp_path / "r")])
    assert stop.value.code == 2
    assert "no annotated photos" in capsys.readouterr().err
