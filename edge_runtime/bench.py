"""A self-contained latency check a user runs on their own device (`--benchmark`)."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from pathlib import Path

import numpy as np

STAGES = ("decode", "detect", "crop", "mask", "gender", "total")
DEFAULT_RUNS = 20


def run_benchmark(
    pipeline, paths: Sequence[Path], runs: int = DEFAULT_RUNS, warmup: int = 2
) -> dict:
    """Milliseconds per stage over `runs` passes through every photo (after `warmup` passes),
    with the options that differ from the defaults."""
    import onnxruntime as ort

    from edge_runtime.options import Options

    defaults = Options().to_dict()
    changed = {k: v for k, v in pipeline.options.to_dict().items() if v != defaults[k]}
    samples: dict[str, list[float]] = {s: [] for s in STAGES}
    for i in range(warmup + runs):
        for path in paths:
            speed = pipeline.run(path).speed
            if i >= warmup:
                for stage in STAGES:
                    samples[stage].append(speed.get(stage, 0.0))
    stats = {
        stage: {
            "median": float(np.median(v)),
            "p10": float(np.percentile(v, 10)),
            "p90": float(np.percentile(v, 90)),
        }
        for stage, v in samples.items()
    }
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "onnxruntime": ort.__version__,
        "providers": pipeline.detector.pnet.get_providers(),
        "options": changed,
        "photos": [str(p) for p in paths],
        "runs": runs,
        "ms": stats,
    }


def format_report(report: dict) -> str:
    """The benchmark as a short text table."""
    lines = [
        f"machine: {report['machine']}; onnxruntime {report['onnxruntime']}",
        f"providers: {', '.join(report['providers'])}",
        "options: " + (", ".join(f"{k}={v}" for k, v in report["options"].items()) or "defaults"),
        f"{len(report['photos'])} photo(s) x {report['runs']} runs",
        "",
        f"{'stage':<8}{'median ms':>11}{'p10':>9}{'p90':>9}",
    ]
    for stage, s in report["ms"].items():
        lines.append(f"{stage:<8}{s['median']:>11.1f}{s['p10']:>9.1f}{s['p90']:>9.1f}")
    return "\n".join(lines)
