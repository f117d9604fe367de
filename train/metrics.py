"""Classification metrics and the PNGs people would rather look at than read."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def wilson_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for an accuracy of correct/total."""
    if total == 0:
        return (0.0, 0.0)
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


def binary_metrics(
    y_true: np.ndarray,
    p: np.ndarray,
    class_names: Sequence[str],
    sources: Sequence[str],
    threshold: float = 0.5,
) -> dict:
    """Accuracy (with 95% CI), per-class precision / recall / F1, confusion matrix, per source."""
    y_true = np.asarray(y_true, int)
    y_pred = (np.asarray(p) > threshold).astype(int)
    confusion = np.zeros((2, 2), int)
    np.add.at(confusion, (y_true, y_pred), 1)
    correct = int((y_true == y_pred).sum())
    per_class = {}
    for c, name in enumerate(class_names):
        tp = int(confusion[c, c])
        precision = tp / max(int(confusion[:, c].sum()), 1)
        recall = tp / max(int(confusion[c, :].sum()), 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-12)
        per_class[name] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": int(confusion[c, :].sum()),
            "error_rate": 1 - recall,
        }
    per_source = {}
    sources = np.asarray(sources)
    for source in sorted(set(sources.tolist())):
        sel = sources == source
        n, k = int(sel.sum()), int((y_true[sel] == y_pred[sel]).sum())
        per_source[source] = {
            "accuracy": k / n,
            "n": n,
            "ci95": wilson_interval(k, n),
            "per_class": {
                name: _class_errors(y_true[sel], y_pred[sel], c)
                for c, name in enumerate(class_names)
            },
        }
    return {
        "n": len(y_true),
        "accuracy": correct / max(len(y_true), 1),
        "ci95": wilson_interval(correct, len(y_true)),
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
        "confusion_rows": "true class, columns predicted, order " + " / ".join(class_names),
        "per_source": per_source,
    }


def _class_errors(y_true: np.ndarray, y_pred: np.ndarray, c: int) -> dict:
    """How many faces of class c there are and the share of them called the other class."""
    of_class = y_true == c
    n = int(of_class.sum())
    wrong = int((y_pred[of_class] != c).sum())
    return {"n": n, "error_rate": wrong / n if n else None, "ci95": wilson_interval(wrong, n)}


def plot_confusion(
    confusion: Sequence[Sequence[int]], class_names: Sequence[str], title: str, out: Path
) -> Path:
    """Confusion matrix PNG, counts and row percentages in each cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(confusion)
    fig, ax = plt.subplots(figsize=(4.2, 3.8), dpi=120)
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        share = value / max(matrix[i].sum(), 1)
        ax.text(
            j,
            i,
            f"{value}\n{share:.1%}",
            ha="center",
            va="center",
            color="white" if share > 0.5 else "black",
        )
    ax.set_xticks([0, 1], class_names)
    ax.set_yticks([0, 1], class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_history(history_csv: Path, out: Path, keys: Sequence[str] = ("loss", "accuracy")) -> Path:
    """`keys` per epoch, train against validation, from Keras' CSVLogger file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(history_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.5), dpi=110)
    for ax, key in zip(np.atleast_1d(axes), keys, strict=True):
        ax.plot(epochs, [float(r[key]) for r in rows], "o-", label="train")
        ax.plot(epochs, [float(r[f"val_{key}"]) for r in rows], "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_failures(
    images: np.ndarray,
    y_true: np.ndarray,
    p: np.ndarray,
    rows: Sequence[dict],
    class_names: Sequence[str],
    out: Path,
    threshold: float = 0.5,
    count: int = 16,
) -> Path:
    """PNG of the most confident mistakes on the test split: crop, truth, prediction, source."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pred = (p > threshold).astype(int)
    wrong = np.flatnonzero(pred != y_true)
    wrong = wrong[np.argsort(-np.abs(p[wrong] - threshold))][:count]
    columns = 8
    lines = max(1, -(-len(wrong) // columns))
    fig, axes = plt.subplots(
        lines, columns, figsize=(columns * 1.6, lines * 2.3), dpi=100, squeeze=False
    )
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), wrong, strict=False):
        ax.imshow(images[i].astype(np.uint8))
        ax.set_title(
            f"true {class_names[y_true[i]]}\nsaid {class_names[pred[i]]} "
            f"p={p[i]:.2f}\n{rows[i]['source']}",
            fontsize=6.5,
        )
    fig.suptitle(
        f"{len(wrong)} most confident mistakes of {int((pred != y_true).sum())}", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
