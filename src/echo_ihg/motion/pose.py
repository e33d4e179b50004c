"""Head pose: batched similarity alignment of stable landmarks to the canonical face.

Model (per frame, metric space, see `motion.canonical`):   p = scale · R · q + t
where q are canonical-space points. R (3,3) is found from STABLE_POINTS only — forehead, nose bridge,
eye corners, cheekbones/temples — so that speech and expressions (lips, jaw, brows, eyelids) do not leak
into the head pose. remove_pose / apply_pose are exact inverses for any pose.

Pose vector (6): [rotation vector (3, axis-angle, radians), tx, ty, log(scale)]. tx, ty are in metric
units (frame widths), scale is relative to the canonical face (≈ inter-ocular distance / frame width).
The depth offset tz is not part of the vector: MediaPipe's z has no absolute origin, so the codec fixes
the gauge instead — `centre_depth` puts the stable points' mean depth at 0, which makes tz = 0 exactly.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.spatial.transform import Rotation

from echo_ihg.motion.canonical import canonical_face, from_metric, to_metric

# Landmarks that move little with expression (MediaPipe indices).
STABLE_POINTS = np.array(sorted({
    10, 151, 9, 8, 108, 337, 109, 338, 67, 297, 69, 299, 104, 333,  # forehead
    168, 6, 197, 195,  # nose bridge
    33, 133, 362, 263,  # eye corners
    116, 345, 117, 346, 227, 447,  # cheekbones
    234, 454, 127, 356, 162, 389,  # temples / upper face outline
}), dtype=np.int64)


class Pose(NamedTuple):
    """Per-frame similarity: rotation (T,3,3), translation (T,3) metric units, scale (T,).
    A tuple, so `rotation, translation, scale = estimate_pose(landmarks)` works."""

    rotation: np.ndarray
    translation: np.ndarray
    scale: np.ndarray


def _batched(landmarks: np.ndarray) -> tuple[np.ndarray, bool]:
    arr = np.asarray(landmarks, dtype=np.float64)
    return (arr[None], True) if arr.ndim == 2 else (arr, False)


def centre_depth(landmarks: np.ndarray) -> np.ndarray:
    """Shift z of (T?, 478, 3) landmarks so that the stable points' mean depth is 0 (per frame)."""
    out = np.array(landmarks, dtype=np.float64, copy=True)
    out[..., 2] -= out[..., STABLE_POINTS, 2].mean(-1, keepdims=True)
    return out


def estimate_pose(landmarks: np.ndarray, aspect: float = 1.0) -> Pose:
    """Similarity pose of image-space landmarks (T, 478, 3) or (478, 3) (Umeyama, batched over T).

    aspect = frame width / height. Returns a Pose with T entries (T = 1 for a single face).
    """
    pts, _ = _batched(landmarks)
    dst = to_metric(pts[:, STABLE_POINTS], aspect)  # (T, n, 3)
    src = np.asarray(canonical_face()[STABLE_POINTS], np.float64)  # (n, 3)
    ms = src.mean(0)
    a = src - ms
    md = dst.mean(1)
    b = dst - md[:, None]
    cov = np.einsum("tni,nj->tij", b, a) / len(a)
    u, d, vt = np.linalg.svd(cov)
    sign = np.ones((len(pts), 3))
    sign[:, 2] = np.where(np.linalg.det(u) * np.linalg.det(vt) < 0, -1.0, 1.0)
    rot = u @ (sign[:, :, None] * vt)
    scale = (d * sign).sum(1) / (a ** 2).sum(1).mean()
    trans = md - scale[:, None] * (rot @ ms)
    return Pose(rot, trans, scale)


def remove_pose(landmarks: np.ndarray, pose: Pose, aspect: float = 1.0) -> np.ndarray:
    """Image-space landmarks (T, P, 3) -> canonical space (T, P, 3): q = R^T (p - t) / scale."""
    pts, single = _batched(landmarks)
    p = to_metric(pts, aspect) - pose.translation[:, None]
    q = np.einsum("tji,tpj->tpi", pose.rotation, p) / pose.scale[:, None, None]
    return q[0] if single else q


def apply_pose(points: np.ndarray, pose: Pose, aspect: float = 1.0) -> np.ndarray:
    """Canonical-space points (T, P, 3) -> image space (T, P, 3): p = scale R q + t. Inverse of remove_pose."""
    q, single = _batched(points)
    p = np.einsum("tij,tpj->tpi", pose.rotation, q) * pose.scale[:, None, None] + pose.translation[:, None]
    out = from_metric(p, aspect)
    return out[0] if single else out


def pose_to_vector(pose: Pose) -> np.ndarray:
    """Pose -> (T, 6) [rotvec (3), tx, ty, log scale] float64. tz is dropped (see module doc)."""
    rv = Rotation.from_matrix(pose.rotation).as_rotvec()
    return np.concatenate([rv, pose.translation[:, :2], np.log(pose.scale)[:, None]], 1)


def vector_to_pose(vec: np.ndarray) -> Pose:
    """(T, 6) pose vectors -> Pose with tz = 0. Inverse of pose_to_vector up to the dropped tz."""
    vec = np.asarray(vec, np.float64).reshape(-1, 6)
    rot = Rotation.from_rotvec(vec[:, :3]).as_matrix()
    trans = np.concatenate([vec[:, 3:5], np.zeros((len(vec), 1))], 1)
    return Pose(rot, trans, np.exp(vec[:, 5]))


def head_angles(rotation: np.ndarray) -> np.ndarray:
    """Head yaw, pitch, roll in degrees (T, 3) from rotations (T, 3, 3) (canonical -> camera).

    yaw > 0: the nose points towards image right (the subject's left, non-mirrored camera);
    pitch > 0: the nose points up; roll > 0: the head is tilted clockwise as seen in the image.
    Angles come from the face's forward axis (for yaw/pitch) and its left-right axis (for roll).
    """
    rot = np.asarray(rotation, np.float64).reshape(-1, 3, 3)
    fwd = rot @ np.array([0.0, 0.0, -1.0])  # canonical z points away from the camera
    side = rot @ np.array([1.0, 0.0, 0.0])
    yaw = np.arctan2(fwd[:, 0], -fwd[:, 2])
    pitch = np.arctan2(-fwd[:, 1], np.hypot(fwd[:, 0], fwd[:, 2]))
    # roll: elevation of the face's left-right axis; y points down, so > 0 = the image-right side drops
    roll = np.arctan2(side[:, 1], np.hypot(side[:, 0], side[:, 2]))
    return np.degrees(np.stack([yaw, pitch, roll], 1))
