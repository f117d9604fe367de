"""`python -m train detector`: fine-tune MTCNN's R-Net and O-Net on masked and unmasked faces.

Each network starts from the weights the `mtcnn` package ships and learns, as in the
MTCNN paper, face / no face (positives and negatives; face crops count as positives),
the box offsets to the annotated box (positives and part faces) and, for O-Net, the five
landmarks. Scene photos have no landmarks, so O-Net keeps the reference O-Net's own
landmarks on the same windows (distillation) rather than forgetting them.

A run folder per network holds `backup/` (resume after a kill), `history.csv`,
`<net>.weights.h5` (best epoch by validation loss), `metrics.json` and `curves.png`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_runtime.mtcnn import PIXEL_MEAN, PIXEL_SCALE, normalize
from train.detector_data import CROP, NEGATIVE, PART, POSITIVE, Samples
from train.mtcnn_networks import NETWORKS, keras_network

# Loss weights (face / box / landmarks), the paper's for R-Net and O-Net.
LOSS_WEIGHTS = {"rnet": (1.0, 0.5, 0.0), "onet": (1.0, 0.5, 1.0)}


@dataclass
class DetectorFitConfig:
    """What one network's run depends on; saved as config.json in its run folder."""

    net: str
    samples: Path
    out: Path
    epochs: int = 12
    batch_size: int = 256
    lr: float = 3e-4
    patience: int = 3
    seed: int = 0
    init: Path | None = None  # an exported network (.onnx) to start from, not the mtcnn weights
    grayscale: float = 0.0  # share of training windows turned grey
    keep_boxes: bool = False  # box targets: the starting network's own offsets (needs init)


def with_flips(x: np.ndarray, kind: np.ndarray, offsets: np.ndarray):
    """The samples and their mirror images; box offsets mirrored with them."""
    flipped = offsets[:, [2, 1, 0, 3]] * np.array([-1, 1, -1, 1], np.float32)
    return (
        np.concatenate([x, x[:, :, ::-1]]),
        np.concatenate([kind, kind]),
        np.concatenate([offsets, flipped]),
    )


def targets(
    net: str,
    x: np.ndarray,
    kind: np.ndarray,
    offsets: np.ndarray,
    box_teacher: Path | None = None,
) -> np.ndarray:
    """One row per sample: [face label (-1 ignored), box weight, 4 offsets, landmark weight,
    10 landmarks]. Landmarks are the reference O-Net's on the same window; the offsets are
    `box_teacher`'s (an exported network) on it where given, else the annotated box's, so a
    fine-tune can keep the boxes, and with them the classifiers' crops, where they were.

    R-Net calls part faces faces too: it only passes windows on, and a face that P-Net
    framed badly must reach O-Net to be found at all. O-Net ignores them, as in the paper.
    """
    part_label = 1.0 if net == "rnet" else -1.0
    face = np.where(kind == NEGATIVE, 0.0, np.where(kind == PART, part_label, 1.0))
    box_weight = np.isin(kind, (POSITIVE, PART)).astype(np.float32)
    marks = np.zeros((len(x), 10), np.float32)
    mark_weight = np.zeros(len(x), np.float32)
    if net == "onet":
        marks = teacher_outputs(keras_network("onet"), x, 1)
        mark_weight = np.isin(kind, (POSITIVE, CROP)).astype(np.float32)
    if box_teacher is not None:
        offsets = teacher_outputs(keras_network(net, box_teacher), x, 0)
    return np.concatenate(
        [face[:, None], box_weight[:, None], offsets, mark_weight[:, None], marks], axis=1
    ).astype(np.float32)


def teacher_outputs(teacher, x: np.ndarray, output: int) -> np.ndarray:
    """One output of a Keras MTCNN network on uint8 windows, in batches."""
    return np.concatenate(
        [
            np.asarray(teacher(normalize(x[i : i + 2048]), training=False)[output])
            for i in range(0, len(x), 2048)
        ]
    )


def detector_loss(net: str):
    """Face cross-entropy + weighted box and landmark squared errors, each over its samples."""
    from keras import ops

    w_face, w_box, w_marks = LOSS_WEIGHTS[net]

    def loss(y_true, y_pred):
        face, box_w, offsets = y_true[:, 0], y_true[:, 1], y_true[:, 2:6]
        mark_w, marks = y_true[:, 6], y_true[:, 7:17]
        p = ops.clip(y_pred[:, 0], 1e-7, 1 - 1e-7)
        labelled = ops.cast(face >= 0, "float32")
        ce = -(face * ops.log(p) + (1 - face) * ops.log(1 - p)) * labelled
        box = ops.sum(ops.square(y_pred[:, 1:5] - offsets), axis=1) * box_w
        total = w_face * ops.sum(ce) / ops.maximum(ops.sum(labelled), 1.0)
        total += w_box * ops.sum(box) / ops.maximum(ops.sum(box_w), 1.0)
        if w_marks:
            err = ops.sum(ops.square(y_pred[:, 5:15] - marks), axis=1) * mark_w
            total += w_marks * ops.sum(err) / ops.maximum(ops.sum(mark_w), 1.0)
        return total

    loss.__name__ = "mtcnn_loss"
    return loss


def face_accuracy(y_true, y_pred):
    """Face / no-face accuracy at 0.5 over positives, crops and negatives."""
    from keras import ops

    labelled = ops.cast(y_true[:, 0] >= 0, "float32")
    right = ops.cast(ops.equal(y_pred[:, 0] > 0.5, y_true[:, 0] > 0.5), "float32") * labelled
    return ops.sum(right) / ops.maximum(ops.sum(labelled), 1.0)


