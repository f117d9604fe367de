"""`python -m train fit`: the one training recipe, resumable, then the run measured.

The data is a folder written by `prepare` (read through tf.data on TensorFlow) or a packed
`.npz` of it (`python -m train pack`: in-memory arrays on any Keras backend, JAX on a GPU
machine). Both paths share everything else: the rows chosen, class weights, the learning
rate schedule, augmentation (layers inside the training model, so any backend runs them),
the best-epoch choice, metrics at the task's threshold, and the run folder: `backup/`
(Keras BackupAndRestore, every epoch, so a killed run continues where it stopped),
`best.keras` and `best.json`, `history.csv`, and at the end `model.keras`, `labels.json`,
`metrics.json`, `confusion_matrix.png` and `training_curves.png` (with `--half-parts`
also float16 weight parts small enough to bring back from a GPU machine). Evaluation
never augments.
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from train.inputs import InputError, read_prepared
from train.metrics import binary_metrics, plot_confusion, plot_history
from train.prepare import is_real, load_crops, read_index
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
    time_limit: float | None = None
    half_parts: bool = False
    eager: bool = False
    grayscale: float = 0.0
    edge_fill: float = 0.0


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


def read_rows(data: Path) -> tuple[dict, list[dict], np.ndarray | None]:
    """prepare.json, index rows and, for a packed file, its decoded images (else None).

    A packed file's rows carry `index`, their position in the image array.
    """
    data = Path(data)
    if data.suffix != ".npz":
        return read_prepared(data), read_index(data), None
    from train.packed import SPLITS, load_packed

    packed = load_packed(data)
    names = packed["prepare"]["class_names"]
    rows = [
        {
            "index": i,
            "label": names[int(label)],
            "split": SPLITS[int(split)],
            "source": str(source),
            "synthetic": "1" if synthetic else "0",
        }
        for i, (label, split, source, synthetic) in enumerate(
            zip(
                packed["label"], packed["split"], packed["source"], packed["synthetic"], strict=True
            )
        )
    ]
    return packed["prepare"], rows, packed["image"]


def crops_of(data: Path, rows: list[dict], images: np.ndarray | None) -> np.ndarray:
    """float32 crops (0-255) of these rows, from the packed images or the prepared PNGs."""
    if images is None:
        return load_crops(data, rows)
    return images[[r["index"] for r in rows]].astype(np.float32)


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
    """tf.data of (float32 image in 0-255, label, weight) read from a prepared folder, cached.

    `weights`: one sample weight per row (1 where None). pad_to: with several replicas,
    evaluation sets are padded to a multiple of it with zero-weight copies, so no replica
    gets an empty batch and the padding changes no (weighted) metric; training then drops
    its last partial batch.
    """
    import tensorflow as tf

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
    return ds.batch(batch, drop_remainder=bool(training and pad_to)).prefetch(tf.data.AUTOTUNE)


def array_inputs(
    images: np.ndarray,
    rows: list[dict],
    class_names,
    batch: int,
    weights: Sequence[float] | None = None,
    training: bool = False,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, sample weight) arrays for `model.fit` from the rows' `index` into `images`,
    in whole batches so a compiled step keeps one shape: training is shuffled (seeded) and
    cut, evaluation padded with zero-weight copies."""
    w = np.asarray(weights if weights is not None else [1.0] * len(rows), np.float32)
    if training:
        keep = np.random.default_rng(seed).permutation(len(rows))
        keep = keep[: max(len(rows) // batch, 1) * batch]
        rows, w = [rows[k] for k in keep], w[keep]
    x = images[[r["index"] for r in rows]].astype(np.float32)
    y = np.array([class_names.index(r["label"]) for r in rows], np.float32)
    if training:
        return x, y, w
    extra = (-len(rows)) % batch
    if extra:
        x = np.concatenate([x, np.repeat(x[:1], extra, axis=0)])
        y = np.concatenate([y, np.repeat(y[:1], extra)])
        w = np.concatenate([w, np.zeros(extra, np.float32)])
    return x, y, w


def learning_rate(config: FitConfig, steps_per_epoch: int):
    """Constant, or cosine decay over all epochs after an optional linear warm-up."""
    import keras

    if config.schedule != "cosine":
        return config.lr
    warmup = int(config.warmup_epochs * steps_per_epoch)
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else config.lr,
        decay_steps=max(config.epochs * steps_per_epoch - warmup, 1),
        warmup_target=config.lr if warmup else None,
        warmup_steps=warmup,
    )


def training_model(base, size: int, grayscale: float = 0.0, edge_fill: float = 0.0):
    """`base` behind the augmentation layers: what `fit` trains (augmentation is inactive
    at evaluation, so validation scores `base` itself). Under JAX the layers are marked
    jit-compilable: Keras marks RandomRotation/Zoom/Translation otherwise (true of
    TensorFlow's kernels), which turns off jit for the whole step (32 images/s on an H200,
    against about 3,600 with it)."""
    import keras

    from train.model import augmentation

    augment = augmentation(grayscale, edge_fill)
    if keras.backend.backend() == "jax":
        for layer in (augment, *augment.layers):
            layer.supports_jit = True
    inputs = keras.Input((size, size, 3), name="image")
    return keras.Model(inputs, base(augment(inputs)), name="train_model")


def _callbacks(out: Path, base, config: FitConfig) -> list:
    """Resume, keep the best epoch, stop early or at the time limit, log every epoch."""
    import keras

    class KeepBest(keras.callbacks.Callback):
        """Save `base` to best.keras when validation accuracy rises (ties: lower loss).
        The best score lives in best.json, so a resumed run still compares against it."""

        def on_epoch_end(self, epoch, logs=None):
            record = out / "best.json"
            best = json.loads(record.read_text()) if record.exists() else None
            score = (logs["val_accuracy"], -logs["val_loss"])
            if best is None or score > (best["val_accuracy"], -best["val_loss"]):
                base.save(out / "best.keras")
                record.write_text(
                    json.dumps(
                        {"epoch": epoch + 1, "val_accuracy": score[0], "val_loss": -score[1]}
                    )
                )

    class TimeLimit(keras.callbacks.Callback):
        """Stop after the epoch that passes `--time-limit` minutes (the best one is kept)."""

        def on_train_begin(self, logs=None):
            self.started = time.time()

        def on_epoch_end(self, epoch, logs=None):
            if config.time_limit and time.time() - self.started > 60 * config.time_limit:
                self.model.stop_training = True

    return [
        keras.callbacks.BackupAndRestore(str(out / "backup")),
        KeepBest(),
        keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=config.patience),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
        TimeLimit(),
    ]


