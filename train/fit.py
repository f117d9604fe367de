"""`python -m train fit`: train one classifier on prepared crops, resumable, then measure it.

The run folder holds everything: `backup/` (Keras BackupAndRestore: weights, optimizer and
epoch, written every epoch, so a killed run continues where it stopped), `best.keras`,
`history.csv`, and at the end `model.keras`, `labels.json`, `metrics.json`,
`confusion_matrix.png` and `training_curves.png`. Evaluation never augments.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from train.metrics import binary_metrics, plot_confusion, plot_history
from train.prepare import is_real, read_index
from train.tasks import TASKS


@dataclass
class FitConfig:
    """Everything a run depends on; saved as config.json in the run folder."""

    task: str
    data: Path
    out: Path
    weights: str = "none"
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    class_weight: str = "balanced"
    patience: int = 4
    max_train: int | None = None
    seed: int = 0
    distribute: str = "none"
    init_from: Path | None = None
    real_repeat: int = 1


def split_rows(
    rows: list[dict], split: str, max_per_class: int | None = None, seed: int = 0
) -> list[dict]:
    """Rows of one split; optionally a seeded, class-balanced cap (for short runs)."""
    chosen = [r for r in rows if r["split"] == split]
    if not max_per_class:
        return chosen
    rng = np.random.default_rng(seed)
    kept = []
    for label in sorted({r["label"] for r in chosen}):
        of_label = [r for r in chosen if r["label"] == label]
        picks = rng.permutation(len(of_label))[:max_per_class]
        kept += [of_label[i] for i in sorted(picks)]
    return kept


def repeat_real(items: list, real: Sequence[bool], times: int) -> list:
    """`items` with the real ones (flags in `real`) repeated `times` times, where they are
    mixed with synthetic masks; unchanged otherwise.

    Real masked faces are few and are the ones the model will meet; without this the
    synthetic ones (8 of 9 in gender_masked) decide what the model learns.
    """
    real_items = [item for item, flag in zip(items, real, strict=True) if flag]
    if times <= 1 or len(real_items) == len(items):
        return items
    return items + real_items * (times - 1)


def sample_weights(rows: list[dict], class_names: Sequence[str], mode: str) -> list[float]:
    """One training weight per row. "balanced": both classes weigh the same in total.
    "per_source": both classes weigh the same within each source (file-name prefix), so a
    source whose faces are mostly one gender (halfFace: 93% men) cannot teach the model
    that its look means that gender; each source keeps its total weight. "none": all 1."""
    if mode == "none":
        return [1.0] * len(rows)
    key = (lambda r: r["source"]) if mode == "per_source" else (lambda r: "")
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(key(row), []).append(i)
    weights = [1.0] * len(rows)
    for members in groups.values():
        labels = [class_names.index(rows[i]["label"]) for i in members]
        counts = np.bincount(labels, minlength=2)
        present = int((counts > 0).sum())
        for i, label in zip(members, labels, strict=True):
            weights[i] = len(members) / (present * counts[label])
    return weights


def make_dataset(
    rows: list[dict],
    root: Path,
    class_names,
    size: int,
    batch: int,
    training: bool,
    seed: int,
    pad_to: int | None = None,
    weights: Sequence[float] | None = None,
):
    """tf.data of (float32 image in 0-255, label, weight): cached decode, augmentation if training.

    `weights`: one sample weight per row in training (class balancing; 1 elsewhere).
    pad_to: with several replicas, evaluation sets are padded to a multiple of it with
    zero-weight copies, so no replica gets an empty batch and the padding changes no
    metric; training then drops its last partial batch.
    """
    import tensorflow as tf

    from train.model import augmentation

    paths = [str(root / r["file"]) for r in rows]
    labels = [float(class_names.index(r["label"])) for r in rows]
    weights = list(weights) if weights is not None else [1.0] * len(rows)
    if pad_to and not training and len(rows) % pad_to:
        extra = pad_to - len(rows) % pad_to
        paths, labels, weights = (
            paths + paths[:1] * extra,
            labels + labels[:1] * extra,
            weights + [0.0] * extra,
        )
    ds = tf.data.Dataset.from_tensor_slices((paths, np.float32(labels), np.float32(weights)))

    def decode(path, label, weight):
        image = tf.io.decode_png(tf.io.read_file(path), channels=3)
        image.set_shape((size, size, 3))
        return tf.cast(image, tf.float32), label, weight

    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE).cache()
    if training:
        ds = ds.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch, drop_remainder=bool(training and pad_to))
    if training:
        augment = augmentation()
        ds = ds.map(
            lambda x, y, w: (augment(x, training=True), y, w), num_parallel_calls=tf.data.AUTOTUNE
        )
    return ds.prefetch(tf.data.AUTOTUNE)


def _strategy(kind: str):
    """MirroredStrategy over all GPUs; on a CPU-only machine over two logical CPUs (a test)."""
    import tensorflow as tf

    if kind != "mirrored":
        return tf.distribute.get_strategy()
    if tf.config.list_physical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def fit(config: FitConfig) -> dict:
    """Train (or resume) and evaluate; returns the metrics also written to metrics.json."""
    import keras
    import tensorflow as tf

    from train.model import make_model

    task = TASKS[config.task]
    data, out = Path(config.data), Path(config.out)
    prepared = json.loads((data / "prepare.json").read_text())
    if prepared["task"] != task.name:
        raise SystemExit(f"{data} was prepared for task {prepared['task']}, not {task.name}")
    size = int(prepared["size"])
    if (out / "metrics.json").exists() and (out / "model.keras").exists():
        print(f"{out} holds a finished run; delete it to train again")
        return json.loads((out / "metrics.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(config), indent=2, default=str) + "\n")
    strategy = _strategy(config.distribute)
    keras.utils.set_random_seed(config.seed)

    rows = read_index(data)
    train_rows = split_rows(rows, "train", config.max_train, config.seed)
    train_rows = repeat_real(train_rows, [is_real(r) for r in train_rows], config.real_repeat)
    val_rows, test_rows = split_rows(rows, "val"), split_rows(rows, "test")
    names = list(task.class_names)
    counts = np.bincount([names.index(r["label"]) for r in train_rows], minlength=2)
    weights = sample_weights(train_rows, names, config.class_weight)
    replicas = strategy.num_replicas_in_sync
    pad_to = config.batch_size if replicas > 1 else None
    train_ds = make_dataset(
        train_rows, data, names, size, config.batch_size, True, config.seed, pad_to, weights
    )
    val_ds = make_dataset(
        val_rows, data, names, size, config.batch_size, False, config.seed, pad_to
    )

    steps = int(np.ceil(len(train_rows) / config.batch_size))
    if config.schedule == "cosine":
        warmup = int(config.warmup_epochs * steps)
        lr = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else config.lr,
            decay_steps=max(config.epochs * steps - warmup, 1),
            warmup_target=config.lr if warmup else None,
            warmup_steps=warmup,
        )
    else:
        lr = config.lr
    with strategy.scope():
        model = make_model(size, None if config.weights == "none" else config.weights)
        if config.init_from:
            # e.g. the masked-gender model starts from the unmasked-gender one: same faces,
            # same classes, only the lower half now hidden.
            model.load_weights(config.init_from)
        model.compile(
            optimizer=keras.optimizers.Adam(lr), loss="binary_crossentropy", metrics=["accuracy"]
        )

    print(
        f"{task.name}: train {len(train_rows)} {dict(zip(names, counts.tolist(), strict=True))}, "
        f"val {len(val_rows)}, test {len(test_rows)}, {size}px, {config.epochs} epochs, "
        f"num_replicas_in_sync={strategy.num_replicas_in_sync}"
    )
    callbacks = [
        keras.callbacks.BackupAndRestore(str(out / "backup")),
        keras.callbacks.ModelCheckpoint(
            str(out / "best.keras"), monitor="val_accuracy", save_best_only=True
        ),
        keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=config.patience),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
    ]
    started = time.time()
    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=config.epochs,
        callbacks=callbacks,
        verbose=2 if not _is_tty() else 1,
    )
    train_seconds = time.time() - started

    best = keras.saving.load_model(out / "best.keras") if (out / "best.keras").exists() else model
    best.save(out / "model.keras")
    write_labels(out, prepared)

    metrics = {
        "task": task.name,
        "train_seconds_this_session": round(train_seconds),
        "train_images": len(train_rows),
        "input_size": size,
    }
    for split, split_rows_ in (("val", val_rows), ("test", test_rows)):
        ds = make_dataset(split_rows_, data, names, size, config.batch_size, False, config.seed)
        p = best.predict(ds, verbose=0).reshape(-1)
        y = np.array([names.index(r["label"]) for r in split_rows_])
        metrics[split] = binary_metrics(
            y, p, names, [r["source"] for r in split_rows_], task.threshold
        )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    test = metrics["test"]
    plot_confusion(
        test["confusion_matrix"],
        names,
        f"{task.name} test: {test['accuracy']:.1%} of {test['n']}",
        out / "confusion_matrix.png",
    )
    plot_history(out / "history.csv", out / "training_curves.png")
    tf.keras.backend.clear_session()
    return metrics


def write_labels(run: Path, prepared: dict) -> dict:
    """labels.json of a run folder (what export needs), from the data's prepare.json."""
    task = TASKS[prepared["task"]]
    labels = {
        "task": task.name,
        "class_names": list(task.class_names),
        "threshold": task.threshold,
        "input_size": int(prepared["size"]),
        "margin": prepared["margin"],
        "preprocessing": "RGB float32 in 0-255, NHWC; the model rescales inside",
    }
    (Path(run) / "labels.json").write_text(json.dumps(labels, indent=2) + "\n")
    return labels


def write_failures(
    model, data: Path, out: Path, names, threshold: float, flip: bool = False
) -> Path:
    """failures.png: the test split's most confident mistakes, from the prepared crops."""
    from train.metrics import plot_failures
    from train.model import keras_probabilities
    from train.prepare import load_split_images

    images, rows = load_split_images(data)
    p = keras_probabilities(model, images, flip)
    y = np.array([names.index(r["label"]) for r in rows])
    return plot_failures(images, y, p, rows, names, out, threshold)


def _is_tty() -> bool:
    import sys

    return sys.stdout.isatty()
