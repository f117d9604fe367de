"""The cascade: mask model on every face, then the gender model that fits each face."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from edge_runtime.classifier import Classifier
from edge_runtime.crop import crop_faces
from edge_runtime.manifest import ModelIntegrityError
from edge_runtime.types import GENDER_CLASSES, MASK_CLASSES, Face, Labels

MASK, GENDER_MASKED, GENDER_UNMASKED = "mask", "gender_masked", "gender_unmasked"


def check_class_names(model: Classifier, names: tuple[str, str]) -> None:
    """Refuse a model whose manifest names its classes otherwise: `Labels` reads each
    output as P(names[1]) and names the decided labels by these names."""
    if model.class_names != names:
        raise ModelIntegrityError(
            f"model '{model.name}' has class_names {list(model.class_names)} in the manifest; "
            f"the runtime expects {list(names)}"
        )


class Cascade:
    """mask -> gender_masked | gender_unmasked; each model runs once per photo on its faces."""

    def __init__(
        self,
        models_dir: Path,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
    ) -> None:
        names = (MASK, GENDER_MASKED, GENDER_UNMASKED)
        with ThreadPoolExecutor(len(names)) as pool:  # hashing 3 x 23 MB: side by side
            mask, masked, unmasked = pool.map(
                lambda name: Classifier(models_dir, name, providers, threads), names
            )
        self.mask = mask
        self.gender = {True: masked, False: unmasked}
        check_class_names(mask, MASK_CLASSES)
        check_class_names(masked, GENDER_CLASSES)
        check_class_names(unmasked, GENDER_CLASSES)

    def close(self) -> None:
        """Stop every classifier's worker threads."""
        for model in (self.mask, *self.gender.values()):
            model.close()

    def warmup(self) -> None:
        """Build each classifier's session and run it once on a blank crop."""
        for model in (self.mask, *self.gender.values()):
            model.predict(np.zeros((1, model.input_size, model.input_size, 3), np.uint8))

    def classify(
        self,
        image: np.ndarray,
        faces: list[Face],
        timings: dict[str, float],
        boxes: np.ndarray,
        no_flip: bool = False,
    ) -> None:
        """Set each face's `labels` in place (the models' raw probabilities and the decided
        labels); add ms per stage to `timings`.

        boxes: one per face, the box to crop around, drawn as the reference MTCNN draws it
        (the classifiers were trained on such crops; `Detections.reference_boxes`).
        no_flip: one pass per face, even where a model's manifest asks for flip averaging.
        """
        if not faces:
            return
        t = time.perf_counter()
        crops = crop_faces(image, boxes, self.mask.input_size, self.mask.margin)
        timings["crop"] = timings.get("crop", 0.0) + 1000 * (time.perf_counter() - t)
        t = time.perf_counter()
        p_without = self.mask.predict(crops, no_flip=no_flip)
        timings["mask"] = 1000 * (time.perf_counter() - t)
        masked = p_without <= self.mask.threshold
        t = time.perf_counter()
        for wears_mask, model in self.gender.items():
            chosen = np.flatnonzero(masked == wears_mask)
            if not len(chosen):
                continue
            if (model.input_size, model.margin) == (self.mask.input_size, self.mask.margin):
                gender_crops = crops[chosen]
            else:
                gender_crops = crop_faces(image, boxes[chosen], model.input_size, model.margin)
            for i, p_male in zip(chosen, model.predict(gender_crops, no_flip=no_flip), strict=True):
                gender = GENDER_CLASSES[int(p_male > model.threshold)]
                faces[i].labels = Labels(wears_mask, float(p_without[i]), gender, float(p_male))
        timings["gender"] = 1000 * (time.perf_counter() - t)
