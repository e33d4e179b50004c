"""Contact sheet of rendered frames for the quality review: docs/render_contact_sheet.png, and one frame
of the side-by-side composer: docs/render_side_by_side.png.

    .venv/bin/python scripts/contact_sheet.py [--out docs/render_contact_sheet.png] [--size 512]

Rows: the astronaut (whole frame, then a face close-up) and Grace Hopper (close-up). Columns: neutral
(the portrait re-rendered), talking (jaw open), smiling, blinking, brows raised, looking aside, head
turned ±20°, nodding. Motions are edits of each portrait's own tracked landmarks (`render.edits`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

COLUMNS = ("neutral", "talking", "smiling", "blinking", "brows up", "looking aside", "head turned -20",
           "head turned +20", "nodding")


def motions(lm: np.ndarray, size: tuple[int, int]) -> list[np.ndarray]:
    from echo_ihg.render import edits as e

    return [lm, e.open_mouth(lm, 0.07, size), e.smile(lm, 0.05, size), e.blink(lm, 1.0, size),
            e.raise_brows(lm, 0.04, size), e.look(lm, 0.18, 0.0, size), e.rotate_head(lm, -20, 0, 0, size),
            e.rotate_head(lm, 20, 0, 0, size), e.rotate_head(e.open_mouth(lm, 0.03, size), 0, -12, 0, size)]


def close_up(frame: np.ndarray, landmarks_px: np.ndarray, tile: int) -> np.ndarray:
    """Square crop around the (neutral) face, 1.5× its size, resized to tile×tile."""
    face = landmarks_px[:468, :2]
    c = (face.min(0) + face.max(0)) / 2
    half = 0.75 * float((face.max(0) - face.min(0)).max())
    h, w = frame.shape[:2]
    x0, y0 = int(max(c[0] - half, 0)), int(max(c[1] - half, 0))
    x1, y1 = int(min(c[0] + half, w)), int(min(c[1] + half, h))
    return cv2.resize(frame[y0:y1, x0:x1], (tile, tile), interpolation=cv2.INTER_AREA)


def label(img: np.ndarray, text: str) -> np.ndarray:
    img = img.copy()
    cv2.rectangle(img, (0, 0), (img.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(img, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/render_contact_sheet.png")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--tile", type=int, default=200)
    ap.add_argument("--side-by-side", default="docs/render_side_by_side.png",
                    help="also write one composed frame here ('' to skip)")
    args = ap.parse_args()
    from skimage import data

    from echo_ihg.assets import default_user_portrait
    from echo_ihg.io.media import read_image
    from echo_ihg.render.base import RenderConfig
    from echo_ihg.render.meshwarp import MeshWarpRenderer
    from echo_ihg.utils.atomic import atomic_path

    rows = []
    for name, img in (("astronaut", data.astronaut()), ("hopper", read_image(default_user_portrait()))):
        renderer = MeshWarpRenderer(RenderConfig(size=args.size))
        state = renderer.setup(img)
        frames = [renderer.render_frame(state, m) for m in motions(state.landmarks, (img.shape[1], img.shape[0]))]
        if name == "astronaut":
            rows.append([label(cv2.resize(f, (args.tile, args.tile), interpolation=cv2.INTER_AREA), c)
                         for f, c in zip(frames, COLUMNS)])
        rows.append([label(close_up(f, state.landmarks_px, args.tile), f"{name}: {c}" if k == 0 else c)
                     for k, (f, c) in enumerate(zip(frames, COLUMNS))])
    sheet = np.concatenate([np.concatenate(r, 1) for r in rows], 0)
    out = Path(args.out)
    with atomic_path(out, suffix=".png") as tmp:
        cv2.imwrite(str(tmp), sheet[:, :, ::-1])
    print(f"wrote {out} ({sheet.shape[1]}×{sheet.shape[0]})")
    if args.side_by_side:
        side_by_side_frame(Path(args.side_by_side))


def side_by_side_frame(dest: Path, t: int = 110) -> None:
    """One composed frame: a 'user' clip (Hopper animated with the demo motion) | the astronaut avatar
    (its own demo motion) | the scrolling plots, the avatar speaking from 2 s to 4.4 s."""
    from skimage import data

    from echo_ihg.assets import default_user_portrait
    from echo_ihg.io.media import read_image
    from echo_ihg.render import edits
    from echo_ihg.render.base import RenderConfig
    from echo_ihg.render.meshwarp import MeshWarpRenderer
    from echo_ihg.render.video import SideBySide, attribute_series
    from echo_ihg.utils.atomic import atomic_path

    n = t + 1
    renderer = MeshWarpRenderer(RenderConfig(size=320))
    avatar_img, user_img = data.astronaut(), read_image(default_user_portrait())
    avatar, user = renderer.setup(avatar_img), renderer.setup(user_img)
    a_motion = edits.demo_motion(avatar.landmarks, (512, 512), n, seed=0)
    u_motion = edits.demo_motion(user.landmarks, (user_img.shape[1], user_img.shape[0]), n, seed=3)
    speaking = ((np.arange(n) >= 50) & (np.arange(n) < 110)).astype(np.float32)
    comp = SideBySide(attribute_series(a_motion), speaking,
                      attribute_series(u_motion, user_img.shape[1] / user_img.shape[0]))
    frame = comp.frame(t - 1, renderer.render_frame(avatar, a_motion[t - 1]),
                       renderer.render_frame(user, u_motion[t - 1]))
    with atomic_path(dest, suffix=".png") as tmp:
        cv2.imwrite(str(tmp), frame[:, :, ::-1])
    print(f"wrote {dest} ({frame.shape[1]}×{frame.shape[0]})")


if __name__ == "__main__":
    main()
