"""Prepared crops packed into one .npz (JPEG bytes + labels), to carry to a GPU machine.

A prepared folder holds thousands of small PNGs; a GPU machine is reached by copying files,
so `python -m train pack` writes them as one file: JPEG bytes (quality 95, 4:4:4 chroma:
about 3 KB per 64 px crop, a fifth of the PNG), label index, split, source and whether
the face is a synthetic mask. `python -m train fit` takes the file in place of the folder.
`load_packed` decodes it back with Pillow, so it needs no TensorFlow.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from train.inputs import read_prepared

SPLITS = ("train", "val", "test")


def pack(data: Path, out: Path, quality: int = 95, splits: Sequence[str] = SPLITS) -> dict:
    """Write `out` (.npz) from a folder written by `python -m train prepare`; returns counts.

    `splits` leaves the others out (train and val alone fit a device call where all three
    do not; the test split is then measured where the folder is); lower `quality` makes
    smaller files.
    """
    from train.prepare import is_real, read_index

    data = Path(data)
    prepared = read_prepared(data)
    names = list(prepared["class_names"])
    rows = [row for row in read_index(data) if row["split"] in splits]
    blobs, labels, split_ids, sources, synthetic = [], [], [], [], []
    for row in tqdm(rows, desc=f"pack {data.name}", unit="crop"):
        buffer = io.BytesIO()
        Image.open(data / row["file"]).convert("RGB").save(
            buffer, "JPEG", quality=quality, subsampling=0
        )
        blobs.append(np.frombuffer(buffer.getvalue(), np.uint8))
        labels.append(names.index(row["label"]))
        split_ids.append(SPLITS.index(row["split"]))
        sources.append(row["source"])
        synthetic.append(not is_real(row))
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        jpeg=np.concatenate(blobs),
        offsets=offsets,
        label=np.array(labels, np.int8),
        split=np.array(split_ids, np.int8),
        source=np.array(sources),
        synthetic=np.array(synthetic),
        prepare=np.array(json.dumps(prepared)),
    )
    return {"crops": len(rows), "bytes": int(Path(out).stat().st_size)}


def load_packed(path: Path) -> dict:
    """Decoded arrays of a packed file: image (N, H, W, 3) uint8 RGB, label, split, source..."""
    with np.load(path) as z:
        jpeg, offsets = z["jpeg"], z["offsets"]
        images = np.stack(
            [
                np.asarray(Image.open(io.BytesIO(jpeg[a:b].tobytes())).convert("RGB"))
                for a, b in itertools.pairwise(offsets)
            ]
        )
        return {
            "image": images,
            "label": z["label"].astype(np.float32),
            "split": z["split"],
            "source": z["source"],
            "synthetic": z["synthetic"],
            "prepare": json.loads(str(z["prepare"])),
        }
