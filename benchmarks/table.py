"""Turn a pytest-benchmark JSON file into a Markdown table: median, IQR, min, max and ratio.

python -m benchmarks.table benchmarks/results/detect.json --per 8
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def markdown_table(results: dict, per: int = 1) -> str:
    """One row per benchmark, times in ms divided by `per`, ratio to the fastest in its group."""
    rows = [
        "| group | benchmark | median ms | IQR ms | min ms | max ms | rounds | x fastest |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    benches = results["benchmarks"]
    fastest: dict[str, float] = {}
    for b in benches:
        group = b.get("group") or ""
        fastest[group] = min(fastest.get(group, float("inf")), b["stats"]["median"])
    for b in sorted(benches, key=lambda b: (b.get("group") or "", b["stats"]["median"])):
        s, group = b["stats"], b.get("group") or ""
        ms = [1000 * s[k] / per for k in ("median", "iqr", "min", "max")]
        rows.append(
            f"| {group} | {b['name']} | {ms[0]:.1f} | {ms[1]:.1f} | {ms[2]:.1f} | {ms[3]:.1f} "
            f"| {s['rounds']} | {s['median'] / fastest[group]:.2f} |"
        )
    return "\n".join(rows)


def bar_chart(results: dict, out: Path, per: int = 1) -> Path:
    """Horizontal bars: median ms of every benchmark (log scale), whiskers from p25 to p75."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benches = sorted(results["benchmarks"], key=lambda b: (b.get("group") or "", b["name"]))
    labels = [f"{b.get('group') or ''} | {b['name'].removeprefix('test_')}" for b in benches]
    median = [1000 * b["stats"]["median"] / per for b in benches]
    low = [m - 1000 * b["stats"]["q1"] / per for m, b in zip(median, benches, strict=True)]
    high = [1000 * b["stats"]["q3"] / per - m for m, b in zip(median, benches, strict=True)]
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(benches) + 1.2), dpi=110)
    ax.barh(range(len(benches)), median, xerr=[low, high], color="#4a7fb5", capsize=2)
    for i, m in enumerate(median):
        ax.text(m * 1.08, i, f"{m:.1f} ms", va="center", fontsize=7)
    ax.set_yticks(range(len(benches)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("median ms (log scale), whiskers: interquartile range")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("json_file", type=Path)
    parser.add_argument("--per", type=int, default=1, help="divide times by this (items per round)")
    parser.add_argument("--png", type=Path, default=None, help="also draw a bar chart here")
    args = parser.parse_args()
    machine = json.loads(args.json_file.read_text())["machine_info"]
    print(
        f"machine: {machine.get('cpu', {}).get('brand_raw', '?')}, "
        f"{machine.get('cpu', {}).get('count', '?')} logical CPUs\n"
    )
    results = json.loads(args.json_file.read_text())
    print(markdown_table(results, args.per))
    if args.png:
        bar_chart(results, args.png, args.per)


if __name__ == "__main__":
    main()
