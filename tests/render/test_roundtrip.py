"""The honest check: track(render(portrait, L)) ≈ L, for edited motions of the portrait's own landmarks.

Errors are printed in output pixels (run with -s to see them). Besides the absolute error, each edit must
be *seen* by the tracker: `recovered` is the fraction of the intended landmark displacement that the
tracker finds in the rendered frame (projection of the tracked change onto the intended change).
"""

from __future__ import annotations

import numpy as np
import pytest

from echo_ihg.motion.topology import CHIN, FOREHEAD_TOP
from echo_ihg.render import edits
from echo_ihg.render.base import RenderConfig
from echo_ihg.render.meshwarp import MeshWarpRenderer
from echo_ihg.tracking.face_mesh import track_image

# motion name -> (edit, minimum fraction of the intended displacement the tracker must recover)
MOTIONS = {
    "open_mouth": (lambda L, s: edits.open_mouth(L, 0.08, s), 0.45),   # the chin is under-tracked
    "smile": (lambda L, s: edits.smile(L, 0.05, s), 0.45),
    "blink": (lambda L, s: edits.blink(L, 1.0, s), 0.25),
    "brow_raise": (lambda L, s: edits.raise_brows(L, 0.04, s), 0.4),
    "yaw+20": (lambda L, s: edits.rotate_head(L, 20, 0, 0, s), 0.85),
    "yaw-20": (lambda L, s: edits.rotate_head(L, -20, 0, 0, s), 0.85),
    "pitch+15": (lambda L, s: edits.rotate_head(L, 0, 15, 0, s), 0.85),
    "talk+smile+turn": (lambda L, s: edits.rotate_head(edits.smile(edits.open_mouth(L, 0.05, s), 0.04, s),
                                                        10, -5, 3, s), 0.7),
}


def _roundtrip(portrait: np.ndarray, size: int | str, name: str) -> list[str]:
    renderer = MeshWarpRenderer(RenderConfig(size=size))
    state = renderer.setup(portrait)
    w, h = portrait.shape[1], portrait.shape[0]
    ow, oh = state.size
    scale = np.array([ow, oh, ow], np.float32)
    neutral_px = state.frame.to_pixels(state.landmarks)
    face_h = float(np.linalg.norm(neutral_px[CHIN, :2] - neutral_px[FOREHEAD_TOP, :2]))
    tracked0 = track_image(renderer.render_frame(state, state.landmarks)) * scale
    floor = np.linalg.norm(tracked0[:468, :2] - neutral_px[:468, :2], axis=1).mean()
    lines = [f"{name} @ {ow}x{oh}: face height {face_h:.0f} px, neutral re-track error {floor:.2f} px"]
    assert floor < 0.012 * face_h
    failures = []
    for motion, (edit, min_recovered) in MOTIONS.items():
        target = edit(state.landmarks, (w, h))
        frame = renderer.render_frame(state, target)
        tracked = track_image(frame) * scale
        want = state.frame.to_pixels(target)
        err = np.linalg.norm(tracked[:468, :2] - want[:468, :2], axis=1)
        intended = (want - neutral_px)[:468, :2]
        got = (tracked - tracked0)[:468, :2]
        recovered = float((got * intended).sum() / (intended ** 2).sum())
        lines.append(f"  {motion:16s} mean {err.mean():5.2f} px  p95 {np.percentile(err, 95):5.2f} px  "
                     f"max edit {np.abs(intended).max():5.1f} px  recovered {recovered:4.2f}")
        if not (err.mean() < 0.02 * face_h and recovered >= min_recovered):
            failures.append(lines[-1])
    print("\n".join(lines))
    assert not failures, "\n".join(failures)
    return lines


def test_roundtrip_astronaut(astronaut):
    _roundtrip(astronaut, 512, "astronaut")


def test_roundtrip_hopper_256(hopper):
    _roundtrip(hopper, 256, "hopper")


def test_roundtrip_hopper_native(hopper):
    _roundtrip(hopper, "native", "hopper")


@pytest.mark.slow
def test_roundtrip_lfw_face(lfw_faces):
    """An upscaled 25 px LFW face: blurry, so the tracker is noisier; the same thresholds must hold."""
    _roundtrip(lfw_faces[1], 512, "lfw[1]")


def test_roundtrip_tilted_portrait(astronaut):
    """A portrait with the head tilted 20° in the image: edits follow the face's own axes and still work."""
    import cv2

    m = cv2.getRotationMatrix2D((256, 200), 20, 1.0)
    tilted = cv2.warpAffine(astronaut, m, (512, 512), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    _roundtrip(tilted, 512, "astronaut tilted 20°")


def test_open_mouth_portrait_can_close(astronaut):
    """The astronaut smiles with parted lips; moving the lower lip up must close the mouth on screen."""
    from echo_ihg.render.mouth import lip_gap

    renderer = MeshWarpRenderer(RenderConfig(size=512))
    state = renderer.setup(astronaut)
    px = state.landmarks_px
    face_h = float(np.linalg.norm(px[CHIN, :2] - px[FOREHEAD_TOP, :2]))
    gap0 = lip_gap(px)
    closed = edits.open_mouth(state.landmarks, -gap0 / face_h, (512, 512))
    tracked = track_image(renderer.render_frame(state, closed)) * 512
    print(f"lip gap: portrait {gap0:.1f} px, target {lip_gap(state.frame.to_pixels(closed)):.1f} px, "
          f"re-tracked {lip_gap(tracked):.1f} px")
    assert gap0 > 4 and lip_gap(tracked) < 0.5 * gap0


@pytest.mark.parametrize("dx, dy, min_recovered", [(0.15, 0.0, 0.6), (-0.15, 0.0, 0.6), (0.0, -0.1, 0.4)])
def test_gaze_roundtrip(astronaut, hopper, dx, dy, min_recovered):
    """Moving the irises (gaze) moves the re-tracked iris centres the same way (most of the way)."""
    from echo_ihg.motion.topology import LEFT_IRIS, RIGHT_IRIS

    centres = [LEFT_IRIS[0], RIGHT_IRIS[0]]
    for name, img in (("astronaut", astronaut), ("hopper", hopper)):
        renderer = MeshWarpRenderer(RenderConfig(size=512))
        state = renderer.setup(img)
        w, h = state.size
        scale = np.array([w, h], np.float32)
        target = edits.look(state.landmarks, dx, dy, (img.shape[1], img.shape[0]))
        base = track_image(renderer.render_frame(state, state.landmarks))[centres, :2] * scale
        got = track_image(renderer.render_frame(state, target))[centres, :2] * scale - base
        want = (state.frame.to_pixels(target) - state.landmarks_px)[centres, :2]
        recovered = float((got * want).sum() / (want ** 2).sum())
        print(f"{name} gaze ({dx:+.2f}, {dy:+.2f}): iris moved {np.round(want, 1).tolist()} px, "
              f"re-tracked {np.round(got, 1).tolist()} px, recovered {recovered:.2f}")
        assert recovered > min_recovered   # vertical gaze: the lids hide part of the iris, tracked less
