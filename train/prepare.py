"""`python -m train prepare`: labelled photos -> face crops made exactly as the runtime makes them.

Each photo goes through the runtime's detector and `edge_runtime.crop.crop_face`. Photos
where no face is found (many data sets are already tight face crops) are used whole, and
counted. Splits come from a hash of the photo's name, so a rerun, or a photo that appears
in two folders under related names, always lands in the same split.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from edge_runtime.crop import DEFAULT_MARGIN, crop_face
from edge_runtime.image_io import IMAGE_SUFFIXES, ImageLoadError, load_image
from train.inputs import MAX_MARGIN, InputError
from train.synthetic_mask import mask_drawer
from train.tasks import SPLIT_ALIASES, TASKS, Task

SPLIT_SHARES = (("train", 0.70), ("val", 0.15), ("test", 0.15))
INDEX_FIELDS = ("file", "label", "split", "source", "origin", "face_found", "synthetic")
# Names that must share a split are mapped to one key before hashing:
# faces_masked_gender/pengeye_X is faces_mask/with_mask/peng_X (the same photo); an LFW
# person (lfw_First_Last_0003) and a halfFace person (halfface_p058_11m, with or without
# the mask) are one group each, so a person never lands in two splits, in any task.
GROUP_ALIASES = (
    (re.compile(r"^pengeye_"), "peng_"),
    (re.compile(r"^(lfw_.+)_\d+$"), r"\1"),
    (re.compile(r"^(halfface_p\d+)_.*$"), r"\1"),
)


@dataclass(frozen=True, slots=True)
class Photo:
    """One labelled photo found on disk, or one labelled face in it (`box`)."""

    path: Path
    label: str
    split: str | None  # the split its folders (or its row in a box list) say, if they say one
    box: tuple[float, float, float, float] | None = None  # a labelled face, not the largest
    face: int = 0  # the box's number within its photo


def group_key(path: Path) -> str:
    """The name that decides the split: the file stem, with photos of one person folded together."""
    key = path.stem.lower()
    for pattern, replacement in GROUP_ALIASES:
        key = pattern.sub(replacement, key)
    return key


def split_of(path: Path) -> str:
    """train / val / test by a hash of the group key: stable across runs and machines."""
    bucket = int(hashlib.sha256(group_key(path).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    edge = 0.0
    for name, share in SPLIT_SHARES:
        edge += share
        if bucket <= edge:
            return name
    return SPLIT_SHARES[-1][0]


def source_of(path: Path) -> str:
    """The source a photo came from: its file-name prefix (cdb_, utk_...) or 'unknown'."""
    return path.stem.split("_", 1)[0].lower() if "_" in path.stem else "unknown"


def find_photos(root: Path, task: Task) -> Iterator[Photo]:
    """Photos under class folders, optionally below train/validation/test folders."""
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        parts = path.relative_to(root).parts[:-1]
        labels = [task.label_of(p) for p in parts if task.label_of(p)]
        splits = [SPLIT_ALIASES[p.lower()] for p in parts if p.lower() in SPLIT_ALIASES]
        if labels:
            yield Photo(path, labels[-1], splits[-1] if splits else None)


BOX_COLUMNS = ("photo", "face", "x1", "y1", "x2", "y2", "label")
BOX_CROP_TAG = "_face"  # a box list's crop is named PHOTO_faceN.png


class BoxListError(InputError):
    """A box list that `prepare --boxes` cannot use; the message names the file and line."""


def read_boxes(
    path: Path,
    photos: Path,
    task: Task,
    seen: dict[tuple[str, int], int] | None = None,
    list_number: int = 0,
) -> list[Photo]:
    """Faces labelled one box each (a photo may hold several): a CSV with columns photo, face,
    x1, y1, x2, y2 (pixels of the upright photo, in the reference MTCNN's convention, as
    `Detections.reference_boxes`), label and optionally split; photo names relative to
    `photos`. A row without a split gets the photo's hashed one (`split_of`). `seen` (face
    -> number of the list it came from) is shared by `read_box_lists`, so that a face is
    listed once in all lists. Raises BoxListError naming the file and line for anything it
    cannot use."""
    if not photos.is_dir():
        raise BoxListError(f"{photos}: not a folder of photos (for {path})")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = [c for c in BOX_COLUMNS if c not in (reader.fieldnames or [])]
            rows = list(reader)
    except UnicodeDecodeError:
        raise BoxListError(f"{path}: not a UTF-8 CSV") from None
    except OSError as exc:
        raise BoxListError(f"{path}: {exc.strerror or exc}") from None
    if missing:
        raise BoxListError(f"{path}: the header lacks {', '.join(missing)} (comma-separated)")
    if not rows:
        raise BoxListError(f"{path}: no faces listed")
    faces, seen = [], {} if seen is None else seen
    for number, row in enumerate(rows, 2):  # line numbers as an editor shows them
        where = f"{path}, line {number}"
        empty = [c for c in BOX_COLUMNS if not (row.get(c) or "").strip()]
        if empty:
            raise BoxListError(f"{where}: no {', '.join(empty)}")
        try:
            x1, y1, x2, y2 = (float(row[k]) for k in ("x1", "y1", "x2", "y2"))
            face = int(row["face"])
        except ValueError as exc:
            raise BoxListError(f"{where}: {exc}") from None
        if not (np.isfinite([x1, y1, x2, y2]).all() and x2 > x1 and y2 > y1):
            raise BoxListError(f"{where}: box {x1}, {y1}, {x2}, {y2} is not x1 < x2, y1 < y2")
        photo, label = row["photo"].strip(), task.label_of(row["label"])
        split = (row.get("split") or "").strip()
        if label is None:
            raise BoxListError(f"{where}: label {row['label']!r} is not a {task.name} class")
        if split and split.lower() not in SPLIT_ALIASES:
            raise BoxListError(f"{where}: split {split!r} is not train, val or test")
        if not (photos / photo).is_file():
            raise BoxListError(f"{where}: no photo {photos / photo}")
        key = (Path(photo).stem, face)  # its crops' name
        if key in seen and seen[key] == list_number:
            raise BoxListError(f"{where}: face {face} of {key[0]} is listed twice")
        if key in seen:
            raise BoxListError(f"{where}: listed in two box lists: face {face} of {key[0]}")
        seen[key] = list_number
        split_name = SPLIT_ALIASES[split.lower()] if split else None
        faces.append(Photo(photos / photo, label, split_name, (x1, y1, x2, y2), face))
    return faces


def read_box_lists(lists: Iterable[tuple[Path, Path]], task: Task) -> list[list[Photo]]:
    """`read_boxes` for each (CSV, photo folder); a face in two lists is refused too, since
    its crops would share one name."""
    seen: dict[tuple[str, int], int] = {}
    return [
        read_boxes(Path(table), Path(photos), task, seen, number)
        for number, (table, photos) in enumerate(lists)
    ]


def main_face(detector, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Box and landmarks of the largest face, or the whole image (and no landmarks)."""
    found = detector.detect(image)
    if len(found) == 0:
        height, width = image.shape[:2]
        return np.array([0, 0, width, height], np.float32), None, False
    areas = (found.boxes[:, 2] - found.boxes[:, 0]) * (found.boxes[:, 3] - found.boxes[:, 1])
    best = int(np.argmax(areas))
    return found.boxes[best], found.landmarks[best], True


