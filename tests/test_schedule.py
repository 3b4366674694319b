"""The video detection schedule on real pixels: full views only at keyframes of a still
scene, camera motion told from the picture, a face that appears between keyframes found
on the frame it appears, and sure faces followed close up."""

from __future__ import annotations

import dataclasses
from concurrent.futures import Future

import cv2
import numpy as np

import veil
from conftest import write_clip
from veil.detect.base import Detections, iou_matrix
from veil.pipeline import load_video_models
from veil.pipeline.schedule import (
    GPU_SCHEDULE,
    Looks,
    ScheduleOptions,
    camera_motion,
    schedule_for,
    segment,
    small_copy,
)
from veil.pipeline.video import detect_video, scheduled_detections
from veil.profiles import Pass, Profile, build_profile
from veil.report import FileReport


def _scene(portraits: np.ndarray) -> np.ndarray:
    """A 1920x1080 frame of the portraits' surroundings with no face in it: the top-left
    corner of the sheet, tiled."""
    corner = portraits[:60, :60]
    return np.ascontiguousarray(np.tile(corner, (18, 32, 1)))


def test_camera_motion_is_told_from_the_picture(portraits: np.ndarray) -> None:
    before = small_copy(portraits)
    height, width = before.shape
    # zoom in 3% about the centre and pan 5 small pixels right, 2 down
    truth = cv2.getRotationMatrix2D((width / 2, height / 2), 0, 1.03)
    truth[:, 2] += (5, 2)
    after = cv2.warpAffine(before, truth, (width, height), borderMode=cv2.BORDER_REFLECT)
    found = camera_motion(before, after)
    assert found is not None
    assert np.abs(found - truth).max() < 0.6
    assert camera_motion(before, np.full_like(before, 128)) is None  # a cut to a flat frame


def test_a_still_scene_gets_full_views_at_keyframes_only(tmp_path, portraits) -> None:
    clip = write_clip(tmp_path / "still.mp4", np.ascontiguousarray(portraits[:, :960]),
                      frames=33, size=(960, 512), pan=0)
    looks = Looks(load_video_models().detector, ScheduleOptions(every=8, sideways_every=0))
    per_frame, _ = scheduled_detections(clip, looks, parallel=2)
    assert len(per_frame) == 33
    assert looks.counts["full views"] == 5  # frames 0, 8, 16, 24, 32
    assert looks.counts["changed regions"] <= 4  # H.264 noise may wake a tile or two
    sure = [int((dets.scores >= 0.5).sum()) for dets in per_frame]
    assert sure == [sure[0]] * 33 and sure[0] >= 2  # the portraits in view, every frame


def test_keyframes_come_twice_as_often_where_the_full_view_is_small(tmp_path, portraits) -> None:
    # --min-face 30 sees the frame at a third of its size (4K's 1280x720 view): a keyframe
    # costs a ninth of the frame's pixels there, and the 4K clips lost faces every 8 frames
    clip = write_clip(tmp_path / "still.mp4", np.ascontiguousarray(portraits[:, :960]),
                      frames=17, size=(960, 512), pan=0)
    small = Looks(load_video_models(30).detector, ScheduleOptions(every=8, sideways_every=0))
    assert small.every == 4
    scheduled_detections(clip, small, parallel=2)
    assert small.counts["full views"] == 5  # frames 0, 4, 8, 12, 16
    assert Looks(load_video_models().detector, ScheduleOptions()).every == 8  # 1080p's view
    assert Looks(load_video_models(30).detector, ScheduleOptions(every=1)).every == 1


