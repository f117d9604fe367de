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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("json_file", type=Path)
    parser.add_argument("--per", type=int, default=1, help="divide times by this (items per round)")
    args = parser.parse_args()
    machine = json.loads(args.json_file.read_text())["machine_info"]
    print(
        f"machine: {machine.get('cpu', {}).get('brand_raw', '?')}, "
        f"{machine.get('cpu', {}).get('count', '?')} logical CPUs\n"
    )
    print(markdown_table(json.loads(args.json_file.read_text()), args.per))


if __name__ == "__main__":
    main()
