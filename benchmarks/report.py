"""Write a benchmark's result as OUT.json (data) and OUT.md (the table people read), and
the argparse types that check --out and --models before a long measurement starts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge_runtime.manifest import ModelIntegrityError, check_models_folder


def save_report(out: Path, data: object, markdown: str) -> None:
    """OUT.json and OUT.md side by side, then the Markdown on stdout."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown)
    print(markdown)


def add_out_argument(
    parser: argparse.ArgumentParser, required: bool = False, default: Path | None = None
) -> None:
    """--out, the path stem of OUT.json and OUT.md, checked when the command line is read."""
    parser.add_argument(
        "--out",
        type=report_stem,
        required=required,
        default=default,
        help="path stem for .md and .json",
    )


def report_stem(text: str) -> Path:
    """argparse type for --out: a usage error now, not a traceback after the run, when the
    stem is a folder or a folder on its way is a file."""
    out = Path(text)
    if out.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; give a path stem in it")
    for folder in out.parents:
        if folder.exists() and not folder.is_dir():
            raise argparse.ArgumentTypeError(f"{folder} is a file, not a folder")
    return out


def models_folder(text: str) -> Path:
    """argparse type for --models: a usage error unless the folder holds a manifest."""
    try:
        check_models_folder(Path(text))
    except ModelIntegrityError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return Path(text)
