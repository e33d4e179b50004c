"""Landmark edits: open the mouth, smile, blink, raise the brows, look aside, turn the head.

They make test and demo motions from a portrait's own tracked landmarks (the round-trip test, the contact
sheet, the benchmark), so that the renderer can be checked without a motion model. Each takes landmarks
(478, 3) in the tracker's normalised coordinates of an image of `size` = (W, H) and returns a new array.
Amounts are in face units (the forehead-to-chin distance) or degrees, so they mean the same on any photo.
Edits work in isotropic pixels (x·W, y·H, z·W) along the face's own axes (a tilted head works).
"""

from __future__ import annotations

import numpy as np

from echo_ihg.motion import topology as topo
from echo_ihg.render.mouth import LOWER_INNER, UPPER_INNER

LOWER_LIP = np.array(sorted({146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324}))
UPPER_LID = {"right": np.array([246, 161, 160, 159, 158, 157, 173]),
             "left": np.array([466, 388, 387, 386, 385, 384, 398])}
LOWER_LID = {"right": np.array([7, 163, 144, 145, 153, 154, 155]),
             "left": np.array([249, 390, 373, 374, 380, 381, 382])}
EYE_CORNERS = {"right": (33, 133), "left": (263, 362)}


def _px(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    return np.asarray(landmarks, np.float64) * np.array([w, h, w])


def _norm(px: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    return (px / np.array([w, h, w])).astype(np.float32)


def _axes(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The face's 'right' (towards image right for an upright face) and 'down' unit vectors in 2D, face
    height and width in px."""
    down = p[topo.CHIN, :2] - p[topo.FOREHEAD_TOP, :2]
    fh = float(np.linalg.norm(down))
    down /= fh
    right = np.array([down[1], -down[0]])
    face = p[:topo.N_FACE_POINTS, :2]
    fw = float(np.ptp(face @ right))
    return right, down, fh, fw


def open_mouth(landmarks: np.ndarray, amount: float, size: tuple[int, int]) -> np.ndarray:
    """Drop the jaw by `amount` face heights (0.08 is a wide-open talking mouth)."""
    p = _px(landmarks, size)
    right, down, fh, fw = _axes(p)
    mouth = (p[topo.MOUTH_LEFT_CORNER, :2] + p[topo.MOUTH_RIGHT_CORNER, :2]) / 2
    rel = p[:, :2] - mouth
    u, v = rel @ right, rel @ down
    # the lips' parting line (midway between the inner lips, corner to corner): what lies above it stays
    # (the upper lip, even the middle of a smiling mouth that sits below the corners), what lies below drops
    mid = 0.5 * (p[UPPER_INNER, :2] + p[LOWER_INNER, :2]) - mouth
    mu, order = mid @ right, np.argsort(mid @ right)
    v = v - np.interp(u, mu[order], (mid @ down)[order])
    ramp = np.clip((v + 0.01 * fh) / (0.05 * fh), 0.0, 1.0)
    weight = ramp * np.exp(-0.5 * (u / (0.33 * fw)) ** 2)
    weight[LOWER_LIP] = np.maximum(weight[LOWER_LIP], 0.92 * np.exp(-0.5 * (u[LOWER_LIP] / (0.5 * fw)) ** 2))
    weight[topo.N_FACE_POINTS:] = 0.0
    p[:, :2] += (amount * fh) * weight[:, None] * down
    return _norm(p, size)


def smile(landmarks: np.ndarray, amount: float, size: tuple[int, int]) -> np.ndarray:
    """Pull the mouth corners out and up by `amount` face heights (0.05 is a clear smile)."""
    p = _px(landmarks, size)
    right, down, fh, fw = _axes(p)
    for corner, side in ((topo.MOUTH_LEFT_CORNER, 1.0), (topo.MOUTH_RIGHT_CORNER, -1.0)):
        c = p[corner, :2]
        if (c - p[topo.NOSE_TIP, :2]) @ right * side < 0:   # mirrored photo: follow the actual side
            side = -side
        dist2 = ((p[:topo.N_FACE_POINTS, :2] - c) ** 2).sum(1)
        wgt = np.exp(-0.5 * dist2 / (0.11 * fh) ** 2)
        move = amount * fh * (0.75 * side * right - 0.55 * down)
        p[:topo.N_FACE_POINTS, :2] += wgt[:, None] * move
    return _norm(p, size)


def blink(landmarks: np.ndarray, amount: float, size: tuple[int, int], eyes: str = "both") -> np.ndarray:
    """Close the eyes by `amount` (0 open .. 1 shut): the upper lid comes down 80 %, the lower lid up 20 %;
    skin above and below follows with a fall-off."""
    p = _px(landmarks, size)
    right, down, fh, fw = _axes(p)
    face = p[:topo.N_FACE_POINTS, :2]
    for side in ("left", "right") if eyes == "both" else (eyes,):
        up, lo = UPPER_LID[side], LOWER_LID[side]
        gap = ((p[lo, :2] - p[up, :2]) @ down)          # per lid pair, px along 'down'
        c0, c1 = EYE_CORNERS[side]
        eye_w = float(np.linalg.norm(p[c0, :2] - p[c1, :2]))
        centre = (p[c0, :2] + p[c1, :2]) / 2
        shift_up = amount * 0.8 * gap                    # (7,) downward move of the upper lid points
        shift_lo = amount * 0.2 * gap
        rel = face - centre
        t, v = rel @ right, rel @ down
        # interpolate the lid moves along the eye's width to every nearby point; fall off with distance
        ut = p[up, :2] @ right
        o_up = np.argsort(ut)
        s_up = np.interp(t, ut[o_up], shift_up[o_up])
        lid_v = np.interp(t, ut[o_up], ((p[up, :2] - centre) @ down)[o_up])
        lt = p[lo, :2] @ right
        o_lo = np.argsort(lt)
        s_lo = np.interp(t, lt[o_lo], shift_lo[o_lo])
        fall = np.exp(-0.5 * ((v - lid_v) / (0.22 * eye_w)) ** 2) * np.exp(-0.5 * (t / (0.75 * eye_w)) ** 2)
        above = v < 0
        delta = np.where(above, s_up * fall, -s_lo * np.exp(-0.5 * (np.hypot(t, v) / (0.35 * eye_w)) ** 2))
        # nothing moves beyond the eye corners (the corners stay put; moving skin past them folds the mesh)
        delta *= np.clip((0.5 * eye_w - np.abs(t)) / (0.12 * eye_w), 0.0, 1.0)
        delta[up] = shift_up
        delta[lo] = -shift_lo
        corners = np.array([c0, c1])
        delta[corners] = 0.0
        p[:topo.N_FACE_POINTS, :2] += delta[:, None] * down
    return _norm(p, size)


def raise_brows(landmarks: np.ndarray, amount: float, size: tuple[int, int]) -> np.ndarray:
    """Raise both brows by `amount` face heights (0.03 is a clear raise); the upper lids follow a little."""
    p = _px(landmarks, size)
    right, down, fh, fw = _axes(p)
    sets = topo.landmark_sets()
    brows = np.concatenate([sets["left_brow"], sets["right_brow"]])
    eyes = np.concatenate([sets["left_eye"], sets["right_eye"]])
    face = p[:topo.N_FACE_POINTS, :2]
    d = np.sqrt(((face[:, None] - p[brows, :2][None]) ** 2).sum(-1)).min(1)
    wgt = np.exp(-0.5 * (d / (0.09 * fh)) ** 2)
    eye_line = float((p[eyes, :2] @ down).mean())
    below = (face @ down) > eye_line
    wgt[below] = 0.0
    wgt[eyes] *= 0.15
    p[:topo.N_FACE_POINTS, :2] -= (amount * fh) * wgt[:, None] * down
    return _norm(p, size)


def look(landmarks: np.ndarray, dx: float, dy: float, size: tuple[int, int]) -> np.ndarray:
    """Move both irises by (dx, dy) eye widths along the face's axes (gaze): dx > 0 towards image right,
    dy > 0 down, for an upright face."""
    p = _px(landmarks, size)
    right, down, fh, fw = _axes(p)
    for iris, (c0, c1) in ((topo.LEFT_IRIS, EYE_CORNERS["left"]), (topo.RIGHT_IRIS, EYE_CORNERS["right"])):
        eye_w = float(np.linalg.norm(p[c0, :2] - p[c1, :2]))
        p[iris, :2] += eye_w * (dx * right + dy * down)
    return _norm(p, size)


def rotate_head(landmarks: np.ndarray, yaw: float, pitch: float, roll: float, size: tuple[int, int],
                pivot_depth: float = 0.3) -> np.ndarray:
    """Rotate the head (degrees) about a pivot `pivot_depth` face widths behind the face's centroid, using
    the landmarks' depth. yaw > 0 turns the nose towards image right; pitch > 0 lifts it (a nod is a
    pitch down and up); roll > 0 tilts clockwise in the image."""
    p = _px(landmarks, size)
    face = p[:topo.N_FACE_POINTS]
    fw = float(np.ptp(face[:, 0]))
    pivot = face.mean(0) + np.array([0.0, 0.0, pivot_depth * fw])
    a, b, c = np.radians([yaw, pitch, roll])
    # image axes: x right, y down, z away from the camera; the nose points to -z
    ry = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), np.sin(b)], [0, -np.sin(b), np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    rot = rz @ rx @ ry
    out = (p - pivot) @ rot.T + pivot
    return _norm(out, size)


def demo_motion(landmarks: np.ndarray, size: tuple[int, int], n_frames: int = 250, fps: int = 25,
                seed: int = 0) -> np.ndarray:
    """A smooth talking-and-listening motion (T, 478, 3) built from the edits: syllable-rate jaw opening
    with pauses, a smile that comes and goes, blinks every ~3 s, brow raises, gaze shifts and slow head
    sway / nods (±12°). For benchmarks, contact sheets and jitter measurements."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / fps
    talk = (np.sin(2 * np.pi * 0.25 * t + rng.uniform(0, 6)) > -0.3).astype(np.float64)
    talk = np.convolve(talk, np.ones(5) / 5, mode="same")
    jaw = 0.07 * talk * np.clip(np.sin(2 * np.pi * 4.0 * t) * 0.5 + 0.5, 0, 1) ** 1.5
    grin = 0.04 * np.clip(np.sin(2 * np.pi * 0.11 * t + 1.0), 0, 1)
    blinks = np.zeros(n_frames)
    for start in np.arange(int(1.2 * fps), n_frames, int(3.1 * fps)):
        for k, v in enumerate((0.5, 1.0, 1.0, 0.6, 0.2)):
            if start + k < n_frames:
                blinks[start + k] = v
    brows = 0.03 * np.clip(np.sin(2 * np.pi * 0.07 * t + 2.0), 0, 1) ** 2
    yaw = 12 * np.sin(2 * np.pi * 0.13 * t)
    pitch = 6 * np.sin(2 * np.pi * 0.31 * t + 0.5)
    roll = 4 * np.sin(2 * np.pi * 0.09 * t)
    gaze = 0.12 * np.sin(2 * np.pi * 0.05 * t)
    out = np.empty((n_frames, *np.shape(landmarks)), np.float32)
    for i in range(n_frames):
        lm = open_mouth(landmarks, jaw[i], size)
        lm = smile(lm, grin[i], size)
        lm = raise_brows(lm, brows[i], size)
        if blinks[i] > 0:
            lm = blink(lm, blinks[i], size)
        lm = look(lm, gaze[i], 0.0, size)
        out[i] = rotate_head(lm, yaw[i], pitch[i], roll[i], size)
    return out
