"""Write a benchmark's result as OUT.json (data) and OUT.md (the table people read), and
the argparse pieces that check --out and --models before a long measurement starts."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edge_runtime.manifest import DEFAULT_MODELS_DIR, ModelIntegrityError, check_models_folder
from train.inputs import InputError


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


def add_models_argument(parser: argparse.ArgumentParser) -> None:
    """--models, one or more models folders to compare (default: the package's)."""
    parser.add_argument(
        "--models",
        type=models_folder,
        nargs="+",
        default=[DEFAULT_MODELS_DIR],
        help="models folders",
    )


@contextmanager
def usage_errors(parser: argparse.ArgumentParser) -> Iterator[None]:
    """Input the measurement cannot use (prepared data, a model file or manifest that fails
    its check) as one usage line, exit 2, instead of a traceback."""
    try:
        yield
    except (InputError, ModelIntegrityError) as exc:
        parser.error(str(exc))
