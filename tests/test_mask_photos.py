"""`benchmarks.mask_photos`: whole photos through the real Pipeline, in colour and grey."""

from __future__ import annotations

from benchmarks.mask_photos import measure, photo_sets, to_markdown
from edge_runtime.manifest import DEFAULT_MODELS_DIR
from tests.conftest import TEST_DATA


def test_each_set_is_counted_in_colour_and_grey_with_the_faces_found():
    sets = {
        "masked": ([TEST_DATA / "male_image_with_mask.jpg"], "WithMask"),
        "unmasked": ([TEST_DATA / "female_image_without_mask.jpg"], "WithoutMask"),
    }
    rows = measure([DEFAULT_MODELS_DIR], sets)["rows"]
    assert [(r["set"], r["crops"]) for r in rows] == [
        ("masked", "colour"),
        ("masked", "grey"),
        ("unmasked", "colour"),
        ("unmasked", "grey"),
    ]
    colour = [r for r in rows if r["crops"] == "colour"]
    assert all(r["photos"] == r["found"] == r["right"] == 1 for r in colour)
    assert "| masked | WithMask | colour | 1 | 1 | 1 (100.0%) |" in to_markdown({"rows": rows})


def test_the_photo_sets_hold_no_mask_training_photos_and_are_seeded(shared_data):
    data = shared_data
    sets = photo_sets(data, sample=20)
    assert sets == photo_sets(data, sample=20)
    assert len(sets["lfw"][0]) == len(sets["utk"][0]) == 20
    assert len(sets["halfface masked"][0]) > 200 and len(sets["halfface unmasked"][0]) > 200
    every = [p for files, _ in sets.values() for p in files]
    assert not any("faces_mask" in p.parts for p in every)