def test_on_a_gpu_every_frame_is_seen_whole(tmp_path, portraits) -> None:
    """GPU_SCHEDULE: nothing compared, a full view of every frame, the turned views whole at
    every sideways keyframe."""
    assert schedule_for("cuda") == GPU_SCHEDULE and schedule_for("cpu") == ScheduleOptions()
    clip = write_clip(tmp_path / "still.mp4", np.ascontiguousarray(portraits[:, :960]),
                      frames=33, size=(960, 512), pan=0)
    looks = Looks(load_video_models().detector, GPU_SCHEDULE)
    per_frame, _ = scheduled_detections(clip, looks, parallel=2)
    assert looks.counts["full views"] == 33 and looks.counts["sideways views"] == 5
    assert looks.counts["comparisons"] == 0 and looks.counts["changed regions"] == 0
    sure = [int((dets.scores >= 0.5).sum()) for dets in per_frame]
    assert sure == [sure[0]] * 33 and sure[0] >= 2
    # The engine runs it for models on a GPU (or given it), and it masks every face that a
    # full view of each frame finds surely.
    models = dataclasses.replace(load_video_models(), schedule=GPU_SCHEDULE)
    plan, _ = veil.anonymize_video(clip, tmp_path / "out.mp4", models=models)
    assert plan.tracks == detect_video(clip, models.detector, schedule=GPU_SCHEDULE).tracks
    assert plan.tracks != detect_video(clip, models.detector).tracks  # the CPU's schedule
    assert veil.plan_video(clip, models=models).tracks == plan.tracks  # `veil detect`'s pass
    for index, dets in enumerate(per_frame):
        for box in dets.boxes[dets.scores >= 0.5]:
            assert any(index in t.boxes and _iou(box.tolist(), t.boxes[index]) > 0.3
                       for t in plan.tracks), (index, box)


def test_a_face_appearing_between_keyframes_is_found_where_it_appears(portraits) -> None:
    scene = _scene(portraits)
    face = portraits[40:260, 120:360]  # the first portrait's head
    frames = [scene.copy() for _ in range(9)]
    for frame in frames[3:]:
        frame[200:420, 500:740] = face
    looks = Looks(load_video_models().detector, ScheduleOptions(every=8, sideways_every=0))
    first, last = looks.keyframe(0, frames[0]), looks.keyframe(8, frames[8])
    assert len(first) == 0 or first.scores.max() < 0.5
    out = segment(looks, frames, first, last)
    assert looks.counts["full views"] == 2  # only the two keyframes: the rest was proved
    for index in range(3, 8):
        boxes = out[index].boxes[out[index].scores >= 0.5]
        assert len(boxes) == 1, index
        cx, cy = (boxes[0, 0] + boxes[0, 2]) / 2, (boxes[0, 1] + boxes[0, 3]) / 2
        assert 500 < cx < 740 and 200 < cy < 420
    assert all((out[i].scores < 0.5).all() for i in range(3))


def _done(value: object) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def test_turned_looks_see_only_what_changed_since_the_last(portraits) -> None:
    scene = _scene(portraits)
    face = np.ascontiguousarray(np.rot90(portraits[40:260, 120:360]))  # a head on its side
    frames = [scene.copy() for _ in range(9)]
    for frame in frames[3:]:
        frame[200:200 + face.shape[0], 500:500 + face.shape[1]] = face
    looks = Looks(load_video_models().detector, ScheduleOptions(every=8, sideways_every=8,
                                                                sideways_whole_every=64))
    at_0 = looks.turned(0, frames[0], None)
    at_8 = looks.turned(8, frames[8], _done(at_0))
    assert at_0 is not None and at_8 is not None and not len(at_0.dets)
    # frame 8: not the whole frame turned again, only the part where the face came
    assert looks.counts["sideways views"] == 1 and looks.counts["sideways regions"] >= 1
    assert looks.counts["sideways regions pixels"] < 0.25 * looks.counts["sideways views pixels"]
    (box,) = at_8.dets.boxes
    assert 500 < (box[0] + box[2]) / 2 < 500 + face.shape[1]
    # nothing changed since: the face is still held, and nothing was looked at again
    regions = looks.counts["sideways regions"]
    at_16 = looks.turned(16, frames[8], _done(at_8))
    assert at_16 is not None and len(at_16.dets) == 1
    assert looks.counts["sideways regions"] == regions and looks.counts["sideways views"] == 1
    last = looks.keyframe(8, frames[8], _done(at_8))  # the keyframe holds the turned finds
    assert (iou_matrix(at_8.dets.boxes, last.boxes) > 0.4).any()
    # the whole frame turned again every sideways_whole_every frames
    looks.turned(64, frames[8], _done(at_16))
    assert looks.counts["sideways views"] == 2


def test_schedule_covers_every_face_a_full_view_of_every_frame_finds(example_clip) -> None:
    detector = load_video_models().detector
    every_frame, _ = scheduled_detections(example_clip, Looks(detector, ScheduleOptions(every=1)))
    scheduled = detect_video(example_clip, detector)
    for index, dets in enumerate(every_frame):
        for box in dets.boxes[dets.scores >= 0.5]:
            covered = any(
                index in track.boxes and _iou(box.tolist(), track.boxes[index]) > 0.3
                for track in scheduled.tracks
            )
            assert covered, (index, box)


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / max(union, 1e-6)


