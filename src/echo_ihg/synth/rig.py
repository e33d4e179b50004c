"""Procedural face rig: semantic controls → landmark displacements → tracker-like image landmarks.

Works in the codec's canonical space (`motion.canonical`: frontal, y down, z away from the camera,
inter-ocular distance 1). Each expression control is a fixed displacement field over the 478 points,
built geometrically from the canonical face (smooth radial falloffs around the lips, mouth corners,
brows and cheeks; a jaw that opens below the mouth line). Eyelid controls use the identity's own lid
shape so that a blink closes that identity's eye exactly. Landmarks are

    q(t) = neutral + Σ_c control_c(t) · D_c          (canonical space)
    p(t) = apply_pose(R(yaw, pitch, roll) about a neck pivot, scale, translation)   (image space)

and come out as MediaPipe-normalised coordinates of a 512×512 frame (x, y in 0..1, z in the x scale).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from scipy.spatial.transform import Rotation

from echo_ihg.motion import topology as topo
from echo_ihg.motion.canonical import canonical_face
from echo_ihg.motion.pose import Pose, apply_pose, estimate_pose, remove_pose
from echo_ihg.synth.controls import CONTROL_INDEX as CI
from echo_ihg.synth.controls import CONTROL_NAMES

EXPRESSION_CONTROLS = tuple(n for n in CONTROL_NAMES if not n.startswith(("head_", "gaze_")))
FRAME_SIZE = 512
NECK_PIVOT = np.array([0.0, 1.0, 1.1])  # canonical units: below and behind the eyes


@dataclasses.dataclass(frozen=True)
class Identity:
    """A neutral face in canonical space (478, 3) and its placement in the 512×512 frame.

    scale: inter-ocular distance in frame widths; centre: (x, y) image position of the canonical origin.
    """

    name: str
    neutral: np.ndarray
    scale: float = 0.19
    centre: tuple[float, float] = (0.5, 0.45)


def identity_from_landmarks(name: str, landmarks: np.ndarray, rng: np.random.Generator | None = None) -> Identity:
    """Identity from tracked image landmarks (478, 3) of a square image: pose removed, placement drawn."""
    pose = estimate_pose(landmarks[None].astype(np.float64))
    neutral = remove_pose(landmarks[None].astype(np.float64), pose)[0]
    rng = rng or np.random.default_rng(0)
    return Identity(name, neutral.astype(np.float32), float(rng.uniform(0.17, 0.21)),
                    (float(rng.uniform(0.47, 0.53)), float(rng.uniform(0.43, 0.48))))


def _falloff(points: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    d2 = ((points[:, :2] - centre[:2]) ** 2).sum(1)
    return np.exp(-d2 / radius ** 2)


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0, 1)
    return t * t * (3 - 2 * t)


def _lids(side: str) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower lid points of an eye, by mesh topology. (A split by the corner-to-corner line misplaced
    lid points on 22 of the 198 tracked eyes, e.g. five of the seven upper-lid points of lfw065's right eye on
    the lower lid, so that eye barely closed.)"""
    if side == "l":
        return np.array(topo.LEFT_EYE_UPPER_LID), np.array(topo.LEFT_EYE_LOWER_LID)
    return np.array(topo.RIGHT_EYE_UPPER_LID), np.array(topo.RIGHT_EYE_LOWER_LID)


@functools.cache
def _mouth_geometry() -> dict[str, np.ndarray]:
    f = np.asarray(canonical_face(), np.float64)
    lips = topo.landmark_sets()["lips"]
    centre = 0.5 * (f[topo.UPPER_LIP_INNER] + f[topo.LOWER_LIP_INNER])
    upper = lips[f[lips, 1] < centre[1] - 1e-3]
    lower = lips[f[lips, 1] > centre[1] + 1e-3]
    return {"face": f, "centre": centre, "upper": upper, "lower": lower, "lips": lips}


