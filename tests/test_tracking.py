"""Faces tracked over video: ids that stay, labels smoothed over a track, the CLI's video
output (per-frame JSON with track_id, a summary, an annotated MP4)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_runtime.tracking import Tracker, flips
from edge_runtime.types import Face, Labels
from edge_runtime.video import summary_lines
from tests.conftest import TEST_DATA, two_person_video

MASK_T, GENDER_T = 0.5, {True: 0.465, False: 0.555}


def face(x: float, y: float, mask: bool = False, p_mask: float = 0.1, male: float = 0.9) -> Face:
    """A 60 px face at x, y with the cascade's labels: P(mask) `p_mask`, P(Male) `male`."""
    gender = "Male" if male > GENDER_T[mask] else "Female"
    labels = Labels(mask, 1 - p_mask, gender, male)
    return Face(np.array([x, y, x + 60, y + 60], float), 0.99, np.zeros((5, 2)), labels)


def tracker(**kwargs) -> Tracker:
    return Tracker(MASK_T, GENDER_T, **kwargs)


def test_moving_faces_keep_their_ids_and_a_new_face_gets_a_new_one():
    t = tracker()
    ids = []
    for k in range(10):
        faces = [face(10 + 8 * k, 20), face(300 - 8 * k, 40)]
        if k >= 5:
            faces.append(face(150, 300))
        ids.append([f.track_id for f in t.update(faces, k)])
    assert all(row[:2] == [1, 2] for row in ids)
    assert all(row[2] == 3 for row in ids[5:])
    assert t.summary()["people"] == 3


def test_a_track_survives_a_few_missed_frames_but_not_max_age():
    t = tracker(max_age=3)
    t.update([face(10, 10)], 0)
    t.update([face(12, 10)], 3)  # unseen in frames 1-2: same person
    assert t.tracks()[0].frames == 2 and len(t.tracks()) == 1
    t.update([face(14, 10)], 8)  # unseen for 4 frames: a new track
    assert [f.track_id for f in t.active] == [2] and len(t.tracks()) == 2


def test_one_bad_frame_does_not_flip_the_smoothed_labels():
    smooth, raw = tracker(), tracker(smooth=False)
    said = []
    for k in range(12):
        bad = k == 6  # one frame where the models say "mask" and "Female"
        frame = dict(mask=bad, p_mask=0.8 if bad else 0.1, male=0.2 if bad else 0.9)
        said.append(smooth.update([face(10 + k, 10, **frame)], k)[0])
        raw.update([face(10 + k, 10, **frame)], k)
    assert {(f.mask, f.gender) for f in said} == {(False, "Male")}
    assert said[6].frame.mask is True and said[6].frame.gender == "Female"
    described = smooth.summary()["tracks"][0]
    assert described["label_flips_per_frame"] == 2 and described["label_flips_smoothed"] == 0
    assert flips(raw.tracks()[0].smooth_labels) == 2


def test_a_mask_put_on_mid_video_shows_within_15_frames():
    t = tracker()
    said = []
    for k in range(60):
        on = k >= 20
        said.append(t.update([face(10, 10, mask=on, p_mask=0.95 if on else 0.05)], k)[0].mask)
    switched = said.index(True)
    assert 20 < switched <= 20 + 15 and all(said[switched:]) and not any(said[:switched])


