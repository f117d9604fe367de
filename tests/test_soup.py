"""`python -m train soup`: the mean of runs' weights (batch-norm statistics too), refused
for runs that differ in task, classes, input size or crop, and never written over a run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def finished_run(folder: Path, size: int, threshold: float) -> Path:
    """A run folder as fit leaves it: a model (its own random weights) and labels.json."""
    from train.model import make_model

    folder.mkdir()
    model = make_model(size)
    rng = np.random.default_rng(int(threshold * 100))
    for layer in model.layers[1].layers:  # batch-norm statistics differ between the runs too
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            mean = rng.normal(0, 0.2, mean.shape).astype(np.float32)
            var = rng.uniform(0.5, 2, var.shape).astype(np.float32)
            layer.set_weights([gamma, beta, mean, var])
    model.save(folder / "model.keras")
    labels = {"task": "gender_masked", "class_names": ["Female", "Male"], "input_size": size}
    labels.update(threshold=threshold, flip=True, margin=0.2)
    (folder / "labels.json").write_text(json.dumps(labels))
    return folder


def test_a_soup_holds_the_mean_weights_and_neutral_labels(tmp_path: Path):
    from train.__main__ import main
    from train.run_model import load_run_model
    from train.soup import soup

    a = finished_run(tmp_path / "a", 32, 0.6)
    b = finished_run(tmp_path / "b", 32, 0.4)
    assert main(["soup", "--runs", str(a), str(b), "--out", str(tmp_path / "soup")]) in (0, None)
    wa, wb, ws = (load_run_model(r).get_weights() for r in (a, b, tmp_path / "soup"))
    floats = [i for i, w in enumerate(wa) if np.issubdtype(w.dtype, np.floating)]
    assert any(not np.allclose(wa[i], wb[i]) for i in floats)  # two different models
    for i in floats:
        np.testing.assert_allclose(ws[i], (wa[i] + wb[i]) / 2, rtol=1e-6, atol=1e-7)
    labels = json.loads((tmp_path / "soup" / "labels.json").read_text())
    assert (labels["threshold"], labels["flip"], labels["input_size"]) == (0.5, False, 32)
    config = json.loads((tmp_path / "soup" / "config.json").read_text())
    assert config["soup_of"] == [str(a), str(b)]
    with pytest.raises(ValueError, match="not empty"):  # never over a run
        soup([a, b], a)
    other = tmp_path / "other"  # refused from its labels, before any model is read
    other.mkdir()
    (other / "labels.json").write_text(json.dumps({**labels, "margin": 0.3}))
    with pytest.raises(ValueError, match="2\\+ runs alike in task, class_names"):
        soup([a, other], tmp_path / "mixed")
