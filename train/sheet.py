"""A PNG contact sheet of synthetic masks on real faces, so anyone can judge them by eye."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from edge_runtime.crop import crop_face
from edge_runtime.image_io import load_image
from train.inputs import InputError
from train.prepare import main_face, photos_in
from train.synthetic_mask import mask_drawer
from train.tasks import TASKS

TILE = 128


def mask_sheet(
    data: Path, out: Path, count: int = 24, seed: int = 0, templates: Path | None = None
) -> Path:
    """Draw masks on up to `count` faces from `data` (spread over the folder); pairs before/after.
    `templates`: a folder of real mask images (`train.mask_templates`), else drawn shapes."""
    from edge_runtime.mtcnn import MTCNN

    detector = MTCNN(detector="mtcnn")
    draw_mask = mask_drawer(templates)
    rng = np.random.default_rng(seed)
    photos = photos_in(Path(data), TASKS["gender_unmasked"])
    spread = np.unique(np.linspace(0, len(photos) - 1, count * 3).astype(int))
    picks = [photos[i] for i in rng.permutation(spread)]
    tiles = []
    for photo in picks:
        image = load_image(photo.path)
        box, landmarks, found = main_face(detector, image)
        if not found:
            continue
        masked = draw_mask(image, landmarks, box, rng)
        tiles.append(np.hstack([crop_face(image, box, TILE), crop_face(masked, box, TILE)]))
        if len(tiles) == count:
            break
    if not tiles:
        raise InputError(f"{data}: no face found in the {len(picks)} photos tried")
    columns = min(4, len(tiles))
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.vstack(rows)).save(out)
    return out
