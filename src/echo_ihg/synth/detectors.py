"""Detector metrics for the planted dependencies, computed from what any model output also has:
landmark attributes (`motion.attributes`), the participants' audio and the transcript/utterance timing.

Every detector returns (value on the real pairing, value on a control) where the control breaks the
dependency (partner's audio instead of one's own, events shifted in time, partner signal from far away
in time). docs/synth.md tabulates them; tests assert value > control.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

from echo_ihg.constants import FPS
from echo_ihg.data.session import Session
from echo_ihg.motion.attributes import _CORNERS_L, _CORNERS_R, _LIDS_L, _LIDS_R, facial_attributes
from echo_ihg.synth.behaviour import envelope

Pair = tuple[float, float]


def lid_gaps(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """Signed eyelid gap per eye, "lid_gap_l"/"lid_gap_r" (T,): mean over the lid point pairs of
    `motion.attributes` of (lower − upper lid point) along the normal of the eye-corner line in the image,
    divided by the corner distance. Unlike the attribute's 3-D lid distance (blink_l/_r), which keeps the
    pairs' sideways and depth offsets (≈ 0.07–0.1 eye widths for the tracked identities) when the lids
    touch, it reaches 0 for every face when the eye is shut. landmarks (T, 478, 3) image-normalised."""
    xy = np.asarray(landmarks, np.float64)[..., :2]
    out = {}
    for side, lids, (outer, inner) in (("l", _LIDS_L, _CORNERS_L), ("r", _LIDS_R, _CORNERS_R)):
        axis = xy[:, inner] - xy[:, outer]
        width = np.linalg.norm(axis, axis=-1)
        normal = np.stack([-axis[:, 1], axis[:, 0]], -1) / np.maximum(width, 1e-9)[:, None]
        normal *= np.where(normal[:, 1:] < 0, -1.0, 1.0)  # pointing down the image (towards the chin)
        gap = np.mean([((xy[:, lo] - xy[:, up]) * normal).sum(-1) for up, lo in lids], 0)
        out[f"lid_gap_{side}"] = gap / np.maximum(width, 1e-9)
    return out


def attributes(session: Session) -> dict[str, dict[str, np.ndarray]]:
    """Attributes (T,) per participant measured from the stored landmarks, plus "smile_res": the smile
    attribute with its linear dependence on mouth opening removed (an open jaw moves the lip centre, which
    the corner-height smile measure would otherwise read as smiling while talking), "lid_gap_l/_r"
    (`lid_gaps`, for blinks) and "speaking" (vad)."""
    out = {}
    for w in ("A", "B"):
        lm = np.asarray(session.participant(w).landmarks, np.float32)
        att = facial_attributes(lm)
        att.update(lid_gaps(lm))
        X = np.stack([att["mouth_open"], np.ones_like(att["mouth_open"])], 1)
        beta, *_ = np.linalg.lstsq(X, att["smile"], rcond=None)
        att["smile_res"] = att["smile"] - X @ beta
        att["speaking"] = np.asarray(session.participant(w).vad, np.float64)
        out[w] = att
    return out


def control_signals(session: Session) -> dict[str, dict[str, np.ndarray]]:
    """The same named signals as `attributes`, read from the ground-truth rig controls
    (extra/controls.npy): exact, free of the landmark measurement's cross-talk (jaw → smile)."""
    from echo_ihg.synth.controls import CONTROL_INDEX as CI

    out = {}
    for w in ("A", "B"):
        p = session.participant(w)
        c = np.asarray(p.extra["controls"], np.float64)
        g = lambda k: c[:, CI[k]]  # noqa: E731
        smile = 0.5 * (g("smile_l") + g("smile_r"))
        out[w] = {"mouth_open": g("jaw_open"), "smile": smile, "smile_res": smile,
                  "brow_raise_l": 0.5 * (g("brow_inner_raise") + g("brow_outer_raise")),
                  "brow_raise_r": 0.5 * (g("brow_inner_raise") + g("brow_outer_raise")),
                  "brow_furrow": g("brow_furrow"), "blink_l": g("blink_l"), "blink_r": g("blink_r"),
                  # the rig's blink closes each identity's lid gap linearly, fully at 1
                  "lid_gap_l": 1.0 - g("blink_l"), "lid_gap_r": 1.0 - g("blink_r"),
                  "gaze_yaw": g("gaze_yaw"), "gaze_pitch": g("gaze_pitch"), "head_yaw": g("head_yaw"),
                  "head_pitch": g("head_pitch"), "head_roll": g("head_roll"),
                  "speaking": np.asarray(p.vad, np.float64)}
    return out


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    d = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / d) if d > 0 else 0.0


