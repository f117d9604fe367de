"""`python -m train.fit_packed`: train on packed crops with any Keras backend (JAX on a GPU).

For a GPU machine without TensorFlow: Keras 3 on JAX, data from `train.packed`, the same
`make_model` and `augmentation` as `python -m train fit`. One model goes through phases
(e.g. unmasked gender, then masked gender starting from it); each phase has a time budget
with a cosine learning rate over that time, keeps the weights of its best validation epoch
and writes them (float16, split into parts small enough to copy back) with its history.
The compiled step is reused across phases: the learning rate is a variable set each epoch,
and training arrays are cut to whole batches so no shape changes.
`load_weights_npz` puts such weights into a model built here (TensorFlow backend).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

PART_BYTES = 15 * 1024 * 1024


def weights_to_npz(model, path: Path, dtype=np.float16) -> list[Path]:
    """Save weights by position with their paths; split into parts of at most PART_BYTES."""
    arrays = {f"w{i:04d}": np.asarray(w).astype(dtype) for i, w in enumerate(model.get_weights())}
    arrays["paths"] = np.array([w.path for w in model.weights])
    np.savez(path, **arrays)
    blob = Path(path).read_bytes()
    parts = []
    for k in range(math.ceil(len(blob) / PART_BYTES)):
        part = Path(f"{path}.part{k}")
        part.write_bytes(blob[k * PART_BYTES : (k + 1) * PART_BYTES])
        parts.append(part)
    return parts


def load_weights_npz(model, path: Path) -> None:
    """Set a model's weights from `weights_to_npz` output (parts are joined if needed)."""
    path = Path(path)
    if not path.exists():
        parts = sorted(path.parent.glob(path.name + ".part*"), key=lambda p: int(p.suffix[5:]))
        path.write_bytes(b"".join(p.read_bytes() for p in parts))
    with np.load(path) as z:
        paths = [str(p) for p in z["paths"]]
        arrays = [z[f"w{i:04d}"] for i in range(len(paths))]
    if [w.path for w in model.weights] != paths:
        raise ValueError(f"{path}: weights were saved from a model of another structure")
    model.set_weights([a.astype(np.float32) for a in arrays])


def _real_faces(packed: dict, split: int) -> np.ndarray:
    """Mask of one split's real faces: validation and test never use synthetic masks."""
    return (packed["split"] == split) & ~packed["synthetic"]