def test_labels_near_the_threshold_do_not_flip_back_and_forth():
    """Frames that say 0.42 and 0.62 by turns, runs of five: without hysteresis the mean
    of the last 15 frames crosses 0.5 again and again; with it the label holds."""
    steady, jumpy = tracker(), tracker(margin=0.0)
    for t in (steady, jumpy):
        for k in range(60):
            p = 0.62 if (k // 5) % 2 else 0.42
            t.update([face(10, 10, mask=p >= 0.5, p_mask=p)], k)
    assert flips([m for m, _ in jumpy.tracks()[0].smooth_labels]) >= 2
    assert flips([m for m, _ in steady.tracks()[0].smooth_labels]) == 0


def test_a_one_frame_track_says_what_its_frame_said():
    # p(Male) 0.53 is under the unmasked threshold 0.555: Female, also after smoothing
    said = tracker().update([face(0, 0, male=0.53)], 0)[0]
    assert said.gender == "Female" and said.p_gender == pytest.approx(0.47)


def test_gender_near_its_threshold_does_not_flip_back_and_forth():
    """P(Male) 0.50 and 0.61 by turns around the unmasked model's 0.555: the hysteresis
    works on P(Male) whichever gender is shown."""
    steady, jumpy = tracker(), tracker(margin=0.0)
    for t in (steady, jumpy):
        for k in range(60):
            t.update([face(10, 10, male=0.61 if (k // 5) % 2 else 0.5)], k)
    assert flips([g for _, g in jumpy.tracks()[0].smooth_labels]) >= 2
    assert flips([g for _, g in steady.tracks()[0].smooth_labels]) == 0


def test_the_mask_threshold_applies_to_p_without_mask_as_in_the_cascade():
    """The cascade says a mask iff P(WithoutMask) <= the mask model's threshold; a
    one-frame track decides alike, also at a threshold other than 0.5."""
    for p_without, masked in ((0.25, True), (0.3, True), (0.35, False)):
        labels = Labels(p_without <= 0.3, p_without, "Male", 0.9)
        seen = Face(np.array([0, 0, 60, 60], float), 0.99, np.zeros((5, 2)), labels)
        said = Tracker(0.3, GENDER_T).update([seen], 0)[0]
        assert said.mask is masked and said.p_without_mask == p_without


def test_a_tracked_face_keeps_its_frame_labels_and_the_json_keys():
    t = tracker()
    for k in range(4):
        said = t.update([face(10, 10, mask=k == 3, p_mask=0.8 if k == 3 else 0.1)], k)[0]
    assert said.mask is False and said.frame == Labels(True, 1 - 0.8, "Male", 0.9)
    data = said.to_dict()
    assert list(data) == [
        "box", "confidence", "landmarks", "mask", "p_mask", "gender", "p_gender", "track_id",
        "frame",
    ]  # fmt: skip
    assert data["frame"] == {"mask": True, "p_mask": 0.8, "gender": "Male", "p_gender": 0.9}
    assert (data["mask"], data["p_mask"], data["gender"]) == (False, 0.275, "Male")
    (track,) = t.summary()["tracks"]
    assert list(track) == [
        "track_id", "first_frame", "last_frame", "start_s", "end_s", "frames", "mask",
        "gender", "p_mask", "p_gender", "label_flips_per_frame", "label_flips_smoothed",
    ]  # fmt: skip


def test_summary_lines_give_the_summary_dicts_own_percentages():
    """Every 4-digit probability of a track prints as before (P(mask) for a masked track,
    1 - P(mask) otherwise; P(gender shown)), though `Labels` reads P(mask) back as
    P(WithoutMask). A masked track's P(mask) is at least 0.5 at the mask threshold 0.5."""
    summary = {"source": "v", "frames": 1, "people": 1, "with_mask": 0, "without_mask": 0}
    summary |= {"by_gender": {}, "short_tracks": 0, "min_frames": 3, "tracks": []}
    span = {"track_id": 1, "first_frame": 0, "last_frame": 0, "start_s": 0, "end_s": 0}
    for i in range(10001):
        p = i / 10000
        for mask, gender in ((p >= 0.5, "Female"), (False, "Male")):
            track = span | {"frames": 1, "mask": mask, "gender": gender}
            summary["tracks"] = [track | {"p_mask": p, "p_gender": p}]
            shown = p if mask else 1 - p
            expected = f"{'mask' if mask else 'no mask'} {shown:.0%}  {gender} {p:.0%}"
            assert summary_lines(summary)[1].endswith(expected), (p, mask)


def test_summary_counts_people_by_mask_and_gender_and_sets_short_tracks_apart():
    t = tracker()
    for k in range(5):
        faces = [face(0, 0, mask=True, p_mask=0.9, male=0.2), face(200, 0)]
        if k == 2:
            faces.append(face(400, 400))  # a one-frame false detection
        t.update(faces, k, k / 10)
    summary = t.summary(min_frames=3)
    assert (summary["people"], summary["with_mask"], summary["without_mask"]) == (2, 1, 1)
    assert summary["by_gender"] == {"Female": 1, "Male": 1} and summary["short_tracks"] == 1
    first = summary["tracks"][0]
    assert (first["start_s"], first["end_s"], first["frames"]) == (0.0, 0.4, 5)


def test_cli_on_a_video_tracks_summarises_and_writes_an_mp4(tmp_path, capsys):
    import cv2

    from edge_runtime.__main__ import main

    video = tmp_path / "walk.mp4"
    two_person_video(video)
    assert main([str(video), "--json", "--save", str(tmp_path / "out")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    frames, summary = lines[:-1], lines[-1]["summary"]
    # The default detector may lose a face in a frame or two (in frame 20 the masked
    # woman's box runs far below the frame: O-Net 0.66); her track must bridge the gap.
    found = [len(f["faces"]) for f in frames]
    assert len(frames) == 24 and all(n <= 2 for n in found) and sum(found) >= 46
    ids = {face["track_id"] for f in frames for face in f["faces"]}
    assert ids == {1, 2}
    assert (summary["people"], summary["with_mask"], summary["without_mask"]) == (2, 1, 1)
    assert all(t["frames"] >= 22 for t in summary["tracks"]) and len(summary["tracks"]) == 2
    assert summary["tracks"][1]["end_s"] == pytest.approx(23 / 12, abs=1e-3)
    capture = cv2.VideoCapture(summary["video"])
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 24
    capture.release()


def test_an_mp4_saved_from_every_third_frame_lasts_as_long_as_its_video(tmp_path):
    import cv2

    from edge_runtime import Pipeline

    video = tmp_path / "walk.mp4"
    two_person_video(video)  # 24 frames at 12 fps
    *_, summary = Pipeline(faces_only=True).stream(video, save=tmp_path / "out", vid_stride=3)
    capture = cv2.VideoCapture(summary.data["video"])
    count, fps = capture.get(cv2.CAP_PROP_FRAME_COUNT), capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    assert (count, fps) == (8, pytest.approx(4.0)) and summary.data["fps"] == 12.0


@pytest.mark.parametrize(
    "setting", [{"vid_stride": 0}, {"vid_stride": 1.5}, {"min_track": 0}, {"max_frames": 0}]
)
def test_stream_refuses_counts_below_one_before_it_creates_its_folder(setting, tmp_path):
    from edge_runtime import Pipeline

    name = next(iter(setting))
    with pytest.raises(ValueError, match=f"^{name} must be a whole number at least 1"):
        Pipeline(faces_only=True).stream(tmp_path / "clip.mp4", save=tmp_path / "out", **setting)
    assert not (tmp_path / "out").exists()


def test_a_folder_stopped_in_its_video_keeps_both_summaries(tmp_path):
    """`finish` gives the open video's summary, then the open folder's so far."""
    import shutil

    from edge_runtime import Pipeline

    shutil.copy(TEST_DATA / "male_image_with_mask.jpg", tmp_path / "a.jpg")
    two_person_video(tmp_path / "b_clip.mp4", frames=6)
    run = Pipeline().stream(tmp_path)
    for seen, _ in enumerate(run, 1):
        if seen == 3:  # the photo, then two frames of the video
            break
    video, folder = run.finish(), run.finish()
    assert video.data["frames"] == 2 and video.data["source"].endswith("b_clip.mp4")
    assert folder.data == {**folder.data, "source": str(tmp_path), "images": 1, "faces": 1}
    assert run.finish() is None


def test_a_stream_stopped_early_finishes_its_mp4_and_keeps_its_summary(tmp_path):
    import cv2

    from edge_runtime import Pipeline

    video = tmp_path / "walk.mp4"
    two_person_video(video)
    run = Pipeline().stream(video, save=tmp_path / "out")
    for seen, _ in enumerate(run, 1):
        if seen == 5:
            break
    summary = run.finish()
    assert summary is not None and summary.data["frames"] == 5
    assert run.finish() is None and run.live_summary()["frames"] == 5
    capture = cv2.VideoCapture(summary.data["video"])
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5  # a finished, readable MP4
    capture.release()
    *results, last = list(Pipeline().stream(video))
    assert len(results) == 24 and last.data["frames"] == 24 and last.data["people"] == 2


def test_an_mp4_that_cannot_be_written_is_one_failure_and_the_frames_go_on(tmp_path):
    from edge_runtime import Pipeline

    video = tmp_path / "walk.mp4"
    two_person_video(video, frames=6)
    out = tmp_path / "out"
    (out / "walk.mp4").mkdir(parents=True)  # a folder where the MP4 should go
    items = list(Pipeline().stream(video, save=out))
    failed = [i for i in items if getattr(i, "error", None)]
    frames = [i for i in items if hasattr(i, "faces") and i.error is None]
    assert len(failed) == 1 and "cannot write an MP4" in failed[0].error
    assert len(frames) == 6 and items[-1].data["frames"] == 6 and "video" not in items[-1].data