def _highpass(x: np.ndarray, seconds: float) -> np.ndarray:
    return x - gaussian_filter1d(x, seconds * FPS, mode="nearest")


def _mains(session: Session, who: str) -> list[dict]:
    return [u for u in session.meta["utterances"] if u["speaker"] == who and u["kind"] not in ("backchannel", "laugh")]


def lips_follow_own_audio(session: Session, att, who: str = "A") -> Pair:
    """corr(mouth_open, own audio envelope) vs corr(mouth_open, partner's envelope)."""
    other = "B" if who == "A" else "A"
    m = att[who]["mouth_open"]
    e_own = envelope(session.participant(who).audio, session.T)
    e_oth = envelope(session.participant(other).audio, session.T)
    return _corr(m, e_own), _corr(m, e_oth)


def lip_audio_lag(session: Session, att, who: str = "A", max_lag: int = 6) -> int:
    """Lag (frames) maximising corr(mouth_open[t], envelope[t − lag]); 0 = lips and audio aligned."""
    m = att[who]["mouth_open"]
    e = envelope(session.participant(who).audio, session.T)
    lags = range(-max_lag, max_lag + 1)
    scores = [_corr(m[max(0, k): len(m) + min(0, k)], e[max(0, -k): len(e) - max(0, k)]) for k in lags]
    return list(lags)[int(np.argmax(scores))]


def head_follows_own_prosody(session: Session, att, who: str = "A") -> Pair:
    """corr(head angular speed, own envelope), both smoothed over 1 s, vs the same with the partner's."""
    other = "B" if who == "A" else "A"
    speed = np.sqrt(sum(np.gradient(att[who][k]) ** 2 for k in ("head_yaw", "head_pitch", "head_roll")))
    speed = gaussian_filter1d(speed, FPS / 2)
    e_own = gaussian_filter1d(envelope(session.participant(who).audio, session.T), FPS / 2)
    e_oth = gaussian_filter1d(envelope(session.participant(other).audio, session.T), FPS / 2)
    return _corr(speed, e_own), _corr(speed, e_oth)


def _peri(x: np.ndarray, events: np.ndarray, a: float, b: float) -> np.ndarray:
    """Windows x[e + a s : e + b s] for each event time (s) fully inside x → (E, L)."""
    ia, ib = int(round(a * FPS)), int(round(b * FPS))
    rows = [x[int(e * FPS) + ia: int(e * FPS) + ib] for e in events
            if int(e * FPS) + ia >= 0 and int(e * FPS) + ib <= len(x)]
    return np.array(rows) if rows else np.zeros((0, ib - ia))


def _shifted(events: np.ndarray, T: int, rng: np.random.Generator) -> np.ndarray:
    """Control times: random times at least 1 s away from every real event."""
    out, dur = [], T / FPS
    while len(out) < len(events) and len(events):
        t = rng.uniform(0, dur)
        if np.abs(events - t).min() >= 1.0:
            out.append(t)
    return np.array(out)


def nods_at_phrase_ends(session: Session, att, who: str = "A", seed: int = 0) -> Pair:
    """Mean head-pitch dip (deg) in 0.1–1.0 s after the partner's phrase ends, vs after shifted times."""
    other = "B" if who == "A" else "A"
    ends = np.array([t for u in _mains(session, other) for t in u["phrase_ends"]])
    pitch = _highpass(att[who]["head_pitch"], 1.5)

    def dip(ev):
        w = _peri(pitch, ev, 0.0, 1.0)
        return float((w[:, :3].mean(1) - w[:, 3:].min(1)).mean()) if len(w) else 0.0

    return dip(ends), dip(_shifted(ends, session.T, np.random.default_rng(seed)))


