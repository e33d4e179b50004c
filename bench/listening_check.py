#!/usr/bin/env python
"""Does a trained model make a *silent* avatar react to a *real* user? (listening check)

User clips are built from real photos and real recorded human speech that ship in packages (nothing is fetched
at run time):

    faces   skimage.data.astronaut() ("astronaut") and skimage.data.lfw_subset() faces ("lfw<N>", N = 0..99,
            upscaled as in `motion.sample_faces`), from the scikit-image wheel
    voices  "alsa":     Debian alsa-utils, /usr/share/sounds/alsa/*.wav (a recorded voice saying "Front Center", ...)
            "librivox": Debian pocketsphinx-testdata, /usr/share/pocketsphinx/test/data/librivox/*.wav
                        (a LibriVox reader of Sense and Sensibility; cut into phrases at its pauses)
            both packages are in scripts/setup.sh's apt_packages.

Each clip (face × voice): the voice's utterances (VAD speech segments, ≤ 3 s) are laid out as phrases with
1–2.5 s pauses; the user's face is the photo (cropped to head and shoulders) animated by the synthetic face
rig (`synth.rig`, retargeted onto the photo with `render.retarget`, rendered by `render.meshwarp`): still head,
up to 8 scripted smiles of 1.5 s at known times (≥ 4.5 s apart: 8 in 60 s), a blink every 3–5 s, jaw following
the speech envelope. Video + speech → `user.mp4`.

The product path then runs on it: `Pipeline(checkpoint).generate(avatar portrait, silent avatar audio of the
clip's length, user.mp4)` (ASR off: no transcript; deterministic, no extra install). The avatar's generated
motion (`GenerateResult.motion`) is decoded onto the avatar's portrait (`inference.stages.AvatarMotionDecoder`)
and measured with `motion.attributes.facial_attributes` (head_pitch in degrees, > 0 nose up; smile in
inter-ocular units). Nothing is re-tracked from video.

Measures (per clip and pooled over clips):

    nod response   phrase ends: the ends of the user's VAD speech runs (`audio.vad.speech_probability` of the
                   clip's audio > 0.5, gaps < 0.3 s bridged) followed by ≥ 0.5 s of silence. Dip at time e:
                   mean high-passed pitch (1.5-s Gaussian high-pass, `synth.detectors`) over e − 0.2 … e + 0.2 s
                   minus its minimum over e + 0.2 … e + 1.0 s (degrees; > 0 = the nose went down, a nod, the
                   sign of `synth.detectors.nods_at_phrase_ends`). Response = mean dip after phrase ends − mean
                   dip at ≥ 200 random times ≥ 1 s from every phrase end; SE = sqrt(var_ends / n_ends +
                   var_random / n_random). Passes when response ≥ 1° and response > 2 SE.
    smile response for each scripted smile onset o: (avatar smile mean over o + 0.3 … o + 1.5 s − mean over
                   o − 1 … o) / (the same change of the user's scripted smile: the smile attribute of the user's
                   landmarks rendered without the speech jaw); mean and SE over onsets
                   (pooled: over all onsets of all clips). Target ≥ 0.20. Control: the avatar's change half-way
                   between the user's smiles (onset + half the median spacing) over the same denominators: ≈ 0
                   for a model that does not follow the user's smiles; < 0 for one that follows them slowly (its
                   smile is still decaying from the previous one there), so it bounds the null from below.

    .venv/bin/python bench/listening_check.py [--checkpoint PATH] [--seconds 60] [--steps 4]
        [--out runs/listening_check] [--faces astronaut lfw0] [--voices alsa librivox] [--random-model]

Writes OUT/listening_check.json, OUT/listening_check.md (the table it prints), OUT/listening_check.png (event-
locked averages) and OUT/<clip>/{user.mp4, silence.wav, avatar.mp4, avatar.json}. Without --checkpoint the
bundled default model is used; --random-model uses a randomly initialised default-size model (development:
expect responses ≈ 0).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import sys
from pathlib import Path
from typing import Iterator

import numpy as np

from echo_ihg.constants import FPS, SAMPLE_RATE
from echo_ihg.errors import EchoError, InputError
from echo_ihg.synth.detectors import _highpass, _peri
from echo_ihg.utils.atomic import atomic_path, write_json, write_text
from echo_ihg.utils.progress import progress

VOICES: dict[str, tuple[str, str]] = {           # name -> (Debian package, file glob)
    "alsa": ("alsa-utils", "/usr/share/sounds/alsa/[FRS]*_*.wav"),   # all but Noise.wav
    "librivox": ("pocketsphinx-testdata", "/usr/share/pocketsphinx/test/data/librivox/*.wav"),
}
NOD_BASE_S, NOD_WIN_S = (-0.2, 0.2), (0.2, 1.0)
SMILE_BEFORE_S, SMILE_AFTER_S = (-1.0, 0.0), (0.3, 1.5)
N_RANDOM = 200


# ---- measures ----------------------------------------------------------------------------------------------
def phrase_ends(speech: np.ndarray, min_pause_s: float = 0.5, bridge_s: float = 0.3) -> np.ndarray:
    """Phrase-end times (s) (E,) from per-frame speech probability (T,): ends of speech runs (gaps < bridge_s
    bridged) followed by ≥ min_pause_s of silence or by silence up to the clip's end."""
    on = np.asarray(speech) > 0.5
    gaps = _runs(~on)
    for a, b in gaps:                      # bridge short silences inside a phrase
        if a > 0 and b < len(on) and b - a < bridge_s * FPS:
            on[a:b] = True
    return np.array([a / FPS for a, b in _runs(~on)
                     if a > 0 and (b - a >= min_pause_s * FPS or b == len(on))])


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) frame ranges where mask (T,) is True."""
    d = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def nod_dips(pitch: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Head-pitch dip (deg, > 0 nose down) after each time (s) fully inside the clip: pitch (T,) deg -> (E,)."""
    hp = _highpass(np.asarray(pitch, np.float64), 1.5)
    times = _inside(times, len(hp), NOD_BASE_S[0], NOD_WIN_S[1])
    base = _peri(hp, times, *NOD_BASE_S).mean(1)
    return base - _peri(hp, times, *NOD_WIN_S).min(1)


