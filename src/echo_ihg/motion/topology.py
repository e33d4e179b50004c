"""Landmark topology of the 478-point MediaPipe face mesh (468 face points + 2 × 5 iris points).

Index sets come from MediaPipe's published connection lists, read once from the installed package.
"Left"/"right" follow MediaPipe: LEFT_* is the subject's left (image right in a non-mirrored photo).
The partition of all face points into the facial regions of the motion codec lives in `motion.regions`.
"""

from __future__ import annotations

import functools

import numpy as np

from echo_ihg.constants import N_FACE_POINTS  # noqa: F401  (topo.N_FACE_POINTS: the mesh's face points)
RIGHT_IRIS = np.arange(468, 473)  # centre first, then 4 points (MediaPipe's order)
LEFT_IRIS = np.arange(473, 478)

# Named single landmarks used by attributes, the rig and the renderer (MediaPipe indices).
FOREHEAD_TOP = 10
CHIN = 152
NOSE_TIP = 1
NOSE_BRIDGE = 168
MOUTH_LEFT_CORNER = 291   # subject's left
MOUTH_RIGHT_CORNER = 61
UPPER_LIP_INNER = 13
LOWER_LIP_INNER = 14
UPPER_LIP_OUTER = 0
LOWER_LIP_OUTER = 17
LEFT_EYE_OUTER, LEFT_EYE_INNER, LEFT_EYE_TOP, LEFT_EYE_BOTTOM = 263, 362, 386, 374
RIGHT_EYE_OUTER, RIGHT_EYE_INNER, RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM = 33, 133, 159, 145
# the eye contours' two paths between the corners (FACEMESH_*_EYE), corners excluded, outer -> inner: fixed by
# the mesh topology, so a lid point stays on its lid whatever the face's shape or roll
LEFT_EYE_UPPER_LID = (466, 388, 387, 386, 385, 384, 398)
LEFT_EYE_LOWER_LID = (249, 390, 373, 374, 380, 381, 382)
RIGHT_EYE_UPPER_LID = (246, 161, 160, 159, 158, 157, 173)
RIGHT_EYE_LOWER_LID = (7, 163, 144, 145, 153, 154, 155)
LEFT_BROW_INNER, LEFT_BROW_MID, LEFT_BROW_OUTER = 285, 282, 276
RIGHT_BROW_INNER, RIGHT_BROW_MID, RIGHT_BROW_OUTER = 55, 52, 46


@functools.cache
def _connections():
    from mediapipe.python.solutions import face_mesh_connections as fmc  # heavy import: only when needed

    return fmc


def _points(edges) -> np.ndarray:
    return np.array(sorted({i for e in edges for i in e}), dtype=np.int64)


@functools.cache
def landmark_sets() -> dict[str, np.ndarray]:
    """Named index sets: lips, left_eye, right_eye, left_brow, right_brow, face_oval, nose, irises."""
    c = _connections()
    return {
        "lips": _points(c.FACEMESH_LIPS),
        "left_eye": _points(c.FACEMESH_LEFT_EYE),
        "right_eye": _points(c.FACEMESH_RIGHT_EYE),
        "left_brow": _points(c.FACEMESH_LEFT_EYEBROW),
        "right_brow": _points(c.FACEMESH_RIGHT_EYEBROW),
        "face_oval": _points(c.FACEMESH_FACE_OVAL),
        "nose": _points(c.FACEMESH_NOSE),
        "left_iris": LEFT_IRIS.copy(),
        "right_iris": RIGHT_IRIS.copy(),
    }


@functools.cache
def tesselation_triangles() -> np.ndarray:
    """Triangles (F, 3) of the 468-point face mesh, recovered from MediaPipe's tesselation edge list."""
    c = _connections()
    edges = {tuple(sorted(e)) for e in c.FACEMESH_TESSELATION}
    adj: dict[int, set[int]] = {}
    for a, b in edges:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    tris = set()
    for a, b in edges:
        for k in adj[a] & adj[b]:
            tris.add(tuple(sorted((a, b, k))))
    return np.array(sorted(tris), dtype=np.int64)


@functools.cache
def ordered_loop(name: str) -> np.ndarray:
    """Closed contour of a connection set in walking order (e.g. 'FACEMESH_FACE_OVAL', 'FACEMESH_LIPS' parts)."""
    c = _connections()
    edges = list(getattr(c, name))
    nxt = {}
    for a, b in edges:
        nxt.setdefault(a, b)
    start = edges[0][0]
    loop = [start]
    while True:
        n = nxt.get(loop[-1])
        if n is None or n == start or len(loop) > len(edges):
            break
        loop.append(n)
    return np.array(loop, dtype=np.int64)
