"""The seed's classifier: EfficientNetV2S backbone + GAP + Dense(128, relu) + Dropout + sigmoid."""

from __future__ import annotations

import keras
import numpy as np

from edge_runtime.classifier import flip_mean
from train.edge_fill import RandomEdgeFill


def make_model(input_size: int, weights: str | None = None, dropout: float = 0.5) -> keras.Model:
    """Binary classifier on RGB 0-255 pixels (the backbone rescales inside), p = P(class 1).

    weights: None (random init) or "imagenet" (downloads the backbone weights once).
    """
    inputs = keras.Input((input_size, input_size, 3), name="image")
    backbone = keras.applications.EfficientNetV2S(
        include_top=False,
        weights=weights,
        input_shape=(input_size, input_size, 3),
        include_preprocessing=True,
    )
    x = backbone(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(128, activation="relu", name="head_dense")(x)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    return keras.Model(inputs, outputs, name="efficientnetv2s_binary")


def keras_probabilities(model, images: np.ndarray, flip: bool = False) -> np.ndarray:
    """P(class 1) of a Keras classifier on images; with `flip`, averaged with the mirrors."""

    def run(x: np.ndarray) -> np.ndarray:
        return model.predict(x, batch_size=64, verbose=0).reshape(-1)

    return flip_mean(run, images) if flip else run(images)


def augmentation(grayscale: float = 0.0, edge_fill: float = 0.0) -> keras.Sequential:
    """Train-time augmentation as Keras preprocessing layers; never used for evaluation.
    `grayscale`: the share of crops turned grey (3 equal channels), as a night or infrared
    camera and black-and-white photos give them. `edge_fill`: the share given flat bands of
    colour along their edges (`train.edge_fill`), as a photo pasted on a page gives them."""
    layers = [RandomEdgeFill(edge_fill)] if edge_fill else []
    layers += [
        keras.layers.RandomFlip("horizontal"),
        keras.layers.RandomRotation(0.04, fill_mode="constant"),
        keras.layers.RandomZoom((-0.1, 0.1), fill_mode="constant"),
        keras.layers.RandomTranslation(0.05, 0.05, fill_mode="constant"),
        keras.layers.RandomContrast(0.2),
        keras.layers.RandomBrightness(0.15, value_range=(0, 255)),
    ]
    if grayscale:
        layers.append(keras.layers.RandomGrayscale(factor=grayscale))
    return keras.Sequential(layers, name="augment")
