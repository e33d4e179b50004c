"""Motion codec: tracked landmarks (T, 478, 3) <-> compact motion vectors (T, D).

encode:  image space --centre depth--> --pose removal (motion.pose)--> canonical space
         --minus the person's neutral shape (also pose-removed)--> expression displacement (T, 468, 3)
         --per facial region (motion.regions): PCA--> coefficients;  plus pose (6) and gaze (4).
decode:  the exact inverse, up to the PCA truncation (and the iris ring shape, see `motion.gaze`).

Layout of a motion vector (`codec.layout`, name -> slice): one block per region in REGION_NAMES order
(PCA coefficients, canonical units = inter-ocular distances of the canonical face, not whitened; by
default the PCA is about zero displacement, so an all-zero region block is the neutral face), then
"pose" [rotvec (3, rad), tx, ty (frame widths), log scale], then "gaze" (4, eye widths) when enabled.
`feature_mean` / `feature_std` (D,) hold the statistics of the fitting data; `normalise` / `denormalise`
standardise motion for models.

Depth: MediaPipe's z has no absolute origin, so encode first shifts z so that the stable landmarks' mean
depth is 0 (`pose.centre_depth`); decode returns landmarks in that gauge. Decoding with another person's
neutral shape retargets the motion (displacements live in the scale-free canonical space).
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from echo_ihg.assets import asset_path
from echo_ihg.errors import InputError
from echo_ihg.motion import topology as topo
from echo_ihg.motion.canonical import canonical_face, mirror_landmarks, validate_landmarks
from echo_ihg.motion.gaze import gaze_from_points, place_irises
from echo_ihg.motion.pose import (Pose, apply_pose, centre_depth, estimate_pose, pose_to_vector, remove_pose,
                                  vector_to_pose)
from echo_ihg.motion.regions import REGION_NAMES, region_index
from echo_ihg.utils.config import config_from_dict, config_to_dict
from echo_ihg.utils.progress import progress

log = logging.getLogger(__name__)

FORMAT = "echo-ihg-motion-codec"
VERSION = 1


@dataclass(frozen=True)
class CodecConfig:
    """Codec settings. components: PCA components per region (REGION_NAMES order), clipped to the region's
    3 × n_points (that many = lossless)."""

    components: tuple[int, ...] = (16, 6, 6, 4, 4, 8, 6)
    gaze: bool = True
    centred: bool = False            # False: PCA about zero displacement, so zero coefficients decode to the
                                     # neutral face exactly (an idle face is representable at any truncation)
    mirror_augment: bool = True      # also fit on left/right mirrored data: symmetric bases, 2x data
    max_fit_frames: int = 50_000     # frames (mirrors included) used for PCA, evenly strided beyond this:
                                     # bounds fit memory (~6 KB per frame)

    def __post_init__(self) -> None:
        if len(self.components) != len(REGION_NAMES) or any(int(k) < 1 for k in self.components):
            raise InputError(None, f"codec components must be {len(REGION_NAMES)} positive integers "
                                   f"({', '.join(REGION_NAMES)}), got {self.components}")
        if self.max_fit_frames < 1:
            raise InputError(None, f"max_fit_frames must be >= 1, got {self.max_fit_frames}")


@dataclass
class RegionBasis:
    """PCA of one region's displacements: mean (d,), basis (k, d) orthonormal rows, variance (k,)."""

    index: np.ndarray
    mean: np.ndarray
    basis: np.ndarray
    variance: np.ndarray
    explained: float = 0.0  # fraction of the fitting data's variance the kept components explain


def canonical_points(landmarks: np.ndarray, aspect: float = 1.0) -> tuple[np.ndarray, Pose]:
    """Image-space landmarks (T, 478, 3) -> (canonical points (T, 478, 3) float64, pose)."""
    lm = centre_depth(landmarks)
    pose = estimate_pose(lm, aspect)
    bad = np.nonzero(~(pose.scale > 1e-6))[0]  # collapsed points (e.g. zeros written for a lost face)
    if len(bad):
        raise InputError(None, f"degenerate landmarks (face collapsed to a point or line) in {len(bad)} "
                               f"frame(s), first {bad[0]}")
    return remove_pose(lm, pose, aspect), pose


