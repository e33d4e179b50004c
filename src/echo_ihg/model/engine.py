"""Long-form and streaming motion generation: chunk after chunk, no seams, explicit state.

Timeline (frames at 25 fps). Chunk k emits the new frames [t0, t0 + S) with t0 = k·S and S = T − o, where T is
the model's chunk length and o the overlap. The sampled window covers [t0 − o, t0 + S): its first o frames are
the previous output, inpainted (fixed in x̂0 at every sampler step), and the model also cross-attends to the
last P output frames. A continuity constraint then removes what is left of a jump at t0: the offset between the
first new frame and the constant-velocity extrapolation of the last two output frames is blended out over
`continuity_ramp` frames (raised cosine), so position and velocity are continuous at every border. Before
frame 0 the "previous output" is the initial motion (rest pose).

Conditions of chunk k are causal. The user is read per frame (`model.lcu`): window frame t reads user frames
≤ t − user_latency that exist when the chunk is generated, i.e. below t0 + `user_horizon` (None: the whole
user stream is there, as offline; −L in a live loop whose user stream runs L frames behind). The LPE scan runs
from R pre-roll frames before 0 (the user silent at rest, `ModelConfig.user_preroll`) and never past what is
known; after the user's stream ends the user stays silent at rest. The behaviour description covers the last
`describe_window` user frames before t0, the transcript the entries ended by t0; the avatar audio covers the
window ± w frames (the avatar's own speech is known ahead: it is the dialogue agent's answer).

`generate_offline` scans the whole user stream in one parallel pass; `StreamingGenerator` receives inputs in
arbitrary pieces and keeps only bounded state (LPE scan state, the last output frames, the RNG state, the
avatar/user frames still needed). For the same inputs and seed both give the same motion (tested), and a
window's user conditions equal the training batch's for the same frames and horizon (tested).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from echo_ihg.audio.features import SILENCE
from echo_ihg.constants import FPS
from echo_ihg.model.affect import AffectModel, LexiconAffect
from echo_ihg.model.config import ModelConfig
from echo_ihg.model.describe import BehaviourDescriber, Describer
from echo_ihg.model.diffusion import ddim_sample
from echo_ihg.model.echo import EchoModel
from echo_ihg.model.generator import GenCond
from echo_ihg.model.lcu import LPEState
from echo_ihg.model.text_encoder import TextEncoder



@dataclass(frozen=True)
class SamplerConfig:
    steps: int = 6                        # DDIM steps per chunk (≤ 10; 6 keeps "small" ≥ 10× real time)
    guidance: float = 1.0                 # classifier-free guidance on user/emotion conditions (1 = off)
    overlap: int = 4                      # previous-output frames inpainted at the start of each window
    continuity_ramp: int = 10             # frames over which a border offset is blended out (0 = off)
    describe_window: int = 60 * FPS       # frames the behaviour describer looks back
    user_horizon: int | None = None       # chunk t0 reads user frames < t0 + user_horizon (None: all known;
                                          # a live loop whose user stream runs L frames behind: −L)

    def known(self, cfg: ModelConfig) -> int:
        """User frames of a chunk window known at generation (`model.lcu.read_frames`), clamped to what the
        model was trained for ([−user_lag_max, T])."""
        if self.user_horizon is None:
            return cfg.chunk_frames
        return max(-cfg.user_lag_max, min(cfg.chunk_frames, self.overlap + self.user_horizon))


@dataclass
class TextConditioner:
    """Φ (behaviour → text), Ψ (dialogue → emotion text) and the frozen text encoder (cached)."""

    describer: Describer
    affect: AffectModel
    encoder: TextEncoder
    avatar: str = "A"
    last_texts: tuple[str, str] = ("", "")

    def embed(self, attrs: Mapping[str, np.ndarray], user_vad: np.ndarray, avatar_vad: np.ndarray,
              transcript: Sequence[Mapping], now_s: float, behaviour: bool, emotion: bool
              ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """-> S_usr (1, 384) and c_emo (1, 384) (None where the model does not use them)."""
        b_text = self.describer.describe(attrs, user_vad, avatar_vad, len(user_vad)) if behaviour else ""
        e_text = self.affect.describe(transcript, now=now_s, avatar=self.avatar) if emotion else ""
        self.last_texts = (b_text, e_text)
        emb = self.encoder.encode([t for t, on in ((b_text, behaviour), (e_text, emotion)) if on])
        rows = iter(torch.from_numpy(emb).float())
        s_usr = next(rows)[None] if behaviour else None
        c_emo = next(rows)[None] if emotion else None
        return s_usr, c_emo


def build_text_conditioner(cfg: ModelConfig, encoder: Callable[[], TextEncoder], avatar: str = "A"
                           ) -> TextConditioner | None:
    """The default Φ (`BehaviourDescriber`), Ψ (`LexiconAffect`) and the text encoder `encoder()` for a model
    that reads text (`cfg.uses_text`); None for one that reads none, without calling `encoder` (so such a model
    never loads MiniLM). avatar: the avatar's speaker label in transcripts."""
    if not cfg.uses_text:
        return None
    return TextConditioner(BehaviourDescriber(), LexiconAffect(), encoder(), avatar=avatar)