def smile_mirroring(session: Session, att, who: str = "A", shift_s: float = 20.0) -> tuple[float, float, float]:
    """Smile changes of `who` following the partner's smile changes.

    On the time derivatives of 4-s high-passed, 4-frame smoothed smiles (onsets, not levels, so shared
    moods cancel):
    the lag (s) of the peak of corr(d smile_who[t], d smile_partner[t − lag]) over 0–1.5 s, the mean
    correlation over lags 0.3–0.7 s, and the same with the partner's signal moved `shift_s` later (control).
    """
    other = "B" if who == "A" else "A"
    # 4-frame smoothing before differencing: keeps smile onsets, drops speech-rate lip jitter
    x = np.gradient(gaussian_filter1d(_highpass(att[who]["smile_res"], 4), 4))
    y = np.gradient(gaussian_filter1d(_highpass(att[other]["smile_res"], 4), 4))
    # jokes (the teller and the laughing listener) and mood changes (news) make both smile at once:
    # shared causes, not mirroring; their neighbourhoods are left out
    shared = np.zeros(len(x), bool)
    for u in session.meta["utterances"]:
        if u["joke"] or u["kind"] == "laugh":
            shared[max(0, int((u["end"] - 1.5) * FPS)): int((u["end"] + 3.0) * FPS)] = True
    hist, _ = mood_frames(session)
    for i in np.flatnonzero(np.diff(hist) != 0):
        shared[max(0, i - 3 * FPS): i + 4 * FPS] = True
    x, y = np.where(shared, 0.0, x), np.where(shared, 0.0, y)
    y_ctl = np.roll(y, int(shift_s * FPS))
    lags = np.arange(0, int(1.5 * FPS) + 1)
    cc = lambda yy, k: _corr(x[k:], yy[: len(yy) - k]) if k else _corr(x, yy)  # noqa: E731
    c = np.array([cc(y, k) for k in lags])
    win = (lags >= int(0.3 * FPS)) & (lags <= int(0.7 * FPS))
    ctl = np.array([cc(y_ctl, k) for k in lags[win]])
    return float(lags[int(np.argmax(c))] / FPS), float(c[win].mean()), float(ctl.mean())


def brows_at_questions(session: Session, att, who: str = "A") -> Pair:
    """Mean brow raise (both brows, high-passed) in −0.2…+0.8 s around the partner's question ends vs
    around its statement ends."""
    other = "B" if who == "A" else "A"
    brow = _highpass(0.5 * (att[who]["brow_raise_l"] + att[who]["brow_raise_r"]), 2.0)
    q = np.array([u["end"] for u in _mains(session, other) if u["question"]])
    s = np.array([u["end"] for u in _mains(session, other) if not u["question"]])
    m = lambda ev: float(_peri(brow, ev, -0.2, 0.8).mean()) if len(ev) else 0.0  # noqa: E731
    return m(q), m(s)


