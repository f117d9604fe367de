"""Flat bands of colour along a crop's edges: a face near the edge of a photo pasted on a
page, a poster or a screen, whose crop runs past the photo onto a flat background.

Training crops are black where they run past the photo (`crop_face`), so a model never sees
another colour there; a light band below a chin then reads as a mask, or as a man's jaw.
"""

from __future__ import annotations

import keras
from keras import ops


class RandomEdgeFill(keras.layers.Layer):
    """On a share `rate` of the crops, each side has a band (with probability one half) of up
    to `max_width` of the crop's side, all in one flat colour: grey half the time, tinted
    otherwise. Training only; RGB 0-255 in and out."""

    def __init__(self, rate: float, max_width: float = 0.25, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.max_width, self.seed = rate, max_width, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training or not self.rate:
            return images
        n, height, width = ops.shape(images)[:3]

        def uniform(shape, low=0.0, high=1.0):
            return keras.random.uniform(shape, low, high, seed=self.seed_generator)

        chosen = uniform((n, 1, 1, 1)) < self.rate
        sides = uniform((n, 4)) * self.max_width * ops.cast(uniform((n, 4)) < 0.5, "float32")
        top, bottom, left, right = (ops.reshape(sides[:, k], (n, 1, 1, 1)) for k in range(4))
        rows = ops.reshape((ops.arange(height, dtype="float32") + 0.5) / height, (1, -1, 1, 1))
        cols = ops.reshape((ops.arange(width, dtype="float32") + 0.5) / width, (1, 1, -1, 1))
        band = (rows < top) | (rows > 1.0 - bottom) | (cols < left) | (cols > 1.0 - right)
        tinted = ops.cast(uniform((n, 1, 1, 1)) < 0.5, "float32")
        colour = uniform((n, 1, 1, 1), 0.0, 255.0) + tinted * uniform((n, 1, 1, 3), -60.0, 60.0)
        colour = ops.clip(colour, 0.0, 255.0)
        return ops.where(chosen & band, ops.cast(colour, images.dtype), images)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rate": self.rate,
            "max_width": self.max_width,
            "seed": self.seed,
        }
