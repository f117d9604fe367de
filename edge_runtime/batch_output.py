"""A batch job's output: Parquet tables of faces and inputs, written in parts that resume.

`DIR/faces/part-*.parquet` has a row per face, `DIR/inputs/part-*.parquet` a row per image
or video frame. A part is committed when its inputs file appears (each file is written
under a temporary name and renamed, faces first), so a job stopped at any point and run
again skips exactly the inputs already committed: no row is lost or written twice.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

FACE_FIELDS = (
    "source",
    "frame",
    "face",
    "x1",
    "y1",
    "x2",
    "y2",
    "confidence",
    "landmarks",
    "mask",
    "p_mask",
    "gender",
    "p_gender",
    "mask_model",
    "gender_model",
)
INPUT_FIELDS = ("source", "frame", "width", "height", "faces", "error")


def face_schema():
    """Arrow schema of the faces table: box x1 y1 x2 y2 in pixels, landmarks as 10 numbers
    (x, y of left eye, right eye, nose, mouth left, mouth right), probabilities as the CLI's
    JSON gives them (p_mask of a mask, p_gender of the gender given), model versions as the
    first 12 hex digits of each file's sha256."""
    import pyarrow as pa

    return pa.schema(
        [
            ("source", pa.string()),
            ("frame", pa.int64()),
            ("face", pa.int32()),
            ("x1", pa.float32()),
            ("y1", pa.float32()),
            ("x2", pa.float32()),
            ("y2", pa.float32()),
            ("confidence", pa.float32()),
            ("landmarks", pa.list_(pa.float32(), 10)),
            ("mask", pa.bool_()),
            ("p_mask", pa.float64()),
            ("gender", pa.string()),
            ("p_gender", pa.float64()),
            ("mask_model", pa.string()),
            ("gender_model", pa.string()),
        ]
    )


def input_schema():
    """Arrow schema of the inputs table: one row per photo or video frame (frame null for a
    photo), its size, how many faces it holds, and why it failed (null when it did not)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("source", pa.string()),
            ("frame", pa.int64()),
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("faces", pa.int32()),
            ("error", pa.string()),
        ]
    )


class PartWriter:
    """Writes committed parts under `out` and knows which inputs are already there."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.faces_dir, self.inputs_dir = self.out / "faces", self.out / "inputs"
        self.faces_dir.mkdir(parents=True, exist_ok=True)
        self.inputs_dir.mkdir(parents=True, exist_ok=True)
        self._drop_uncommitted()

    def _drop_uncommitted(self) -> None:
        """Remove temporary files and face parts whose inputs part never landed."""
        for tmp in [*self.faces_dir.glob(".*.tmp"), *self.inputs_dir.glob(".*.tmp")]:
            tmp.unlink(missing_ok=True)
        committed = {p.name for p in self.inputs_dir.glob("part-*.parquet")}
        for part in self.faces_dir.glob("part-*.parquet"):
            if part.name not in committed:
                part.unlink()

    def done(self) -> dict[str, set[int | None]]:
        """source -> the frames already written (None stands for a photo)."""
        import pyarrow.parquet as pq

        written: dict[str, set[int | None]] = {}
        for part in sorted(self.inputs_dir.glob("part-*.parquet")):
            table = pq.read_table(part, columns=["source", "frame"])
            for source, frame in zip(
                table.column("source").to_pylist(), table.column("frame").to_pylist(), strict=True
            ):
                written.setdefault(source, set()).add(frame)
        return written

    def write(self, inputs: list[dict[str, Any]], faces: list[dict[str, Any]]) -> None:
        """Commit one part: its faces file, then its inputs file."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not inputs:
            return
        name = f"part-{uuid.uuid4().hex}.parquet"
        for folder, rows, schema in (
            (self.faces_dir, faces, face_schema()),
            (self.inputs_dir, inputs, input_schema()),
        ):
            tmp = folder / f".{name}.tmp"
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp)
            os.replace(tmp, folder / name)


def read_tables(out: Path):
    """(faces, inputs) as pyarrow Tables, every committed part of a job's output."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    tables = []
    for folder, schema in (("faces", face_schema()), ("inputs", input_schema())):
        parts = sorted((out / folder).glob("part-*.parquet"))
        tables.append(
            pa.concat_tables([pq.read_table(p, schema=schema) for p in parts])
            if parts
            else schema.empty_table()
        )
    return tables[0], tables[1]