@functools.cache
def shared_basis() -> np.ndarray:
    """Displacement fields (C_expr, 478, 3) of the mouth, cheek and brow controls on the canonical face
    (eyelid rows are zero here; they are identity-specific, see `basis`)."""
    g = _mouth_geometry()
    f, c = g["face"], g["centre"]
    n = len(f)
    D = {k: np.zeros((n, 3)) for k in EXPRESSION_CONTROLS}
    half_w = abs(f[topo.MOUTH_LEFT_CORNER, 0] - f[topo.MOUTH_RIGHT_CORNER, 0]) / 2
    near = _falloff(f, c, 0.55)
    lips_w = np.zeros(n)
    lips_w[g["lips"]] = 1.0
    lip_near = np.maximum(lips_w, near)
    upper_w, lower_w = np.zeros(n), np.zeros(n)
    upper_w[g["upper"]], lower_w[g["lower"]] = 1.0, 1.0
    # jaw: everything below the mouth line drops (less towards the jaw angles), lower lip fully
    below = _smoothstep(f[:, 1], c[1] - 0.03, c[1] + 0.12)
    below = np.maximum(below, lower_w)
    below[g["upper"]] = 0.0
    lateral = np.clip(1 - 0.7 * (np.abs(f[:, 0]) / 0.75) ** 2, 0.1, 1)
    w = below * lateral * (f[:, 2] < 1.2)
    D["jaw_open"][:, 1] = 0.30 * w
    D["jaw_open"][:, 2] = 0.08 * w
    D["lip_round"][:, 0] = -0.45 * (f[:, 0] - c[0]) * lip_near
    D["lip_round"][:, 2] = -0.12 * lip_near
    D["lip_stretch"][:, 0] = 0.16 * np.clip((f[:, 0] - c[0]) / half_w, -1.2, 1.2) * lip_near
    D["lip_press"][:, 1] = 0.035 * upper_w - 0.035 * lower_w
    D["lip_press"][:, 2] = -0.02 * lips_w
    D["upper_lip_raise"][:, 1] = -0.08 * upper_w * _falloff(f, c, 0.5)
    D["lower_lip_depress"][:, 1] = 0.08 * lower_w * _falloff(f, c, 0.5)
    for side, corner in (("l", topo.MOUTH_LEFT_CORNER), ("r", topo.MOUTH_RIGHT_CORNER)):
        fo = _falloff(f, f[corner], 0.32)
        tight = _falloff(f, f[corner], 0.22)  # the corner itself lifts most: a visible smile measure
        sgn = np.sign(f[corner, 0] - c[0])
        D[f"smile_{side}"][:, 0] = 0.09 * sgn * fo
        D[f"smile_{side}"][:, 1] = -0.06 * fo - 0.10 * tight
        D["corners_down"][:, 1] += 0.08 * fo
        cheek = f[corner] + np.array([0.12 * sgn, -0.35, 0.0])
        D["cheek_raise"][:, 1] += -0.05 * _falloff(f, cheek, 0.25)
    for side, brow, inner_i, outer_i in (("l", "left_brow", topo.LEFT_BROW_INNER, topo.LEFT_BROW_OUTER),
                                         ("r", "right_brow", topo.RIGHT_BROW_INNER, topo.RIGHT_BROW_OUTER)):
        xi, xo = f[inner_i, 0], f[outer_i, 0]
        t = np.clip((f[:, 0] - xi) / (xo - xi), 0, 1)  # 0 at the inner end, 1 at the outer end
        region = _falloff(f, 0.5 * (f[inner_i] + f[outer_i]) + np.array([0, -0.08, 0]), 0.4)
        region *= (f[:, 1] < f[inner_i, 1] + 0.08)
        sgn = np.sign(xo - xi)
        D["brow_inner_raise"][:, 1] += -0.12 * (1 - t) * region
        D["brow_outer_raise"][:, 1] += -0.12 * t * region
        D["brow_furrow"][:, 1] += 0.05 * (1 - t) ** 1.5 * region
        D["brow_furrow"][:, 0] += -0.05 * sgn * (1 - t) ** 1.5 * region
    return np.stack([D[k] for k in EXPRESSION_CONTROLS])