def augmented_input(side: int, grayscale: float = 0.0):
    """(uint8 input of side x side RGB patches, the tensor a network takes): in training
    only, a `grayscale` share of patches turned grey and random brightness and contrast;
    then the runtime's scaling."""
    import keras

    inputs = keras.Input((side, side, 3), dtype="uint8")
    x = keras.ops.cast(inputs, "float32")
    if grayscale:
        x = keras.layers.RandomGrayscale(factor=grayscale)(x)
    x = keras.layers.RandomBrightness(0.2, value_range=(0, 255))(x)
    x = keras.layers.RandomContrast(0.3, value_range=(0, 255))(x)
    return inputs, keras.layers.Rescaling(PIXEL_SCALE, offset=-PIXEL_MEAN * PIXEL_SCALE)(x)


def start_run(config) -> Path:
    """The run folder, made, with config.json; Keras' random seed set from the config."""
    import keras

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(config), default=str, indent=2))
    keras.utils.set_random_seed(config.seed)
    return out


def cosine_adam(config, train_count: int):
    """Adam from config.lr down a cosine over every step of config.epochs."""
    import keras

    steps = int(np.ceil(train_count / config.batch_size)) * config.epochs
    return keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(config.lr, steps))


def training_model(net: str, network, grayscale: float = 0.0):
    """uint8 patches -> [p(face), 4 offsets, (10 landmarks)] side by side.

    Brightness and contrast change at random in training only (masks, webcams and
    street photos vary most in light), and a `grayscale` share of patches turns grey
    (night and infrared cameras); the network itself sees the runtime's scaling.
    """
    import keras

    side = NETWORKS[net][2][1]  # Keras shape (None, side, side, 3)
    inputs, x = augmented_input(side, grayscale)
    outputs = network(x)
    prob = outputs[-1][:, 1:2]
    parts = [prob, outputs[0]] + ([outputs[1]] if net == "onet" else [])
    return keras.Model(inputs, keras.ops.concatenate(parts, axis=1))


def split_arrays(samples: Samples, net: str, split: str):
    """Patches, kinds and offsets of one split at the network's input size."""
    chosen = samples.split == split
    x = samples.rnet if net == "rnet" else samples.onet
    return x[chosen], samples.kind[chosen], samples.offsets[chosen]


def evaluate(model, x, kind, offsets) -> dict:
    """Face recall and false-positive rate at 0.5, and box error, on one split."""
    pred = np.asarray(model.predict(x, 2048, verbose=0))
    p = pred[:, 0]
    faces = np.isin(kind, (POSITIVE, CROP))
    neg = kind == NEGATIVE
    boxed = np.isin(kind, (POSITIVE, PART))
    return {
        "windows": len(kind),
        "face_recall": float((p[faces] > 0.5).mean()),
        "false_positive_rate": float((p[neg] > 0.5).mean()),
        "box_error": float(np.abs(pred[boxed, 1:5] - offsets[boxed]).mean()),
    }


def fit_resumable(model, train: tuple, val: tuple, out: Path, config) -> None:
    """`model.fit` on arrays that resumes from out/backup after a kill, logs
    out/history.csv, stops early on validation loss and ends with the best epoch's
    weights. config: epochs, batch_size and patience."""
    import keras

    model.fit(
        *train,
        batch_size=config.batch_size,
        epochs=config.epochs,
        shuffle=True,
        validation_data=val,
        callbacks=[
            keras.callbacks.BackupAndRestore(str(out / "backup")),
            keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
            keras.callbacks.ModelCheckpoint(
                str(out / "best.weights.h5"), save_best_only=True, save_weights_only=True
            ),
            keras.callbacks.EarlyStopping(patience=config.patience),
        ],
        verbose=2,
    )
    model.load_weights(out / "best.weights.h5")


def started_from(init: Path | None) -> dict:
    """The weights a run started from, for its metrics and the manifest."""
    from edge_runtime.manifest import sha256_of

    if init is None:
        return {"package": "mtcnn"}
    return {"file": Path(init).name, "sha256": sha256_of(Path(init))}


def fit_network(config: DetectorFitConfig) -> dict:
    """Fine-tune one network; resumes from the run folder's backup; returns its metrics."""
    from train.metrics import plot_history

    out = start_run(config)
    samples = Samples.load(Path(config.samples))
    x_tr, k_tr, o_tr = with_flips(*split_arrays(samples, config.net, "train"))
    x_va, k_va, o_va = split_arrays(samples, config.net, "val")
    box_teacher = config.init if config.keep_boxes else None
    y_tr = targets(config.net, x_tr, k_tr, o_tr, box_teacher)
    y_va = targets(config.net, x_va, k_va, o_va, box_teacher)

    network = keras_network(config.net, config.init)
    model = training_model(config.net, network, config.grayscale)
    before = {"val": evaluate(model, x_va, k_va, o_va)}
    model.compile(
        optimizer=cosine_adam(config, len(x_tr)),
        loss=detector_loss(config.net),
        metrics=[face_accuracy],
    )
    weights = out / f"{config.net}.weights.h5"
    started = time.time()
    fit_resumable(model, (x_tr, y_tr), (x_va, y_va), out, config)
    network.save_weights(weights)
    metrics = {
        "net": config.net,
        "train_windows": len(x_tr),
        "seconds": round(time.time() - started, 1),
        "started_from": started_from(config.init),
        "before": before,
        "after": {"val": evaluate(model, x_va, k_va, o_va)},
        "weights": weights.name,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    plot_history(out / "history.csv", out / "curves.png", ("loss", "face_accuracy"))
    return metrics