class _Frames:
    """Frames [start, start + len) of a per-frame array stream; reads outside are padded with `fill`."""

    def __init__(self, dim: int, fill: float | np.ndarray = 0.0, start: int = 0):
        self.data = np.zeros((0, dim), np.float32)
        self.start, self.fill = start, fill                   # fill: a scalar or a (dim,) row

    @property
    def end(self) -> int:
        return self.start + len(self.data)

    def push(self, x: np.ndarray) -> None:
        self.data = np.concatenate([self.data, np.asarray(x, np.float32).reshape(len(x), -1)])

    def get(self, a: int, b: int) -> np.ndarray:
        out = np.full((b - a, self.data.shape[1]), self.fill, np.float32)
        lo, hi = max(a, self.start), min(b, self.end)
        if hi > lo:
            out[lo - a:hi - a] = self.data[lo - self.start:hi - self.start]
        return out

    def drop_before(self, a: int) -> None:
        if a > self.start:
            cut = min(a, self.end)
            self.data = self.data[cut - self.start:]
            self.start = cut


def continuity_correct(window: torch.Tensor, before: torch.Tensor, overlap: int, ramp: int) -> torch.Tensor:
    """window (T, Dm) whose new frames start at `overlap`; before (≥ 2, Dm): output frames just before them.

    Shifts the new frames by δ·r(j), δ = (2·x₋₁ − x₋₂) − x_new₀, r a raised cosine from 1 to 0 over `ramp`
    frames: the first new frame continues the previous velocity exactly; the rest blends back to the sample.
    """
    if ramp <= 0:
        return window
    delta = 2 * before[-1] - before[-2] - window[overlap]                 # (Dm,)
    n = min(ramp, window.shape[0] - overlap)
    j = torch.arange(n, dtype=window.dtype)
    r = 0.5 * (1 + torch.cos(math.pi * j / ramp))                        # (n,) 1 → ~0
    out = window.clone()
    out[overlap:overlap + n] += r[:, None] * delta
    return out


@dataclass
class StreamState:
    """Everything the streaming generator carries between calls (bounded by the windows, not the talk)."""

    t_next: int                          # first frame of the next chunk
    history: torch.Tensor                # (H, Dm) the last output frames (initial motion before frame 0)
    rng: torch.Generator
    lpe: LPEState | None
    lpe_frames: int = 0                  # user frames consumed by the scan (from −R: the pre-roll)
    feats: _Frames | None = None         # LPE outputs of scanned user frames still readable, flattened (1+K)·E
    user_audio: _Frames | None = None    # user frames not yet scanned
    user_motion: _Frames | None = None
    user_attrs: dict[str, _Frames] = field(default_factory=dict)
    user_vad: _Frames | None = None
    avatar_audio: _Frames | None = None
    avatar_vad: _Frames | None = None
    transcript: list[dict] = field(default_factory=list)
    user_done: bool = False
    avatar_done: bool = False
    emitted: list[int] = field(default_factory=list)    # chunk borders (first new frame of each chunk)


