"""Codec round-trip report: how far decode(encode(x)) lands from x, in pixels (for the demo and tests)."""

from __future__ import annotations

import numpy as np

from echo_ihg.motion.codec import MotionCodec, default_codec
from echo_ihg.motion.pose import centre_depth


def round_trip_errors(landmarks: np.ndarray, neutral: np.ndarray, codec: MotionCodec | None = None,
                      aspect: float = 1.0, width_px: float = 512.0) -> dict[str, float]:
    """Image-plane round-trip error of landmarks (T, 478, 3) through `codec` (default: the shipped one).

    Errors are Euclidean distances in pixels of a frame `width_px` wide (and width_px / aspect high), over
    the 468 face points and, separately, the 10 iris points. Returns mean / p95 / max for each, plus D.
    """
    codec = codec or default_codec()
    rec = codec.decode(codec.encode(landmarks, neutral, aspect), neutral, aspect)
    diff = (rec - centre_depth(landmarks))[..., :2] * np.array([width_px, width_px / aspect])
    err = np.linalg.norm(diff, axis=-1)
    out: dict[str, float] = {"dim": float(codec.dim), "frames": float(len(err))}
    for name, part in (("face", err[:, :468]), ("iris", err[:, 468:])):
        out[f"{name}_mean_px"] = float(part.mean())
        out[f"{name}_p95_px"] = float(np.percentile(part, 95))
        out[f"{name}_max_px"] = float(part.max())
    return out