def fit(config: FitConfig) -> dict:
    """Train (or resume) and evaluate; returns the metrics also written to metrics.json."""
    task = TASKS[config.task]
    data, out = Path(config.data), Path(config.out)
    check_init_from(config.init_from)
    prepared, rows, images = read_rows(data)
    if prepared["task"] != task.name:
        raise InputError(f"{data} was prepared for task {prepared['task']}, not {task.name}")
    for split in ("train", "val"):  # the best epoch is chosen on validation
        if not any(r["split"] == split and is_real(r) for r in rows):
            raise InputError(
                f"{data}: no real {split} faces (prepare splits photos by a hash of their "
                "names: a few photos, as with a small --limit, can leave a split empty)"
            )
    import keras

    from train.model import keras_probabilities, make_model

    size = int(prepared["size"])
    if (out / "metrics.json").exists() and (out / "model.keras").exists():
        print(f"{out} holds a finished run; delete it to train again")
        return json.loads((out / "metrics.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(config), indent=2, default=str) + "\n")
    keras.utils.set_random_seed(config.seed)
    on_arrays = images is not None or keras.backend.backend() != "tensorflow"
    if on_arrays and images is None:
        images = load_crops(data, rows)
        rows = [{**r, "index": i} for i, r in enumerate(rows)]
    strategy = _strategy(config.distribute)

    train_rows = split_rows(rows, "train", config.max_train, config.seed)
    train_rows = repeat_real(train_rows, [is_real(r) for r in train_rows], config.real_repeat)
    val_rows = [r for r in split_rows(rows, "val") if is_real(r)]
    test_rows = [r for r in split_rows(rows, "test") if is_real(r)]
    names = list(task.class_names)
    counts = np.bincount([names.index(r["label"]) for r in train_rows], minlength=2)
    weights = sample_weights(train_rows, names, config.class_weight)
    batch = config.batch_size
    if on_arrays:
        x, y, w = array_inputs(images, train_rows, names, batch, weights, True, config.seed)
        train_args = {"x": x, "y": y, "sample_weight": w, "batch_size": batch, "shuffle": True}
        validation = array_inputs(images, val_rows, names, batch)
        steps = len(x) // batch
    else:
        pad_to = batch if strategy.num_replicas_in_sync > 1 else None
        args = (names, size, batch)
        train_args = {
            "x": make_dataset(train_rows, data, *args, True, config.seed, pad_to, weights)
        }
        validation = make_dataset(val_rows, data, *args, False, config.seed, pad_to)
        steps = int(np.ceil(len(train_rows) / batch))

    with strategy.scope():
        base = make_model(size, None if config.weights == "none" else config.weights)
        if config.init_from:
            # e.g. a shipped models/TASK.onnx, or the unmasked-gender run for the masked one.
            init_weights(base, Path(config.init_from), data, train_rows, images, config.seed)
        model = training_model(base, size, config.grayscale, config.edge_fill)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate(config, steps)),
            loss="binary_crossentropy",
            weighted_metrics=[keras.metrics.BinaryAccuracy("accuracy", threshold=task.threshold)],
            jit_compile=keras.backend.backend() == "jax" and not config.eager,
            run_eagerly=config.eager,
        )

    print(
        f"{task.name}: train {len(train_rows)} {dict(zip(names, counts.tolist(), strict=True))}, "
        f"val {len(val_rows)}, test {len(test_rows)}, {size}px, {config.epochs} epochs, "
        f"keras {keras.__version__} on {keras.backend.backend()}, "
        f"{'arrays' if on_arrays else 'tf.data'}, "
        f"num_replicas_in_sync={strategy.num_replicas_in_sync}",
        flush=True,
    )
    started = time.time()
    model.fit(
        **train_args,
        validation_data=validation,
        epochs=config.epochs,
        callbacks=_callbacks(out, base, config),
        verbose=1 if _is_tty() else 2,
    )
    train_seconds = time.time() - started

    best = keras.saving.load_model(out / "best.keras") if (out / "best.keras").exists() else base
    best.save(out / "model.keras")
    write_labels(out, prepared)
    if config.half_parts:
        from train.run_model import save_half_parts

        save_half_parts(best, out)

    metrics = {
        "task": task.name,
        "train_seconds_this_session": round(train_seconds),
        "train_images": len(train_rows),
        "input_size": size,
        "best_epoch": json.loads((out / "best.json").read_text())["epoch"],
    }
    for split, split_rows_ in (("val", val_rows), ("test", test_rows)):
        if not split_rows_:  # a packed file of train and val alone: test is measured later
            continue
        p = keras_probabilities(best, crops_of(data, split_rows_, images))
        y = np.array([names.index(r["label"]) for r in split_rows_])
        metrics[split] = binary_metrics(
            y, p, names, [r["source"] for r in split_rows_], task.threshold
        )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    shown = "test" if "test" in metrics else "val"
    plot_confusion(
        metrics[shown]["confusion_matrix"],
        names,
        f"{task.name} {shown}: {metrics[shown]['accuracy']:.1%} of {metrics[shown]['n']}",
        out / "confusion_matrix.png",
    )
    plot_history(out / "history.csv", out / "training_curves.png")
    keras.backend.clear_session()
    return metrics


