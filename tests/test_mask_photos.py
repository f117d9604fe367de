"""`benchmarks.mask_photos`: images through the real Pipeline, in colour and grey."""

from __future__ import annotations

import pytest

from benchmarks.mask_photos import main, measure, photo_sets, to_markdown
from edge_runtime.manifest import DEFAULT_MODELS_DIR
from tests.conftest import TEST_DATA


def test_each_set_is_counted_in_colour_and_grey_with_unreadable_files_apart(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    sets = {
        "masked": ([TEST_DATA / "male_image_with_mask.jpg", broken], "WithMask"),
        "unmasked": ([TEST_DATA / "female_image_without_mask.jpg"], "WithoutMask"),
    }
    rows = measure([DEFAULT_MODELS_DIR], sets)
    assert [(r["set"], r["crops"]) for r in rows] == [
        ("masked", "colour"),
        ("masked", "grey"),
        ("unmasked", "colour"),
        ("unmasked", "grey"),
    ]
    masked = rows[0]
    assert (masked["photos"], masked["unreadable"], masked["found"], masked["right"]) == (
        2,
        1,
        1,
        1,
    )
    assert rows[2]["found"] == rows[2]["right"] == 1
    table = to_markdown(rows)
    assert "| masked | WithMask | colour | 2 | 1 | 1 | 1 (100.0%) |" in table
    none_found = to_markdown([{**masked, "found": 0, "right": 0}])
    assert none_found.rstrip().endswith("| 0 | 0 |") and "nan" not in none_found


def test_a_folder_without_the_sets_or_a_sample_below_one_is_a_usage_error(tmp_path, capsys):
    for argv in (
        ["--data", str(tmp_path), "--out", str(tmp_path / "r")],
        ["--data", str(tmp_path), "--sample", "0", "--out", str(tmp_path / "r")],
    ):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2
    assert "no images for halfface masked" in capsys.readouterr().err
    assert not (tmp_path / "r.md").exists()


def test_a_folder_that_is_no_models_folder_is_a_usage_error(tmp_path, shared_data, capsys):
    argv = ["--data", str(shared_data), "--models", str(tmp_path), "--out", str(tmp_path / "r")]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert str(tmp_path) in capsys.readouterr().err
    assert not (tmp_path / "r.md").exists()


def test_the_samples_are_seeded_and_of_the_size_asked(shared_data):
    sets = photo_sets(shared_data, sample=20)
    assert sets == photo_sets(shared_data, sample=20)
    assert sets["lfw"] != photo_sets(shared_data, sample=20, seed=1)["lfw"]
    assert len(sets["lfw"][0]) == len(sets["utk"][0]) == 20
    assert all(p.name.startswith("lfw_") for p in sets["lfw"][0])
    assert len(sets["halfface masked"][0]) > 200 and len(sets["halfface unmasked"][0]) > 200
