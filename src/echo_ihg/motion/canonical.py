"""The canonical face and the coordinate conventions shared by the motion codec.

Coordinate spaces
-----------------
* **Image space** (what the tracker writes): x, y normalised by the frame's width W and height H
  (0..1, y down), z as MediaPipe gives it (same scale as x, smaller = closer to the camera).
* **Metric space**: isotropic, in units of the frame width: ``X = x, Y = y * H / W, Z = z``.
  With ``aspect = W / H`` this is ``(x, y / aspect, z)``; distances and rotations are meaningful here.
  Multiply by W to get pixels.
* **Canonical space**: metric space with head pose (rotation, translation, scale) removed by
  similarity alignment to the canonical face (`motion.pose`). Axes as in the image (x towards image right,
  i.e. the subject's left; y down; z away from the camera). Units: the canonical face's inter-ocular
  distance (outer eye corners 33–263) is 1; the centroid of the pose's stable landmarks is the origin.

The canonical face (478, 3) is a neutral, frontal, left/right-symmetric template: the generalised
Procrustes mean of MediaPipe landmarks tracked from the real faces with closed lips among skimage's
astronaut and LFW subset, symmetrised with its mirror image. `scripts/build_canonical.py` rebuilds the asset from those images.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from echo_ihg.assets import asset_path
from echo_ihg.constants import N_LANDMARKS
from echo_ihg.errors import InputError
from echo_ihg.motion import topology as topo

ASSET_NAME = "canonical_face.safetensors"
N_FACE = topo.N_FACE_POINTS


def to_metric(landmarks: np.ndarray, aspect: float = 1.0) -> np.ndarray:
    """Image-space landmarks (..., P, 3) -> metric space (float64); aspect = frame width / height."""
    out = np.array(landmarks, dtype=np.float64, copy=True)
    out[..., 1] /= aspect
    return out


def from_metric(points: np.ndarray, aspect: float = 1.0) -> np.ndarray:
    """Metric-space points (..., P, 3) -> image space (float64). Exact inverse of `to_metric`."""
    out = np.array(points, dtype=np.float64, copy=True)
    out[..., 1] *= aspect
    return out


def validate_landmarks(landmarks: np.ndarray, source: str | Path | None = None, *,
                       single: bool = False) -> np.ndarray:
    """Check a landmark array (T, 478, 3) (or (478, 3) with `single`) is well-formed and finite.

    Raises InputError naming `source` on a wrong shape, non-numeric dtype or NaN/inf values.
    Returns the array as float64.
    """
    arr = np.asarray(landmarks)
    want = (N_LANDMARKS, 3) if single else (None, N_LANDMARKS, 3)
    shape_ok = arr.ndim == len(want) and all(w is None or w == s for w, s in zip(want, arr.shape))
    if not shape_ok:
        expect = "(478, 3)" if single else "(T, 478, 3)"
        raise InputError(source, f"landmarks must have shape {expect}, got {tuple(arr.shape)}")
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(source, f"landmarks must be numeric, got dtype {arr.dtype}")
    if not single and arr.shape[0] == 0:
        raise InputError(source, "landmarks have no frames")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        frames = np.unique(np.nonzero(bad)[0]) if not single else []
        where = f" in {len(frames)} frame(s), first {frames[0]}" if len(frames) else ""
        raise InputError(source, f"landmarks contain NaN or infinite values{where}")
    return arr


@functools.cache
def _load_asset() -> dict[str, np.ndarray]:
    from echo_ihg.utils.readers import read_safetensors

    data, _ = read_safetensors(asset_path(ASSET_NAME), framework="numpy")
    for v in data.values():
        v.setflags(write=False)
    return data


def canonical_face() -> np.ndarray:
    """The canonical face (478, 3) float32 in canonical space (read-only array)."""
    return _load_asset()["landmarks"]


def canonical_landmarks(width_fraction: float = 0.3, centre: tuple[float, float] = (0.5, 0.45),
                        aspect: float = 1.0) -> np.ndarray:
    """The canonical face placed frontally in image space (478, 3) float32: its inter-ocular distance is
    `width_fraction` of the frame width, its stable-point centroid at `centre` (x, y normalised)."""
    pts = np.asarray(canonical_face(), np.float64) * width_fraction
    pts[:, 0] += centre[0]
    pts[:, 1] += centre[1] / aspect
    return from_metric(pts, aspect).astype(np.float32)


def mirror_index() -> np.ndarray:
    """(478,) int64: index of each landmark's left/right mirror partner (midline points map to themselves)."""
    return _load_asset()["mirror"]


