"""`python -m train soup`: one model whose weights are the mean of several runs' ("model
soup", Wortsman et al. 2022), for runs fine-tuned from the same start. It costs nothing at
run time; `calibrate` then scores it on validation like any run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from train.inputs import InputError, read_run_labels


def mean_weights(weight_lists: Sequence[Sequence[np.ndarray]]) -> list[np.ndarray]:
    """Element-wise mean of each floating-point weight (batch-norm statistics included);
    any other variable is taken from the first model (Keras lists none today)."""
    return [
        np.mean(arrays, axis=0).astype(arrays[0].dtype)
        if np.issubdtype(arrays[0].dtype, np.floating)
        else arrays[0]
        for arrays in zip(*weight_lists, strict=True)
    ]


def soup(runs: Sequence[Path], out: Path) -> Path:
    """Write out/model.keras, the mean of the runs' models, with their labels at threshold
    0.5; returns the new run folder, ready for `calibrate`."""
    runs, out = [Path(r) for r in runs], Path(out)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty: a soup goes into a new run folder")
    labels = [read_run_labels(r) for r in runs]
    fields = ("task", "class_names", "input_size", "margin", "preprocessing")
    kinds = {json.dumps([lab.get(f) for f in fields]) for lab in labels}
    if len(runs) < 2 or len(kinds) != 1:
        raise InputError(
            f"a soup needs 2+ runs alike in {', '.join(fields)}; these differ: {sorted(kinds)}"
        )
    from train.model import make_model
    from train.run_model import load_run_model

    model = make_model(int(labels[0]["input_size"]))
    model.set_weights(mean_weights([load_run_model(r).get_weights() for r in runs]))
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    neutral = {**labels[0], "threshold": 0.5, "flip": False}  # until `calibrate` chooses
    (out / "labels.json").write_text(json.dumps(neutral, indent=2) + "\n")
    sources = [str(r) for r in runs]
    (out / "config.json").write_text(json.dumps({"soup_of": sources}, indent=2) + "\n")
    metrics = {"task": labels[0]["task"], "soup_of": sources}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return out
