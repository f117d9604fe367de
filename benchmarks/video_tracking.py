"""`python -m benchmarks.video_tracking DIR...`: label flips per track with and without
smoothing, and frames per second, on videos made by panning over real photos.

No labelled video of masked faces is in our data, so each video is a slow pan and zoom of
a 640x480 window over one real photo (VOC scenes of the test split with at least two faces
of >= 40 px), written as MP4 (its compression adds frame-to-frame noise). The frames run
through the pipeline once; one tracker then counts each track's flips of its frames' own
labels and of its smoothed ones.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.report import add_out_argument, save_report

SIZE = (640, 480)


def pan_frames(image: np.ndarray, count: int = 60, size: tuple[int, int] = SIZE):
    """`count` RGB frames of `size` (w, h): a window that zooms from 100% to 80% of the
    photo's largest 4:3 area and back while drifting across it."""
    import cv2

    height, width = image.shape[:2]
    aspect = size[0] / size[1]
    full_w = min(width, height * aspect)
    for k in range(count):
        phase = k / max(count - 1, 1)
        scale = 1.0 - 0.2 * np.sin(np.pi * phase)
        w, h = full_w * scale, full_w * scale / aspect
        x = (width - w) * phase
        y = (height - h) * (0.5 + 0.5 * np.sin(2 * np.pi * phase))
        matrix = np.array([[size[0] / w, 0, -x * size[0] / w], [0, size[1] / h, -y * size[1] / h]])
        yield cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR)


def write_video(frames, out: Path, fps: float = 15.0) -> Path:
    """Write RGB frames as an MP4 (mp4v)."""
    import cv2

    writer = None
    for rgb in frames:
        if writer is None:
            h, w = rgb.shape[:2]
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return out


def chosen_photos(folders: list[Path], limit: int, crowd: bool = False) -> list[Path]:
    """Test-split VOC photos with at least two faces of >= 40 px, at least 400 px wide (in
    file order); `crowd`: the test photos with the most labelled faces instead."""
    from PIL import Image

    from benchmarks.scenes import photos_of

    annotations = photos_of(folders, "test")
    if crowd:
        annotations = sorted(annotations, key=lambda a: -len(a.boxes))
        return [a.image for a in annotations[:limit]]
    chosen = []
    for annotation in annotations:
        sides = np.minimum(*(annotation.boxes[:, 2:] - annotation.boxes[:, :2]).T)
        if (sides >= 40).sum() >= 2 and Image.open(annotation.image).size[0] >= 400:
            chosen.append(annotation.image)
    return chosen[:limit]


def parse_setting(text: str) -> dict:
    """ "window=20,margin=0.1" -> Tracker keyword arguments ("frame": each frame's own)."""
    if text == "frame":
        return {"smooth": False}
    pairs = (item.split("=") for item in text.split(","))
    return {key: (int(value) if key == "window" else float(value)) for key, value in pairs}


def measure(video: Path, pipeline, settings: list[str]) -> dict:
    """Run the video once, then track its Results once per tracker setting; per setting,
    the tracks (of 3 frames or more) and their mask and gender label flips."""
    from edge_runtime.sources import frames
    from edge_runtime.tracking import Tracker, flips

    results, started = [], time.perf_counter()
    for frame in frames(str(video)):
        results.append((pipeline.run(frame.image, path=frame.name), frame))
    seconds = time.perf_counter() - started
    out = {"video": video.name, "frames": len(results), "fps": len(results) / seconds}
    for setting in settings:
        tracker = Tracker.for_cascade(pipeline.cascade, **parse_setting(setting))
        for result, frame in results:
            faces = [copy.copy(face) for face in result.faces]
            tracker.update(faces, frame.index, frame.seconds)
        tracks = [t for t in tracker.tracks() if t.frames >= 3 and t.smooth_labels]
        mask = [flips([m for m, _ in t.smooth_labels]) for t in tracks]
        gender = [flips([g for _, g in t.smooth_labels]) for t in tracks]
        out[setting] = {
            "tracks": len(tracks),
            "mask_flips": sum(mask),
            "gender_flips": sum(gender),
            "tracks_with_a_flip": sum(m + g > 0 for m, g in zip(mask, gender, strict=True)),
        }
    return out


def to_markdown(rows: list[dict], settings: list[str]) -> str:
    lines = [
        "| video | frames | fps | tracks | "
        + " | ".join(f"`{s}`: mask / gender flips" for s in settings)
        + " |",
        "|---|---|---|---|" + "---|" * len(settings),
    ]
    for r in rows:
        cells = " | ".join(f"{r[s]['mask_flips']} / {r[s]['gender_flips']}" for s in settings)
        tracks = r[settings[-1]]["tracks"]
        lines.append(f"| {r['video']} | {r['frames']} | {r['fps']:.1f} | {tracks} | {cells} |")
    totals = " | ".join(
        f"**{sum(r[s]['mask_flips'] for r in rows)} / {sum(r[s]['gender_flips'] for r in rows)}**"
        for s in settings
    )
    tracks = sum(r[settings[-1]]["tracks"] for r in rows)
    fps = np.median([r["fps"] for r in rows])
    lines.append(
        f"| **all** | {sum(r['frames'] for r in rows)} | median {fps:.1f} | {tracks} | {totals} |"
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    from edge_runtime import Pipeline
    from edge_runtime.image_io import load_image

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.video_tracking", description=__doc__
    )
    parser.add_argument("folders", type=Path, nargs="+", help="VOC scene folders")
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--work", type=Path, default=Path("work/videos"))
    add_out_argument(parser, default=Path("benchmarks/results/video_tracking"))
    parser.add_argument(
        "--crowd", action="store_true", help="the test photos with the most faces instead"
    )
    parser.add_argument(
        "--settings",
        nargs="+",
        default=["frame", "window=30,margin=0", "window=20,margin=0.1"],
        help='tracker settings to compare on the same frames ("frame": each frame\'s own labels)',
    )
    args = parser.parse_args(argv)

    args.work.mkdir(parents=True, exist_ok=True)
    pipeline = Pipeline()
    rows = []
    photos = chosen_photos(args.folders, args.videos, args.crowd)
    for photo in tqdm(photos, desc="videos", unit="video"):
        video = write_video(
            pan_frames(load_image(photo), args.frames), args.work / f"{photo.stem}.mp4"
        )
        rows.append(measure(video, pipeline, args.settings))
    markdown = to_markdown(rows, args.settings)
    report = {"frames_per_video": args.frames, "size": SIZE, "settings": args.settings}
    save_report(args.out, report | {"videos": rows}, markdown)
    print(markdown)
    print(json.dumps({"wrote": str(args.out)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