def mirror_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Horizontally flipped image-space landmarks (..., 478, 3): x -> 1 - x, partners swapped."""
    out = np.array(landmarks, copy=True)[..., mirror_index(), :]
    out[..., 0] = 1.0 - out[..., 0]
    return out


# ---------------------------------------------------------------------------------------------
# Building the template (used by scripts/build_canonical.py; pure numpy so it is testable)
# ---------------------------------------------------------------------------------------------

def similarity_fit(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Least-squares similarity dst ≈ s R src + t for single point sets (P, 3) (Umeyama 1991)."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    u, d, vt = np.linalg.svd(b.T @ a / len(a))
    sign = np.ones(3)
    sign[2] = np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0
    rot = u @ np.diag(sign) @ vt
    scale = float((d * sign).sum() / (a ** 2).sum(1).mean())
    return rot, scale, md - scale * rot @ ms


def procrustes_mean(shapes: np.ndarray, iters: int = 20) -> np.ndarray:
    """Generalised Procrustes mean of metric shapes (N, P, 3), fitted on the 468 face points."""
    mean = shapes[0] - shapes[0, :N_FACE].mean(0)
    for _ in range(iters):
        aligned = []
        for s in shapes:
            rot, sc, t = similarity_fit(s[:N_FACE], mean[:N_FACE])
            aligned.append(sc * s @ rot.T + t)
        new = np.mean(aligned, 0)
        new -= new[:N_FACE].mean(0)
        new /= np.sqrt((new[:N_FACE] ** 2).sum(1).mean())
        if np.abs(new - mean).max() < 1e-9:
            break
        mean = new
    return mean


def _mirror_pairs(shape: np.ndarray) -> np.ndarray:
    """Mirror partner of every point of a roughly frontal shape centred on x = 0 (Hungarian matching)."""
    from scipy.optimize import linear_sum_assignment

    perm = np.arange(len(shape))
    for block in (np.arange(N_FACE), np.arange(N_FACE, N_LANDMARKS)):
        pts = shape[block]
        refl = pts * np.array([-1.0, 1.0, 1.0])
        cost = ((pts[:, None, :] - refl[None, :, :]) ** 2).sum(-1)
        rows, cols = linear_sum_assignment(cost)
        perm[block[rows]] = block[cols]
    return perm


def _frontal_frame(shape: np.ndarray) -> np.ndarray:
    """Rotation taking a face to frontal axes (x: subject's right->left, y: forehead->chin, z away)."""
    pairs = [(topo.RIGHT_EYE_OUTER, topo.LEFT_EYE_OUTER), (topo.RIGHT_EYE_INNER, topo.LEFT_EYE_INNER),
             (topo.MOUTH_RIGHT_CORNER, topo.MOUTH_LEFT_CORNER), (topo.RIGHT_BROW_OUTER, topo.LEFT_BROW_OUTER)]
    ex = np.mean([shape[b] - shape[a] for a, b in pairs], 0)
    ex /= np.linalg.norm(ex)
    ey = shape[topo.CHIN] - shape[topo.FOREHEAD_TOP]
    ey -= ex * (ey @ ex)
    ey /= np.linalg.norm(ey)
    return np.stack([ex, ey, np.cross(ex, ey)])


def build_canonical(shapes_metric: np.ndarray, stable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical face from metric shapes (N, 478, 3): returns (template (478,3), mirror (478,)).

    Procrustes mean of the shapes and their mirror images -> frontal axes -> symmetrised ->
    origin at the centroid of `stable` points, inter-ocular distance 1.
    """
    mean = procrustes_mean(shapes_metric)
    mean = mean @ _frontal_frame(mean).T
    mean -= mean[:N_FACE].mean(0) * np.array([1.0, 0.0, 0.0])
    perm = _mirror_pairs(mean)
    # Refine: Procrustes of the shape onto its mirror image gives the exact symmetry plane.
    for _ in range(3):
        refl = mean[perm] * np.array([-1.0, 1.0, 1.0])
        rot, _, t = similarity_fit(mean[:N_FACE], refl[:N_FACE])
        # rotation/translation taking the shape halfway to its mirror: apply the square root
        from scipy.spatial.transform import Rotation

        half = Rotation.from_matrix(rot).as_rotvec() / 2
        mean = mean @ Rotation.from_rotvec(half).as_matrix().T
        mean -= mean[:N_FACE].mean(0) * np.array([1.0, 0.0, 0.0])
        perm = _mirror_pairs(mean)
    sym = 0.5 * (mean + mean[perm] * np.array([-1.0, 1.0, 1.0]))
    sym -= sym[stable].mean(0)
    sym /= np.linalg.norm(sym[topo.LEFT_EYE_OUTER] - sym[topo.RIGHT_EYE_OUTER])
    return sym.astype(np.float32), perm.astype(np.int64)


def save_canonical(dest: str | Path, template: np.ndarray, mirror: np.ndarray, meta: dict[str, str]) -> None:
    """Write the template asset (safetensors; `meta` goes into its metadata as one JSON string, so that
    the file is byte-for-byte reproducible)."""
    import json

    from safetensors.numpy import save_file

    from echo_ihg.utils.atomic import atomic_path

    with atomic_path(dest, suffix=".safetensors") as tmp:
        save_file({"landmarks": np.ascontiguousarray(template, np.float32),
                   "mirror": np.ascontiguousarray(mirror, np.int64)}, str(tmp),
                  metadata={"meta": json.dumps(meta, sort_keys=True)})