def neutral_from_sequence(landmarks: np.ndarray, valid: np.ndarray | None = None,
                          aspect: float = 1.0) -> np.ndarray:
    """Robust neutral shape of one person from a clip (T, 478, 3) -> (478, 3) float32, image space.

    Median over the pose-removed valid frames whose mouth opening is in the lowest quartile (closed mouth),
    placed frontally (no rotation) at the clip's median position and scale. Two passes of `NEUTRAL_BLOCK`
    frames (openings and poses, then the closed frames' shapes), so that memory does not grow with the clip:
    the float64 canonical points of a whole 10-minute clip took 600 MB more.
    """
    lm = np.asarray(landmarks) if not isinstance(landmarks, np.memmap) else landmarks
    if lm.ndim != 3:
        validate_landmarks(lm)                                   # raises: the shape is wrong
    frames = np.flatnonzero(_valid_mask(lm, valid)) if valid is not None else np.arange(len(lm))
    if not len(frames):
        raise InputError(None, "no valid frame to estimate a neutral face from")
    blocks = [frames[i:i + NEUTRAL_BLOCK] for i in range(0, len(frames), NEUTRAL_BLOCK)]
    opening, translation, scale = [], [], []
    for idx in blocks:
        q, pose = canonical_points(validate_landmarks(lm[idx]), aspect)
        opening.append(np.linalg.norm(q[:, topo.UPPER_LIP_INNER] - q[:, topo.LOWER_LIP_INNER], axis=1))
        translation.append(pose.translation)
        scale.append(pose.scale)
    opening = np.concatenate(opening)
    closed = frames[opening <= np.quantile(opening, 0.25)]
    shapes = [canonical_points(validate_landmarks(lm[closed[i:i + NEUTRAL_BLOCK]]), aspect)[0]
              for i in range(0, len(closed), NEUTRAL_BLOCK)]
    shape = np.median(np.concatenate(shapes), 0)
    front = Pose(np.eye(3)[None], np.median(np.concatenate(translation), 0)[None],
                 np.median(np.concatenate(scale))[None])
    return apply_pose(shape[None], front, aspect)[0].astype(np.float32)


NEUTRAL_BLOCK = 1000          # frames per pass of `neutral_from_sequence` (~11 MB of float64 points)
NEUTRAL_MAX_FRAMES = 10_000   # 400 s: every frame of a typical session, bounded memory on an hour of video


def clip_neutral(landmarks: np.ndarray, valid: np.ndarray, aspect: float = 1.0,
                 max_frames: int = NEUTRAL_MAX_FRAMES) -> np.ndarray:
    """The neutral face of one person's clip (T, 478, 3) -> (478, 3): `neutral_from_sequence` over up to
    `max_frames` valid frames spread evenly over the clip. The one rule of training features, evaluation and
    offline inference (the user's video), so the same clip gives the same neutral and the same codes in each.
    `landmarks` may be memory-mapped: only the sampled frames are read."""
    idx = np.flatnonzero(np.asarray(valid, bool))
    if len(idx) > max_frames:
        idx = idx[np.linspace(0, len(idx) - 1, max_frames).round().astype(int)]
    return neutral_from_sequence(np.asarray(landmarks[idx]), np.ones(len(idx), bool), aspect)


