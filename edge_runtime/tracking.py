"""Faces linked across video frames (IoU tracking), with labels smoothed over each track.

A small SORT-style tracker without the Kalman filter: each track predicts its next box from
its last one plus its smoothed motion, detections are matched to tracks greedily by IoU
(highest first; a few faces per frame make the Hungarian method unnecessary; at least
0.15: MTCNN's boxes of small faces jitter by several pixels, and 0.3 split the tracks of
panned test videos about twice as often, `benchmarks/video_tracking.py`), unmatched
detections start tracks and a track unseen for `max_age` frames ends. Mask and gender are
decided per track from the mean of its frames' raw probabilities (P(WithoutMask), P(Male))
against the model's threshold (for gender, the mean threshold of the models its frames
used), so one bad frame does not flip a label, and a one-frame track says what the frame
said.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from edge_runtime.boxes import pairwise_iou
from edge_runtime.types import GENDER_CLASSES, Face, Labels


@dataclass(slots=True)
class Track:
    """One face followed over frames: where it is, and what its frames said (the models'
    raw probabilities, the thresholds of the gender models that ran, the labels)."""

    track_id: int
    box: np.ndarray
    first_frame: int
    last_frame: int
    first_seconds: float
    last_seconds: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    frames: int = 0
    p_without_masks: list[float] = field(default_factory=list)
    p_males: list[float] = field(default_factory=list)
    gender_thresholds: list[float] = field(default_factory=list)
    raw_labels: list[tuple] = field(default_factory=list)
    smooth_labels: list[tuple] = field(default_factory=list)

    def predicted_box(self, frame: int) -> np.ndarray:
        """The box expected at `frame`: the last one moved by the smoothed velocity."""
        return self.box + self.velocity * (frame - self.last_frame)


def flips(labels: list[tuple]) -> int:
    """How often consecutive labels differ."""
    return sum(a != b for a, b in itertools.pairwise(labels))


class Tracker:
    """Assigns `track_id` to faces frame by frame and replaces their labels by the track's.

    The cascade's decision rule: `mask_threshold` (P(WithoutMask) at or below it means a
    mask), `gender_thresholds` per mask decision ({True: masked model, False: unmasked}, on
    P(Male)). Without them (faces only) faces get ids only. Labels are smoothed over a
    track's last `window` frames, and a shown label changes only once that mean is past its
    threshold by `margin` (hysteresis; a mask put on mid-video still shows within the
    window); the summary describes each whole track. `smooth=False` keeps each frame's
    labels.
    """

    def __init__(
        self,
        mask_threshold: float | None = None,
        gender_thresholds: dict[bool, float] | None = None,
        iou_threshold: float = 0.15,
        max_age: int = 15,
        smooth: bool = True,
        window: int = 15,
        margin: float = 0.15,
    ) -> None:
        self.mask_threshold = mask_threshold
        self.gender_thresholds = gender_thresholds or {}
        self.iou_threshold = iou_threshold
        self.max_age = max_age
        self.smooth = smooth
        self.window = window
        self.margin = margin
        self.active: list[Track] = []
        self.finished: list[Track] = []
        self._next_id = 1

    @classmethod
    def for_cascade(cls, cascade, **kwargs) -> Tracker:
        """A tracker that follows `cascade`'s (an `edge_runtime.cascade.Cascade`) rule: its
        models' thresholds."""
        if cascade is None:
            return cls(**kwargs)
        gender_thresholds = {masked: model.threshold for masked, model in cascade.gender.items()}
        return cls(cascade.mask.threshold, gender_thresholds, **kwargs)

    def update(self, faces: list[Face], frame: int, seconds: float = 0.0) -> list[Face]:
        """Link this frame's faces to tracks; sets `track_id` and, where the faces were
        classified, the smoothed labels (the frame's own stay in `Face.frame`)."""
        self._retire(frame)
        pairs = self._match(faces, frame)
        matched = {d for d, _ in pairs}
        for d, track in pairs:
            self._extend(track, faces[d], frame, seconds)
        for d, face in enumerate(faces):
            if d not in matched:
                track = Track(self._next_id, face.box.astype(float), frame, frame, seconds, seconds)
                self._next_id += 1
                self.active.append(track)
                self._extend(track, face, frame, seconds)
        return faces

    def tracks(self) -> list[Track]:
        """Every track so far, ended or not, by id."""
        return sorted(self.finished + self.active, key=lambda t: t.track_id)

    def summary(self, min_frames: int = 3) -> dict:
        """People seen (tracks of at least `min_frames` frames), with and without a mask,
        by gender, each with its time span; shorter tracks are counted apart (often false
        detections)."""
        people = [t for t in self.tracks() if t.frames >= min_frames]
        described = [self._describe(t) for t in people]
        masks = Counter(d["mask"] for d in described if d["mask"] is not None)
        genders = Counter(d["gender"] for d in described if d["gender"] is not None)
        return {
            "people": len(people),
            "with_mask": masks[True],
            "without_mask": masks[False],
            "by_gender": dict(sorted(genders.items())),
            "min_frames": min_frames,
            "short_tracks": len(self.tracks()) - len(people),
            "tracks": described,
        }

    def _retire(self, frame: int) -> None:
        ended = [t for t in self.active if frame - t.last_frame > self.max_age]
        self.finished += ended
        self.active = [t for t in self.active if t not in ended]

    def _match(self, faces: list[Face], frame: int) -> list[tuple[int, Track]]:
        """Greedy IoU matching of detections to predicted track boxes."""
        if not faces or not self.active:
            return []
        boxes = np.array([f.box for f in faces], float)
        predicted = np.array([t.predicted_box(frame) for t in self.active])
        overlaps = np.nan_to_num(pairwise_iou(predicted, boxes))  # empty boxes: 0
        pairs, used_tracks, used_faces = [], set(), set()
        for flat in np.argsort(-overlaps, axis=None):
            t, d = np.unravel_index(flat, overlaps.shape)
            if overlaps[t, d] < self.iou_threshold:
                break
            if t in used_tracks or d in used_faces:
                continue
            used_tracks.add(t)
            used_faces.add(d)
            pairs.append((int(d), self.active[t]))
        return pairs

    def _extend(self, track: Track, face: Face, frame: int, seconds: float) -> None:
        box = face.box.astype(float)
        if track.frames:
            step = (box - track.box) / max(frame - track.last_frame, 1)
            track.velocity = 0.5 * track.velocity + 0.5 * step
        track.box, track.last_frame, track.last_seconds = box, frame, seconds
        track.frames += 1
        face.track_id = track.track_id
        if face.labels is None or self.mask_threshold is None:
            return
        face.frame = face.labels
        track.p_without_masks.append(face.labels.p_without_mask)
        track.p_males.append(face.labels.p_male)
        track.gender_thresholds.append(self.gender_thresholds[face.labels.mask])
        track.raw_labels.append((face.labels.mask, face.labels.gender))
        if self.smooth:
            face.labels = self._smoothed(track, self.window, track.smooth_labels[-1:])
        track.smooth_labels.append((face.labels.mask, face.labels.gender))

    def _smoothed(self, track: Track, window: int | None, shown: list[tuple] = ()) -> Labels:
        """The track's labels over its last `window` frames (all if None): mean raw
        probability against the (mean) threshold. With the labels `shown` last, a label
        changes only once the mean is past its threshold by `margin` (hysteresis)."""
        last = slice(-window, None) if window else slice(None)
        p_without = float(np.mean(track.p_without_masks[last]))
        p_male = float(np.mean(track.p_males[last]))
        gender_threshold = float(np.mean(track.gender_thresholds[last]))
        mask = p_without <= self.mask_threshold
        male = p_male > gender_threshold
        if shown:
            was_mask, was_gender = shown[0]
            if mask != was_mask and abs(p_without - self.mask_threshold) < self._margin(
                self.mask_threshold
            ):
                mask = was_mask
            was_male = was_gender == GENDER_CLASSES[1]
            if male != was_male and abs(p_male - gender_threshold) < self._margin(gender_threshold):
                male = was_male
        return Labels(mask, p_without, GENDER_CLASSES[int(male)], p_male)

    def _margin(self, threshold: float) -> float:
        """The hysteresis margin, kept within reach of both ends of [0, 1] (a threshold
        near 1 must still let the label change)."""
        return min(self.margin, threshold / 2, (1 - threshold) / 2)

    def _describe(self, track: Track) -> dict:
        described = {
            "track_id": track.track_id,
            "first_frame": track.first_frame,
            "last_frame": track.last_frame,
            "start_s": round(track.first_seconds, 3),
            "end_s": round(track.last_seconds, 3),
            "frames": track.frames,
            "mask": None,
            "gender": None,
        }
        if track.p_without_masks:
            described.update(
                self._smoothed(track, None).to_dict(),
                label_flips_per_frame=flips(track.raw_labels),
                label_flips_smoothed=flips(track.smooth_labels),
            )
        return described
