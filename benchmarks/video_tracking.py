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
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.report import save_report

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


def chosen_photos(folders: list[Path], limit: int) -> list[Path]:
    """Test-split VOC photos with at least two faces of >= 40 px, at least 400 px wide."""
    from PIL import Image

    from benchmarks.scenes import photos_of

    chosen = []
    for annotation in photos_of(folders, "test"):
        sides = np.minimum(*(annotation.boxes[:, 2:] - annotation.boxes[:, :2]).T)
        if (sides >= 40).sum() >= 2 and Image.open(annotation.image).size[0] >= 400:
            chosen.append(annotation.image)
    return chosen[:limit]


def measure(video: Path, pipeline) -> dict:
    """Run the video once, then track its Results: each track records both its frames'
    own labels and its smoothed ones, so one pass gives both flip counts."""
    from edge_runtime.sources import frames
    from edge_runtime.tracking import Tracker

    results, started = [], time.perf_counter()
    for frame in frames(str(video)):
        results.append((pipeline.run(frame.image, path=frame.name), frame))
    seconds = time.perf_counter() - started
    tracker = Tracker.for_cascade(pipeline.cascade)
    for result, frame in results:
        tracker.update(result.faces, frame.index, frame.seconds)
    tracks = [t for t in tracker.summary()["tracks"] if t["mask"] is not None]
    out = {"video": video.name, "frames": len(results), "fps": len(results) / seconds}
    for key in ("per_frame", "smoothed"):
        flips = [t[f"label_flips_{key}"] for t in tracks]
        out[key] = {
            "tracks": len(tracks),
            "flips": sum(flips),
            "tracks_with_a_flip": sum(n > 0 for n in flips),
        }
    return out


def to_markdown(rows: list[dict]) -> str:
    lines = [
        "| video | frames | fps | tracks | flips, per frame | flips, smoothed |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['video']} | {r['frames']} | {r['fps']:.1f} | {r['smoothed']['tracks']} "
            f"| {r['per_frame']['flips']} ({r['per_frame']['tracks_with_a_flip']} tracks) "
            f"| {r['smoothed']['flips']} ({r['smoothed']['tracks_with_a_flip']} tracks) |"
        )
    total = {k: sum(r[k]["flips"] for r in rows) for k in ("per_frame", "smoothed")}
    tracks = sum(r["smoothed"]["tracks"] for r in rows)
    fps = np.median([r["fps"] for r in rows])
    lines.append(
        f"| **all** | {sum(r['frames'] for r in rows)} | median {fps:.1f} | {tracks} "
        f"| {total['per_frame']} | {total['smoothed']} |"
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
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/video_tracking"))
    args = parser.parse_args(argv)

    args.work.mkdir(parents=True, exist_ok=True)
    pipeline = Pipeline()
    rows = []
    for photo in tqdm(chosen_photos(args.folders, args.videos), desc="videos", unit="video"):
        video = write_video(
            pan_frames(load_image(photo), args.frames), args.work / f"{photo.stem}.mp4"
        )
        rows.append(measure(video, pipeline))
    markdown = to_markdown(rows)
    save_report(args.out, {"frames_per_video": args.frames, "size": SIZE, "videos": rows}, markdown)
    print(markdown)
    print(json.dumps({"wrote": str(args.out)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
