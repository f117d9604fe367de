"""`python -m train review`'s sheets: what each numbered tile shows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import TEST_DATA

RED = (255, 0, 0)


def test_a_box_list_face_is_shown_as_its_crop_and_a_face_photo_whole(tmp_path: Path):
    from train.label_review import TILE, write_review
    from train.prepare import from_box_list

    photo = TEST_DATA / "male_image_with_mask.jpg"
    crop = tmp_path / "val" / "Male" / "street_face2.png"
    crop.parent.mkdir(parents=True)
    Image.fromarray(np.full((64, 64, 3), RED, np.uint8)).save(crop)
    rows = [
        {"file": f"val/Male/{name}", "crop": str(tmp_path / "val" / "Male" / name)}
        for name in ("male_image_with_mask.png", crop.name)
    ]
    for row, origin in zip(rows, (photo, tmp_path / "street.jpg"), strict=True):
        row.update(origin=str(origin), label="Male", p=0.1, loss=2.3, source="x", split="val")
    assert [from_box_list(r) for r in rows] == [False, True]
    named_so = {"file": "train/Male/selfie_face2.png", "origin": "photos/selfie_face2.jpg"}
    assert not from_box_list(named_so)  # a photo's own name may end so
    (sheet,) = write_review(rows, tmp_path / "review", 2, "Male")
    tiles = np.asarray(Image.open(sheet).convert("RGB"))
    whole, face = tiles[:TILE, :TILE], tiles[:TILE, TILE : 2 * TILE]
    assert (face[8:-8, 8:-8] == RED).all()
    expected = Image.open(photo).convert("RGB")
    expected.thumbnail((TILE, TILE))
    assert np.array_equal(whole[: expected.height, : expected.width], np.asarray(expected))
    ranked = (tmp_path / "review" / "ranked.csv").read_text().splitlines()
    assert len(ranked) == 3 and ranked[2].endswith(",street_face2.png")  # a name for --exclude
    assert ranked[0].split(",")[3] == "p_Male"