class MotionCodec:
    """Landmarks <-> motion vectors. Build with `MotionCodec.fit(...)` or `MotionCodec.load(path)`."""

    def __init__(self, config: CodecConfig, bases: dict[str, RegionBasis], feature_mean: np.ndarray,
                 feature_std: np.ndarray, fit_info: dict | None = None):
        self.config = config
        self.bases = bases
        self.fit_info = dict(fit_info or {})
        self.layout: dict[str, slice] = {}
        start = 0
        for name in REGION_NAMES:
            k = len(bases[name].basis)
            self.layout[name] = slice(start, start + k)
            start += k
        self.layout["pose"] = slice(start, start + 6)
        start += 6
        if config.gaze:
            self.layout["gaze"] = slice(start, start + 4)
            start += 4
        self.dim = start
        self.feature_mean = np.asarray(feature_mean, np.float32)
        self.feature_std = np.asarray(feature_std, np.float32)
        assert self.feature_mean.shape == self.feature_std.shape == (self.dim,)

    # -- fitting -----------------------------------------------------------------------------------------
    @classmethod
    def fit(cls, sequences: Sequence[np.ndarray], neutrals: Sequence[np.ndarray | None] | None = None,
            valids: Sequence[np.ndarray | None] | None = None, aspects: Sequence[float] | None = None,
            config: CodecConfig | None = None) -> "MotionCodec":
        """Fit per-region PCA on landmark clips [(T_i, 478, 3)] of one person each.

        neutrals: each clip's neutral face (478, 3), or None to estimate it (`neutral_from_sequence`).
        valids: (T_i,) masks of usable frames. aspects: frame width / height per clip (default 1).
        Deterministic: the same data gives the same codec.
        """
        config = config or CodecConfig()
        if not sequences:
            raise InputError(None, "no landmark sequences to fit the codec on")
        n = len(sequences)
        neutrals = list(neutrals) if neutrals is not None else [None] * n
        valids = list(valids) if valids is not None else [None] * n
        aspects = list(aspects) if aspects is not None else [1.0] * n
        if not len(neutrals) == len(valids) == len(aspects) == n:
            raise InputError(None, "sequences, neutrals, valids and aspects must have the same length")
        # frame count from the masks where given, so that lazily loaded clips are read only once
        counts = [int(np.asarray(v, bool).sum()) if v is not None else len(sequences[i])
                  for i, v in enumerate(valids)]
        copies = 2 if config.mirror_augment else 1
        keep_ratio = min(1.0, config.max_fit_frames / max(copies * sum(counts), 1))  # bound memory
        disp, extra = [], []
        for seq, neu, val, asp in progress(zip(sequences, neutrals, valids, aspects), total=n,
                                           desc="codec: displacements", unit="clip"):
            seq = np.asarray(seq)
            mask = _valid_mask(seq, val)
            if not mask.any():
                continue
            seq = validate_landmarks(seq[mask])
            neu = neutral_from_sequence(seq, None, asp) if neu is None else validate_landmarks(neu, single=True)
            if keep_ratio < 1.0:
                seq = seq[np.unique(np.linspace(0, len(seq) - 1, max(1, round(len(seq) * keep_ratio))).round()
                                    .astype(int))]
            variants = [(seq, neu)]
            if config.mirror_augment:
                variants.append((mirror_landmarks(seq), mirror_landmarks(neu)))
            for s, nu in variants:
                d, x = _displacements(s, nu, asp)
                disp.append(d.astype(np.float32))
                extra.append(x)
        if not disp:
            raise InputError(None, "no valid frames to fit the codec on")
        disp_all = np.concatenate(disp)
        extra_all = np.concatenate(extra)
        del disp
        bases = {name: _pca(disp_all[:, idx].reshape(len(disp_all), -1).astype(np.float64), idx, int(k),
                            config.centred)
                 for (name, idx), k in zip(region_index().items(), config.components)}
        coeffs = [(disp_all[:, b.index].reshape(len(disp_all), -1) - b.mean) @ b.basis.T for b in bases.values()]
        feats = np.concatenate(coeffs + [extra_all[:, : (10 if config.gaze else 6)]], 1)
        info = {"n_frames": int(len(disp_all)), "n_sequences": n}
        return cls(config, bases, feats.mean(0), np.maximum(feats.std(0), 1e-8), info)

    # -- encode / decode ---------------------------------------------------------------------------------
    def encode(self, landmarks: np.ndarray, neutral: np.ndarray, aspect: float = 1.0,
               neutral_aspect: float | None = None, valid: np.ndarray | None = None) -> np.ndarray:
        """Landmarks (T, 478, 3) image space + neutral face (478, 3) -> motion (T, D) float32.

        aspect: frame width / height (neutral_aspect: the neutral image's, default the same).
        valid: optional (T,) mask; invalid frames are encoded as the nearest valid frame.
        Without a portrait, `neutral_from_sequence(landmarks, valid)` gives a neutral (keep it for decode).
        """
        lm = np.asarray(landmarks)
        if valid is not None and lm.ndim == 3:  # invalid frames may hold NaN: replace them before checking
            lm = _hold_valid(lm, valid)
        lm = validate_landmarks(lm)
        neu = validate_landmarks(neutral, single=True)
        _check_aspect(aspect)
        nq = canonical_points(neu[None], neutral_aspect or aspect)[0][0]
        q, pose = canonical_points(lm, aspect)
        d = q[:, : topo.N_FACE_POINTS] - nq[: topo.N_FACE_POINTS]
        parts = [(d[:, b.index].reshape(len(d), -1) - b.mean) @ b.basis.T for b in self.bases.values()]
        parts.append(pose_to_vector(pose))
        if self.config.gaze:
            parts.append(gaze_from_points(q))
        return np.concatenate(parts, 1).astype(np.float32)

    def decode(self, motion: np.ndarray, neutral: np.ndarray, aspect: float = 1.0,
               neutral_aspect: float | None = None) -> np.ndarray:
        """Motion (T, D) + neutral face (478, 3) -> landmarks (T, 478, 3) float32 in image space."""
        m = np.asarray(motion, np.float64)
        if m.ndim != 2 or m.shape[1] != self.dim:
            raise InputError(None, f"motion must have shape (T, {self.dim}), got {tuple(m.shape)}")
        if not np.isfinite(m).all():
            raise InputError(None, "motion contains NaN or infinite values")
        neu = validate_landmarks(neutral, single=True)
        _check_aspect(aspect)
        nq = canonical_points(neu[None], neutral_aspect or aspect)[0][0]
        q = np.repeat(nq[None], len(m), 0)
        for name, b in self.bases.items():
            disp = b.mean + m[:, self.layout[name]] @ b.basis
            q[:, b.index] += disp.reshape(len(m), -1, 3)
        gaze = m[:, self.layout["gaze"]] if self.config.gaze else None
        place_irises(q, nq, gaze)
        return apply_pose(q, vector_to_pose(m[:, self.layout["pose"]]), aspect).astype(np.float32)

    def normalise(self, motion: np.ndarray) -> np.ndarray:
        """(…, D) motion -> zero-mean, unit-variance features (statistics of the fitting data)."""
        return ((np.asarray(motion, np.float32) - self.feature_mean) / self.feature_std).astype(np.float32)

    def denormalise(self, features: np.ndarray) -> np.ndarray:
        """Inverse of `normalise`."""
        return (np.asarray(features, np.float32) * self.feature_std + self.feature_mean).astype(np.float32)

    # -- persistence -------------------------------------------------------------------------------------
    def metadata(self) -> dict:
        """Readable description: format, version, config, layout, regions, fit info."""
        return {
            "format": FORMAT, "version": VERSION, "config": config_to_dict(self.config), "dim": self.dim,
            "layout": {k: [s.start, s.stop] for k, s in self.layout.items()},
            "regions": {k: {"n_points": int(len(b.index)), "components": int(len(b.basis)),
                            "explained_variance": round(float(b.explained), 6)} for k, b in self.bases.items()},
            "fit": self.fit_info,
        }

    def save(self, path: str | Path) -> None:
        """Write `path` (safetensors; metadata JSON embedded) and a readable `path` with suffix .json."""
        from safetensors.numpy import save_file

        from echo_ihg.utils.atomic import atomic_path, write_json

        tensors = {"feature_mean": self.feature_mean, "feature_std": self.feature_std,
                   "canonical_face": np.asarray(canonical_face(), np.float32)}
        for name, b in self.bases.items():
            tensors.update({f"{name}.index": b.index.astype(np.int64), f"{name}.mean": b.mean.astype(np.float64),
                            f"{name}.basis": b.basis.astype(np.float64),
                            f"{name}.variance": b.variance.astype(np.float64)})
        meta = self.metadata()
        with atomic_path(path, suffix=".safetensors") as tmp:
            save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp),
                      metadata={"codec": json.dumps(meta)})
        write_json(Path(path).with_suffix(".json"), meta)

    @classmethod
    def load(cls, path: str | Path) -> "MotionCodec":
        """Read a codec written by `save`. Raises InputError for a missing, corrupt or incompatible file."""
        from echo_ihg.utils.readers import read_safetensors

        path = Path(path)
        tensors, header = read_safetensors(path, missing="codec file not found", framework="numpy")
        try:
            meta = json.loads(header["codec"])
        except (KeyError, ValueError) as exc:
            raise InputError(path, f"not a readable motion codec file ({type(exc).__name__}: {exc})") from None
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise InputError(path, f"unsupported codec format {meta.get('format')!r} version "
                                   f"{meta.get('version')!r} (expected {FORMAT!r} {VERSION})")
        if np.abs(tensors["canonical_face"] - canonical_face()).max() > 1e-6:
            raise InputError(path, "codec was fitted with a different canonical face; refit it")
        config = config_from_dict(CodecConfig, meta["config"], str(path))
        bases = {}
        for name, idx in region_index().items():
            if not np.array_equal(tensors[f"{name}.index"], idx):
                raise InputError(path, f"codec region {name!r} has different landmarks than this version")
            bases[name] = RegionBasis(idx, tensors[f"{name}.mean"], tensors[f"{name}.basis"],
                                      tensors[f"{name}.variance"], meta["regions"][name]["explained_variance"])
        return cls(config, bases, tensors["feature_mean"], tensors["feature_std"], meta.get("fit"))


