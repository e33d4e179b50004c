"""Mesh, warp and renderer behaviour on real faces, and every kind of bad input."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from echo_ihg.errors import InputError, NoFaceError
from echo_ihg.render.base import RenderConfig, validate_motion
from echo_ihg.render.mesh import boundary_edges, face_triangles, hole_loops, hole_triangles
from echo_ihg.render.meshwarp import MeshWarpRenderer
from echo_ihg.render import edits


@pytest.fixture(scope="module")
def astro_state(astronaut):
    renderer = MeshWarpRenderer(RenderConfig(size=256))
    return renderer, renderer.setup(astronaut)


def test_face_triangulation_is_a_clean_manifold():
    tris = face_triangles()
    assert tris.shape == (852, 3)      # Euler: disc with 3 holes, 468 vertices, 88 boundary edges
    b = boundary_edges()
    assert {k: len(v) for k, v in b.items()} == {"face_oval": 36, "left_eye": 16, "right_eye": 16, "mouth": 20}
    assert {k: len(v) for k, v in hole_loops().items()} == {"mouth": 20, "left_eye": 16, "right_eye": 16}
    assert hole_triangles().shape == (52, 3)


def test_mesh_tiles_the_frame_without_overlap(astro_state):
    """At rest the triangles tile the frame exactly: their areas add up to the frame's area (an overlap
    or a hole would break the sum), and no background triangle lies inside the face."""
    renderer, state = astro_state
    mesh = state.data["mesh"]
    w, h = state.size
    tris = np.concatenate([mesh.outer_tris, mesh.hole_tris, mesh.face_tris])
    p = mesh.src[tris].astype(np.float64)
    area = 0.5 * np.abs((p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1])
                        - (p[:, 2, 0] - p[:, 0, 0]) * (p[:, 1, 1] - p[:, 0, 1]))
    assert area.sum() == pytest.approx((w - 1) * (h - 1), rel=2e-3)


def test_neutral_render_reproduces_the_portrait(astro_state):
    renderer, state = astro_state
    frame = renderer.render_frame(state, state.landmarks)
    assert frame.shape == (256, 256, 3) and frame.dtype == np.uint8
    assert np.abs(frame.astype(int) - state.image).mean() < 1.0


def test_edits_change_only_the_face_region(astro_state):
    renderer, state = astro_state
    w, h = 512, 512
    frame = renderer.render_frame(state, edits.open_mouth(state.landmarks, 0.08, (w, h)))
    diff = np.abs(frame.astype(int) - state.image).sum(-1) > 30
    ys, xs = np.nonzero(diff)
    face = state.landmarks_px[:468, :2]
    lo, hi = face.min(0), face.max(0)
    # changes stay near the face (plus the neck ring); the image border never moves
    assert diff.any()
    fw = hi[0] - lo[0]
    assert xs.min() > lo[0] - 0.8 * fw and xs.max() < hi[0] + 0.8 * fw
    assert not diff[0].any() and not diff[-1].any() and not diff[:, 0].any() and not diff[:, -1].any()


def test_mouth_interior_is_dark_when_open(astro_state):
    """Opening wider than the photo paints a mouth interior between the lips: a dark cavity (teeth are
    bright, so the darkest fifth is checked) that differs from the plain warp of the lip line."""
    renderer, state = astro_state
    from echo_ihg.render.mouth import LOWER_INNER, UPPER_INNER

    target = edits.open_mouth(state.landmarks, 0.12, (512, 512))
    frame = renderer.render_frame(state, target)
    px = state.frame.to_pixels(target)
    poly = np.concatenate([px[UPPER_INNER, :2], px[LOWER_INNER[-2:0:-1], :2]])
    mask = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    inside = frame[mask.astype(bool)].mean(-1)
    plain = MeshWarpRenderer(RenderConfig(size=256, mouth_interior=False)).render_frame(state, target)
    change = np.abs(plain[mask.astype(bool)].astype(float).mean(-1) - inside).mean()
    assert mask.sum() > 30 and np.percentile(inside, 20) < 0.6 * np.median(inside) and change > 20


def test_render_iterates_lazily_and_validates(astro_state):
    renderer, state = astro_state
    motion = np.stack([state.landmarks] * 3)
    frames = list(renderer.render(state, motion))
    assert len(frames) == 3
    bad = motion.copy()
    bad[2, 10, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        renderer.render(state, bad, source="motion.npy")      # fails at the call, before any frame
    with pytest.raises(InputError, match="shape"):
        renderer.render(state, motion[:, :468])
    with pytest.raises(InputError):
        renderer.render_frame(state, np.full((478, 3), np.nan, np.float32))


@pytest.mark.parametrize("bad", [np.zeros((5, 478, 2)), np.zeros((0, 478, 3)), np.zeros((478,)),
                                 np.array([["a"] * 3] * 478), np.full((2, 478, 3), np.inf),
                                 np.full((2, 478, 3), 250.0)])
def test_validate_motion_rejects(bad):
    with pytest.raises(InputError):
        validate_motion(bad, "m.npy")


def test_grey_and_rgba_portraits(astronaut):
    grey = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    for img in (grey, rgba):
        state = MeshWarpRenderer(RenderConfig(size=256)).setup(img)
        assert state.image.shape == (256, 256, 3)


def test_too_small_portrait(astronaut):
    with pytest.raises(InputError, match="at least"):
        MeshWarpRenderer().setup(cv2.resize(astronaut, (64, 64)))


def test_huge_portrait_is_downscaled(astronaut, caplog):
    huge = cv2.resize(astronaut, (2600, 2600), interpolation=cv2.INTER_LINEAR)
    with caplog.at_level(logging.WARNING):
        state = MeshWarpRenderer(RenderConfig(size="native", max_portrait_size=1024)).setup(huge)
    assert state.size == (1024, 1024)
    assert "downscaled" in caplog.text


def test_no_face(tmp_path):
    sky = np.full((300, 300, 3), 200, np.uint8)
    path = tmp_path / "sky.png"
    cv2.imwrite(str(path), sky)
    with pytest.raises(NoFaceError, match="sky.png"):
        MeshWarpRenderer().setup(path)


def test_missing_and_unreadable_portrait(tmp_path):
    with pytest.raises(InputError, match="not found"):
        MeshWarpRenderer().setup(tmp_path / "nope.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    with pytest.raises(InputError, match="junk.png"):
        MeshWarpRenderer().setup(junk)


@pytest.mark.parametrize("size", [100, 63, "huge"])
def test_bad_render_size(astronaut, size):
    with pytest.raises(InputError, match="size"):
        MeshWarpRenderer(RenderConfig(size=size)).setup(astronaut)


def test_non_square_crop_keeps_the_face(hopper):
    renderer = MeshWarpRenderer(RenderConfig(size=256))
    state = renderer.setup(hopper)
    face = state.landmarks_px[:468, :2]
    assert state.size == (256, 256)
    assert face.min() > 0 and face.max() < 256


def test_half_resolution_maps_match_full_resolution(astronaut):
    """The 512 px default computes maps at half resolution; the frames must match the exact maps."""
    motion = edits.rotate_head(edits.open_mouth(track_lm(astronaut), 0.06, (512, 512)), 15, -5, 0, (512, 512))
    fast = MeshWarpRenderer(RenderConfig(size=512))
    exact = MeshWarpRenderer(RenderConfig(size=512, half_res_maps_from=100_000))
    a = fast.render_frame(fast.setup(astronaut), motion)
    b = exact.render_frame(exact.setup(astronaut), motion)
    diff = np.abs(a.astype(int) - b)
    assert diff.mean() < 1.0 and np.percentile(diff, 99.5) < 40


def test_closed_eyes_show_lid_skin_not_lashes(astronaut):
    """A shut eye must look like skin with a lash line, not the stretched dark lashes of the open eye:
    closer to the skin colour under the eye than the plain warp (512 px: the eyes are ~17 px wide)."""
    from echo_ihg.render.edits import LOWER_LID, UPPER_LID

    renderer = MeshWarpRenderer(RenderConfig(size=512))
    state = renderer.setup(astronaut)
    target = edits.blink(state.landmarks, 1.0, (512, 512))
    px = state.frame.to_pixels(target)
    with_lids = renderer.render_frame(state, target)
    plain = MeshWarpRenderer(RenderConfig(size=512, eyelids=False)).render_frame(state, target)
    for side in ("left", "right"):
        pts = px[np.concatenate([UPPER_LID[side], LOWER_LID[side]]), :2]
        lo, hi = np.floor(pts.min(0)).astype(int) - [0, 2], np.ceil(pts.max(0)).astype(int) + [0, 1]
        region = (slice(lo[1], hi[1]), slice(lo[0], hi[0]))
        h = hi[1] - lo[1]
        skin = np.median(state.image[hi[1] + h:hi[1] + 3 * h, lo[0]:hi[0]].reshape(-1, 3), axis=0)
        off_skin = lambda img: np.abs(img[region].astype(float) - skin).mean()  # noqa: E731
        assert off_skin(with_lids) < 0.8 * off_skin(plain)


def track_lm(image):
    from echo_ihg.tracking.face_mesh import track_image

    return track_image(image)
