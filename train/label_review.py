"""`python -m train review`: the training and validation faces a model finds least likely,
ranked by loss, as numbered contact sheets to judge by eye.

The most confident mistakes of a good model are mostly wrong labels. A person looks at
the sheets and writes the numbers that are mislabelled into an exclusion CSV (file,
reason) for `prepare --exclude`; the test split is never reviewed, so test accuracy
before and after stays comparable.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from edge_runtime.crop import DEFAULT_MARGIN
from train.inputs import InputError, read_prepared
from train.prepare import from_box_list, load_crops, read_index

TILE = 112
COLUMNS = 10
PER_SHEET = 100


def rank_by_loss(model: Path, data: Path, splits: tuple[str, ...] = ("train", "val")) -> list[dict]:
    """Real (not synthetic) faces of `splits`, highest binary cross-entropy first, each row
    with its probability p (of the second class) and loss. Crops of another size than the
    model's input are resized to it."""
    import cv2

    from edge_runtime.sessions import create_session
    from train.prepare import is_real

    if Path(model).suffix != ".onnx":
        raise InputError(f"{model}: review takes an exported .onnx classifier")
    prepared = read_prepared(data)
    names = prepared["class_names"]
    rows = [r for r in read_index(data) if r["split"] in splits and is_real(r)]
    session = create_session(model)
    size = int(session.get_inputs()[0].shape[1])
    margin = session.get_modelmeta().custom_metadata_map.get("crop_margin")
    cut_at = prepared.get("margin", DEFAULT_MARGIN)
    if margin is not None and float(margin) != cut_at:
        raise InputError(
            f"{data}: crops at margin {cut_at}; {model} was trained at margin {margin} "
            f"(prepare --margin {margin})"
        )
    chunks = []
    for start in range(0, len(rows), 1024):
        crops = load_crops(data, rows[start : start + 1024])
        if crops.shape[1] != size:
            crops = np.stack(
                [cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops]
            )
        chunks.append(session.run(["probability"], {"image": crops})[0].reshape(-1))
    p = np.concatenate(chunks)
    y = np.array([names.index(r["label"]) for r in rows])
    eps = 1e-7
    loss = -(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))
    order = np.argsort(-loss)
    return [
        {
            **rows[i],
            "crop": str(Path(data) / rows[i]["file"]),
            "p": float(p[i]),
            "loss": float(loss[i]),
        }
        for i in order
    ]


def write_review(ranked: list[dict], out: Path, top: int, second_class: str) -> list[Path]:
    """ranked.csv (rank, photo file name, label, `p_` + `second_class` such as p_Male, loss,
    source, split, photo path, crop name: either name goes into a `prepare --exclude` list)
    and numbered sheets of the first `top`, each tile the original photo with its rank and
    label; for a face of a `--boxes` list, its crop (the photo may hold several people)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "ranked.csv", "w", newline="") as f:
        writer = csv.writer(f)
        p = f"p_{second_class}"
        writer.writerow(["rank", "file", "label", p, "loss", "source", "split", "origin", "crop"])
        for rank, r in enumerate(ranked[:top], 1):
            writer.writerow(
                [rank, Path(r["origin"]).name, r["label"], f"{r['p']:.4f}", f"{r['loss']:.3f}",
                 r["source"], r["split"], r["origin"], Path(r["crop"]).name]
            )  # fmt: skip
    sheets = []
    for start in range(0, min(top, len(ranked)), PER_SHEET):
        chunk = ranked[start : start + PER_SHEET]
        lines = -(-len(chunk) // COLUMNS)
        sheet = Image.new("RGB", (COLUMNS * TILE, lines * (TILE + 14)), "white")
        draw = ImageDraw.Draw(sheet)
        for k, r in enumerate(chunk):
            if from_box_list(r):  # a square crop, enlarged to the tile
                photo = Image.open(r["crop"]).convert("RGB").resize((TILE, TILE))
            else:
                photo = Image.open(r["origin"]).convert("RGB")
                photo.thumbnail((TILE, TILE))
            x, y = (k % COLUMNS) * TILE, (k // COLUMNS) * (TILE + 14)
            sheet.paste(photo, (x + (TILE - photo.width) // 2, y))
            draw.text((x + 2, y + TILE), f"{start + k + 1} {r['label']} {r['p']:.2f}", "black")
        path = out / f"sheet_{start // PER_SHEET + 1:02d}.png"
        sheet.save(path)
        sheets.append(path)
    return sheets