class StreamingGenerator:
    """Incremental generation (moshi-style explicit state). Push inputs in any pieces, pull motion frames.

    model: an EchoModel; identity (Did,) avatar neutral mesh (flattened); conditioner: texts → embeddings
    (needed when the model uses HBCU or LAU); initial_motion (Dm,) rest pose before frame 0 (default zeros);
    max_overlap: the largest overlap `set_pace` may set later (default: the sampler's; it bounds what is kept).
    """

    def __init__(self, model: EchoModel, identity: np.ndarray, sampler: SamplerConfig = SamplerConfig(),
                 conditioner: TextConditioner | None = None, initial_motion: np.ndarray | None = None,
                 seed: int = 0, max_overlap: int | None = None):
        cfg = model.cfg
        self.model, self.sampler, self.conditioner = model.eval(), sampler, conditioner
        if not 0 < sampler.overlap < cfg.chunk_frames:
            raise ValueError("overlap must be in (0, chunk_frames)")
        self.need_text = (cfg.uses_user and cfg.use_hbcu, cfg.uses_emotion)
        if any(self.need_text) and conditioner is None:
            raise ValueError("this model uses behaviour/emotion text: give a TextConditioner")
        self.identity = torch.as_tensor(np.asarray(identity, np.float32).reshape(1, -1))
        dm = model.motion_dim
        rest = np.zeros(dm, np.float32) if initial_motion is None else np.asarray(initial_motion, np.float32)
        self.max_overlap = max(sampler.overlap, max_overlap or 0)
        if self.max_overlap >= cfg.chunk_frames:
            raise ValueError("max_overlap must be below chunk_frames")
        keep = max(cfg.prev_frames, self.max_overlap, 2)
        self._keep = keep
        gen = torch.Generator().manual_seed(int(seed))
        da = cfg.audio_frame_dim
        lpe = model.lcu.lpe if model.uses_perception else None
        feat_dim = (1 + lpe.k) * lpe.e if lpe is not None else 1
        # the user is silent at rest before the conversation (the pre-roll) and after their stream ends
        self.state = StreamState(
            t_next=0, history=torch.from_numpy(np.tile(rest.reshape(1, dm), (keep, 1))), rng=gen,
            lpe=model.init_state(1), lpe_frames=-cfg.user_preroll, feats=_Frames(feat_dim, 0.0, -cfg.user_preroll),
            user_audio=_Frames(da, SILENCE), user_motion=_Frames(dm, rest), user_vad=_Frames(1),
            avatar_audio=_Frames(da, SILENCE), avatar_vad=_Frames(1))

    # ---- inputs -----------------------------------------------------------------------------------
    def push_user(self, audio: np.ndarray, motion: np.ndarray, attributes: Mapping[str, np.ndarray],
                  vad: np.ndarray) -> None:
        """n user frames: audio (n, Da) per-frame log-mel, motion (n, Dm), attributes name -> (n,), vad (n,)."""
        st = self.state
        n = len(audio)
        if len(motion) != n or len(vad) != n or any(len(v) != n for v in attributes.values()):
            raise ValueError("user audio, motion, attributes and VAD must have the same number of frames")
        st.user_audio.push(audio)
        st.user_motion.push(motion)
        st.user_vad.push(np.asarray(vad).reshape(n, 1))
        for k, v in attributes.items():
            if k not in st.user_attrs:
                st.user_attrs[k] = _Frames(1)
                st.user_attrs[k].start = st.user_vad.end - n
            st.user_attrs[k].push(np.asarray(v).reshape(n, 1))

    def push_avatar(self, audio: np.ndarray, vad: np.ndarray) -> None:
        """n avatar frames: audio (n, Da) per-frame log-mel of its own speech, vad (n,)."""
        if len(audio) != len(vad):
            raise ValueError("avatar audio and VAD must have the same number of frames")
        self.state.avatar_audio.push(audio)
        self.state.avatar_vad.push(np.asarray(vad).reshape(-1, 1))

    def push_transcript(self, entries: Sequence[Mapping]) -> None:
        self.state.transcript.extend(dict(e) for e in entries)

    def set_pace(self, overlap: int, user_horizon: int | None) -> None:
        """Change the overlap (so the hop, chunk − overlap) and the known horizon of the chunks still to come:
        the live server adapts both to the machine. Values the model is not trained for, or beyond
        `max_overlap`, are refused rather than clamped silently."""
        if not 0 < overlap <= self.max_overlap:
            raise ValueError(f"overlap {overlap} outside (0, max_overlap {self.max_overlap}]")
        if user_horizon is not None and overlap + user_horizon < -self.model.cfg.user_lag_max:
            raise ValueError(f"user horizon {user_horizon} reads the user more than the trained "
                             f"{self.model.cfg.user_lag_max} frames before the window")
        self.sampler = dataclasses.replace(self.sampler, overlap=overlap, user_horizon=user_horizon)

    # ---- outputs ----------------------------------------------------------------------------------
    def _ready(self) -> bool:
        """The next chunk can be generated: its audio window (or the end of the audio) and user frames < t0."""
        st, cfg = self.state, self.model.cfg
        if st.avatar_done:
            audio_ok = st.t_next < st.avatar_audio.end
        else:
            audio_ok = st.avatar_audio.end >= st.t_next - self.sampler.overlap + cfg.chunk_frames + cfg.audio_window
        return audio_ok and (st.user_done or st.user_vad.end >= self._user_needed(st.t_next))

    def _user_needed(self, t0: int) -> int:
        """User frames (exclusive end) that chunk t0 reads: up to its horizon or its last frame − latency."""
        cfg = self.model.cfg
        s = t0 - self.sampler.overlap
        return s + min(self.sampler.known(cfg), cfg.chunk_frames - cfg.user_latency)

    def pull(self) -> np.ndarray:
        """All frames that can be generated from the inputs so far: (n, Dm) float32 (n may be 0)."""
        out = []
        while self._ready():
            out.append(self._step())
        dm = self.model.motion_dim
        return np.concatenate(out) if out else np.zeros((0, dm), np.float32)

    def finish(self) -> np.ndarray:
        """Inputs are complete: generate up to the end of the avatar's audio."""
        self.state.user_done = self.state.avatar_done = True
        return self.pull()

    # ---- one chunk --------------------------------------------------------------------------------
    def scan_user(self, upto: int) -> None:
        """Advance the LPE scan over user frames [lpe_frames, upto) (pre-roll / past the end: silent, at rest).
        Chunks scan lazily what they read; a caller holding the whole user stream may scan it at once."""
        st = self.state
        if upto <= st.lpe_frames or not self.model.uses_perception:
            return
        if upto > st.user_vad.end and not st.user_done:
            raise ValueError(f"user frames up to {upto} are not there yet ({st.user_vad.end} pushed)")
            return
        feats, st.lpe = self.model.perceive(_t(st.user_audio.get(st.lpe_frames, upto)),
                                            _t(st.user_motion.get(st.lpe_frames, upto)), st.lpe)
        st.feats.push(feats[0].flatten(1).numpy())
        st.lpe_frames = upto
        st.user_audio.drop_before(upto)
        st.user_motion.drop_before(upto)

    def _perception(self, t0: int) -> torch.Tensor | None:
        """LPE outputs over the user span of the window that starts at t0 − overlap: (1, F, 1 + K, E) (frames
        the window may not read are zeros), or None for a model without perception."""
        st, model, cfg = self.state, self.model, self.model.cfg
        if not model.uses_perception:
            return None
        a = t0 - self.sampler.overlap - cfg.user_preroll
        self.scan_user(self._user_needed(t0))
        feats = st.feats.get(a, a + cfg.user_span)
        st.feats.drop_before(t0 - self.max_overlap - cfg.user_preroll)
        lpe = model.lcu.lpe
        return torch.from_numpy(feats).view(1, cfg.user_span, 1 + lpe.k, lpe.e)

    @torch.no_grad()
    def _step(self) -> np.ndarray:
        st, cfg, smp = self.state, self.model.cfg, self.sampler
        t0, o, w, t_len = st.t_next, smp.overlap, cfg.audio_window, cfg.chunk_frames
        s_usr = c_emo = None
        if any(self.need_text):
            a = max(0, t0 - smp.describe_window)
            upto = min(t0, st.user_vad.end)
            attrs = {k: f.get(a, upto)[:, 0] for k, f in st.user_attrs.items()}
            s_usr, c_emo = self.conditioner.embed(
                attrs, st.user_vad.get(a, upto)[:, 0], st.avatar_vad.get(a, t0)[:, 0],
                [e for e in st.transcript if float(e["end"]) <= t0 / FPS], t0 / FPS, *self.need_text)
        feats = self._perception(t0)
        f_pu = self.model.user_context(feats, s_usr, torch.tensor([smp.known(cfg)]), 1)
        audio = _t(st.avatar_audio.get(t0 - o - w, t0 - o + t_len + w))
        cond = GenCond(st.history[-cfg.prev_frames:][None], self.identity, audio, f_pu, c_emo)
        window = ddim_sample(self.model, (1, t_len, self.model.motion_dim), cond, smp.steps, st.rng,
                             smp.guidance, known=st.history[-o:][None], known_frames=o)[0]
        window = continuity_correct(window, st.history, o, smp.continuity_ramp)
        n_out = t_len - o
        if st.avatar_done:
            n_out = min(n_out, st.avatar_audio.end - t0)
        new = window[o:o + n_out]
        st.history = torch.cat([st.history, new])[-self._keep:]
        st.emitted.append(t0)
        st.t_next = t0 + n_out
        # bounded memory: drop what no later chunk can read
        keep_from = st.t_next - self.max_overlap - w
        st.avatar_audio.drop_before(keep_from)
        st.avatar_vad.drop_before(min(keep_from, st.t_next - smp.describe_window))
        for f in [st.user_vad, *st.user_attrs.values()]:
            f.drop_before(st.t_next - smp.describe_window)
        return new.numpy().astype(np.float32)


