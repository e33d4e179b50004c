"""The warp mesh: MediaPipe's face triangulation, its holes (eyes, mouth) filled, and a background mesh
of rings around the head plus the image border so that a moving head drags hair, ears and neck along
without tearing the background. Built once per portrait (pure setup); `target_vertices` is per frame.

Vertex layout (N, 2) in output pixels:
    0..477            the tracker's landmarks (468 face points + 10 iris points, unused by the mesh: the
                      iris is pasted as a rigid patch, see `iris`)
    478, 479, 480     hole centres: the mean of the inner lip contour, of the left and of the right eye
                      contour; anchors of the fans that fill the mouth and eye holes
    481..481+E-1      ring points around the face oval; each follows the displacement of nearby oval
                      points with a weight falling off with distance from the face (hair 1, far ring 0.3)
    rest              image border points, fixed
"""

from __future__ import annotations

import collections
import functools
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

from echo_ihg.constants import N_LANDMARKS
from echo_ihg.motion.topology import landmark_sets, ordered_loop, tesselation_triangles

# synthetic hole-centre vertices, in this order after the landmarks
HOLES = ("mouth", "left_eye", "right_eye")
MOUTH_CENTRE, LEFT_EYE_CENTRE, RIGHT_EYE_CENTRE = N_LANDMARKS, N_LANDMARKS + 1, N_LANDMARKS + 2
FIRST_RING = N_LANDMARKS + len(HOLES)
# (ring scale about the face centre, weight of the oval's displacement). Weights < 1 let the background
# absorb the motion gradually; the last ring (weight 0) and the border never move, which confines the
# deformation to the head's surroundings instead of bending the whole picture.
RINGS: tuple[tuple[float, float], ...] = ((1.12, 1.0), (1.35, 0.85), (1.75, 0.35), (2.3, 0.0))
NECK_DAMPING = 0.6      # ring points below the chin follow the head less (the neck joins the body)
BORDER_STEPS = 8        # border points per image side


@functools.cache
def face_triangles() -> np.ndarray:
    """MediaPipe face triangles (852, 3), a 2-manifold with four boundary loops (oval, 2 eyes, mouth).

    `tesselation_triangles()` recovers triangles as 3-cliques of the edge graph, which also yields
    'phantom' triangles whose three edges each belong to two real triangles already (they cover real
    ones). Those are dropped here; Euler's formula for a disc with 3 holes then gives exactly 852.
    """
    tris = tesselation_triangles()
    count = collections.Counter(e for t in tris for e in _edges(t))
    keep = [t for t in tris if not all(count[e] > 2 for e in _edges(t))]
    return np.array(keep, dtype=np.int64)


def _edges(t) -> list[tuple[int, int]]:
    a, b, c = (int(v) for v in t)
    return [tuple(sorted(e)) for e in ((a, b), (b, c), (a, c))]


@functools.cache
def boundary_edges() -> dict[str, np.ndarray]:
    """Boundary edges (E, 2) of the face triangulation, grouped: face_oval, left_eye, right_eye, mouth."""
    count = collections.Counter(e for t in face_triangles() for e in _edges(t))
    edges = np.array([e for e, c in count.items() if c == 1], dtype=np.int64)
    sets = landmark_sets()
    out = {}
    for name, key in (("face_oval", "face_oval"), ("left_eye", "left_eye"), ("right_eye", "right_eye"),
                      ("mouth", "lips")):
        idx = sets[key]
        out[name] = edges[np.isin(edges, idx).all(axis=1)]
    assert sum(len(v) for v in out.values()) == len(edges), "unexpected boundary loop in the face mesh"
    return out


@functools.cache
def hole_loops() -> dict[str, np.ndarray]:
    """Boundary loop indices of each hole: mouth (inner lips, 20), left_eye, right_eye (16 each)."""
    b = boundary_edges()
    return {name: np.unique(b[name]) for name in HOLES}


@functools.cache
def hole_triangles() -> np.ndarray:
    """Fans that fill the mouth and eye holes around their centre vertices. (52, 3)."""
    b = boundary_edges()
    fans = [np.column_stack([np.full(len(b[name]), N_LANDMARKS + k), b[name]]) for k, name in enumerate(HOLES)]
    return np.concatenate(fans).astype(np.int64)


def hole_centres(landmarks_px: np.ndarray) -> np.ndarray:
    """Centres of the mouth, left-eye and right-eye holes. landmarks (478, ≥2) -> (3, 2)."""
    return np.stack([landmarks_px[idx, :2].mean(axis=0) for idx in hole_loops().values()])


