"""Real faces bundled with scikit-image, tracked: the data behind the canonical face, the default codec
and the codec's round-trip tests (no downloads).

The images: skimage's astronaut (512×512) and the first 100 images of its LFW subset (25×25 greyscale
faces, upscaled to 200×200 as in the test fixtures). Faces MediaPipe does not find are skipped.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

from echo_ihg.errors import NoFaceError

log = logging.getLogger(__name__)


def sample_face_images() -> list[np.ndarray]:
    """[astronaut (512,512,3), 100 LFW faces (200,200,3)] RGB uint8."""
    import cv2
    from skimage import data

    faces = data.lfw_subset()[:100]
    lfw = [cv2.resize(np.repeat((f * 255).round().astype(np.uint8)[:, :, None], 3, 2), (200, 200),
                      interpolation=cv2.INTER_CUBIC) for f in faces]
    return [data.astronaut()] + lfw


def _track_one(image: np.ndarray) -> np.ndarray | None:
    try:
        from echo_ihg.tracking.face_mesh import track_image
    except ImportError:  # tracking package not installed in this checkout: use MediaPipe directly
        return _track_mediapipe(image)
    try:
        return track_image(image)
    except NoFaceError:
        return None


def _track_mediapipe(image: np.ndarray) -> np.ndarray | None:
    import mediapipe as mp

    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True,
                                         max_num_faces=1) as fm:
        res = fm.process(image)
    if not res.multi_face_landmarks:
        return None
    return np.array([[p.x, p.y, p.z] for p in res.multi_face_landmarks[0].landmark], np.float32)


@functools.cache
def tracked_sample_faces() -> tuple[np.ndarray, np.ndarray]:
    """Landmarks (N, 478, 3) float32 of the sample faces that were found, and their image indices (N,).

    All sample images are square, so aspect = 1. Index 0 is the astronaut.
    """
    found, index = [], []
    for i, img in enumerate(sample_face_images()):
        lm = _track_one(img)
        if lm is None:
            log.debug("sample face %d: no face found", i)
            continue
        found.append(lm)
        index.append(i)
    out = np.stack(found).astype(np.float32)
    out.setflags(write=False)
    return out, np.array(index)
