"""`python -m train prepare|fit|calibrate|pack|...`: the model factory's command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge_runtime.crop import DEFAULT_MARGIN
from edge_runtime.manifest import DEFAULT_MODELS_DIR, ModelIntegrityError
from edge_runtime.options import number_between, positive_int
from train.inputs import (
    InputError,
    crop_margin,
    existing_path,
    jpeg_quality,
)
from train.packed import SPLITS
from train.tasks import TASKS


def build_parser() -> argparse.ArgumentParser:
    """Subcommands and their options."""
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    prep = sub.add_parser("prepare", help="detect, crop and split labelled photos")
    prep.add_argument("--task", choices=sorted(TASKS), required=True)
    prep.add_argument(
        "--data",
        type=existing_path,
        nargs="*",
        default=[],
        help="folders with class subfolders (optionally under train/val/test); "
        "none where --boxes lists are all there is",
    )
    prep.add_argument(
        "--synthetic-from",
        type=existing_path,
        nargs="*",
        default=[],
        help="unmasked faces to draw masks on (train split only)",
    )
    prep.add_argument(
        "--mask-templates",
        type=existing_path,
        default=None,
        help="folder of real mask images and their anchor points (masks.cfg), as in "
        "../shared/data/mask_templates, to warp onto faces; without it, shapes are drawn",
    )
    prep.add_argument(
        "--exclude",
        type=existing_path,
        default=None,
        help="CSV (file, reason) of photos, or box-list faces by crop name (STEM_faceN.png), "
        "to leave out of train and val, e.g. mislabelled",
    )
    prep.add_argument(
        "--boxes",
        type=existing_path,
        nargs=2,
        action="append",
        default=[],
        metavar=("CSV", "PHOTOS"),
        help="faces labelled one box each (a photo may hold several), cropped at that box "
        "instead of a detected face: a CSV (photo, face, x1, y1, x2, y2, label, split; "
        "train/labels/README.md) and the folder of its photos; may be repeated",
    )
    prep.add_argument("--out", type=Path, required=True)
    prep.add_argument("--size", type=positive_int, default=96, help="crop size in pixels (96)")
    prep.add_argument(
        "--margin",
        type=crop_margin,
        default=DEFAULT_MARGIN,
        help=f"0 to 3: crop side = the face box's longer side x (1 + margin) ({DEFAULT_MARGIN}); "
        "the model carries it to the runtime",
    )
    prep.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        help="max photos per class and folder (with --boxes: faces per class and list)",
    )
    prep.add_argument("--seed", type=int, default=0)

    packer = sub.add_parser("pack", help="one .npz of prepared crops, to carry to a GPU machine")
    packer.add_argument(
        "--data", type=existing_path, required=True, help="folder written by prepare"
    )
    packer.add_argument("--out", type=Path, required=True, help=".npz path")
    packer.add_argument(
        "--splits", nargs="+", choices=SPLITS, default=list(SPLITS), help="splits to keep (all)"
    )
    packer.add_argument("--quality", type=jpeg_quality, default=95, help="JPEG quality (95)")

    sheet = sub.add_parser("sheet", help="PNG sheet of synthetic masks drawn on real faces")
    sheet.add_argument(
        "--data", type=existing_path, required=True, help="unmasked faces (class folders)"
    )
    sheet.add_argument("--out", type=Path, required=True, help="PNG path")
    sheet.add_argument("--count", type=positive_int, default=24, help="faces on the sheet (24)")
    sheet.add_argument(
        "--mask-templates",
        type=existing_path,
        default=None,
        help="folder of real mask images and their anchor points (masks.cfg), as in "
        "../shared/data/mask_templates, to warp onto faces; without it, shapes are drawn",
    )

    fails = sub.add_parser("failures", help="PNG of a finished run's test mistakes")
    fails.add_argument("--run", type=existing_path, required=True, help="run folder of fit")
    fails.add_argument("--data", type=existing_path, required=True, help="its prepared folder")

    review = sub.add_parser(
        "review", help="numbered sheets of the train/val faces a model finds least likely"
    )
    review.add_argument(
        "--model", type=existing_path, required=True, help="an exported .onnx classifier"
    )
    review.add_argument(
        "--data", type=existing_path, required=True, help="folder written by prepare"
    )
    review.add_argument("--top", type=positive_int, default=300, help="faces to show (300)")
    review.add_argument("--out", type=Path, required=True, help="folder for ranked.csv, sheets")

    calib = sub.add_parser(
        "calibrate",
        help="choose a finished run's or an exported file's threshold (equal class error "
        "rates) and flip averaging on validation",
    )
    which = calib.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", type=existing_path, help="run folder of fit")
    which.add_argument(
        "--model",
        type=existing_path,
        help="an exported classifier (.onnx in a models folder): choose as the runtime runs "
        "it, and write the choice into its manifest entry",
    )
    calib.add_argument("--data", type=existing_path, required=True, help="its prepared folder")

    souper = sub.add_parser(
        "soup", help="one model with the mean weights of runs fine-tuned from the same start"
    )
    souper.add_argument(
        "--runs", type=existing_path, nargs="+", required=True, help="run folders of fit"
    )
    souper.add_argument("--out", type=Path, required=True, help="new run folder (calibrate it)")

    card = sub.add_parser("card", help="print the model card's results from finished runs")
    card.add_argument(
        "--runs",
        type=existing_path,
        default="work/runs",
        help="folder with a run folder per task (mask, gender_unmasked, gender_masked)",
    )
    card.add_argument(
        "--models",
        type=existing_path,
        default=str(DEFAULT_MODELS_DIR),
        help="models folder whose manifest the runs are compared with (the shipped one)",
    )

    fit = sub.add_parser("fit", help="train one classifier on a prepared folder")
    fit.add_argument("--task", choices=sorted(TASKS), required=True)
    fit.add_argument(
        "--data",
        type=existing_path,
        required=True,
        help="folder written by prepare, or its packed .npz (any Keras backend)",
    )
    fit.add_argument("--out", type=Path, required=True, help="run folder (resumes if present)")
    fit.add_argument(
        "--weights",
        choices=["none", "imagenet"],
        default="none",
        help="backbone initialisation (imagenet needs internet once)",
    )
    fit.add_argument("--epochs", type=positive_int, default=10)
    fit.add_argument("--batch-size", type=positive_int, default=32)
    fit.add_argument("--lr", type=float, default=1e-3)
    fit.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    fit.add_argument("--warmup-epochs", type=float, default=0.0)
    fit.add_argument(
        "--class-weight",
        choices=["none", "balanced", "per_source"],
        default="balanced",
        help="balanced: both classes weigh the same; per_source: the same within each source",
    )
    fit.add_argument("--patience", type=int, default=4, help="early-stopping patience (epochs)")
    fit.add_argument(
        "--max-train", type=positive_int, default=None, help="cap training crops per class"
    )
    fit.add_argument(
        "--real-repeat",
        type=positive_int,
        default=1,
        help="repeat real faces N times where training mixes them with synthetic masks",
    )
    add_grayscale(fit, "crops")
    fit.add_argument(
        "--edge-fill",
        type=number_between(float, 0, 1),
        default=0.0,
        help="share of training crops given flat colour bands along their edges, as faces "
        "in photos pasted on a page give them (0)",
    )
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument(
        "--distribute",
        choices=["none", "mirrored"],
        default="none",
        help="mirrored: tf.distribute over all GPUs (two logical CPUs without one)",
    )
    fit.add_argument(
        "--init-from",
        type=existing_path,
        default=None,
        help="start from a run's .keras model or an exported .onnx classifier, such as "
        "models/gender_unmasked.onnx (same architecture, any input size)",
    )
    fit.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="minutes: stop after the epoch that passes it (the best epoch is kept)",
    )
    fit.add_argument(
        "--half-parts",
        action="store_true",
        help="also write float16 weights in parts of <= 15 MiB (to bring back from a GPU machine)",
    )
    fit.add_argument(
        "--eager",
        action="store_true",
        help="run the training steps eagerly: no graph to build before the first step, but "
        "slower steps; for smoke runs on a few photos and for debugging",
    )

    det = sub.add_parser(
        "detector", help="fine-tune MTCNN's R-Net and O-Net on photos with face boxes"
    )
    det.add_argument(
        "--scenes",
        type=existing_path,
        nargs="+",
        required=True,
        help="folders with images/ annotations/",
    )
    det.add_argument(
        "--crops",
        type=existing_path,
        nargs="*",
        default=[],
        help="folders of face crops (extra positives)",
    )
    det.add_argument(
        "--out",
        type=Path,
        required=True,
        help="run folder: a rerun reuses its windows, keeps finished networks, resumes the rest",
    )
    det.add_argument("--nets", nargs="+", choices=["rnet", "onet"], default=["rnet", "onet"])
    det.add_argument("--epochs", type=positive_int, default=12)
    det.add_argument("--batch-size", type=positive_int, default=256)
    det.add_argument("--lr", type=float, default=3e-4)
    det.add_argument("--seed", type=int, default=0)
    det.add_argument("--limit", type=positive_int, default=None, help="max scene photos per folder")
    det.add_argument("--crops-per-folder", type=positive_int, default=1500)
    det.add_argument(
        "--mined-with",
        nargs="+",
        choices=["mtcnn", "finetuned"],
        default=["mtcnn"],
        help="detectors whose P-Net and R-Net propose the windows (finetuned: the student P-Net)",
    )
    det.add_argument(
        "--models",
        type=existing_path,
        default=None,
        help="models folder of the miners (default: shipped)",
    )
    det.add_argument(
        "--init-from",
        type=existing_path,
        default=None,
        help="models folder whose fine-tuned R-Net / O-Net to start from (default: mtcnn's)",
    )
    add_grayscale(det, "windows")
    det.add_argument(
        "--keep-boxes",
        action="store_true",
        help="with --init-from: learn the starting networks' own boxes, not the annotated "
        "ones, so boxes and the classifiers' crops stay where they were",
    )

    pn = sub.add_parser(
        "pnet", help="teach a smaller, faster P-Net from the reference P-Net and face boxes"
    )
    pn.add_argument(
        "--scenes",
        type=existing_path,
        nargs="+",
        required=True,
        help="folders with images/ annotations/",
    )
    pn.add_argument(
        "--unlabelled",
        type=existing_path,
        nargs="*",
        default=[],
        help="folders of photos without boxes",
    )
    pn.add_argument(
        "--out", type=Path, required=True, help="run folder: a rerun reuses its tiles and resumes"
    )
    pn.add_argument("--epochs", type=positive_int, default=30)
    pn.add_argument("--batch-size", type=positive_int, default=128)
    pn.add_argument("--lr", type=float, default=3e-3)
    pn.add_argument("--seed", type=int, default=0)
    pn.add_argument(
        "--widths", type=positive_int, nargs=3, default=[16, 16, 16], help="channels per layer"
    )
    pn.add_argument(
        "--pyramid", choices=["chained", "area"], default="chained", help="the pyramid it runs on"
    )
    pn.add_argument("--limit", type=positive_int, default=None, help="max photos per folder")
    return parser


def add_grayscale(parser: argparse.ArgumentParser, what: str) -> None:
    """--grayscale: the share of training `what` turned grey (fit's crops, detector's windows)."""
    parser.add_argument(
        "--grayscale",
        type=number_between(float, 0, 1),
        default=0.0,
        help=f"share of training {what} turned grey, for night cameras and B/W photos (0)",
    )


def check_scenes(folders: list[Path]) -> None:
    """InputError unless every folder has VOC face boxes (annotations/*.xml beside images/)."""
    for folder in folders:
        if not any((folder / "annotations").glob("*.xml")):
            raise InputError(f"{folder}: no annotations/*.xml (VOC face boxes beside images/)")


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; input it cannot use is one line on stderr and exit 2."""
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (InputError, ModelIntegrityError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def run(args: argparse.Namespace) -> None:
    """The subcommand `args.command`, with its parsed options."""
    if args.command == "prepare":
        from train.prepare import prepare

        summary = prepare(
            args.task,
            args.data,
            args.out,
            args.size,
            args.synthetic_from,
            margin=args.margin,
            limit=args.limit,
            seed=args.seed,
            mask_templates=args.mask_templates,
            exclude=args.exclude,
            boxes=args.boxes,
        )
        print(json.dumps({k: summary[k] for k in ("counts", "per_source")}, indent=2))
        if summary["unreadable"]:
            print(f"{len(summary['unreadable'])} unreadable photos skipped", file=sys.stderr)
        if summary["earlier_crops_removed"]:
            n = summary["earlier_crops_removed"]
            print(f"{n} crops of an earlier run into {args.out} removed", file=sys.stderr)
        empty = [s for s in SPLITS if not any(k.startswith(f"{s}/") for k in summary["counts"])]
        if empty:
            needed = " (fit needs train and val)" if {"train", "val"} & set(empty) else ""
            print(f"no {' or '.join(empty)} faces: too few photos{needed}", file=sys.stderr)
        if summary["exclusions_unmatched"]:
            unmatched = summary["exclusions_unmatched"]
            print(
                f"{len(unmatched)} --exclude entries match no photo or crop read here "
                f"(e.g. {unmatched[0]}): a name, not a path",
                file=sys.stderr,
            )
    elif args.command == "review":
        from train.inputs import read_prepared
        from train.label_review import rank_by_loss, write_review

        ranked = rank_by_loss(args.model, args.data)
        second = read_prepared(args.data)["class_names"][1]
        sheets = write_review(ranked, args.out, args.top, second)
        print(f"wrote {args.out / 'ranked.csv'} and {len(sheets)} sheets")
    elif args.command == "sheet":
        from train.sheet import mask_sheet

        mask_sheet(args.data, args.out, args.count, templates=args.mask_templates)
        print(f"wrote {args.out}")
    elif args.command == "failures":
        from train.fit import write_failures
        from train.run_model import checked_run_labels, load_run_model

        labels = checked_run_labels(args.run, args.data)
        model = load_run_model(args.run)
        out = write_failures(
            model,
            args.data,
            args.run / "failures.png",
            labels["class_names"],
            labels["threshold"],
            labels.get("flip", False),
        )
        print(f"wrote {out}")
    elif args.command == "calibrate":
        from train.calibrate import calibrate, calibrate_file

        if args.model:
            print(json.dumps(calibrate_file(args.model, args.data), indent=2))
        else:
            print(json.dumps(calibrate(args.run, args.data), indent=2))
    elif args.command == "soup":
        from train.soup import soup

        print(f"wrote {soup(args.runs, args.out) / 'model.keras'}")
    elif args.command == "card":
        from train.card import results_markdown

        print(results_markdown(args.runs, args.models))
    elif args.command == "fit":
        from train.fit import FitConfig, fit

        config = FitConfig(**{k: v for k, v in vars(args).items() if k != "command"})
        metrics = fit(config)
        print(
            json.dumps(
                {f"{k}_accuracy": metrics[k]["accuracy"] for k in ("val", "test") if k in metrics},
                indent=2,
            )
        )
    elif args.command == "pack":
        from train.packed import pack

        print(json.dumps(pack(args.data, args.out, args.quality, args.splits)))
    elif args.command == "detector":
        from edge_runtime.manifest import verified_detector
        from train.detector import DetectorFitConfig, fit_network
        from train.detector_data import prepare_detector_data

        if args.keep_boxes and not args.init_from:
            raise InputError("--keep-boxes keeps the boxes of --init-from's networks: give both")
        check_scenes(args.scenes)
        # Checked before minutes of mining.
        starts = verified_detector(args.init_from, "finetuned")[0] if args.init_from else {}
        if args.models:
            verified_detector(args.models, "finetuned")
        samples = prepare_detector_data(
            args.scenes,
            args.crops,
            args.out,
            args.seed,
            args.limit,
            args.crops_per_folder,
            tuple(args.mined_with),
            args.models,
        )
        for net in args.nets:
            if (args.out / net / "metrics.json").exists():  # finished before an interruption
                print(f"{net}: already trained in {args.out / net}, kept")
                continue
            config = DetectorFitConfig(
                net,
                samples,
                args.out / net,
                args.epochs,
                args.batch_size,
                args.lr,
                seed=args.seed,
                init=starts.get(net),
                grayscale=args.grayscale,
                keep_boxes=args.keep_boxes,
            )
            metrics = fit_network(config)
            print(json.dumps({k: metrics[k] for k in ("net", "before", "after")}, indent=2))
    elif args.command == "pnet":
        from train.pnet import PnetFitConfig, fit_pnet, prepare_tiles

        check_scenes(args.scenes)
        tiles = prepare_tiles(
            args.scenes, args.unlabelled, args.out, args.seed, args.limit, args.pyramid
        )
        config = PnetFitConfig(
            tiles,
            args.out,
            args.epochs,
            args.batch_size,
            args.lr,
            seed=args.seed,
            widths=args.widths,
        )
        print(json.dumps(fit_pnet(config), indent=2))


if __name__ == "__main__":
    sys.exit(main())
