"""`python -m benchmarks.options_ab`: both settings run on every photo and are reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TEST_DATA


def test_options_ab_reports_both_settings_for_every_photo(tmp_path: Path):
    from benchmarks.options_ab import main

    photo = TEST_DATA / "female_image_with_mask.jpg"
    out = tmp_path / "ab"
    assert main([str(photo), "--set", "no_flip=true", "--calls", "3", "--out", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["changes"] == {"no_flip": True}
    (row,) = result["rows"]
    assert (row["faces"], row["masked"]) == (1, 1)
    assert row["default"]["median_ms"] > 0 and row["changed"]["median_ms"] > 0
    assert "no_flip=True" in out.with_suffix(".md").read_text()


@pytest.mark.parametrize("bad", ["no_flip", "detector=mtcnn", "min_face=x", "annotated=true"])
def test_options_ab_refuses_what_cannot_change_per_photo(bad: str, capsys):
    from benchmarks.options_ab import main

    with pytest.raises(SystemExit) as stop:
        main([str(TEST_DATA / "female_image_with_mask.jpg"), "--set", bad])
    assert stop.value.code == 2 and "error:" in capsys.readouterr().err