def random_times(events: np.ndarray, T: int, n: int = N_RANDOM, seed: int = 0, gap_s: float = 1.0) -> np.ndarray:
    """n random times (s) whose nod windows lie inside a clip of T frames, each ≥ gap_s from every event (the
    control of `synth.detectors._shifted`, with as many draws as asked); (n,)."""
    rng, lo, hi = np.random.default_rng(seed), -NOD_BASE_S[0], T / FPS - NOD_WIN_S[1]
    ev, out = np.asarray(events, np.float64), np.zeros(0)
    for _ in range(100):
        t = rng.uniform(lo, hi, 4 * n)
        if len(ev):
            t = t[np.abs(t[:, None] - ev[None]).min(1) >= gap_s]
        out = np.r_[out, t][:n]
        if len(out) == n:
            return out
    raise InputError(None, f"a {T / FPS:.1f}-s clip has no room for random times {gap_s} s from its "
                           f"{len(ev)} phrase ends")


def nod_response(pitch: np.ndarray, ends: np.ndarray, seed: int = 0) -> dict[str, float | int | bool]:
    """Nod response at phrase ends (module docstring): pitch (T,) deg, ends (E,) s."""
    return _difference(nod_dips(pitch, ends), nod_dips(pitch, random_times(ends, len(pitch), seed=seed)))