def partner_social_signal(att_partner: dict[str, np.ndarray]) -> np.ndarray:
    """Per-second social signal of the partner: smile + nods − looking away, (S,)."""
    T = len(att_partner["smile"])
    S = T // FPS
    smile = att_partner["smile_res"][: S * FPS].reshape(S, FPS).mean(1)
    gaze = att_partner["gaze_yaw"] - np.median(att_partner["gaze_yaw"])
    away = (np.abs(gaze) > 0.5 * np.abs(gaze).max())[: S * FPS].reshape(S, FPS).mean(1)
    pk, _ = find_peaks(-_highpass(att_partner["head_pitch"], 1.5), prominence=2.0)
    nods = np.bincount(pk // FPS, minlength=S)[:S]
    z = lambda v: (v - v.mean()) / (v.std() + 1e-9)  # noqa: E731
    return z(smile) + 0.5 * z(nods) - z(away)


def engagement_expression(att_self: dict[str, np.ndarray], horizon_s: int = 10) -> np.ndarray:
    """Per-second engagement shown while listening in the next `horizon_s` s: head-motion amplitude (nods
    and sway), averaged over listening frames only (speech drives the head while speaking), (S,).
    The smile is left out: short-range mirroring would mix the partner's last seconds into it."""
    T = len(att_self["smile"])
    S = T // FPS
    listen = (att_self["speaking"] < 0.5)[: S * FPS]
    z = lambda v: (v - v[listen].mean()) / (v[listen].std() + 1e-9)  # noqa: E731
    motion = np.abs(_highpass(att_self["head_pitch"], 1.0))[: S * FPS]
    sig = z(motion)
    out = np.zeros(S)
    for s in range(S):
        m = listen[s * FPS: (s + horizon_s) * FPS]
        out[s] = sig[s * FPS: (s + horizon_s) * FPS][m].mean() if m.any() else 0.0
    return out


def _partial(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """Partial correlation of x and y given z."""
    rxy, rxz, ryz = _corr(x, y), _corr(x, z), _corr(y, z)
    return float((rxy - rxz * ryz) / np.sqrt(max((1 - rxz ** 2) * (1 - ryz ** 2), 1e-12)))


def _detrend(x: np.ndarray) -> np.ndarray:
    t = np.arange(len(x), dtype=np.float64)
    return x - np.polyval(np.polyfit(t, x, 1), t)


def long_range_engagement(sessions_att: list[dict], who: str = "A", long_s: int = 60, short_s: int = 2
                          ) -> tuple[float, float, float, float]:
    """Does the listener's engagement follow the partner's behaviour over the last `long_s` seconds?

    Per second s (pooled over sessions): expr = engagement shown in the next 10 s; long / short = the
    partner's social signal averaged over the last `long_s` / `short_s` seconds. Returns corr(expr, long),
    corr(expr, short), partial corr(expr, long | short) (what the long history adds beyond the last 2 s),
    and the control: the same partial correlation with the long average taken from the partner of another
    session, averaged over every other session (a single one correlates by chance: the signals are slow).
    Needs sessions longer than `long_s` + 10 s.
    """
    other = "B" if who == "A" else "A"
    n = len(sessions_att)
    expr = [engagement_expression(att[who]) for att in sessions_att]
    sig = [partner_social_signal(att[other]) for att in sessions_att]

    def pooled(shift: int) -> tuple[float, float, float]:
        X, L, Sh = [], [], []
        for i in range(n):
            own, src = sig[i], sig[(i + shift) % n]
            m = min(len(own), len(src))
            cs, cl = np.concatenate([[0], np.cumsum(own)]), np.concatenate([[0], np.cumsum(src[:m])])
            idx = np.arange(long_s, min(len(expr[i]) - 10, m))
            if len(idx) < 3:
                continue
            # linear trends removed per session: every session drifts from its random start towards its
            # equilibrium, a shared time course that would correlate across unrelated sessions too
            X.append(_detrend(expr[i][idx]))
            L.append(_detrend((cl[idx] - cl[idx - long_s]) / long_s))
            Sh.append(_detrend((cs[idx] - cs[idx - short_s]) / short_s))
        X, L, Sh = map(np.concatenate, (X, L, Sh))
        return _corr(X, L), _corr(X, Sh), _partial(X, L, Sh)

    long_r, short_r, partial = pooled(0)
    controls = [pooled(k)[2] for k in range(1, n)] if n > 1 else [0.0]
    return long_r, short_r, partial, float(np.mean(controls))


def mood_frames(session: Session) -> tuple[np.ndarray, np.ndarray]:
    """(T,) conversation mood from the utterance history (held from each main utterance) and (T,) the
    sentiment carried by the words being spoken right now (news/sympathy/congrats turns only)."""
    T = session.T
    hist, now = np.zeros(T), np.zeros(T)
    mains = sorted((u for w in ("A", "B") for u in _mains(session, w)), key=lambda u: u["start"])
    lex = {"bad_news": -1, "sympathy": -1, "good_news": 1, "congrats": 1}
    for u, nxt in zip(mains, mains[1:] + [None]):
        a, b = int(u["start"] * FPS), T if nxt is None else int(nxt["start"] * FPS)
        hist[a:b] = u["mood"]
        now[a: int(u["end"] * FPS)] = lex.get(u["kind"], 0)
    return hist, now


def concern_expression(att_self: dict[str, np.ndarray]) -> np.ndarray:
    """Brow furrow − smile, smoothed over 1 s: high = concerned face."""
    z = lambda v: (v - v.mean()) / (v.std() + 1e-9)  # noqa: E731
    return gaussian_filter1d(z(att_self["brow_furrow"]) - z(att_self["smile"]), FPS)


def linguistic_affect(session: Session, att, who: str = "A") -> tuple[float, float]:
    """corr(concern face, −mood from the dialogue history) vs corr(concern face, −sentiment of the words
    being spoken now). History > now means the face carries what was said turns ago."""
    hist, now = mood_frames(session)
    c = concern_expression(att[who])
    return _corr(c, -hist), _corr(c, -now)


def overlap_lip_sync(session: Session, att, who: str = "A") -> tuple[float, float, float]:
    """In frames where `who` speaks while the partner's backchannels/laughs overlap: corr(mouth_open,
    own envelope) vs corr(mouth_open, partner's envelope); plus the fraction of `who`'s speech frames
    that are overlapped. A model leaking user audio into the lips lowers the first, raises the second."""
    other = "B" if who == "A" else "A"
    vad_s, vad_o = np.asarray(session.participant(who).vad) > 0.5, np.asarray(session.participant(other).vad) > 0.5
    both = vad_s & vad_o
    both = np.convolve(both, np.ones(5), "same") > 0  # include a little context around each overlap
    m = att[who]["mouth_open"]
    e_own = envelope(session.participant(who).audio, session.T)
    e_oth = envelope(session.participant(other).audio, session.T)
    frac = float((vad_s & vad_o).sum() / max(vad_s.sum(), 1))
    if both.sum() < 10:
        return 0.0, 0.0, frac
    return _corr(m[both], e_own[both]), _corr(m[both], e_oth[both]), frac


def eyelid_closure(att_self: dict[str, np.ndarray]) -> np.ndarray:
    """(T,) mean eyelid closure of both eyes relative to this person's own open eye: 0 = as open as usual,
    1 = shut. Each eye's lid gap (`lid_gaps`) is divided by its median over the clip, the person's open
    aperture (eyes are open most of the time: blinks cover < 10 % of the frames). A fixed threshold on the
    `blink_l/_r` attributes instead over-counted narrow-eyed identities (they rest near 0.6 on that scale,
    relative to the canonical face, so small lid motions crossed 0.5) and missed their blinks once
    normalised, because that 3-D lid distance does not reach 0 when the lids touch. An eye whose median
    gap is not above zero (never open) has no measurable closure and gives 0."""
    out = []
    for side in ("lid_gap_l", "lid_gap_r"):
        opening = np.asarray(att_self[side], np.float64)
        aperture = float(np.median(opening))
        out.append(1.0 - opening / aperture if aperture > 1e-3 else np.zeros_like(opening))
    return 0.5 * (out[0] + out[1])


def blink_events(att_self: dict[str, np.ndarray]) -> np.ndarray:
    """Frame indices of blinks: peaks of `eyelid_closure` above half closed, at least 4 frames apart."""
    pk, _ = find_peaks(eyelid_closure(att_self), height=0.5, distance=4)
    return pk


def blink_rate(att_self: dict[str, np.ndarray], speaking: np.ndarray) -> tuple[float, float]:
    """Blinks per minute while speaking and while listening (`blink_events`, per-person normalised)."""
    pk = blink_events(att_self)
    sp = speaking > 0.5
    per_min = lambda mask: 60 * FPS * mask[pk].sum() / max(mask.sum(), 1)  # noqa: E731
    return float(per_min(sp)), float(per_min(~sp))
