"""Renderer interface, portrait preparation and motion validation (pure setup; no per-frame work here).

    renderer = MeshWarpRenderer(RenderConfig(size=512))
    state = renderer.setup("portrait.jpg")          # track once, build the mesh
    for frame in renderer.render(state, landmarks):  # landmarks (T, 478, 3) in the portrait's frame
        ...

Coordinates: motion is given in the tracker's normalised coordinates *of the portrait image* (x / W,
y / H, z as MediaPipe, roughly the scale of x). The renderer maps them to output pixels through the
portrait's crop (`PortraitFrame`), so the same landmarks drive a 256 px, 512 px or native-size render.
"""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from echo_ihg.constants import N_LANDMARKS
from echo_ihg.errors import InputError
from echo_ihg.io.media import read_image, to_rgb_uint8

log = logging.getLogger(__name__)
MAX_COORD = 10.0   # |normalised coordinate| beyond which a motion is rejected (e.g. landmarks in pixels)


@dataclass(frozen=True)
class RenderConfig:
    """Renderer defaults; YAML / CLI flags override them (`echo_ihg.utils.config`)."""

    size: int | str = 512            # output side in px: 256, 512, ... or "native" (the portrait's own size)
    min_portrait_size: int = 96      # px; a shorter portrait side below this is refused
    max_portrait_size: int = 2048    # px; a longer portrait side above this is downscaled (with a warning)
    min_face_size: int = 48          # px (in the output); smaller faces cannot be animated convincingly
    mouth_interior: bool = True      # synthesise cavity, teeth and tongue when the lips part
    eyelids: bool = True             # inpainted lid skin and a lash line over closing eyes
    irises: bool = True              # irises as rigid patches that follow gaze (else warped with the eye)
    z_order: bool = True             # painter's order of face triangles by depth (occlusion on head turns)
    half_res_maps_from: int = 384    # px; outputs this large or larger compute warp maps at half resolution


@dataclass(frozen=True)
class PortraitFrame:
    """Maps the portrait's normalised coordinates to output pixels: a crop box (normalised) and a size."""

    crop: tuple[float, float, float, float]   # u0, v0, u1, v1 in the portrait's normalised coordinates
    out_w: int
    out_h: int

    def to_pixels(self, landmarks: np.ndarray) -> np.ndarray:
        """(..., 478, 3) normalised -> output pixels, z scaled like x. float32."""
        u0, v0, u1, v1 = self.crop
        sx, sy = self.out_w / (u1 - u0), self.out_h / (v1 - v0)
        out = np.empty(landmarks.shape, np.float32)
        out[..., 0] = (landmarks[..., 0] - u0) * sx
        out[..., 1] = (landmarks[..., 1] - v0) * sy
        out[..., 2] = landmarks[..., 2] * sx
        return out

    def to_normalised(self, pixels: np.ndarray) -> np.ndarray:
        """Inverse of `to_pixels`."""
        u0, v0, u1, v1 = self.crop
        sx, sy = self.out_w / (u1 - u0), self.out_h / (v1 - v0)
        out = np.empty(pixels.shape, np.float32)
        out[..., 0] = pixels[..., 0] / sx + u0
        out[..., 1] = pixels[..., 1] / sy + v0
        out[..., 2] = pixels[..., 2] / sx
        return out


@dataclass
class PortraitState:
    """Everything `render` needs, computed once by `setup`.

    image: (H, W, 3) uint8 output-resolution portrait; landmarks: (478, 3) normalised (portrait frame);
    landmarks_px: (478, 3) in output pixels; frame: the normalised -> pixel mapping; data: renderer-specific
    precomputed arrays (mesh, colours).
    """

    image: np.ndarray
    landmarks: np.ndarray
    landmarks_px: np.ndarray
    frame: PortraitFrame
    source: str | None
    data: dict[str, Any]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the rendered frames."""
        return self.frame.out_w, self.frame.out_h


class Renderer(abc.ABC):
    """Portrait + landmark motion -> RGB frames. Subclasses: mesh warp (CPU), neural renderers (GPU)."""

    @abc.abstractmethod
    def setup(self, portrait: np.ndarray | str | Path, landmarks: np.ndarray | None = None) -> PortraitState:
        """Track the portrait (unless `landmarks` (478, 3) are given) and precompute what frames need."""

    @abc.abstractmethod
    def render_frame(self, state: PortraitState, landmarks: np.ndarray) -> np.ndarray:
        """One frame: landmarks (478, 3) normalised in the portrait's frame -> (H, W, 3) uint8."""

    def render(self, state: PortraitState, motion: np.ndarray, source: str | Path | None = None
               ) -> Iterator[np.ndarray]:
        """Frames for a motion (T, 478, 3), lazily (bounded memory). The whole motion is validated here,
        at the call, so a bad motion fails before any frame is made or written."""
        motion = validate_motion(motion, source)
        return (self.render_frame(state, landmarks) for landmarks in motion)