def _t(x: np.ndarray) -> torch.Tensor:
    """(…) array -> (1, …) tensor. Read-only inputs (memory-mapped session arrays) are copied: torch does
    not support non-writable arrays, and the engine only reads a window of them at a time."""
    x = np.ascontiguousarray(x)
    if not x.flags.writeable:
        x = x.copy()
    return torch.from_numpy(x)[None]


def generate_offline(model: EchoModel, identity: np.ndarray, avatar_audio: np.ndarray, avatar_vad: np.ndarray,
                     user_audio: np.ndarray, user_motion: np.ndarray, user_attributes: Mapping[str, np.ndarray],
                     user_vad: np.ndarray, transcript: Sequence[Mapping] = (),
                     sampler: SamplerConfig = SamplerConfig(), conditioner: TextConditioner | None = None,
                     initial_motion: np.ndarray | None = None, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """Whole conversation at once -> avatar motion (N, Dm) for the N frames of the avatar's audio, and the
    chunk borders (first frame of every chunk). Inputs as in `StreamingGenerator.push_*`."""
    gen = StreamingGenerator(model, identity, sampler, conditioner, initial_motion, seed)
    gen.push_transcript(transcript)
    gen.push_user(user_audio, user_motion, user_attributes, user_vad)
    gen.push_avatar(avatar_audio, avatar_vad)
    gen.state.user_done = True
    with torch.no_grad():   # the whole user stream in one parallel scan (chunks then only read it)
        gen.scan_user(max(len(user_audio), len(avatar_audio)) + model.cfg.chunk_frames)
    return gen.finish(), list(gen.state.emitted)
