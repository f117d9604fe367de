"""`benchmarks.seed_canvases`: seed photos pasted on flat canvases, through the real Pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.seed_canvases import (
    CANVAS_LEVELS,
    main,
    measure,
    on_canvas,
    seed_photos,
    to_markdown,
    truth,
)
from edge_runtime.image_io import load_image
from edge_runtime.manifest import DEFAULT_MODELS_DIR
from tests.conftest import TEST_DATA


def test_the_photo_sits_on_a_flat_canvas_where_asked():
    photo = load_image(TEST_DATA / "male_image_without_mask.jpg")
    canvas = on_canvas(photo, 128, pad=40, at=(10, 30))
    height, width = photo.shape[:2]
    assert canvas.shape == (height + 40, width + 40, 3) and canvas.dtype == np.uint8
    assert np.array_equal(canvas[30 : 30 + height, 10 : 10 + width], photo)
    inside = np.zeros(canvas.shape[:2], bool)
    inside[30 : 30 + height, 10 : 10 + width] = True
    assert (canvas[~inside] == 128).all()


def test_the_seed_photos_and_their_truth_come_from_the_file_names():
    names = [p.name for p in seed_photos(TEST_DATA)]
    assert len(names) == 8 and names[0] == "female_image_with_mask.jpg"
    assert truth("female_image_with_mask_cropped.jpg") == ("WithMask", "Female")
    assert truth("male_image_without_mask.jpg") == ("WithoutMask", "Male")


def test_one_photo_alone_and_on_every_canvas_through_the_shipped_models():
    result = measure([DEFAULT_MODELS_DIR], [TEST_DATA / "male_image_with_mask.jpg"])
    rows = result["rows"]
    assert [r["canvas"] for r in rows] == [None, *CANVAS_LEVELS]
    assert all(r["gender"] is not None for r in rows)  # a face is found on every canvas
    assert rows[0]["right"] and rows[0]["mask_label"] == "WithMask"
    table = to_markdown(result)
    wrong = sum(not r["right"] for r in rows[1:])
    assert f"| `{DEFAULT_MODELS_DIR}` | 0 of 1 | {wrong} of 4 |" in table


def test_a_photo_that_does_not_fit_its_canvas_is_refused_and_no_wrong_case_says_so():
    photo = load_image(TEST_DATA / "male_image_without_mask.jpg")
    with pytest.raises(ValueError, match="does not fit"):
        on_canvas(photo, 128, pad=40, at=(50, 0))
    row = {"models": "m", "photo": "p.jpg", "canvas": None, "right": True}
    table = to_markdown({"photos": ["p.jpg"], "levels": [], "rows": [row]})
    assert table.rstrip().endswith("No case wrong.")


def test_a_folder_that_is_no_models_folder_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--models", str(tmp_path), "--out", str(tmp_path / "r")])
    assert stop.value.code == 2
    assert str(tmp_path) in capsys.readouterr().err
    assert not (tmp_path / "r.md").exists()
