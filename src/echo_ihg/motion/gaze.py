"""Gaze from the iris relative to the eye corners, in canonical (pose-removed) space.

Per eye, the eye frame is: origin = midpoint of the two corners, x axis = corner-to-corner direction
(towards image right) in the canonical x-y plane, y axis perpendicular to it pointing up, unit = the
eye's width (corner to corner). Gaze = iris centre in that frame: (x > 0 = looking towards image right,
i.e. the subject's left; y > 0 = looking up), in eye widths. Layout of the 4 numbers:
[left_x, left_y, right_x, right_y] ("left" = the subject's left eye).

Placing the irises back (decode) is exact for the iris centre's x and y; its depth and the 4 ring points
follow the person's neutral iris (ring scaled with the eye width), so ring shape changes are not kept.
"""

from __future__ import annotations

import numpy as np

from echo_ihg.motion import topology as topo

# (image-left corner, image-right corner, iris indices) per eye, in layout order
EYES = (
    (topo.LEFT_EYE_INNER, topo.LEFT_EYE_OUTER, topo.LEFT_IRIS),
    (topo.RIGHT_EYE_OUTER, topo.RIGHT_EYE_INNER, topo.RIGHT_IRIS),
)


def _frame(q: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Eye frame of canonical points q (T, 478, 3): origin (T,3), x axis (T,2), up axis (T,2), width (T,)."""
    mid = 0.5 * (q[:, a] + q[:, b])
    ex = q[:, b, :2] - q[:, a, :2]
    ex /= np.linalg.norm(ex, axis=1, keepdims=True)
    up = np.stack([ex[:, 1], -ex[:, 0]], 1)  # ex rotated by -90° in an y-down plane: points up
    width = np.linalg.norm(q[:, b] - q[:, a], axis=1)
    return mid, ex, up, width


def gaze_from_points(q: np.ndarray) -> np.ndarray:
    """Canonical points (T, 478, 3) -> gaze (T, 4) [left_x, left_y, right_x, right_y] in eye widths."""
    out = []
    for a, b, iris in EYES:
        mid, ex, up, width = _frame(q, a, b)
        rel = q[:, iris[0], :2] - mid[:, :2]
        out += [(rel * ex).sum(1) / width, (rel * up).sum(1) / width]
    return np.stack(out, 1)


def place_irises(q: np.ndarray, neutral_q: np.ndarray, gaze: np.ndarray | None) -> np.ndarray:
    """Write the 10 iris points into canonical points q (T, 478, 3) (in place, also returned).

    gaze (T, 4) as from `gaze_from_points`, or None to keep the neutral gaze. neutral_q: (478, 3).
    """
    nq = neutral_q[None]
    for e, (a, b, iris) in enumerate(EYES):
        mid, ex, up, width = _frame(q, a, b)
        nmid, _, _, nwidth = _frame(nq, a, b)
        if gaze is None:
            g = gaze_from_points(nq)[0, 2 * e: 2 * e + 2][None]
        else:
            g = gaze[:, 2 * e: 2 * e + 2]
        centre = np.empty_like(mid)
        centre[:, :2] = mid[:, :2] + width[:, None] * (g[:, :1] * ex + g[:, 1:] * up)
        centre[:, 2] = mid[:, 2] + (nq[0, iris[0], 2] - nmid[0, 2])
        ring = (nq[0, iris] - nq[0, iris[0]])[None] * (width / nwidth[0])[:, None, None]
        q[:, iris] = centre[:, None] + ring
    return q
