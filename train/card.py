"""`python -m train card`: the results part of models/README.md, from the runs' own files.

Every number in the card comes from a run folder (config.json, history.csv, metrics.json)
or the models manifest, so the card cannot drift from what was measured.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from edge_runtime.manifest import ClassifierEntry, read_manifest
from train.inputs import InputError

GOALS = {
    "mask": "test >= 97%, and >= 95% on each source of faces_mask",
    "gender_unmasked": ">= 95% on each source's test part (utk, gdf, celeba, lfw, halfface), "
    "error rates on women and men within 3 points of each other",
    "gender_masked": ">= 91% on the real masked test faces (peng / pengeye, halfface; "
    "rwmfd, cdb, fm12k: labelled by eye)",
}


def pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def ci(interval) -> str:
    return f"[{pct(interval[0])}, {pct(interval[1])}]"


def fit_recipe(task: str, run: Path, config: dict, metrics: dict) -> list[str]:
    """The fit command of a run and what its history says about it."""
    with open(run / "history.csv", newline="") as f:
        history = list(csv.DictReader(f))
    wall = (run / "model.keras").stat().st_mtime - (run / "config.json").stat().st_mtime
    best = max(history, key=lambda r: float(r["val_accuracy"]))
    return [
        f"Recipe: `python -m train fit --task {task} --data work/data/{task} "
        f"--out work/runs/{task} --epochs {config['epochs']} --batch-size {config['batch_size']} "
        f"--lr {config['lr']} --schedule {config['schedule']}"
        + (f" --warmup-epochs {config['warmup_epochs']}" if config["warmup_epochs"] else "")
        + f" --patience {config['patience']}"
        + (f" --real-repeat {config['real_repeat']}" if config.get("real_repeat", 1) > 1 else "")
        + (f" --init-from {config['init_from']}" if config.get("init_from") else "")
        + (f" --grayscale {config['grayscale']}" if config.get("grayscale") else "")
        + (f" --edge-fill {config['edge_fill']}" if config.get("edge_fill") else "")
        + "`",
        "",
        f"- input {metrics['input_size']} px, "
        + (
            f"started from `{config['init_from']}`"
            if config.get("init_from")
            else f"weights from scratch (`--weights {config['weights']}`)"
        )
        + f", {metrics['train_images']} training crops, "
        f"{len(history)} epochs run, best validation accuracy {pct(float(best['val_accuracy']))} "
        f"at epoch {int(best['epoch']) + 1}; wall time {wall / 60:.0f} min on the 2-core CPU "
        "machine",
    ]


def soup_recipe(task: str, config: dict) -> list[str]:
    """A weight-averaged run has no training of its own: its runs' folders hold theirs."""
    return [
        f"Recipe: `python -m train soup --runs {' '.join(config['soup_of'])} "
        f"--out work/runs/{task}`",
        "",
        f"- the mean of {len(config['soup_of'])} runs' weights; each run's own recipe is in "
        "its folder's config.json",
    ]


def run_section(task: str, run: Path, entry: ClassifierEntry | None) -> str:
    """Markdown for one model: recipe, test results overall / per source / per class."""
    config = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    test = metrics["test"]
    if "soup_of" in config:
        recipe = soup_recipe(task, config)
    else:
        recipe = fit_recipe(task, run, config, metrics)
    lines = [
        f"### `{task}`",
        "",
        *recipe,
        f"- goal: {GOALS[task]}",
        *calibration_lines(metrics.get("calibration")),
        "",
        f"**Test: {pct(test['accuracy'])} of {test['n']} images, 95% CI {ci(test['ci95'])}** "
        "(Wilson interval)",
        "",
        "| class | n | recall | error rate | precision | F1 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, c in test["per_class"].items():
        lines.append(
            f"| {name} | {c['support']} | {pct(c['recall'])} | {pct(c['error_rate'])} "
            f"| {pct(c['precision'])} | {c['f1']:.3f} |"
        )
    names = list(test["per_class"])
    lines += [
        "",
        f"| source | n | accuracy | 95% CI | {names[0]} error (n) | {names[1]} error (n) |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for source, s in test["per_source"].items():
        errors = [
            f"{pct(c['error_rate'])} ({c['n']})" if c["n"] else "- (0)"
            for c in s.get("per_class", {}).values()
        ] or ["", ""]
        lines.append(
            f"| {source} | {s['n']} | {pct(s['accuracy'])} | {ci(s['ci95'])} "
            f"| {errors[0]} | {errors[1]} |"
        )
    matrix = test["confusion_matrix"]
    lines += [
        "",
        f"Confusion matrix (rows true, columns predicted; {names[0]}, {names[1]}): {matrix}.",
        "",
    ]
    if entry:
        gate = entry.model.provenance["parity"]
        half = gate.get("float16_weights")
        int8 = gate.get("int8")
        lines.append(
            f"Shipped file `models/{entry.model.file}`: {entry.model.bytes / 1e6:.1f} MB, "
            f"weights {entry.weights_dtype}; export gate on these {gate['float32']['n']} test "
            "crops: "
            f"float32 ONNX agrees with Keras on {pct(gate['float32']['label_agreement'])} of "
            f"labels, max |dp| {gate['float32']['max_abs_dp']:.1e}"
            + (
                f"; float16 weights agree on {pct(half['label_agreement'])}, max |dp| "
                f"{half['max_abs_dp']:.1e}"
                if half
                else ""
            )
            + (
                f"; int8 (static QDQ, per-channel) agrees on {pct(int8['label_agreement'])} of "
                f"labels, accuracy {pct(int8['accuracy'])} against Keras "
                f"{pct(int8['accuracy_keras'])}, max |dp| {int8['max_abs_dp']:.2f}"
                if int8
                else ""
            )
            + "."
        )
        lines.append("")
    return "\n".join(lines)


def calibration_lines(calibration: dict | None) -> list[str]:
    """The threshold and flip choice of `python -m train calibrate`, as card bullets."""
    if not calibration:
        return ["- decision threshold 0.5 (not calibrated)"]
    e0, e1 = calibration["val_error_rates_at_0.5"]
    c0, c1 = calibration["val_error_rates_chosen"]
    gain = calibration["val_accuracy_flip"] - calibration["val_accuracy_plain"]
    return [
        f"- decision threshold {calibration['threshold']:.3f}, chosen on the "
        f"{calibration['val_n']} validation faces for equal error rates on both classes "
        f"(`python -m train calibrate`): validation error rates {pct(e0)} / {pct(e1)} at 0.5, "
        f"{pct(c0)} / {pct(c1)} at the chosen threshold",
        f"- horizontal-flip averaging {'kept' if calibration['flip'] else 'not kept'}: "
        f"{gain * 100:+.2f} points of validation accuracy "
        f"({pct(calibration['val_accuracy_plain'])} -> {pct(calibration['val_accuracy_flip'])}, "
        f"each at its own balanced threshold; kept from +{calibration['min_flip_gain'] * 100:.1f})",
    ]


def results_markdown(runs: Path, models: Path) -> str:
    """The results sections of all three models that have finished runs."""
    manifest = read_manifest(models)
    parts = []
    for task in ("mask", "gender_unmasked", "gender_masked"):
        if (runs / task / "metrics.json").exists():
            entry = manifest.classifier(task) if task in manifest.models else None
            parts.append(run_section(task, runs / task, entry))
    if not parts:
        raise InputError(f"{runs}: no finished runs (TASK/metrics.json for mask, gender_*)")
    return "\n".join(parts)
