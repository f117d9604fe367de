"""int8 calibration rows: the crops that top calibration up and those held out to compare
calibrations never overlap, and a small data set leaves none held out."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from export.quantize import CALIBRATION_CROPS, HELD_OUT_CROPS, training_rows_for
from train.prepare import INDEX_FIELDS


def write_index(folder: Path, val: int, real: int, synthetic: int) -> Path:
    def row(name: str, split: str, synthetic: str) -> dict:
        return {"file": f"{split}/{name}.png", "split": split, "synthetic": synthetic}

    rows = [row(f"v{i}", "val", "0") for i in range(val)]
    rows += [row(f"r{i}", "train", "0") for i in range(real)]
    rows += [row(f"s{i}", "train", "1") for i in range(synthetic)]
    with open(folder / "index.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=INDEX_FIELDS, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return folder


@pytest.mark.parametrize(
    ("val", "real", "top_up", "held_out"),
    [(100, 2000, CALIBRATION_CROPS - 100, HELD_OUT_CROPS), (300, 500, 0, 500), (10, 40, 40, 0)],
)
def test_top_up_and_held_out_rows_are_real_and_disjoint(tmp_path, val, real, top_up, held_out):
    first, second = training_rows_for(write_index(tmp_path, val, real, synthetic=50))
    assert (len(first), len(second)) == (top_up, held_out)
    files = [r["file"] for r in first + second]
    assert len(set(files)) == len(files) and all("/r" in f for f in files)
    assert training_rows_for(tmp_path) == (first, second)  # the same rows on every export
