"""The README's main job. Stage 1 of the demo (foundation): track the bundled portrait, draw its landmarks
by facial region, and report how exactly the motion codec reproduces real and edited faces, in pixels.

    report = run_foundation_demo(DemoConfig(out_dir=Path("demo_out")))
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from echo_ihg.assets import default_portrait, default_user_portrait
from echo_ihg.io.media import read_image
from echo_ihg.motion.canonical import canonical_landmarks
from echo_ihg.motion.codec import default_codec
from echo_ihg.motion.regions import REGION_NAMES, region_index
from echo_ihg.motion.report import round_trip_errors
from echo_ihg.render import edits
from echo_ihg.tracking.face_mesh import track_image
from echo_ihg.utils.atomic import atomic_path, write_json, write_text
from echo_ihg.utils.config import config_to_dict

log = logging.getLogger(__name__)

# BGR colours per region for the overlay (lips red, eyes blue/cyan, brows green/yellow, nose magenta, contour white)
REGION_COLOURS = {"lips_jaw": (40, 40, 230), "left_eye": (230, 120, 30), "right_eye": (230, 200, 30),
                  "left_brow": (40, 200, 40), "right_brow": (40, 220, 220), "nose_cheeks": (200, 60, 200),
                  "contour": (240, 240, 240)}


@dataclass(frozen=True)
class DemoConfig:
    out_dir: Path = Path("demo_out")
    portrait: Path | None = None        # None: the bundled astronaut
    user_portrait: Path | None = None   # None: the bundled Grace Hopper photo
    report_width_px: int = 512          # errors are reported in pixels of a frame this wide


def landmark_overlay(image: np.ndarray, landmarks: np.ndarray, panel: int = 512) -> np.ndarray:
    """Two panels side by side (RGB, panel × 2·panel): the portrait, and a zoom on the face with the 478
    landmarks coloured by codec region (irises orange) — in a full portrait the face is too small to read."""
    h, w = image.shape[:2]
    px = landmarks[:, :2] * [w, h]
    lo, hi = px.min(0), px.max(0)
    half = 0.65 * float((hi - lo).max())
    cx, cy = (lo + hi) / 2
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
    x1, y1 = int(min(w, cx + half)), int(min(h, cy + half))
    scale = panel / max(x1 - x0, y1 - y0)
    zoom = cv2.resize(image[y0:y1, x0:x1, ::-1], (round((x1 - x0) * scale), round((y1 - y0) * scale)),
                      interpolation=cv2.INTER_CUBIC)
    zoom = cv2.copyMakeBorder(zoom, 0, panel - zoom.shape[0], 0, panel - zoom.shape[1], cv2.BORDER_CONSTANT)
    zpx = np.round((px - [x0, y0]) * scale).astype(int)
    for name, idx in region_index().items():
        for x, y in zpx[idx]:
            cv2.circle(zoom, (int(x), int(y)), 2, REGION_COLOURS[name], -1, cv2.LINE_AA)
    for x, y in zpx[468:]:
        cv2.circle(zoom, (int(x), int(y)), 3, (0, 140, 255), -1, cv2.LINE_AA)
    for i, name in enumerate(REGION_NAMES):
        cv2.putText(zoom, name, (8, 20 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(zoom, name, (8, 20 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5, REGION_COLOURS[name], 1,
                    cv2.LINE_AA)
    full = image[:, :, ::-1].copy()
    cv2.rectangle(full, (x0, y0), (x1, y1), (0, 140, 255), 2)
    fs = panel / max(h, w)
    full = cv2.resize(full, (round(w * fs), round(h * fs)), interpolation=cv2.INTER_AREA)
    full = cv2.copyMakeBorder(full, 0, panel - full.shape[0], 0, panel - full.shape[1], cv2.BORDER_CONSTANT)
    return np.concatenate([full, zoom], axis=1)[:, :, ::-1]


def _edited_motions(landmarks: np.ndarray, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Expressions and head turns made from the portrait's own landmarks: (1, 478, 3) each."""
    return {
        "mouth open": edits.open_mouth(landmarks, 0.08, size)[None],
        "smile": edits.smile(landmarks, 0.05, size)[None],
        "blink": edits.blink(landmarks, 1.0, size)[None],
        "brows raised": edits.raise_brows(landmarks, 0.04, size)[None],
        "head turned 20°": edits.rotate_head(landmarks, 20.0, 0.0, 0.0, size)[None],
        "talking sequence (250 frames)": edits.demo_motion(landmarks, size, n_frames=250),
    }


def run_foundation_demo(cfg: DemoConfig) -> dict:
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    portrait_path = Path(cfg.portrait) if cfg.portrait else default_portrait()
    user_path = Path(cfg.user_portrait) if cfg.user_portrait else default_user_portrait()
    portrait = read_image(portrait_path)
    h, w = portrait.shape[:2]
    landmarks = track_image(portrait_path)
    overlay_path = out / "portrait_landmarks.png"
    with atomic_path(overlay_path) as tmp:
        cv2.imwrite(str(tmp), landmark_overlay(portrait, landmarks)[:, :, ::-1])

    codec = default_codec()
    rows: dict[str, dict[str, float]] = {}
    # identity + expression through the codec against the canonical neutral: the hardest case
    user = read_image(user_path)
    for name, img, lm in (("portrait vs canonical neutral", portrait, landmarks),
                          ("second face vs canonical neutral", user, track_image(user_path))):
        aspect = img.shape[1] / img.shape[0]
        rows[name] = round_trip_errors(lm[None], canonical_landmarks(aspect=aspect), codec, aspect=aspect,
                                       width_px=cfg.report_width_px)
    # expression motion against the portrait's own neutral: what the renderer is driven with
    for name, motion in _edited_motions(landmarks, (w, h)).items():
        rows[name] = round_trip_errors(motion, landmarks, codec, aspect=w / h, width_px=cfg.report_width_px)

    report = {"portrait": str(portrait_path), "user_portrait": str(user_path),
              "codec_dim": codec.dim, "width_px": cfg.report_width_px, "round_trip": rows,
              "seconds": round(time.perf_counter() - t0, 2), "config": config_to_dict(cfg)}
    write_json(out / "codec_report.json", report)
    write_text(out / "codec_report.md", format_report(report))
    return {"overlay": overlay_path, "report_json": out / "codec_report.json",
            "report_md": out / "codec_report.md", "report": report}


def format_report(report: dict) -> str:
    lines = [f"# Motion codec round trip (D = {report['codec_dim']}, pixels of a {report['width_px']}-px frame)",
             "", "| motion | frames | face mean | face p95 | face max | iris mean |", "|---|---|---|---|---|---|"]
    for name, r in report["round_trip"].items():
        lines.append(f"| {name} | {int(r['frames'])} | {r['face_mean_px']:.2f} | {r['face_p95_px']:.2f} | "
                     f"{r['face_max_px']:.2f} | {r['iris_mean_px']:.2f} |")
    return "\n".join(lines) + "\n"
