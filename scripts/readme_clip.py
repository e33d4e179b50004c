"""The README's picture: the avatar listening and talking, next to the user, from a model's demo run.

    .venv/bin/python scripts/readme_clip.py                                  # the bundled default model
    .venv/bin/python scripts/readme_clip.py --checkpoint runs/s2/model       # any trained model
    .venv/bin/python scripts/readme_clip.py --demo-dir demo_out              # reuse a finished demo run

Runs the demo (`echo_ihg.inference.demo.run_demo`: the 20-s synthetic conversation, user = the bundled Grace
Hopper photo, avatar = the bundled astronaut, seed 0, 8 sampler steps) into --work (default
runs/readme_clip/demo), unless --demo-dir points at a finished run. Then it picks moments from the
conversation's voice-activity tracks (inputs/session/{A,B}/vad.npy; A is the avatar, B the user):

  listening  the user speaks and the avatar is silent; the frame where the user's voice is loudest in that turn
  talking    the avatar speaks and the user is silent; the frame where the avatar's voice is loudest in that turn

taking the longest turns of each kind (`--per-row` of each, in time order), and writes a labelled strip (PNG:
one row per kind; the caption under each tile gives its time in the conversation). Each tile is the user | the
avatar at that frame: with `--view faces` (default) face close-ups from the user's clip (inputs/user.mp4) and
the avatar's video (avatar.mp4), one fixed crop box per video around the face as MediaPipe finds it in the
chosen frames; with `--view panels` the user and avatar panels of side_by_side.mp4. `--gif` also writes a
short looping GIF of the same view around the first change from listening to talking. Writes OUT.json next to the strip: the model, the frames
chosen and why, and the demo's machine load, so the picture can be re-made when the model changes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

FPS = 25
PANEL = 320            # px: the user and avatar panels of side_by_side.mp4 (render.video.SideBySideConfig.panel)
SMOOTH = 12            # frames (0.48 s): voice activity is smoothed over this window before picking turns
MIN_TURN = 25          # frames: turns shorter than 1 s are not used


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of every run of True in a 1-D bool array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def frame_energy(audio: np.ndarray, T: int) -> np.ndarray:
    """RMS of the 16-kHz audio over each 40-ms video frame -> (T,)."""
    hop = 16000 // FPS
    a = np.asarray(audio, np.float32)[: T * hop]
    a = np.pad(a, (0, T * hop - len(a)))
    return np.sqrt((a.reshape(T, hop) ** 2).mean(1))


def pick_moments(vad_avatar: np.ndarray, vad_user: np.ndarray, audio_avatar: np.ndarray, audio_user: np.ndarray,
                 per_row: int) -> dict[str, list[dict]]:
    """The frames to show: for each kind, the loudest frame of each of the `per_row` longest turns."""
    T = len(vad_avatar)
    kernel = np.ones(SMOOTH) / SMOOTH
    a = np.convolve(vad_avatar, kernel, mode="same") > 0.5
    u = np.convolve(vad_user, kernel, mode="same") > 0.5
    energy = {"avatar": frame_energy(audio_avatar, T), "user": frame_energy(audio_user, T)}
    kinds = {"listening": (u & ~a, "user"), "talking": (a & ~u, "avatar")}
    chosen: dict[str, list[dict]] = {}
    for kind, (mask, voice) in kinds.items():
        turns = [r for r in runs(mask) if r[1] - r[0] >= MIN_TURN]
        turns = sorted(sorted(turns, key=lambda r: r[0] - r[1])[:per_row])   # longest, then in time order
        chosen[kind] = []
        for start, end in turns:
            inner = slice(start + 5, end - 5)           # keep clear of the turn's edges
            frame = inner.start + int(np.argmax(energy[voice][inner]))
            chosen[kind].append({"frame": frame, "time_s": frame / FPS, "turn_s": [start / FPS, end / FPS],
                                 "rule": f"loudest frame of the {voice}'s voice in this turn"})
    return chosen


def read_frames(video: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    from echo_ihg.io.media import iter_frames_at_fps

    out = {}
    for i, frame in enumerate(iter_frames_at_fps(video, FPS)):
        if i in wanted:
            out[i] = frame
        if len(out) == len(wanted):
            break
    missing = wanted - set(out)
    if missing:
        sys.exit(f"readme_clip: {video} has no frames {sorted(missing)}")
    return out


def face_box(frames: list[np.ndarray], pad: float = 1.7) -> tuple[int, int, int, int]:
    """A square (x0, y0, x1, y1) around the face in all `frames` (union of the tracked landmark boxes)."""
    from echo_ihg.tracking import track_image

    h, w = frames[0].shape[:2]
    pts = np.concatenate([track_image(f)[:, :2] * [w, h] for f in frames])
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    side = min(pad * max(x1 - x0, y1 - y0), w, h)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - 0.05 * side      # a little above the centre: hair, not neck
    left = int(round(min(max(cx - side / 2, 0), w - side)))
    top = int(round(min(max(cy - side / 2, 0), h - side)))
    return left, top, left + int(side), top + int(side)


class Views:
    """The pictures of one frame index: `panels` (side_by_side.mp4) or `faces` (close-ups of both videos)."""

    def __init__(self, demo_dir: Path, view: str, frames: set[int]):
        self.view = view
        if view == "panels":
            self.sources = {"side": demo_dir / "side_by_side.mp4"}
        else:
            self.sources = {"user": demo_dir / "inputs" / "user.mp4", "avatar": demo_dir / "avatar.mp4"}
        self.frames = {k: read_frames(v, frames) for k, v in self.sources.items()}
        if view == "faces":
            self.boxes = {k: face_box(list(v.values())) for k, v in self.frames.items()}

    def tile(self, index: int, frames: dict[str, dict[int, np.ndarray]] | None = None, side: int = PANEL) -> Image.Image:
        """user | avatar at one frame index -> an image 2·side × side."""
        frames = frames or self.frames
        if self.view == "panels":
            crop = frames["side"][index][:PANEL, : 2 * PANEL]
            return Image.fromarray(crop).resize((2 * side, side), Image.LANCZOS)
        out = Image.new("RGB", (2 * side, side), (255, 255, 255))
        for k, who in enumerate(("user", "avatar")):
            x0, y0, x1, y1 = self.boxes[who]
            face = Image.fromarray(frames[who][index][y0:y1, x0:x1]).resize((side - 2, side), Image.LANCZOS)
            out.paste(face, (k * (side + 2), 0))
        return out


def _font(size: int):
    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def compose_strip(views: Views, chosen: dict[str, list[dict]], scale: float) -> Image.Image:
    """One row per kind: a label column, then user | avatar tiles with their time underneath."""
    tile_w, tile_h = int(2 * PANEL * scale), int(PANEL * scale)
    label_w, caption_h, gap = 150, 22, 8
    cols = max(len(v) for v in chosen.values())
    width = label_w + cols * tile_w + (cols - 1) * gap
    height = len(chosen) * (tile_h + caption_h) + (len(chosen) - 1) * gap
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    big, small = _font(17), _font(13)
    titles = {"listening": ("avatar listens", "(user speaks)"), "talking": ("avatar talks", "(user silent)")}
    for r, (kind, items) in enumerate(chosen.items()):
        y = r * (tile_h + caption_h + gap)
        draw.text((8, y + tile_h // 2 - 20), titles[kind][0], fill=(20, 20, 20), font=big)
        draw.text((8, y + tile_h // 2 + 2), titles[kind][1], fill=(90, 90, 90), font=small)
        for c, item in enumerate(items):
            x = label_w + c * (tile_w + gap)
            img.paste(views.tile(item["frame"], side=tile_h), (x, y))
            draw.text((x + 4, y + tile_h + 3), f"user      t = {item['time_s']:.1f} s", fill=(60, 60, 60), font=small)
            draw.text((x + tile_w // 2 + 4, y + tile_h + 3), "avatar", fill=(60, 60, 60), font=small)
    return img


def write_gif(views: Views, chosen: dict[str, list[dict]], dest: Path, seconds: float, fps: float,
              scale: float) -> dict:
    """A loop of `seconds` of user | avatar around the first listening -> talking change."""
    listen = [m["turn_s"] for m in chosen["listening"]]
    talk = [m["turn_s"] for m in chosen["talking"]]
    changes = [t[0] for t in talk if any(l[1] <= t[0] + 0.5 for l in listen)] or [talk[0][0]]
    start = max(0.0, changes[0] - seconds / 2)
    first, last, step = int(start * FPS), int((start + seconds) * FPS), max(1, round(FPS / fps))
    wanted = set(range(first, last, step))
    frames = {k: read_frames(v, wanted) for k, v in views.sources.items()}
    images = [views.tile(i, frames, side=int(PANEL * scale)) for i in sorted(wanted)]
    pal = [im.quantize(colors=128, method=Image.MEDIANCUT, dither=Image.Dither.NONE) for im in images]
    pal[0].save(dest, save_all=True, append_images=pal[1:], duration=int(1000 * step / FPS), loop=0,
                optimize=True)
    return {"path": str(dest), "start_s": first / FPS, "end_s": last / FPS, "fps": FPS / step,
            "frames": len(images), "bytes": dest.stat().st_size}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, default=None,
                    help="model folder, training checkpoint folder or .safetensors (default: the bundled model)")
    ap.add_argument("--demo-dir", type=Path, default=None, help="reuse this finished demo run instead of running one")
    ap.add_argument("--work", type=Path, default=Path("runs/readme_clip/demo"), help="where the demo run goes")
    ap.add_argument("--seed", type=int, default=0, help="demo conversation and sampling seed (default 0)")
    ap.add_argument("--out", type=Path, default=Path("docs/avatar_strip.png"), help="the strip (PNG)")
    ap.add_argument("--per-row", type=int, default=2, help="moments per kind (default 2)")
    ap.add_argument("--view", choices=("faces", "panels"), default="faces",
                    help="face close-ups (default) or the side-by-side video's panels")
    ap.add_argument("--scale", type=float, default=0.75, help="tile scale of the 320-px panels (default 0.75)")
    ap.add_argument("--gif", type=Path, default=None, help="also write a looping GIF here")
    ap.add_argument("--gif-seconds", type=float, default=6.0)
    ap.add_argument("--gif-fps", type=float, default=8.33)
    ap.add_argument("--gif-scale", type=float, default=0.5)
    args = ap.parse_args(argv)

    from echo_ihg.data.session import read_audio, audio_path, read_session

    if args.demo_dir is None:
        from echo_ihg.inference.demo import DemoConfig, run_demo

        demo_dir = run_demo(DemoConfig(out_dir=args.work, checkpoint=args.checkpoint, seed=args.seed),
                            progress_bars=False).out_dir
    else:
        demo_dir = args.demo_dir
    summary = json.loads((demo_dir / "demo.json").read_text()) if (demo_dir / "demo.json").is_file() else {}
    demo_info = {k: summary.get(k) for k in ("total_s", "process_cpu_s", "load_average_1min", "cpu_count")}
    model = summary.get("model")
    if model and Path(model).is_absolute() and Path(model).is_relative_to(Path.cwd()):
        model = str(Path(model).relative_to(Path.cwd()))
    session_dir = demo_dir / "inputs" / "session"
    session = read_session(session_dir)
    chosen = pick_moments(np.asarray(session.A.vad), np.asarray(session.B.vad),
                          read_audio(audio_path(session_dir / "A")), read_audio(audio_path(session_dir / "B")),
                          args.per_row)
    if not all(chosen.values()):
        sys.exit(f"readme_clip: no {[k for k, v in chosen.items() if not v]} turn of ≥ 1 s in {session_dir}")
    views = Views(demo_dir, args.view, {m["frame"] for v in chosen.values() for m in v})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    compose_strip(views, chosen, args.scale).save(args.out, optimize=True)
    info = {"command": " ".join([".venv/bin/python scripts/readme_clip.py"] + (argv or sys.argv[1:])),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "demo_dir": str(demo_dir),
            "model": model, "demo_run": demo_info, "view": args.view, "moments": chosen,
            "strip": {"path": str(args.out), "bytes": args.out.stat().st_size}}
    if args.gif is not None:
        info["gif"] = write_gif(views, chosen, args.gif, args.gif_seconds, args.gif_fps, args.gif_scale)
    args.out.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
