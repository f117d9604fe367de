"""Write a benchmark's result as OUT.json (data) and OUT.md (the table people read)."""

from __future__ import annotations

import json
from pathlib import Path


def save_report(out: Path, data: object, markdown: str) -> None:
    """OUT.json and OUT.md side by side, then the Markdown on stdout."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown)
    print(markdown)
