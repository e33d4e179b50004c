"""The generator's identity input: a person's neutral face as a pose-free, scale-free shape vector.

    identity = identity_vector(neutral, aspect)     # (IDENTITY_DIM,) = (1434,) float32

Training (`data.train_features`), evaluation and inference (offline and live) all call this one function,
so a model sees the same identity for the same face wherever it runs.
"""

from __future__ import annotations

import numpy as np

from echo_ihg.constants import IDENTITY_DIM  # noqa: F401  (motion.identity.IDENTITY_DIM: its size)
from echo_ihg.motion.canonical import canonical_face
from echo_ihg.motion.codec import canonical_points


def identity_vector(neutral: np.ndarray, aspect: float = 1.0) -> np.ndarray:
    """Avatar identity for the generator: the neutral face (478, 3) image space -> (1434,) float32.

    Pose-free and scale-free: the neutral placed in the canonical frame minus the canonical face, so only the
    person's face shape remains (where it sits in the image does not matter). aspect: the frame's width / height.
    """
    q = canonical_points(np.asarray(neutral, np.float32)[None], aspect)[0][0]
    return (q - canonical_face()).reshape(-1).astype(np.float32)