def _eye_basis(neutral: np.ndarray) -> dict[str, np.ndarray]:
    """Identity-specific eyelid fields: blink L/R, widen, squint (each (478, 3))."""
    n = len(neutral)
    out = {k: np.zeros((n, 3)) for k in ("blink_l", "blink_r", "eye_widen", "eye_squint")}
    for side in ("l", "r"):
        upper, lower = _lids(side)
        lx, ly = neutral[lower, 0], neutral[lower, 1]
        order = np.argsort(lx)
        lid_y = np.interp(neutral[upper, 0], lx[order], ly[order])
        gap = lid_y - neutral[upper, 1]  # > 0: lower lid is below
        out[f"blink_{side}"][upper, 1] = 0.85 * gap
        ux, uy = neutral[upper, 0], neutral[upper, 1]
        o2 = np.argsort(ux)
        up_y = np.interp(lx, ux[o2], uy[o2])
        out[f"blink_{side}"][lower, 1] = -0.15 * (ly - up_y)
        iris = topo.LEFT_IRIS if side == "l" else topo.RIGHT_IRIS
        out[f"blink_{side}"][iris, 1] = 0.25 * gap.mean()  # the eyeball rolls down a little
        out["eye_widen"][upper, 1] = -0.35 * gap
        out["eye_squint"][lower, 1] = -0.3 * (ly - up_y)
        out["eye_squint"][upper, 1] = 0.12 * gap
    return out


def basis(neutral: np.ndarray) -> np.ndarray:
    """All expression displacement fields (C_expr, 478, 3) for one identity."""
    B = shared_basis().copy()
    for k, v in _eye_basis(np.asarray(neutral, np.float64)).items():
        B[EXPRESSION_CONTROLS.index(k)] += v
    return B


def rotation(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """(T, 3, 3) canonical→camera rotations from degrees, matching `motion.pose.head_angles`."""
    # canonical z points away from the camera and y down: nose-up pitch is a negative x rotation,
    # nose-right yaw is a negative y rotation
    return Rotation.from_euler("zyx", np.stack([roll, -yaw, -pitch], 1), degrees=True).as_matrix()


def render_landmarks(identity: Identity, controls: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Controls (T, C) → image landmarks (T, 478, 3) of a FRAME_SIZE² frame (`dtype`)."""
    ctl = np.asarray(controls, np.float64)
    T = len(ctl)
    B = basis(identity.neutral).reshape(len(EXPRESSION_CONTROLS), -1)
    idx = [CI[k] for k in EXPRESSION_CONTROLS]
    q = identity.neutral.astype(np.float64)[None] + (ctl[:, idx] @ B).reshape(T, -1, 3)
    eye_w = np.linalg.norm(identity.neutral[topo.LEFT_EYE_OUTER] - identity.neutral[topo.LEFT_EYE_INNER])
    for iris in (topo.LEFT_IRIS, topo.RIGHT_IRIS):
        q[:, iris, 0] += (0.22 * eye_w * ctl[:, CI["gaze_yaw"]])[:, None]
        q[:, iris, 1] += (-0.12 * eye_w * ctl[:, CI["gaze_pitch"]])[:, None]
    rot = rotation(ctl[:, CI["head_yaw"]], ctl[:, CI["head_pitch"]], ctl[:, CI["head_roll"]])
    q = np.einsum("tij,tpj->tpi", rot, q - NECK_PIVOT) + NECK_PIVOT  # rotate about the neck
    scale = identity.scale * np.exp(0.5 * ctl[:, CI["head_tz"]])
    trans = np.stack([identity.centre[0] + identity.scale * ctl[:, CI["head_tx"]],
                      identity.centre[1] + identity.scale * ctl[:, CI["head_ty"]], np.zeros(T)], 1)
    pose = Pose(np.broadcast_to(np.eye(3), (T, 3, 3)).copy(), trans, scale)
    return apply_pose(q, pose).astype(dtype)
