"""Retarget another person's landmarks onto the portrait: expression and head-pose *changes* relative to
that person's neutral face are applied to the portrait's own landmarks.

    motion = retarget(driver (T, 478, 3), portrait_landmarks (478, 3))   # -> (T, 478, 3), portrait frame

Expressions are moved in the canonical space of `echo_ihg.motion.pose` (pose removed, units of the
inter-ocular distance), so a wide mouth on a small face in the driver's video becomes an equally wide
mouth (relative to the face) on the portrait. The head pose change (rotation, scale, translation relative
to the driver's reference pose) is applied about the portrait's own pose, translations scaled by the
ratio of face sizes. The driver's neutral defaults to the per-point median of its pose-free landmarks.
"""

from __future__ import annotations

import numpy as np

from echo_ihg.errors import InputError
from echo_ihg.motion.pose import Pose, apply_pose, estimate_pose, remove_pose
from echo_ihg.render.base import validate_motion


def mean_rotation(rotations: np.ndarray) -> np.ndarray:
    """Chordal mean of rotations (T, 3, 3): the nearest rotation to their average. -> (3, 3)."""
    u, _, vt = np.linalg.svd(rotations.mean(axis=0))
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def retarget(driver: np.ndarray, portrait: np.ndarray, driver_neutral: np.ndarray | None = None,
             driver_aspect: float = 1.0, portrait_aspect: float = 1.0, expression_scale: float = 1.0,
             pose_scale: float = 1.0, valid: np.ndarray | None = None) -> np.ndarray:
    """Driver landmarks (T, 478, 3) in its own frame -> (T, 478, 3) float32 in the portrait's frame.

    driver_neutral: (478, 3) the driver's neutral face in its frame (default: median over valid frames);
    aspects: frame width / height of the driver's and the portrait's images; expression_scale and
    pose_scale (0..) exaggerate or damp the transfer; valid: (T,) frames to use for the neutral.
    """
    drv = validate_motion(driver, "driver landmarks").astype(np.float64)
    por = validate_motion(portrait, "portrait landmarks")[0].astype(np.float64)
    if valid is not None and not np.asarray(valid, bool).any():
        raise InputError(None, "driver landmarks have no valid frame to take a neutral face from")
    use = np.ones(len(drv), bool) if valid is None else np.asarray(valid, bool)
    pd = estimate_pose(drv, driver_aspect)
    qd = remove_pose(drv, pd, driver_aspect)                       # (T, 478, 3) canonical
    if driver_neutral is None:
        qn = np.median(qd[use], axis=0)
        r_ref = mean_rotation(pd.rotation[use])
        s_ref = float(np.median(pd.scale[use]))
        t_ref = np.median(pd.translation[use], axis=0)
    else:
        neu = validate_motion(driver_neutral, "driver neutral")[0].astype(np.float64)
        pn = estimate_pose(neu, driver_aspect)
        qn = remove_pose(neu, pn, driver_aspect)
        r_ref, s_ref, t_ref = pn.rotation[0], float(pn.scale[0]), pn.translation[0]
    pp = estimate_pose(por, portrait_aspect)
    qp = remove_pose(por, pp, portrait_aspect)                     # (478, 3)
    q = qp[None] + expression_scale * (qd - qn[None])
    rel = pd.rotation @ r_ref.T                                    # (T, 3, 3) change of head rotation
    if pose_scale != 1.0:
        from scipy.spatial.transform import Rotation

        rel = Rotation.from_rotvec(Rotation.from_matrix(rel).as_rotvec() * pose_scale).as_matrix()
    ratio = pp.scale[0] / s_ref
    pose = Pose(rotation=rel @ pp.rotation[0],
                translation=pp.translation[0] + pose_scale * (pd.translation - t_ref) * ratio,
                scale=pp.scale[0] * (pd.scale / s_ref) ** pose_scale)
    out = apply_pose(q, pose, portrait_aspect)
    # keep the portrait's own depth offset (the pose gauge centres depth at the stable points)
    out[..., 2] += por[:, 2].mean() - out[..., 2].mean(axis=-1, keepdims=True)
    return out.astype(np.float32)
