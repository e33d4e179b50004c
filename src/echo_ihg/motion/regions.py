"""Facial regions of the motion codec: a partition of the 468 face points (irises belong to gaze).

Seeds come from MediaPipe's connection sets (`topology.landmark_sets`): lips -> lips_jaw, eyelids ->
left/right_eye, brows -> left/right_brow, nose -> nose_cheeks, face oval -> contour. Then
  * jaw and chin points (everything below the mouth corners, face oval included) go to lips_jaw, because
    they move with the jaw;
  * every other point joins the region of its nearest seed point in the canonical face.
"Left"/"right" are the subject's (MediaPipe's convention). Region centres (in canonical space) are where
SDCM's spatial masks are centred.
"""

from __future__ import annotations

import functools

import numpy as np

from echo_ihg.motion import topology as topo
from echo_ihg.motion.canonical import canonical_face, mirror_index

REGION_NAMES: tuple[str, ...] = ("lips_jaw", "left_eye", "right_eye", "left_brow", "right_brow",
                                 "nose_cheeks", "contour")
_SEEDS = {"lips_jaw": "lips", "left_eye": "left_eye", "right_eye": "right_eye", "left_brow": "left_brow",
          "right_brow": "right_brow", "nose_cheeks": "nose", "contour": "face_oval"}
_LATERAL = [1, 2, 3, 4]  # eyes and brows: no midline point belongs to them
# Points this far (canonical units = inter-ocular distances) above the mouth corners still count as jaw:
# the lower cheeks beside the mouth move with it.
_JAW_MARGIN = 0.05


@functools.cache
def _labels() -> np.ndarray:
    canon = np.asarray(canonical_face(), np.float64)[: topo.N_FACE_POINTS]
    sets = topo.landmark_sets()
    label = np.full(topo.N_FACE_POINTS, -1)
    for r, name in enumerate(REGION_NAMES):
        label[sets[_SEEDS[name]]] = r
    mouth_y = canon[[topo.MOUTH_LEFT_CORNER, topo.MOUTH_RIGHT_CORNER], 1].mean()
    jaw = canon[:, 1] > mouth_y - _JAW_MARGIN
    label[jaw & ((label == -1) | (label == REGION_NAMES.index("contour")))] = 0
    seeds = np.nonzero(label >= 0)[0]
    rest = np.nonzero(label < 0)[0]
    d = ((canon[rest, None, :] - canon[None, seeds, :]) ** 2).sum(-1)
    midline = mirror_index()[rest] == rest
    d[np.ix_(midline, np.isin(label[seeds], _LATERAL))] = np.inf  # midline points stay central
    label[rest] = label[seeds[d.argmin(1)]]
    return _symmetrise(label, canon)


def _symmetrise(label: np.ndarray, canon: np.ndarray) -> np.ndarray:
    """Copy the labels of the image-left half onto the mirror partners (nearest-seed ties are arbitrary)."""
    swap = np.arange(len(REGION_NAMES))
    for a, b in (("left_eye", "right_eye"), ("left_brow", "right_brow")):
        ia, ib = REGION_NAMES.index(a), REGION_NAMES.index(b)
        swap[ia], swap[ib] = ib, ia
    mirror = mirror_index()[: topo.N_FACE_POINTS]
    out = label.copy()
    side = canon[:, 0] < 0
    out[mirror[side]] = swap[label[side]]
    return out


def region_labels() -> np.ndarray:
    """(468,) int64: region number (index into REGION_NAMES) of each face point."""
    return _labels().copy()


@functools.cache
def _index() -> dict[str, np.ndarray]:
    lab = _labels()
    return {name: np.nonzero(lab == r)[0] for r, name in enumerate(REGION_NAMES)}


def region_index() -> dict[str, np.ndarray]:
    """Region name -> sorted landmark indices (int64). A partition of range(468), in REGION_NAMES order."""
    return {k: v.copy() for k, v in _index().items()}


def region_centres() -> np.ndarray:
    """(R, 3) float32: mean canonical position of each region's points, in REGION_NAMES order."""
    canon = np.asarray(canonical_face(), np.float64)
    return np.stack([canon[idx].mean(0) for idx in _index().values()]).astype(np.float32)
