"""`python -m benchmarks.input_size`: what each classifier input size costs, to choose one.

    python -m benchmarks.input_size --sizes 64 96 112 --out benchmarks/results/input_size

For each size, the seed's EfficientNetV2S classifier (random weights: cost does not depend
on them) is timed twice: training images per second (Keras, batch 32, Adam, the median of
three timed epochs of 16 batches after a warm-up epoch) and ONNX Runtime latency for one
face crop (float32, the median and interquartile range of repeated runs). Accuracy per
size is a training run of its own.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from benchmarks.report import add_out_argument, save_report


def training_rate(
    size: int, batch: int = 32, batches: int = 16, repeats: int = 3
) -> tuple[float, object]:
    """Training images per second at `size` on this machine (the median of `repeats`
    timed epochs), and the model it trained."""
    import keras

    from train.model import make_model

    model = make_model(size)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch * batches, size, size, 3)).astype(np.float32)
    y = rng.integers(0, 2, batch * batches).astype(np.float32)
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # builds and traces the step
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        rates.append(len(x) / (time.perf_counter() - started))
    return float(np.median(rates)), model


def face_latency_ms(model, size: int, runs: int = 50) -> dict:
    """ONNX Runtime float32 latency for one crop: median and interquartile range, in ms."""
    import onnxruntime as ort

    from export.classifier import keras_to_onnx

    proto = keras_to_onnx(model, size)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    crop = np.random.default_rng(1).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
    for _ in range(5):
        session.run(["probability"], {"image": crop})
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        session.run(["probability"], {"image": crop})
        times.append(1000 * (time.perf_counter() - started))
    q1, median, q3 = np.percentile(times, [25, 50, 75])
    return {"median_ms": float(median), "iqr_ms": float(q3 - q1), "runs": runs}


def measure(sizes: list[int]) -> dict:
    """Both costs for each size, with the machine they were measured on."""
    rows = []
    for size in sizes:
        rate, model = training_rate(size)
        rows.append({"size": size, "train_images_per_s": rate, **face_latency_ms(model, size)})
        print(rows[-1], flush=True)
    return {"machine": f"{platform.machine()}, {platform.processor() or 'cpu'}", "rows": rows}


def to_markdown(result: dict) -> str:
    """The sizes as a table, relative to the smallest."""
    base = result["rows"][0]
    lines = [
        f"Input size cost on {result['machine']} (random weights, float32):",
        "",
        "| input | train images/s | relative epoch time | 1-face ONNX ms (median, IQR) |",
        "|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['size']} px | {r['train_images_per_s']:.1f} "
            f"| {base['train_images_per_s'] / r['train_images_per_s']:.2f}x "
            f"| {r['median_ms']:.1f} ({r['iqr_ms']:.1f}) |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.input_size",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 96, 112])
    add_out_argument(parser, required=True)
    args = parser.parse_args(argv)
    result = measure(args.sizes)
    save_report(args.out, result, to_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