@dataclass(frozen=True)
class WarpMesh:
    """Per-portrait mesh. src: (N, 2) vertex positions in the portrait (output px); triangles in three
    draw groups; ring_weights: (E, 478) maps landmark displacements to ring-point displacements."""

    src: np.ndarray
    outer_tris: np.ndarray
    hole_tris: np.ndarray
    face_tris: np.ndarray
    ring_weights: np.ndarray
    n_rings: int
    width: int
    height: int

    @property
    def n_vertices(self) -> int:
        return len(self.src)

    def target_vertices(self, landmarks_px: np.ndarray, neutral_px: np.ndarray) -> np.ndarray:
        """Vertex positions for one frame: landmarks (478, 3) px -> (N, 2) float32."""
        dst = self.src.copy()
        dst[:N_LANDMARKS] = landmarks_px[:, :2]
        dst[N_LANDMARKS:FIRST_RING] = hole_centres(landmarks_px)
        e = self.n_rings
        dst[FIRST_RING:FIRST_RING + e] += self.ring_weights @ (landmarks_px[:, :2] - neutral_px[:, :2])
        return dst


def build_mesh(landmarks_px: np.ndarray, width: int, height: int) -> WarpMesh:
    """Build the warp mesh around a portrait's landmarks (478, 3) in output pixels."""
    pts = landmarks_px[:, :2].astype(np.float64)
    oval = ordered_loop("FACEMESH_FACE_OVAL")
    ring_pts, ring_w = _ring_points(pts, oval, width, height)
    border = _border_points(width, height)
    src = np.concatenate([pts, hole_centres(pts), ring_pts, border]).astype(np.float32)
    n_ring = len(ring_pts)
    # background: Delaunay over the oval, rings and border, minus what lies inside the face oval
    bg_index = np.concatenate([oval, FIRST_RING + np.arange(n_ring + len(border))])
    tri = Delaunay(src[bg_index].astype(np.float64)).simplices
    outer = bg_index[tri]
    centroids = src[outer].mean(axis=1)
    poly = pts[oval].astype(np.float32).reshape(-1, 1, 2)
    inside = np.array([cv2.pointPolygonTest(poly, (float(x), float(y)), False) > 0 for x, y in centroids])
    outer = outer[~inside]
    return WarpMesh(src=src, outer_tris=outer.astype(np.int64), hole_tris=hole_triangles(),
                    face_tris=face_triangles(), ring_weights=ring_w, n_rings=n_ring,
                    width=width, height=height)


def _ring_points(pts: np.ndarray, oval: np.ndarray, width: int, height: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Scaled copies of the face oval (RINGS) inside the image, and their (E, 478) displacement weights:
    each ring point follows a smoothed (1-2-1 along the oval) displacement of its oval point."""
    centre = pts[oval].mean(axis=0)
    chin_y = pts[oval, 1].max()
    margin = 0.02 * min(width, height)
    min_gap = 0.035 * min(width, height)
    kept: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    n = len(oval)
    for scale, w in RINGS:
        for k, i in enumerate(oval):
            p = centre + (pts[i] - centre) * scale
            if not (margin <= p[0] <= width - 1 - margin and margin <= p[1] <= height - 1 - margin):
                continue
            if kept and np.min(np.linalg.norm(np.array(kept) - p, axis=1)) < min_gap:
                continue
            row = np.zeros(N_LANDMARKS, np.float32)
            for j, f in ((k - 1, 0.25), (k, 0.5), (k + 1, 0.25)):
                row[oval[j % n]] += f
            damp = NECK_DAMPING if p[1] > chin_y else 1.0
            kept.append(p)
            weights.append(row * w * damp)
    if not kept:
        return np.zeros((0, 2)), np.zeros((0, N_LANDMARKS), np.float32)
    return np.array(kept), np.array(weights, dtype=np.float32)


def _border_points(width: int, height: int) -> np.ndarray:
    xs = np.linspace(0, width - 1, BORDER_STEPS + 1)
    ys = np.linspace(0, height - 1, BORDER_STEPS + 1)
    top = np.column_stack([xs, np.zeros_like(xs)])
    bottom = np.column_stack([xs, np.full_like(xs, height - 1)])
    left = np.column_stack([np.zeros_like(ys[1:-1]), ys[1:-1]])
    right = np.column_stack([np.full_like(ys[1:-1], width - 1), ys[1:-1]])
    return np.concatenate([top, bottom, left, right])
