"""One video or camera stream: faces tracked over its frames, an annotated MP4, a summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_runtime.sources import Frame
from edge_runtime.tracking import Tracker
from edge_runtime.types import Labels, Result


class Stream:
    """Feeds a stream's Results through one Tracker; optionally writes them as an MP4 at the
    stream's frame rate over `stride` (a video file's length).

    `add` sets `track_id` and the smoothed labels on the Result's faces in place; `close`
    ends the video file and returns the stream's summary (people, masks, genders, each
    track's time span).
    """

    def __init__(
        self,
        source: str,
        tracker: Tracker | None,
        save_to: Path | None = None,
        fps: float | None = None,
        min_frames: int = 3,
        blur: bool = False,
        stride: int = 1,
    ) -> None:
        self.source = source
        self.stride = stride  # every stride-th frame is added: the MP4 plays at fps / stride
        self.blur = blur
        self.tracker = tracker
        self.save_to = save_to
        self.fps = fps
        self.min_frames = min_frames
        self.frames = 0
        self.closed = False
        self._writer = None

    def add(self, result: Result, frame: Frame) -> Result:
        """Track this frame's faces (unless there is no tracker) and write its annotated
        picture if saving."""
        if self.closed:
            return result
        if self.tracker is not None:
            self.tracker.update(result.faces, frame.index, frame.seconds)
        self.frames += 1
        self.fps = self.fps or frame.fps
        if self.save_to is not None:
            self._write(result.plot(self.blur))
        return result

    def summary(self) -> dict:
        """The stream so far: frames, and with a tracker its people, masks, genders, tracks."""
        summary = {"source": self.source, "frames": self.frames, "fps": self.fps}
        if self.tracker is not None:
            summary.update(self.tracker.summary(self.min_frames))
        if self.save_to is not None:
            summary["video"] = str(self.save_to)
        return summary

    def close(self) -> dict:
        """Finish the MP4 (if any); the stream's summary. Frames added later are ignored."""
        self.closed = True
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        return self.summary()

    def _write(self, rgb: np.ndarray) -> None:
        import cv2

        if self._writer is None:
            self.save_to.parent.mkdir(parents=True, exist_ok=True)
            height, width = rgb.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*"mp4v")
            self._writer = cv2.VideoWriter(
                str(self.save_to), fourcc, (self.fps or 25.0) / self.stride, (width, height)
            )
            if not self._writer.isOpened():
                raise OSError(f"{self.save_to}: cannot write an MP4 here")
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def mask_and_gender_counts(summary: dict) -> str:
    """`20 with a mask, 10 without; Female 12, Male 18` from a summary's counts."""
    genders = ", ".join(f"{name} {n}" for name, n in summary["by_gender"].items())
    return (
        f"{summary['with_mask']} with a mask, {summary['without_mask']} without"
        f"{'; ' + genders if genders else ''}"
    )


def counted(n: int, one: str, many: str | None = None) -> str:
    """`1 face`, `2 faces`; `many` for an irregular plural (`people`)."""
    return f"{n} {one if n == 1 else many or one + 's'}"


def summary_lines(summary: dict) -> list[str]:
    """Readable summary: one line for the stream, one per person."""
    lines = [
        f"{summary['source']}: {counted(summary['frames'], 'frame')}, "
        f"{counted(summary['people'], 'person', 'people')} "
        f"({mask_and_gender_counts(summary)}); {counted(summary['short_tracks'], 'track')} "
        f"shorter than {summary['min_frames']} frames not counted"
    ]
    for track in summary["tracks"]:
        line = (
            f"  track {track['track_id']}: frames {track['first_frame']}-{track['last_frame']} "
            f"({track['start_s']:.1f}-{track['end_s']:.1f} s, {track['frames']} seen)"
        )
        if track["mask"] is not None:
            labels = Labels.from_dict(track)  # p_gender: the dict's own, of the gender shown
            line += (
                f"  {'mask' if labels.mask else 'no mask'} {labels.p_mask_label:.0%}"
                f"  {labels.gender} {track['p_gender']:.0%}"
            )
        lines.append(line)
    return lines
