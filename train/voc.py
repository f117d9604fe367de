"""PASCAL VOC face annotations: read boxes and labels, match detections to them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.boxes import pairwise_iou

SIZE_BUCKETS = (("<20", 0, 20), ("20-40", 20, 40), (">=40", 40, 1e9))


@dataclass(frozen=True, slots=True)
class Annotation:
    """Boxes (N, 4) x1, y1, x2, y2 and their labels for one photo."""

    image: Path
    boxes: np.ndarray
    labels: list[str]


def read_voc(xml_path: Path, images_dir: Path) -> Annotation:
    """One VOC XML file: the photo it names and every object's box and class name."""
    root = ET.parse(xml_path).getroot()
    boxes, labels = [], []
    for obj in root.iter("object"):
        bb = obj.find("bndbox")
        boxes.append([float(bb.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")])
        labels.append(obj.find("name").text.strip())
    return Annotation(
        images_dir / root.find("filename").text, np.array(boxes).reshape(-1, 4), labels
    )


def read_folder(folder: Path) -> list[Annotation]:
    """Every annotation of a scenes folder (annotations/*.xml beside images/)."""
    return [read_voc(x, folder / "images") for x in sorted((folder / "annotations").glob("*.xml"))]


def match(
    truth: np.ndarray, found: np.ndarray, scores: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """For each true box, the index of the detection matched to it (-1 if none).

    Detections are taken best score first; each goes to the free true box it overlaps most.
    """
    matched = np.full(len(truth), -1)
    if len(truth) == 0 or len(found) == 0:
        return matched
    iou = pairwise_iou(found.astype(float), truth.astype(float))
    for d in np.argsort(-scores):
        free = np.where(matched < 0, iou[d], -1.0)
        t = int(np.argmax(free))
        if free[t] >= iou_threshold:
            matched[t] = d
    return matched
