"""Which face FaceTracker returns when several are seen: its choice logic on synthetic detections."""

from __future__ import annotations

import numpy as np

from echo_ihg.tracking.face_mesh import FaceTracker, TrackerConfig


def _face(cx: float, cy: float, size: float) -> np.ndarray:
    """A fake (478, 3) detection: points spread over a size×size px box centred at (cx, cy), 100 px image."""
    g = np.zeros((478, 3), np.float32)
    g[:, 0] = np.linspace(0, 1, 478)
    g[:, 1] = np.linspace(0, 1, 478)[::-1]
    g[:, 0] = (cx + (g[:, 0] - 0.5) * size) / 100
    g[:, 1] = (cy + (g[:, 1] - 0.5) * size) / 100
    return g


def _run(tracker: FaceTracker, detections: list[list[np.ndarray]]) -> list[float | None]:
    """Feed one list of detections per frame; -> x centre (px) of the returned face or None."""
    out = []
    frame = np.zeros((100, 100, 3), np.uint8)
    for faces in detections:
        tracker._detect = lambda rgb, mesh, faces=faces: faces  # noqa: B023 - stands in for MediaPipe
        lm = tracker.process(frame)
        out.append(None if lm is None else round(float(lm[:, 0].mean() * 100)))
    return out


def test_largest_chosen_then_followed_not_switched():
    with FaceTracker(TrackerConfig()) as tr:
        frames = [[_face(25, 50, 20), _face(75, 50, 30)]]                       # right is larger: chosen
        frames += [[_face(25, 50, 40), _face(75 - k, 50, 30)] for k in range(5)]  # left grows larger
        xs = _run(tr, frames)
    assert xs == [75, 75, 74, 73, 72, 71]


def test_other_face_is_not_taken_while_followed_one_is_missing():
    cfg = TrackerConfig(reacquire_after=3)
    with FaceTracker(cfg) as tr:
        frames = [[_face(25, 50, 30)], [_face(75, 50, 30)], [_face(75, 50, 30)], [_face(75, 50, 30)],
                  [_face(75, 50, 30)]]
        xs = _run(tr, frames)
    # missing for 3 frames (someone else only), then the similar-size face is accepted as re-acquired
    assert xs == [25, None, None, None, 75]


def test_much_smaller_face_is_never_taken_over():
    with FaceTracker(TrackerConfig(reacquire_after=2)) as tr:
        frames = [[_face(25, 50, 40)]] + [[_face(80, 20, 10)]] * 6 + [[_face(30, 55, 40), _face(80, 20, 10)]]
        xs = _run(tr, frames)
    assert xs == [25, None, None, None, None, None, None, 30]


def test_static_mode_always_takes_the_largest():
    with FaceTracker(TrackerConfig(), static_image_mode=True) as tr:
        xs = _run(tr, [[_face(25, 50, 40), _face(75, 50, 30)], [_face(25, 50, 20), _face(75, 50, 30)]])
    assert xs == [25, 75]
