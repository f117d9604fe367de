"""The models manifest: one JSON file that names every shipped model and how to check it.

Every model file is listed with its sha256, input shape and preprocessing, so the
runtime can refuse a file that was swapped or damaged, and a reader can see what a
model expects without opening it. Writers (the export step) and readers (the
runtime) share this module so the format has one definition.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
_PACKAGE = Path(__file__).resolve().parent
# Installed from a wheel, the models are package data (edge_runtime/models); in a checkout
# or an editable install, the repository's models/ folder. EDGE_MODELS_DIR overrides both.
DEFAULT_MODELS_DIR = Path(
    os.environ.get("EDGE_MODELS_DIR")
    or next(
        (
            d
            for d in (_PACKAGE / "models", _PACKAGE.parent / "models")
            if (d / "manifest.json").exists()
        ),
        _PACKAGE.parent / "models",
    )
)


class ModelIntegrityError(RuntimeError):
    """A model file is missing, unlisted or does not match its manifest entry."""


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(models_dir: Path) -> dict[str, Any]:
    """The manifest of a models folder; an empty one where the folder has none yet."""
    path = Path(models_dir) / MANIFEST_NAME
    if not path.exists():
        return {"format": MANIFEST_FORMAT, "models": {}}
    return json.loads(path.read_text())


def write_entry(models_dir: Path, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Add or replace one model's entry, hashing its file; returns the stored entry."""
    models_dir = Path(models_dir)
    manifest = read_manifest(models_dir)
    entry = dict(entry)
    entry["sha256"] = sha256_of(models_dir / entry["file"])
    entry["bytes"] = (models_dir / entry["file"]).stat().st_size
    manifest["models"][name] = entry
    manifest["models"] = dict(sorted(manifest["models"].items()))
    (models_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return entry


def verified_model(models_dir: Path, name: str) -> tuple[Path, dict[str, Any]]:
    """Path and manifest entry of a model, after checking its sha256.

    Raises ModelIntegrityError with a one-line reason when the entry or the file is
    missing or the hash differs.
    """
    models_dir = Path(models_dir)
    entry = read_manifest(models_dir)["models"].get(name)
    if entry is None:
        raise ModelIntegrityError(f"model '{name}' is not listed in {models_dir / MANIFEST_NAME}")
    path = models_dir / entry["file"]
    if not path.is_file():
        raise ModelIntegrityError(f"model file {path} is missing")
    actual = sha256_of(path)
    if actual != entry["sha256"]:
        raise ModelIntegrityError(
            f"model file {path} has sha256 {actual[:12]}..., the manifest expects "
            f"{entry['sha256'][:12]}...: the file was changed or damaged"
        )
    return path, entry