def _blind_looks() -> Looks:
    """A view that finds nothing on these portraits (CenterFace asked for certainty it
    never reaches) and the video profile's auditor (RetinaFace, another family)."""
    blind = Profile("blind", (Pass("centerface", 0.9999),), audit=Pass("retinaface", 0.8))
    detector, auditor, _ = build_profile(blind, threads=1)
    return Looks(detector, ScheduleOptions(every=8, sideways_every=0), auditor)


def test_what_the_audit_finds_becomes_a_track(tmp_path, portraits) -> None:
    clip = write_clip(tmp_path / "still.mp4", np.ascontiguousarray(portraits[:, :960]),
                      frames=33, size=(960, 512), pan=0)
    looks = _blind_looks()
    report = FileReport(input="still.mp4")
    plan = detect_video(clip, looks.detector, auditor=looks.auditor, report=report,
                        schedule=looks.options)
    # the middle of the segment from frame 0, and frame 32, a segment of one frame
    assert report.audit["ran"] and report.audit["frames_looked_at"] == 2
    found = [f for f in report.audit["found"] if f[0] == 4]
    assert len(found) >= 2
    for _, *box in found:  # each find is a track, masked on its frame and a few around it
        assert any(4 in t.boxes and _iou(box, t.boxes[4]) > 0.7 and 3 in t.boxes
                   for t in plan.tracks)


def test_the_audit_looks_close_up_where_a_face_went(portraits, example_faces) -> None:
    looks = _blind_looks()
    face = np.array(example_faces[:1], np.float32)
    went = Detections(face, np.array([0.9], np.float32), ["centerface"])
    found = looks.audit(7, np.ascontiguousarray(portraits), Detections(), near=went)
    assert len(found) == 1 and found.sources == ["audit"] and _iou(
        found.boxes[0].tolist(), face[0].tolist()) > 0.4
    assert looks.audit_frames == 0 and looks.counts["audit crops"] == 1
    # where the plan already holds the face, the audit finds nothing new
    assert not len(looks.audit(7, np.ascontiguousarray(portraits), went, near=went))


def test_a_look_that_cuts_a_face_does_not_shrink_its_box(portraits) -> None:
    """A change above a face wakes the block row it straddles (rows are 256 px at 1080p):
    the look at that row sees the face cut at the row's edge. The face's box from the
    keyframe stays whole; the cut box found there does not replace it."""
    scene = _scene(portraits)
    head = portraits[40:260, 120:360]  # its face found at y 230-339: centre above the edge
    frames = [scene.copy() for _ in range(9)]
    for frame in frames:
        frame[200:420, 520:760] = head
    for frame in frames[3:]:
        frame[40:80, 600:640] = 255  # something new above the face
    looks = Looks(load_video_models().detector, ScheduleOptions(every=8, sideways_every=0))
    first, last = looks.keyframe(0, frames[0]), looks.keyframe(8, frames[8])
    out = segment(looks, frames, first, last)
    assert looks.counts["changed regions"] >= 1
    for index in range(9 - 1):
        sure = out[index].boxes[out[index].scores >= 0.5]
        assert len(sure) == 1, index
        assert sure[0, 1] < 240 and sure[0, 3] > 330, (index, sure[0])  # the whole face


def test_nothing_is_carried_or_followed_across_a_scene_cut(portraits) -> None:
    """Frames 0-3 hold a face; from frame 4 another scene with none. Where the face was, the
    new scene is looked at whole, not close up for the face (a close look at a spot of the
    other scene finds only fragments), and not followed back from the next keyframe."""
    with_face = _scene(portraits)
    with_face[200:420, 500:740] = portraits[40:260, 120:360]
    other = np.ascontiguousarray(255 - _scene(portraits)[:, ::-1])  # other colours, no face
    frames = [with_face.copy() for _ in range(4)] + [other.copy() for _ in range(5)]
    looks = Looks(load_video_models().detector, ScheduleOptions(every=8, sideways_every=0))
    first, last = looks.keyframe(0, frames[0]), looks.keyframe(8, frames[8])
    assert (first.scores >= 0.5).sum() == 1
    out = segment(looks, frames, first, last)
    assert all((out[i].scores >= 0.5).sum() == 1 for i in range(4))
    assert looks.counts["full views"] == 3  # the keyframes and the frame after the cut
    assert looks.counts["follow crops"] == 0
    assert all((out[i].scores < 0.5).all() for i in range(4, 8))