def validate_motion(motion: Any, source: str | Path | None = None) -> np.ndarray:
    """Check a landmark motion: (T, 478, 3) (or one frame (478, 3)), finite. -> (T, 478, 3) float32."""
    arr = np.asarray(motion)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise InputError(source, f"motion must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (N_LANDMARKS, 3):
        raise InputError(source, f"motion must have shape (T, {N_LANDMARKS}, 3) landmarks, got {arr.shape}")
    if arr.shape[0] == 0:
        raise InputError(source, "motion has no frames")
    bad = ~np.isfinite(arr).all(axis=(1, 2))
    if bad.any():
        frames = np.flatnonzero(bad)
        raise InputError(source, f"motion has NaN or infinite values in {len(frames)} frame(s), "
                                 f"first at frame {frames[0]}")
    far = np.abs(arr).max(axis=(1, 2)) > MAX_COORD
    if far.any():
        k = int(np.flatnonzero(far)[0])
        raise InputError(source, f"motion is not in normalised image coordinates: frame {k} has values up "
                                 f"to {np.abs(arr[k]).max():.3g} (expected x, y ≈ 0..1; pixel units?)")
    return arr.astype(np.float32, copy=False)


def load_portrait(portrait: np.ndarray | str | Path, config: RenderConfig) -> tuple[np.ndarray, str | None]:
    """Read and sanity-check a portrait: RGB uint8 (grey / RGBA / float handled), size limits applied.

    A portrait longer than `max_portrait_size` is downscaled with a warning (landmarks are normalised,
    so the motion still fits). Too small -> InputError naming the file.
    """
    source = str(portrait) if isinstance(portrait, (str, Path)) else None
    if isinstance(portrait, (str, Path)):
        rgb = read_image(portrait)
    elif isinstance(portrait, np.ndarray):
        rgb = to_rgb_uint8(portrait)
    else:
        raise InputError(None, f"portrait must be an image path or array, got {type(portrait).__name__}")
    h, w = rgb.shape[:2]
    if min(h, w) < config.min_portrait_size:
        raise InputError(source, f"portrait is {w}×{h} px; at least {config.min_portrait_size} px "
                                 f"on the shorter side is needed")
    if max(h, w) > config.max_portrait_size:
        s = config.max_portrait_size / max(h, w)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        log.warning("%s: portrait is %d×%d px; downscaled to %d×%d", source or "portrait", w, h, nw, nh)
        rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    return rgb, source


def output_frame(landmarks: np.ndarray, width: int, height: int, size: int | str,
                 source: str | None = None) -> PortraitFrame:
    """Choose the output crop. "native": the whole portrait at its own size. An int: a square of that
    side, cropped from the portrait around the face (the largest square that fits, centred on the face).
    """
    if isinstance(size, str):
        if size != "native":
            raise InputError(source, f"render size must be a number of pixels or 'native', got {size!r}")
        w2, h2 = (width // 2) * 2, (height // 2) * 2   # H.264 needs even sides
        return PortraitFrame((0.0, 0.0, w2 / width, h2 / height), w2, h2)
    size = int(size)
    if size < 64 or size > 4096 or size % 2:
        raise InputError(source, f"render size must be an even number of pixels in 64..4096, got {size}")
    side = min(width, height)
    pts = landmarks[:468, :2] * np.array([width, height], np.float32)
    cx, cy = (pts.min(0) + pts.max(0)) / 2
    x0 = float(np.clip(cx - side / 2, 0, width - side))
    y0 = float(np.clip(cy - side / 2, 0, height - side))
    return PortraitFrame((x0 / width, y0 / height, (x0 + side) / width, (y0 + side) / height), size, size)


def crop_image(rgb: np.ndarray, frame: PortraitFrame) -> np.ndarray:
    """The portrait resampled into the output frame. -> (out_h, out_w, 3) uint8."""
    h, w = rgb.shape[:2]
    u0, v0, u1, v1 = frame.crop
    sx, sy = frame.out_w / ((u1 - u0) * w), frame.out_h / ((v1 - v0) * h)
    m = np.array([[sx, 0, -u0 * w * sx], [0, sy, -v0 * h * sy]], np.float64)
    interp = cv2.INTER_AREA if sx < 1 else cv2.INTER_CUBIC
    return cv2.warpAffine(rgb, m, (frame.out_w, frame.out_h), flags=interp, borderMode=cv2.BORDER_REPLICATE)