def _difference(ev: np.ndarray, ctl: np.ndarray) -> dict[str, float | int | bool]:
    """Mean dip at events (E,) − at control times (R,), its SE (the control draws of one clip overlap, so their
    term is somewhat underestimated; it is small next to the events' term), and the pass rule."""
    var = lambda x: float(np.var(x, ddof=1)) / len(x) if len(x) > 1 else float("nan")  # noqa: E731
    diff = float(ev.mean() - ctl.mean()) if len(ev) and len(ctl) else float("nan")
    se = float(np.sqrt(var(ev) + var(ctl)))
    return {"response_deg": diff, "se_deg": se, "at_ends_deg": float(ev.mean()) if len(ev) else float("nan"),
            "at_random_deg": float(ctl.mean()) if len(ctl) else float("nan"), "n_ends": len(ev),
            "n_random": len(ctl), "pass": bool(diff >= 1.0 and diff > 2 * se)}


def smile_changes(smile: np.ndarray, onsets: np.ndarray) -> np.ndarray:
    """Smile change after each onset (s) fully inside the clip: smile (T,) -> (E,) (after − before means)."""
    onsets = _inside(onsets, len(smile), SMILE_BEFORE_S[0], SMILE_AFTER_S[1])
    x = np.asarray(smile, np.float64)
    return _peri(x, onsets, *SMILE_AFTER_S).mean(1) - _peri(x, onsets, *SMILE_BEFORE_S).mean(1)


def smile_ratios(avatar: np.ndarray, user: np.ndarray, onsets: np.ndarray) -> np.ndarray:
    """Avatar smile change / user smile change per onset: avatar, user (T,) smiles, onsets (E,) s -> (E,)."""
    return smile_changes(avatar, onsets) / smile_changes(user, onsets)


def smile_control_ratios(avatar: np.ndarray, user: np.ndarray, onsets: np.ndarray) -> np.ndarray:
    """The control: the avatar's smile change half-way between the user's smiles (onsets + half their median
    spacing, where the user does not smile) / the user's change at the onsets; (E',) over the onsets whose
    shifted windows fit the clip."""
    shift = 0.5 * float(np.median(np.diff(onsets))) if len(onsets) > 1 else 3.0
    keep = _inside(onsets + shift, len(avatar), SMILE_BEFORE_S[0], SMILE_AFTER_S[1]) - shift
    return smile_changes(avatar, keep + shift) / smile_changes(user, keep)


