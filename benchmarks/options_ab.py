"""`python -m benchmarks.options_ab PHOTO... --set NAME=VALUE`: `Pipeline.run` end to end with
its default options and with per-photo options changed, call by call in turns, so that a busy
moment of the machine falls on both alike.

    python -m benchmarks.options_ab ../shared/data/scenes_voc/images/maksssksksss163.jpg \\
        ../shared/data/scenes_voc/images/maksssksksss202.jpg --vga --set no_flip=true \\
        --out benchmarks/results/no_flip

`--vga` resizes each photo to 640x480 first, as the latency suite's photos are.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.report import add_out_argument, save_report


def measure(photos: list[Path], changes: dict, calls: int, vga: bool) -> dict:
    """Median and IQR of `calls` runs per photo and setting, the two settings alternated."""
    import cv2

    from edge_runtime.image_io import load_image
    from edge_runtime.pipeline import Pipeline

    rows = []
    with Pipeline() as pipeline:
        for photo in photos:
            image = load_image(photo)
            if vga:
                image = cv2.resize(image, (640, 480), interpolation=cv2.INTER_LINEAR)
            settings = ({}, changes)
            for options in settings * 3:  # warm-up: every model this photo needs is loaded
                result = pipeline.run(image, **options)
            spent: tuple[list[float], list[float]] = ([], [])
            for i in range(2 * calls):
                started = time.perf_counter()
                pipeline.run(image, **settings[i % 2])
                spent[i % 2].append(1000 * (time.perf_counter() - started))
            row = {
                "photo": photo.name,
                "faces": len(result.faces),
                "masked": sum(bool(f.mask) for f in result.faces),
            }
            for name, times in zip(("default", "changed"), spent, strict=True):
                q1, median, q3 = np.percentile(times, [25, 50, 75])
                row[name] = {"median_ms": round(float(median), 1), "iqr_ms": round(q3 - q1, 1)}
            rows.append(row)
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs"
    return {"machine": machine, "changes": changes, "calls": calls, "vga": vga, "rows": rows}


def to_markdown(result: dict) -> str:
    """One row per photo: default against changed options, median (IQR) ms."""
    changed = ", ".join(f"{k}={v}" for k, v in result["changes"].items())
    resized = ", photos at 640x480" if result["vga"] else ""
    lines = [
        f"`Pipeline.run` on {result['machine']}, default options and `{changed}` alternated "
        f"call by call, {result['calls']} calls each{resized}:",
        "",
        f"| photo | faces (masked) | default: median (IQR) ms | {changed}: median (IQR) ms |",
        "|---|---:|---:|---:|",
    ]
    for r in result["rows"]:
        a, b = r["default"], r["changed"]
        lines.append(
            f"| `{r['photo']}` | {r['faces']} ({r['masked']}) | {a['median_ms']} ({a['iqr_ms']}) "
            f"| {b['median_ms']} ({b['iqr_ms']}) |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, measure, print (and save with --out)."""
    from edge_runtime.image_io import ImageLoadError
    from edge_runtime.options import Options, from_query, positive_int

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.options_ab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("photos", type=Path, nargs="+")
    parser.add_argument(
        "--set",
        action="append",
        required=True,
        metavar="NAME=VALUE",
        help=f"a per-photo option to change: {', '.join(Options.PER_CALL)}",
    )
    parser.add_argument(
        "--calls", type=positive_int, default=150, help="calls per photo and setting"
    )
    parser.add_argument("--vga", action="store_true", help="resize each photo to 640x480")
    add_out_argument(parser)
    args = parser.parse_args(argv)
    wanted = dict(s.split("=", 1) for s in args.set if "=" in s)
    if len(wanted) != len(args.set) or not set(wanted) <= set(Options.PER_CALL):
        parser.error(f"--set takes NAME=VALUE, NAME one of {', '.join(Options.PER_CALL)}")
    try:
        changes = from_query(wanted, Options())
    except ValueError as exc:
        parser.error(str(exc))
    try:
        result = measure(args.photos, changes, args.calls, args.vga)
    except ImageLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = to_markdown(result)
    if args.out:
        save_report(args.out, result, text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
