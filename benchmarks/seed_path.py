"""The seed notebook's inference path, rebuilt as a reference for latency (not for accuracy).

What the notebook did per photo: squash it to 520x520, run TensorFlow MTCNN, keep the
first face, resize its crop to 260x260, and call Keras `predict` on the mask model and then
on one gender model (EfficientNetV2S at 260 px). The classifier weights here are random:
latency does not depend on them, and the seed's trained weights are not available.
"""

from __future__ import annotations

import sys
import time

import numpy as np

SEED_SQUASH = 520
SEED_INPUT = 260


class SeedPath:
    """Loads TensorFlow MTCNN and two 260 px EfficientNetV2S classifiers, like the notebook."""

    def __init__(self) -> None:
        import keras
        from mtcnn import MTCNN

        from train.model import make_model

        self.keras = keras
        self.detector = MTCNN()
        self.mask_model = make_model(SEED_INPUT)
        self.gender_model = make_model(SEED_INPUT)

    def predict(self, image: np.ndarray) -> tuple[float, float] | None:
        """(p_mask_model, p_gender_model) for the first face of an RGB photo, or None."""
        import cv2

        squashed = cv2.resize(image, (SEED_SQUASH, SEED_SQUASH))
        faces = self.detector.detect_faces(squashed)
        if not faces:
            return None
        x, y, w, h = faces[0]["box"]
        crop = squashed[max(y, 0) : y + h, max(x, 0) : x + w]
        batch = cv2.resize(crop, (SEED_INPUT, SEED_INPUT))[None].astype(np.float32)
        p_mask = float(self.mask_model.predict(batch, verbose=0)[0, 0])
        p_gender = float(self.gender_model.predict(batch, verbose=0)[0, 0])
        return p_mask, p_gender


def main() -> None:
    """Cold start as a process: `python -m benchmarks.seed_path PHOTO` prints seconds."""
    started = time.perf_counter()
    from edge_runtime.image_io import load_image

    path = SeedPath()
    print(path.predict(load_image(sys.argv[1])), f"{time.perf_counter() - started:.2f}s")


if __name__ == "__main__":
    main()
