"""`python -m benchmarks.batch_throughput PHOTOS`: a batch job's photos per second in one
process and on a local Ray cluster with 1 and 2 actors, alternated in one run.

    python -m benchmarks.batch_throughput ../shared/data/scenes_voc/images \\
        --out benchmarks/results/batch_throughput

Each job writes its own output folder (Parquet); every job's tables must be identical to
the first in-process job's, or the benchmark fails. Ray's start-up (`ray.init` of a local
cluster) is timed apart from the jobs; each job's time includes loading the models in its
actors, as a real job's does.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.report import add_out_argument, save_report


def measure(sources: list[str], repeats: int, cpus: int) -> dict:
    """Jobs in one process and on Ray (1 and `cpus` actors), alternated `repeats` times."""
    import ray

    from edge_runtime.batch import run_batch
    from edge_runtime.batch_inputs import list_inputs
    from edge_runtime.batch_output import differences

    inputs = len(list_inputs(sources))
    started = time.perf_counter()
    ray.init(num_cpus=cpus, log_to_driver=False)
    startup = time.perf_counter() - started
    jobs = {
        "in-process": {},
        "ray, 1 actor": {"actors": 1},
        f"ray, {cpus} actors": {"actors": cpus},
    }
    seconds: dict[str, list[float]] = {name: [] for name in jobs}
    identical = True
    with tempfile.TemporaryDirectory() as tmp:
        reference = None
        for repeat in range(repeats):
            for name, kwargs in jobs.items():
                out = Path(tmp) / f"{repeat}-{name.replace(' ', '').replace(',', '-')}"
                summary = run_batch(sources, out, use_ray=bool(kwargs), progress=False, **kwargs)
                seconds[name].append(summary["seconds"])
                reference = reference or out
                identical = identical and not differences(reference, out)
                print(name, summary["seconds"], "s", flush=True)
    ray.shutdown()
    rows = []
    base = float(np.median(seconds["in-process"]))
    for name, spent in seconds.items():
        median = float(np.median(spent))
        rows.append(
            {
                "job": name,
                "seconds": spent,
                "median_s": round(median, 2),
                "images_per_s": round(inputs / median, 2),
                "relative_to_in_process": round(base / median, 3),
                "overhead_ms_per_image": round(1000 * (median - base) / inputs, 2),
            }
        )
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or 'cpu'}",
        "inputs": inputs,
        "ray_startup_s": round(startup, 2),
        "identical_outputs": identical,
        "rows": rows,
    }


def to_markdown(result: dict) -> str:
    lines = [
        f"Batch jobs over {result['inputs']} photos on {result['machine']}; jobs alternated, "
        f"median of {len(result['rows'][0]['seconds'])}. Ray start-up (local cluster): "
        f"{result['ray_startup_s']} s, not in the jobs' times. Outputs identical: "
        f"{result['identical_outputs']}.",
        "",
        "| job | seconds (each run) | images/s | of in-process | extra ms per image |",
        "|---|---|---:|---:|---:|",
    ]
    for r in result["rows"]:
        runs = ", ".join(f"{s:.1f}" for s in r["seconds"])
        lines.append(
            f"| {r['job']} | {runs} | {r['images_per_s']:.1f} "
            f"| {r['relative_to_in_process']:.0%} | {r['overhead_ms_per_image']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.batch_throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("sources", nargs="+", help="photos: folders, globs, list files")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    add_out_argument(parser)
    args = parser.parse_args(argv)
    result = measure(args.sources, args.repeats, args.cpus)
    text = to_markdown(result)
    print(text)
    if args.out:
        save_report(args.out, result, text)
    return 0 if result["identical_outputs"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