def smile_response(ratios: np.ndarray) -> dict[str, float | int | bool]:
    """Mean and SE of the per-onset ratios (E,), and whether the mean reaches the 0.20 target."""
    n = len(ratios)
    se = float(np.std(ratios, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    mean = float(ratios.mean()) if n else float("nan")
    return {"response": mean, "se": se, "n_onsets": n, "pass": bool(mean >= 0.20)}


def _inside(times: np.ndarray, T: int, a: float, b: float) -> np.ndarray:
    """The times (s) whose window [t + a, t + b) s lies inside T frames."""
    t = np.asarray(times, np.float64)
    return t[(np.floor(t * FPS) + round(a * FPS) >= 0) & (np.floor(t * FPS) + round(b * FPS) <= T)]


# ---- the user's speech -------------------------------------------------------------------------------------
def voice_files(voice: str) -> list[Path]:
    """The recordings of a voice (VOICES); a missing folder -> InputError naming the Debian package."""
    if voice not in VOICES:
        raise InputError(None, f"unknown voice {voice!r} (known: {', '.join(VOICES)})")
    package, pattern = VOICES[voice]
    folder = Path(pattern).parent
    files = sorted(folder.glob(Path(pattern).name))
    if not files:
        raise InputError(folder, f"no recordings of voice {voice!r}: install the Debian package {package} "
                                 f"(apt-get install {package}; scripts/setup.sh does)")
    return files


def utterances(voice: str, max_s: float = 3.0, min_s: float = 0.4) -> list[np.ndarray]:
    """Speech segments (16 kHz mono float32) of a voice's recordings: VAD runs, ones longer than max_s cut at
    their quietest frame between 1 s and max_s."""
    from echo_ihg.audio.vad import speech_probability
    from echo_ihg.io.media import load_audio
    from echo_ihg.synth.behaviour import envelope

    out = []
    for path in voice_files(voice):
        audio = load_audio(path)
        spf = SAMPLE_RATE // FPS
        for a, b in _runs(speech_probability(audio) > 0.5):
            seg = audio[a * spf: b * spf]
            while len(seg) > max_s * SAMPLE_RATE:
                env = envelope(seg, len(seg) // spf)
                cut = (FPS + int(np.argmin(env[FPS: int(max_s * FPS)]))) * spf
                out.append(seg[:cut])
                seg = seg[cut:]
            out.append(seg)
    return [u for u in out if len(u) >= min_s * SAMPLE_RATE]


def phrases(utts: list[np.ndarray], rng: np.random.Generator, min_s: float = 1.0, max_s: float = 3.0,
            gap_s: float = 0.12) -> Iterator[np.ndarray]:
    """Endless phrases of 1–3 s: utterances in random order, joined with short gaps (which the phrase-end
    detector bridges) until at least min_s long; each (n,) float32."""
    order = iter(rng.permutation(np.resize(np.arange(len(utts)), 100_000)))
    gap = np.zeros(int(gap_s * SAMPLE_RATE), np.float32)
    while True:
        phrase = utts[int(next(order))]
        while len(phrase) < min_s * SAMPLE_RATE:
            u = utts[int(next(order))]
            if len(phrase) + len(gap) + len(u) > max_s * SAMPLE_RATE:
                break
            phrase = np.concatenate([phrase, gap, u])
        yield phrase


def speech_track(utts: list[np.ndarray], seconds: float, rng: np.random.Generator,
                 pause_s: tuple[float, float] = (1.0, 2.5)) -> tuple[np.ndarray, np.ndarray]:
    """Phrases (`phrases`) separated by pauses -> audio (N,) float32 of `seconds`, and the scripted phrase-end
    times (s) (E,)."""
    n = int(seconds * SAMPLE_RATE)
    audio, ends = np.zeros(n, np.float32), []
    t = int(1.0 * SAMPLE_RATE)
    for u in phrases(utts, rng):
        if t + len(u) > n:
            break
        audio[t: t + len(u)] = u
        ends.append((t + len(u)) / SAMPLE_RATE)
        t += len(u) + int(rng.uniform(*pause_s) * SAMPLE_RATE)
    return audio, np.array(ends)


# ---- the user's face ---------------------------------------------------------------------------------------
def face_image(name: str) -> np.ndarray:
    """A real photo (H, W, 3) uint8: "astronaut" or "lfw<N>" (skimage's LFW subset, as `sample_faces`)."""
    from echo_ihg.motion.sample_faces import sample_face_images

    if name == "astronaut":
        return sample_face_images()[0]
    if name.startswith("lfw") and name[3:].isdigit() and int(name[3:]) < 100:
        return sample_face_images()[1 + int(name[3:])]
    raise InputError(None, f"unknown face {name!r}: 'astronaut' or 'lfw0' … 'lfw99'")


def smile_onsets(seconds: float, rng: np.random.Generator, n: int = 8) -> np.ndarray:
    """Up to n smile onset times (s), evenly spread over [2 s, seconds − 3 s], ≥ 4 s apart (so one smile's
    measuring windows never reach into the next), with ±0.5 s jitter; (≤ n,)."""
    n = max(1, min(n, int((seconds - 5.0) // 4.5) + 1))
    slots = np.linspace(2.0, seconds - 3.0, n)
    jitter = min(0.5, (slots[1] - slots[0]) / 4) if n > 1 else 0.0
    return np.sort(slots + rng.uniform(-jitter, jitter, n))


def user_controls(T: int, onsets: np.ndarray, audio: np.ndarray, rng: np.random.Generator,
                  smile_s: float = 1.5, amp: float = 0.8) -> np.ndarray:
    """Rig controls (T, C): still head, smiles (0.3 s ramps) from each onset, blinks every ~4 s, jaw from the
    speech envelope."""
    from scipy.ndimage import gaussian_filter1d

    from echo_ihg.synth.behaviour import envelope
    from echo_ihg.synth.controls import CONTROL_INDEX as CI
    from echo_ihg.synth.controls import N_CONTROLS

    ctl = np.zeros((T, N_CONTROLS), np.float32)
    t = np.arange(T) / FPS
    smile = np.zeros(T)
    for o in onsets:
        up, down = np.clip((t - o) / 0.3, 0, 1), np.clip((o + smile_s - t) / 0.3, 0, 1)
        smile = np.maximum(smile, np.minimum(up, down))
    smile = amp * (0.5 - 0.5 * np.cos(np.pi * smile))
    for k in ("smile_l", "smile_r"):
        ctl[:, CI[k]] = smile
    ctl[:, CI["cheek_raise"]] = 0.5 * smile
    blink = np.zeros(T + 5)
    for b in np.cumsum(rng.uniform(3.0, 5.0, int(T / FPS / 3) + 1)):
        i = int(b * FPS)
        if i < T:
            blink[i: i + 5] = (0.5, 1.0, 1.0, 1.0, 0.5)      # 0.2 s
    ctl[:, CI["blink_l"]] = ctl[:, CI["blink_r"]] = blink[:T]
    ctl[:, CI["jaw_open"]] = 0.35 * gaussian_filter1d(envelope(audio, T), 1.0)
    return ctl


def user_landmarks(portrait, controls: np.ndarray) -> np.ndarray:
    """The rig driven by controls (T, C) on the photo's face, retargeted onto the photo -> (T, 478, 3)."""
    from echo_ihg.render.retarget import retarget
    from echo_ihg.synth.rig import identity_from_landmarks, render_landmarks

    ident = identity_from_landmarks("user", portrait.landmarks)
    neutral = render_landmarks(ident, np.zeros((1, controls.shape[1]), np.float32))
    return retarget(render_landmarks(ident, controls), portrait.landmarks, driver_neutral=neutral,
                    portrait_aspect=portrait.aspect)


@dataclasses.dataclass
class Clip:
    name: str
    video: Path
    seconds: float
    smile_onsets: np.ndarray          # (S,) s, scripted
    scripted_ends: np.ndarray         # (E,) s, scripted phrase ends
    user_smile: np.ndarray            # (T,) the scripted smile: smile attribute of the user's landmarks without
                                      # the speech jaw (an open jaw moves the lip centre the attribute measures from)


def build_clip(face: str, voice: str, seconds: float, dest: Path, seed: int = 0, size: int = 256,
               bars: bool = True) -> Clip:
    """Render DEST/user.mp4 (face × voice, `seconds` long; module docstring) and return its script."""
    from echo_ihg.inference.stages import setup_portrait
    from echo_ihg.io.media import write_mp4
    from echo_ihg.motion.attributes import facial_attributes
    from echo_ihg.render.base import RenderConfig
    from echo_ihg.render.meshwarp import MeshWarpRenderer
    from echo_ihg.synth.controls import CONTROL_INDEX as CI

    rng = np.random.default_rng([seed, sum(map(ord, face + voice))])
    audio, ends = speech_track(utterances(voice), seconds, rng)
    T = int(round(seconds * FPS))
    onsets = smile_onsets(seconds, rng)
    dest.mkdir(parents=True, exist_ok=True)
    photo = _write_png(dest / "face.png", face_image(face))
    renderer = MeshWarpRenderer(RenderConfig(size=size))
    portrait = setup_portrait(photo, renderer, crop=True)       # head and shoulders: the face fills the frame
    controls = user_controls(T, onsets, audio, rng)
    lm = user_landmarks(portrait, controls)
    frames = progress(renderer.render(portrait.state, lm), total=T, desc=f"user clip {face}×{voice}",
                      unit="frame", enabled=None if bars else False)
    write_mp4(dest / "user.mp4", frames, fps=FPS, audio=audio)
    controls[:, CI["jaw_open"]] = 0.0
    smile = facial_attributes(user_landmarks(portrait, controls), portrait.aspect)["smile"]
    return Clip(f"{face}×{voice}", dest / "user.mp4", T / FPS, onsets, ends, smile)


def _write_png(dest: Path, rgb: np.ndarray) -> Path:
    import cv2

    with atomic_path(dest) as tmp:
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(rgb[:, :, ::-1])):
            raise InputError(dest, "could not write the image")
    return dest


# ---- the avatar --------------------------------------------------------------------------------------------
def avatar_attributes(pipe, portrait_path: Path, clip: Clip, dest: Path, bars: bool = True
                      ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Run `pipe.generate` with a silent avatar on the clip; -> the avatar's attributes {name: (T,)} decoded from
    the generated motion, and the user's VAD speech probability (T,)."""
    from echo_ihg.audio.vad import speech_probability
    from echo_ihg.inference.stages import AvatarMotionDecoder, setup_portrait
    from echo_ihg.io.media import fit_audio_length, load_audio, write_wav
    from echo_ihg.motion.attributes import facial_attributes

    T = int(round(clip.seconds * FPS))
    silence = dest / "silence.wav"
    write_wav(silence, np.zeros(T * (SAMPLE_RATE // FPS), np.float32))
    res = pipe.generate(portrait_path, silence, clip.video, out=dest / "avatar.mp4", progress_bars=bars)
    portrait = setup_portrait(portrait_path, pipe.renderer)
    decoder = AvatarMotionDecoder(pipe.codec, portrait.landmarks, portrait.aspect, pipe.config.pose_scale)
    att = facial_attributes(decoder.decode(res.motion), portrait.aspect)
    vad = speech_probability(fit_audio_length(load_audio(clip.video), T))
    return att, vad


def random_model(dest: Path) -> Path:
    """A randomly initialised default-size model saved with the repo's checkpoint code (bench/serve_load.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from serve_load import random_checkpoint

    return random_checkpoint(dest)


# ---- report ------------------------------------------------------------------------------------------------
def clip_result(clip: Clip, att: dict[str, np.ndarray], vad: np.ndarray, seed: int = 0) -> dict:
    """One clip's row: att the avatar's attributes {"head_pitch", "smile": (T,)}, vad the user's speech
    probability (T,). Keys starting with "_" hold the per-event arrays (for pooling, the JSON and the figure)."""
    ends = phrase_ends(vad)
    ratios = smile_ratios(att["smile"], clip.user_smile, clip.smile_onsets)
    control = smile_control_ratios(att["smile"], clip.user_smile, clip.smile_onsets)
    rand = random_times(ends, len(vad), seed=seed)
    dips = {"ends": nod_dips(att["head_pitch"], ends), "random": nod_dips(att["head_pitch"], rand)}
    return {"clip": clip.name, "seconds": clip.seconds, "phrase_ends_vad": len(ends),
            "phrase_ends_scripted": len(clip.scripted_ends), "nod": _difference(dips["ends"], dips["random"]),
            "smile": smile_response(ratios), "smile_control": smile_response(control), "_control": control,
            "_dips": dips, "_ratios": ratios, "_ends": ends, "_random": rand,
            "_onsets": clip.smile_onsets, "_scripted_ends": clip.scripted_ends}


def pooled(results: list[dict]) -> dict:
    """The pooled row: every clip's phrase-end dips, random-time dips and smile ratios together."""
    cat = lambda key, k: np.concatenate([r[key][k] if k else r[key] for r in results])  # noqa: E731
    return {"clip": "pooled", "seconds": sum(r["seconds"] for r in results),
            "phrase_ends_vad": sum(r["phrase_ends_vad"] for r in results),
            "phrase_ends_scripted": sum(r["phrase_ends_scripted"] for r in results),
            "nod": _difference(cat("_dips", "ends"), cat("_dips", "random")),
            "smile": smile_response(cat("_ratios", None)), "smile_control": smile_response(cat("_control", None))}


def table(rows: list[dict], header: str) -> str:
    """Markdown: the header line, then one line per row."""
    lines = [header, "",
             "| clip | s | phrase ends (VAD / scripted) | nod response (deg) ± SE | nod ≥ 1° & > 2 SE | "
             "smile response ± SE (n) | smile ≥ 0.20 | smile control ± SE |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        n, s, c = r["nod"], r["smile"], r["smile_control"]
        lines.append(f"| {r['clip']} | {r['seconds']:.0f} | {r['phrase_ends_vad']} / {r['phrase_ends_scripted']} | "
                     f"{n['response_deg']:+.2f} ± {n['se_deg']:.2f} | {'yes' if n['pass'] else 'no'} | "
                     f"{s['response']:+.3f} ± {s['se']:.3f} ({s['n_onsets']}) | {'yes' if s['pass'] else 'no'} | "
                     f"{c['response']:+.3f} ± {c['se']:.3f} |")
    return "\n".join(lines) + "\n"


def figure(dest: Path, series: list[dict]) -> None:
    """Event-locked means per clip: avatar pitch after phrase ends (and at random times); avatar and user smile
    around smile onsets (scaled to the user's change). series: per clip {"pitch", "smile", "user_smile": (T,),
    "ends", "random", "onsets": (E,) s, "clip": name}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    _pitch_panel(ax[0], series)
    _smile_panel(ax[1], series)
    for a in ax:
        a.axvline(0, color="grey", lw=0.5)
        a.legend(fontsize=6)
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def _locked(x: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Windows −1…+2 s around the times (s) inside x (T,) -> (E, 3·FPS)."""
    return _peri(np.asarray(x, np.float64), _inside(times, len(x), -1.0, 2.0), -1.0, 2.0)


def _pitch_panel(ax, series: list[dict]) -> None:
    lag, ctl = np.arange(-FPS, 2 * FPS) / FPS, []
    for s in series:
        hp = _highpass(np.asarray(s["pitch"], np.float64), 1.5)
        w = _locked(hp, s["ends"])
        if len(w):
            ax.plot(lag, w.mean(0), label=f"{s['clip']} (n={len(w)})")
        ctl.append(_locked(hp, s["random"]))
    ax.plot(lag, np.concatenate(ctl).mean(0), "k:", label="random times (all clips)")
    ax.set(title="avatar head pitch (high-passed) after user phrase ends", xlabel="s after event", ylabel="deg")


def _smile_panel(ax, series: list[dict]) -> None:
    lag = np.arange(-FPS, 2 * FPS) / FPS
    for s in series:
        u, a = _locked(s["user_smile"], s["onsets"]), _locked(s["smile"], s["onsets"])
        if len(u):
            scale = float(np.ptp(u.mean(0))) or 1.0
            ax.plot(lag, (a.mean(0) - a.mean(0)[:FPS].mean()) / scale, label=f"{s['clip']} avatar")
            ax.plot(lag, (u.mean(0) - u.mean(0)[:FPS].mean()) / scale, "k:", lw=0.8)
    ax.set(title="smile around user smile onsets (dotted: user), / user change", xlabel="s after onset")


# ---- main --------------------------------------------------------------------------------------------------
def run_clip(pipe, portrait: Path, face: str, voice: str, args: argparse.Namespace) -> tuple[dict, dict]:
    """Build one clip, run the pipeline on it, measure -> (result row, figure series)."""
    dest = args.out / f"{face}_{voice}"
    clip = build_clip(face, voice, args.seconds, dest, seed=args.seed)
    att, vad = avatar_attributes(pipe, portrait, clip, dest)
    res = clip_result(clip, att, vad, seed=args.seed)
    series = {"clip": clip.name, "pitch": att["head_pitch"], "smile": att["smile"], "user_smile": clip.user_smile,
              "ends": res["_ends"], "random": res["_random"], "onsets": clip.smile_onsets}
    return res, series


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    model = ap.add_mutually_exclusive_group()
    model.add_argument("--checkpoint", type=Path, default=None, help="model (default: the bundled default model)")
    model.add_argument("--random-model", action="store_true", help="a randomly initialised model (development)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each user clip (≥ 10)")
    ap.add_argument("--steps", type=int, default=4, help="sampler steps per chunk")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/listening_check"))
    ap.add_argument("--faces", nargs="+", default=["astronaut", "lfw0"], help="astronaut, lfw0 … lfw99")
    ap.add_argument("--voices", nargs="+", default=list(VOICES), choices=list(VOICES))
    ap.add_argument("--portrait", type=Path, default=None, help="avatar portrait (default: bundled Grace Hopper)")
    args = ap.parse_args(argv)
    if args.seconds < 10:
        raise InputError(None, "--seconds must be ≥ 10 (smiles and phrase ends need room)")
    for v in args.voices:
        voice_files(v)                      # fail early, naming the package
    for f in args.faces:
        face_image(f)
    return args


def write_report(out: Path, rows: list[dict], series: list[dict], header: str, meta: dict) -> None:
    """Print the table; write OUT/listening_check.{md,json,png} (atomically)."""
    text = table(rows, header)
    print(text)
    write_text(out / "listening_check.md", text)
    write_json(out / "listening_check.json", {
        **meta, "header": header,
        "rows": [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
        "per_clip": [{"clip": r["clip"], "phrase_ends_vad_s": r["_ends"],
                      "phrase_ends_scripted_s": r["_scripted_ends"], "smile_onsets_s": r["_onsets"],
                      "smile_ratios": r["_ratios"], "smile_control_ratios": r["_control"],
                      "nod_dips_at_ends_deg": r["_dips"]["ends"]}
                     for r in rows if "_ends" in r]})
    figure(out / "listening_check.png", series)
    print(f"wrote {out / 'listening_check.json'}, .md and .png")


def main(argv: list[str] | None = None) -> int:
    from echo_ihg.assets import default_user_portrait
    from echo_ihg.inference.pipeline import Pipeline, PipelineConfig

    args = parse_args(argv)
    load_start = os.getloadavg()[0]
    ckpt, model_name = args.checkpoint, str(args.checkpoint or "bundled default model")
    if args.random_model:
        ckpt, model_name = random_model(args.out / "random_model.safetensors"), "random weights (default size)"
    pipe = Pipeline(ckpt, PipelineConfig(steps=args.steps, seed=args.seed, size=128, asr=False))
    portrait = args.portrait or default_user_portrait()
    rows, series = [], []
    for face in args.faces:
        for voice in args.voices:
            r, s = run_clip(pipe, portrait, face, voice, args)
            rows.append(r)
            series.append(s)
    rows.append(pooled(rows))
    header = (f"listening check — model: {model_name}; {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}"
              f" UTC; load average {load_start:.2f} at start, {os.getloadavg()[0]:.2f} at end; steps {args.steps}; "
              f"{args.seconds:g}-s clips; avatar {portrait.name}")
    meta = {"model": model_name, "model_source": pipe.model_source, "args": vars(args),
            "voices": {v: [str(p) for p in voice_files(v)] for v in args.voices}}
    write_report(args.out, rows, series, header, meta)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except EchoError as exc:            # a missing package / file, a model that does not load: one line
        print(f"listening_check: error: {exc}", file=sys.stderr)
        sys.exit(2)