def differences(a: Path, b: Path, tolerance: float = 1e-6, limit: int = 10) -> list[str]:
    """How two jobs' outputs differ (empty when they hold the same inputs and faces, labels
    equal, numbers within `tolerance`); also where an input or face is written twice."""
    found: list[str] = []
    keyed = []
    for out in (a, b):
        faces, inputs = read_tables(out)
        face_rows = {(r["source"], r["frame"], r["face"]): r for r in faces.to_pylist()}
        input_rows = {(r["source"], r["frame"]): r for r in inputs.to_pylist()}
        if len(face_rows) < faces.num_rows or len(input_rows) < inputs.num_rows:
            found.append(f"{out}: a row written twice")
        keyed.append((face_rows, input_rows))
    (faces_a, inputs_a), (faces_b, inputs_b) = keyed
    for key in sorted(inputs_a.keys() ^ inputs_b.keys(), key=str):
        found.append(f"input {key} in one output only")
    for key in sorted(inputs_a.keys() & inputs_b.keys(), key=str):
        if inputs_a[key] != inputs_b[key]:
            found.append(f"input {key}: {inputs_a[key]} != {inputs_b[key]}")
    for key in sorted(faces_a.keys() ^ faces_b.keys(), key=str):
        found.append(f"face {key} in one output only")
    for key in sorted(faces_a.keys() & faces_b.keys(), key=str):
        for field, value in faces_a[key].items():
            other = faces_b[key][field]
            if isinstance(value, float) and isinstance(other, float):
                same = abs(value - other) <= tolerance
            elif isinstance(value, list) and isinstance(other, list):
                same = np.allclose(value, other, atol=tolerance, rtol=0)
            else:
                same = value == other
            if not same:
                found.append(f"face {key} {field}: {value} != {other}")
    return found[:limit]


def summarize(out: Path, seconds: float, processed: int) -> dict[str, Any]:
    """Counts over the whole output (inputs, errors, faces, masks, genders) and this run's
    images per second."""
    faces, inputs = read_tables(out)
    errors = [e for e in inputs.column("error").to_pylist() if e is not None]
    masks = faces.column("mask").to_pylist()
    genders = faces.column("gender").to_pylist()
    return {
        "inputs": inputs.num_rows,
        "errors": len(errors),
        "faces": faces.num_rows,
        "with_mask": sum(m is True for m in masks),
        "without_mask": sum(m is False for m in masks),
        "gender": {g: genders.count(g) for g in sorted({g for g in genders if g is not None})},
        "processed_this_run": processed,
        "seconds": round(seconds, 2),
        "images_per_second": round(processed / seconds, 2) if seconds > 0 else None,
    }


def summary_lines(summary: dict[str, Any], out: Path) -> list[str]:
    """The end-of-job summary for people."""
    genders = ", ".join(f"{g} {n}" for g, n in summary["gender"].items()) or "none"
    rate = summary["images_per_second"]
    return [
        f"inputs: {summary['inputs']} (errors: {summary['errors']}); faces: "
        f"{summary['faces']} (with a mask {summary['with_mask']}, without "
        f"{summary['without_mask']}; {genders})",
        f"this run: {summary['processed_this_run']} images, {summary['seconds']} s"
        + (f", {rate} images/s" if rate else ""),
        f"written to {out}/faces and {out}/inputs (Parquet)",
    ]


def flatten(records: Iterable[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """Input rows and face rows from records that carry their faces under "detections"."""
    inputs, faces = [], []
    for record in records:
        inputs.append({k: record[k] for k in INPUT_FIELDS})
        faces.extend(record["detections"] or [])
    return inputs, faces