def prepare(
    task_name: str,
    data: Iterable[Path],
    out: Path,
    size: int,
    synthetic_from: Iterable[Path] = (),
    margin: float = DEFAULT_MARGIN,
    limit: int | None = None,
    seed: int = 0,
    mask_templates: Path | None = None,
    exclude: Path | None = None,
    boxes: Iterable[tuple[Path, Path]] = (),
) -> dict:
    """Write crops and index.csv under `out`; returns the summary also saved as prepare.json.

    Run again into the same `out`, it replaces the earlier run: crops that the earlier
    index.csv listed and this run does not write are removed; other files are left alone.

    `margin`: the crop's side is 1 + margin times the face box's longer side (`crop_face`).
    `synthetic_from` folders hold unmasked faces that get a drawn mask (for the masked-gender
    task); those go to the train split only, since accuracy is measured on real masks.
    `limit` keeps at most that many photos per class and folder (for quick runs and CI).
    `mask_templates`: real mask images to warp on (`train.mask_templates`), else drawn shapes.
    `exclude`: a CSV (file, reason) of photos, or of single faces of a box list by their
    crop's name (`STEM_faceN.png`), left out of training and validation, such as mislabelled
    ones; the test split keeps them, so test accuracy stays comparable.
    `boxes`: (CSV, photo folder) pairs of faces labelled by box (`read_boxes`), cropped at
    that box instead of the largest face found; `limit` counts faces per class and list.
    """
    from edge_runtime.mtcnn import MTCNN

    task = TASKS[task_name]
    if not data and not boxes:
        raise InputError("nothing to prepare: give --data folders or --boxes lists")
    if not 0 <= margin <= MAX_MARGIN:
        raise InputError(f"--margin {margin}: a crop margin is between 0 and {MAX_MARGIN}")
    # Every input is read and checked before any photo is: a bad one fails in one line.
    box_lists = read_box_lists(boxes, task)
    jobs = [(p, False) for root in data for p in _limited(photos_in(root, task), limit)]
    jobs += [(p, True) for root in synthetic_from for p in _limited(photos_in(root, task), limit)]
    for faces in box_lists:
        jobs += [(p, False) for p in _limited(faces, limit)]
    excluded = read_exclusions(exclude) if exclude else {}
    # No border retries: a photo without a face found is cropped whole (`main_face`), as
    # the shipped models' data was.
    detector = MTCNN(detector="mtcnn", border_retries=())
    draw_mask = mask_drawer(mask_templates)
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    earlier = {r["file"] for r in read_index(out)} if (out / "index.csv").is_file() else set()
    rows, counts, problems = [], Counter(), []
    used_exclusions: set[str] = set()
    for photo, synthetic in tqdm(jobs, desc=f"prepare {task_name}", unit="photo"):
        split = photo.split or split_of(photo.path)
        if synthetic and split != "train":
            continue
        if synthetic:
            name = f"{photo.path.stem}_synthmask.png"
        elif photo.box is not None:
            name = f"{photo.path.stem}{BOX_CROP_TAG}{photo.face}.png"
        else:
            name = f"{photo.path.stem}.png"
        named = {photo.path.name, name} & excluded.keys()
        used_exclusions |= named
        if split != "test" and named:
            counts[f"excluded/{source_of(photo.path)}"] += 1
            continue
        try:
            image = load_image(photo.path)
        except ImageLoadError as exc:
            problems.append(str(exc))
            continue
        if photo.box is None:
            box, landmarks, found = main_face(detector, image)
        else:
            box, landmarks, found = np.array(photo.box, np.float32), None, True
        if synthetic:
            if landmarks is None:
                counts["synthetic_skipped_no_landmarks"] += 1
                continue
            image = draw_mask(image, landmarks, box, rng)
        crop = crop_face(image, box, size, margin if found else 0.0)
        target = out / split / photo.label / name
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(crop).save(target)
        rows.append(
            {
                "file": str(target.relative_to(out)),
                "label": photo.label,
                "split": split,
                "source": source_of(photo.path) + ("_synthmask" if synthetic else ""),
                "origin": str(photo.path),
                "face_found": int(found),
                "synthetic": int(synthetic),
            }
        )
        counts[f"{split}/{photo.label}"] += 1
        if photo.box is not None:
            counts["labelled_box"] += 1
        else:
            counts["face_found" if found else "whole_image_used"] += 1
    with open(out / "index.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=INDEX_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    # Crops of an earlier run into `out` that this one did not write would linger unlisted.
    stale = 0
    for file in earlier - {r["file"] for r in rows}:
        path = (out / file).resolve()
        if path.is_relative_to(out.resolve()) and path.is_file():  # never outside `out`
            path.unlink()
            stale += 1
    summary = {
        "task": task.name,
        "class_names": list(task.class_names),
        "size": size,
        "margin": margin,
        "counts": dict(sorted(counts.items())),
        "per_source": dict(sorted(Counter(f"{r['split']}/{r['source']}" for r in rows).items())),
        "unreadable": problems,
        "exclusions_unmatched": sorted(set(excluded) - used_exclusions),
        "earlier_crops_removed": stale,
    }
    (out / "prepare.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def photos_in(root: Path, task: Task) -> list[Photo]:
    """find_photos, refusing a folder that holds none (a wrong path is a one-line error)."""
    photos = list(find_photos(Path(root), task))
    if not photos:
        classes = ", ".join(task.class_names)
        raise InputError(f"{root}: no photos in folders named for the classes ({classes})")
    return photos


def read_exclusions(path: Path) -> dict[str, str]:
    """file name -> reason, from a CSV with columns file, reason."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if "file" not in (reader.fieldnames or []):
            raise InputError(f"{path}: an exclusion list needs a header with a `file` column")
        return {row["file"].strip(): row.get("reason", "") for row in reader}


def _limited(photos: Iterable[Photo], limit: int | None) -> list[Photo]:
    """At most `limit` photos per class, spread over the folder (every k-th, not the first)."""
    photos = list(photos)
    if not limit:
        return photos
    kept = []
    for label in sorted({p.label for p in photos}):
        of_label = [p for p in photos if p.label == label]
        step = max(len(of_label) / limit, 1.0)
        kept += [of_label[int(i * step)] for i in range(min(limit, len(of_label)))]
    return kept


def read_index(out: Path) -> list[dict]:
    """The rows of a prepared folder's index.csv."""
    index = Path(out) / "index.csv"
    if not index.is_file():
        raise InputError(f"{out}: not a folder written by `python -m train prepare` (no index.csv)")
    with open(index, newline="") as f:
        return list(csv.DictReader(f))


def load_split_images(data: Path, split: str = "test") -> tuple[np.ndarray, list[dict]]:
    """The prepared crops of one split as float32 (N, S, S, 3) 0-255, with their index rows."""
    rows = [r for r in read_index(data) if r["split"] == split]
    return load_crops(data, rows), rows


def load_crops(data: Path, rows: list[dict]) -> np.ndarray:
    """The prepared crops of these index rows as float32 (N, S, S, 3) 0-255."""
    return np.stack(
        [np.asarray(Image.open(Path(data) / r["file"]).convert("RGB")) for r in rows]
    ).astype(np.float32)


def from_box_list(row: dict) -> bool:
    """Whether an index row is a face of a `--boxes` list: one of maybe several in its photo."""
    stem, photo = Path(row["file"]).stem, Path(row["origin"]).stem
    return stem != photo and re.fullmatch(rf"{re.escape(photo)}{BOX_CROP_TAG}\d+", stem) is not None


def is_real(row: dict) -> bool:
    """Whether an index row is a real photo's face, not one with a drawn (synthetic) mask."""
    return row.get("synthetic", "0") != "1"