DEFAULT_CODEC = "default_codec.safetensors"


@functools.cache
def default_codec() -> MotionCodec:
    """The codec shipped with the package (fitted on tracked real faces by scripts/build_default_codec.py)."""
    return MotionCodec.load(asset_path(DEFAULT_CODEC))


def rest_motion(codec: MotionCodec) -> np.ndarray:
    """The avatar's state before frame 0, normalised (Dm,): neutral expression and gaze (codec zeros) at the
    *mean* head pose of the codec's fitting data (a zero pose vector would put the head at the frame's corner
    at scale 1, which nothing in the data looks like)."""
    raw = np.zeros(codec.dim, np.float32)
    pose = codec.layout["pose"]
    raw[pose] = codec.feature_mean[pose]
    return codec.normalise(raw)


def _check_aspect(aspect: float) -> None:
    if not (np.isfinite(aspect) and aspect > 0):
        raise InputError(None, f"aspect (frame width / height) must be a positive number, got {aspect}")


def _hold_valid(lm: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Replace invalid frames by the nearest valid one."""
    valid = np.asarray(valid, bool)
    if valid.shape != (len(lm),):
        raise InputError(None, f"valid mask has shape {valid.shape}, expected ({len(lm)},)")
    if not valid.any():
        raise InputError(None, "no valid frame to encode")
    good = np.nonzero(valid)[0]
    pos = np.searchsorted(good, np.arange(len(lm))).clip(1, len(good) - 1) if len(good) > 1 else None
    if pos is None:
        return np.repeat(lm[good], len(lm), 0)
    left, right = good[pos - 1], good[pos]
    nearest = np.where(np.abs(np.arange(len(lm)) - left) <= np.abs(right - np.arange(len(lm))), left, right)
    return lm[nearest]


def _valid_mask(seq: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    n = len(seq)
    if valid is None:
        return np.ones(n, bool)
    valid = np.asarray(valid, bool)
    if valid.shape != (n,):
        raise InputError(None, f"valid mask has shape {valid.shape}, expected ({n},)")
    return valid


def _displacements(seq: np.ndarray, neutral: np.ndarray, aspect: float) -> tuple[np.ndarray, np.ndarray]:
    """Expression displacements (T, 468, 3) and [pose (6), gaze (4)] (T, 10) of one clip."""
    nq = canonical_points(neutral[None], aspect)[0][0]
    q, pose = canonical_points(seq, aspect)
    extra = np.concatenate([pose_to_vector(pose), gaze_from_points(q)], 1)
    return q[:, : topo.N_FACE_POINTS] - nq[: topo.N_FACE_POINTS], extra


def _pca(x: np.ndarray, index: np.ndarray, k: int, centred: bool) -> RegionBasis:
    """PCA with a complete orthonormal basis (eigenvectors of the (co)variance), so k = d is lossless.
    Uncentred (centred=False): about zero instead of the data mean."""
    d = x.shape[1]
    k = min(k, d)
    mean = x.mean(0) if centred else np.zeros(d)
    xc = x - mean
    cov = xc.T @ xc / max(len(x), 1)
    var, vec = np.linalg.eigh(cov)
    order = np.argsort(var)[::-1]
    var, vec = np.clip(var[order], 0, None), vec[:, order].T
    # deterministic signs: the largest-magnitude entry of each component is positive
    sign = np.sign(vec[np.arange(d), np.abs(vec).argmax(1)])
    vec *= np.where(sign == 0, 1, sign)[:, None]
    total = var.sum()
    return RegionBasis(index.copy(), mean, vec[:k], var[:k], float(var[:k].sum() / total) if total > 0 else 1.0)