def _train_arrays(packed: dict, batch: int, real_repeat: int, seed: int):
    """Training images (float32), labels and class-balancing weights, cut to whole batches.

    Where the training split mixes synthetic and real masked faces, the real ones are
    repeated `real_repeat` times: they are few, and the ones the model will meet.
    """
    from train.fit import repeat_real

    rng = np.random.default_rng(seed)
    train = np.flatnonzero(packed["split"] == 0)
    idx = np.array(repeat_real(list(train), ~packed["synthetic"][train], real_repeat))
    idx = rng.permutation(idx)[: len(idx) // batch * batch]
    y = packed["label"][idx]
    counts = np.bincount(y.astype(int), minlength=2)
    weight = (len(y) / (2 * np.maximum(counts, 1)))[y.astype(int)].astype(np.float32)
    return packed["image"][idx].astype(np.float32), y, weight


def _padded(images: np.ndarray, batch: int) -> np.ndarray:
    extra = (-len(images)) % batch
    return np.concatenate([images, images[:extra]]) if extra else images


def _predict(model, images: np.ndarray, batch: int) -> np.ndarray:
    """Probabilities with every batch full, so a compiled predict step is reused."""
    p = model.predict(_padded(images, batch), batch_size=batch, verbose=0).reshape(-1)
    return p[: len(images)]


def _accuracy(model, images: np.ndarray, labels: np.ndarray, batch: int) -> tuple[float, float]:
    p = _predict(model, images, batch)
    eps = 1e-7
    loss = -np.mean(labels * np.log(p + eps) + (1 - labels) * np.log(1 - p + eps))
    return float(np.mean((p > 0.5) == (labels > 0.5))), float(loss)


def run_phase(model, name: str, packed: dict, args, out: Path) -> dict:
    """Train `model` (already compiled) on one packed task within a time budget."""
    import keras

    x, y, w = _train_arrays(packed, args.batch_size, args.real_repeat, args.seed)
    val, test = _real_faces(packed, 1), _real_faces(packed, 2)
    if not val.any() or not len(x):
        raise SystemExit(f"{name}: needs real validation faces and a full training batch")
    print(f"{name}: train {len(x)}, val {val.sum()}, test {test.sum()}", flush=True)
    budget, lr0 = args.budget[name], args.lr[name]
    history, best = [], {"val_accuracy": -1.0, "val_loss": 1e9}
    state = {"start": None}

    class Schedule(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            state["epoch_start"] = time.time()
            used = 0.0 if state["start"] is None else time.time() - state["start"]
            done = min(used / budget, 1.0) if budget > 0 else 0.0
            lr = lr0 * 0.5 * (1 + math.cos(math.pi * done))
            self.model.optimizer.learning_rate = max(lr, lr0 * 0.01)

        def on_epoch_end(self, epoch, logs=None):
            if state["start"] is None:  # the first epoch includes compilation
                state["start"] = time.time()
            acc, loss = _accuracy(self.model, packed["image"][val], packed["label"][val], 256)
            row = {
                "epoch": epoch + 1,
                "lr": float(np.asarray(self.model.optimizer.learning_rate)),
                "loss": float(logs["loss"]),
                "accuracy": float(logs["accuracy"]),
                "val_accuracy": acc,
                "val_loss": loss,
                "seconds": round(time.time() - t0, 1),
                "images_per_s": round(len(x) / (time.time() - state["epoch_start"]), 1),
            }
            history.append(row)
            print(json.dumps(row), flush=True)
            if (acc, -loss) > (best["val_accuracy"], -best["val_loss"]):
                best.update(val_accuracy=acc, val_loss=loss, epoch=epoch + 1)
                best["weights"] = self.model.get_weights()
            if time.time() - state["start"] >= budget:
                self.model.stop_training = True

    t0 = time.time()
    model.fit(
        x,
        y,
        sample_weight=w,
        batch_size=args.batch_size,
        epochs=100_000,
        shuffle=True,
        callbacks=[Schedule()],
        verbose=0,
    )
    model.set_weights(best.pop("weights"))
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    parts = weights_to_npz(trained_base(model), folder / "weights.npz")
    (folder / "weights.npz").unlink()
    test_p = _predict(model, packed["image"][test], 256)
    test_acc = float(np.mean((test_p > 0.5) == (packed["label"][test] > 0.5)))
    summary = {
        "phase": name,
        "seconds": round(time.time() - t0),
        "epochs": len(history),
        "best": best,
        "test_accuracy_float32_on_device": test_acc,
        "test_n": int(test.sum()),
        "val_n": int(val.sum()),
        "parts": [p.name for p in parts],
        "test_p": [round(float(p), 5) for p in test_p],
        "history": history,
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: summary[k] for k in ("phase", "seconds", "epochs", "best")}), flush=True)
    return summary


def trained_base(model):
    """The classifier inside the training model (without its augmentation layers)."""
    return model.get_layer("efficientnetv2s_binary")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m train.fit_packed", description=__doc__)
    parser.add_argument(
        "--phase",
        nargs=4,
        action="append",
        metavar=("NAME", "PACKED", "SECONDS", "LR"),
        required=True,
        help="one phase: its name, packed .npz, time budget and peak learning rate",
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--real-repeat", type=int, default=1, help="repeat real faces where synthetic ones mix in"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import keras

    from train.model import augmentation, make_model
    from train.packed import load_packed

    args.budget = {p[0]: float(p[2]) for p in args.phase}
    args.lr = {p[0]: float(p[3]) for p in args.phase}
    keras.utils.set_random_seed(args.seed)
    print(f"keras {keras.__version__} backend {keras.backend.backend()}", flush=True)
    packed = {}
    for name, path, _, _ in args.phase:
        started = time.time()
        packed[name] = load_packed(Path(path))
        print(f"loaded {path}: {len(packed[name]['label'])} crops in {time.time() - started:.0f} s")
    size = int(next(iter(packed.values()))["prepare"]["size"])
    base = make_model(size)
    augment = augmentation()
    if keras.backend.backend() == "jax":
        # Keras marks RandomRotation/Zoom/Translation as not XLA-compilable (true of
        # TensorFlow's kernels), which turns off jit for the whole step; under JAX their
        # ops compile, and an un-jitted step ran at 32 images/s on an H200.
        for layer in (augment, *augment.layers):
            layer.supports_jit = True
    inputs = keras.Input((size, size, 3), name="image")
    model = keras.Model(inputs, base(augment(inputs)), name="train_model")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="binary_crossentropy",
        metrics=["accuracy"],
        jit_compile=keras.backend.backend() == "jax",
    )
    print(f"jit_compile={model.jit_compile}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, *_ in args.phase:
        run_phase(model, name, packed[name], args, args.out)


if __name__ == "__main__":
    main()