def check_init_from(source: Path | None) -> None:
    """Refuse an --init-from file that cannot be a run's model or an exported classifier."""
    if source is None:
        return
    source = Path(source)
    if source.suffix not in (".keras", ".onnx"):
        raise InputError(f"{source}: --init-from takes a .keras model or an .onnx file")
    if source.suffix == ".keras" and not zipfile.is_zipfile(source):
        raise InputError(f"{source}: not a Keras model file (a .keras file is a zip archive)")
    if source.suffix == ".onnx":
        from train.onnx_classifier import onnx_input_size

        onnx_input_size(source)  # reads the graph: a file that is not ONNX fails here


def init_weights(
    model, source: Path, data: Path, train_rows: list[dict], images, seed: int
) -> None:
    """Start from a run's .keras model or from a shipped .onnx classifier (its batch norms
    take their statistics from STATISTICS_CROPS real training crops); any input size."""
    if source.suffix != ".onnx":
        model.load_weights(source)
        return
    from train.onnx_classifier import STATISTICS_CROPS, load_onnx_weights

    real = list({r.get("file", r.get("index")): r for r in train_rows if is_real(r)}.values())
    picks = np.random.default_rng(seed).permutation(len(real))[:STATISTICS_CROPS]
    load_onnx_weights(model, source, crops_of(data, [real[i] for i in picks], images))
    print(f"started from {source} ({len(picks)} crops for the batch-norm statistics)")


def _strategy(kind: str):
    """No strategy (one device), or MirroredStrategy over all GPUs (two logical CPUs
    without one: a test); "mirrored" needs TensorFlow."""
    if kind != "mirrored":
        return _OneDevice()
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


class _OneDevice:
    """The strategy interface `fit` uses, for one device on any backend."""

    num_replicas_in_sync = 1

    def scope(self):
        import contextlib

        return contextlib.nullcontext()


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
