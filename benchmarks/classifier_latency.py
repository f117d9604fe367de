"""`python -m benchmarks.classifier_latency A.onnx B.onnx ...`: one face crop through each
classifier file, side by side in one run, as the runtime runs it.

Each file gets the runtime's CPU session (`edge_runtime.sessions.create_session`, one
thread: one crop is not split) and one real-sized crop at its own input size. The files
take turns, a block of calls each, for several rounds, so a busy moment of the machine
falls on all of them alike. Reports the median and interquartile range per file, and with
`--flip` the flip-averaged pair (a batch of two) as the masked-gender model runs it.

    python -m benchmarks.classifier_latency models/gender_unmasked.onnx work/gu96.onnx \\
        --out benchmarks/results/classifier_latency
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from benchmarks.report import add_out_argument, save_report
from train.onnx_classifier import onnx_input_size


def measure(paths: list[Path], rounds: int, calls: int, flip: bool) -> dict:
    """Median and IQR of `rounds` x `calls` single-crop runs per file, files alternated."""
    from edge_runtime.sessions import create_session

    sessions, crops = [], []
    rng = np.random.default_rng(0)
    for path in paths:
        size = onnx_input_size(path)
        sessions.append(create_session(path, None, 1))
        batch = 2 if flip else 1
        crops.append(rng.uniform(0, 255, (batch, size, size, 3)).astype(np.float32))
    times: list[list[float]] = [[] for _ in paths]
    for session, crop in zip(sessions, crops, strict=True):  # warm-up
        for _ in range(5):
            session.run(["probability"], {"image": crop})
    for _ in range(rounds):
        for k, (session, crop) in enumerate(zip(sessions, crops, strict=True)):
            for _ in range(calls):
                started = time.perf_counter()
                session.run(["probability"], {"image": crop})
                times[k].append(1000 * (time.perf_counter() - started))
    rows = []
    for path, crop, spent in zip(paths, crops, times, strict=True):
        q1, median, q3 = np.percentile(spent, [25, 50, 75])
        rows.append(
            {
                "file": str(path),
                "input": int(crop.shape[1]),
                "batch": int(crop.shape[0]),
                "median_ms": round(float(median), 2),
                "iqr_ms": [round(float(q1), 2), round(float(q3), 2)],
                "runs": len(spent),
            }
        )
    return {"machine": f"{platform.machine()}, {platform.processor() or 'cpu'}", "rows": rows}


def to_markdown(result: dict) -> str:
    """The files as a table."""
    lines = [
        f"One face crop per call on {result['machine']}, one ONNX Runtime thread, files "
        "alternated in one run:",
        "",
        "| file | input | crops per call | median ms | IQR ms | calls |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| `{r['file']}` | {r['input']} px | {r['batch']} | {r['median_ms']:.2f} "
            f"| {r['iqr_ms'][0]:.2f}-{r['iqr_ms'][1]:.2f} | {r['runs']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.classifier_latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", type=Path, nargs="+", help="ONNX classifiers")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--calls", type=int, default=25, help="calls per file per round")
    parser.add_argument("--flip", action="store_true", help="a crop and its mirror per call")
    add_out_argument(parser)
    args = parser.parse_args(argv)
    result = measure(args.files, args.rounds, args.calls, args.flip)
    text = to_markdown(result)
    print(text)
    if args.out:
        save_report(args.out, result, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
