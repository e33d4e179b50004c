"""LAU's affect model Ψ: the dialogue so far → a description of the avatar's appropriate emotional state.

    affect.describe(history, now=None, avatar="A") -> str

history: transcript entries {speaker: "A"|"B", start, end, text} (words or utterances, seconds), as in
`transcript.jsonl`. Consecutive entries of one speaker (gap < 1 s) are joined into utterances.

`LexiconAffect` (default, deterministic): valence from vaderSentiment's compound score and emotion categories
from a small hand-written lexicon (joy, sadness, anger, fear, surprise, concern), each utterance weighted by
recency (half-life `half_life_s`) and by speaker (the user's words count fully: they set what response is
appropriate; the avatar's own words count half). `LLMAffect` asks an LLM behind a local endpoint instead.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence

from echo_ihg.model.llm import OpenAICompatClient

EMOTIONS = ("joy", "sadness", "anger", "fear", "surprise", "concern")

_LEXICON_WORDS: dict[str, str] = {
    "joy": "happy glad great wonderful love loved lovely fantastic amazing excited exciting fun funny laugh "
           "delighted awesome enjoy enjoyed nice celebrate congratulations proud thrilled yay brilliant "
           "beautiful perfect cheerful pleased grateful thanks",
    "sadness": "sad unhappy lonely miss missed cry cried crying tears lost loss died death passed grief "
               "depressed heartbroken sorry disappointed hurt down miserable alone gloomy regret",
    "anger": "angry mad furious annoyed annoying hate hated unfair ridiculous outrageous irritated frustrated "
             "frustrating stupid sick fed rage yelled shouted awful terrible",
    "fear": "afraid scared fear frightened terrified panic nervous anxious anxiety dread danger dangerous "
            "threat horror risk unsafe",
    "surprise": "wow surprised surprising unexpected suddenly shocked shocking unbelievable incredible really "
                "whoa astonishing amazed",
    "concern": "worried worry worrying concerned problem problems trouble difficult hard stress stressed "
               "struggling sick ill hospital doctor pain help uncertain unsure afraid",
}
EMOTION_LEXICON: dict[str, tuple[str, ...]] = {}
for _emo, _words in _LEXICON_WORDS.items():
    for _w in _words.split():
        EMOTION_LEXICON[_w] = EMOTION_LEXICON.get(_w, ()) + (_emo,)

# the avatar's appropriate state given the user's dominant emotion
RESPONSE = {
    "joy": "warm and cheerful, sharing the user's happiness",
    "sadness": "gentle and empathetic, with a soft, caring expression",
    "anger": "calm and reassuring, not mirroring the anger",
    "fear": "calm and supportive, steady and reassuring",
    "surprise": "attentive and curious, with lively eyebrows",
    "concern": "attentive and caring, showing concern",
    None: "attentive and friendly, with a neutral, open expression",
}


class AffectModel(Protocol):
    def describe(self, history: Sequence[Mapping], now: float | None = None, avatar: str = "A") -> str: ...


def utterances(history: Sequence[Mapping], max_gap: float = 1.0) -> list[dict]:
    """Join consecutive same-speaker entries (gap < max_gap s) into utterances sorted by start time."""
    out: list[dict] = []
    for e in sorted(history, key=lambda e: float(e["start"])):
        text = str(e.get("text", "")).strip()
        if not text:
            continue
        if out and out[-1]["speaker"] == e["speaker"] and float(e["start"]) - out[-1]["end"] < max_gap:
            out[-1]["text"] += " " + text
            out[-1]["end"] = max(out[-1]["end"], float(e["end"]))
        else:
            out.append({"speaker": e["speaker"], "start": float(e["start"]), "end": float(e["end"]), "text": text})
    return out


def _lookup(word: str) -> tuple[str, ...]:
    for cand in (word, word.rstrip("s"), re.sub(r"(ed|ing|ly)$", "", word)):
        if cand in EMOTION_LEXICON:
            return EMOTION_LEXICON[cand]
    return ()


def emotion_scores(text: str) -> dict[str, float]:
    """Lexicon counts per emotion (a word may count for two emotions); 'not X' negates X."""
    scores = dict.fromkeys(EMOTIONS, 0.0)
    words = re.findall(r"[a-z']+", text.lower())
    for i, w in enumerate(words):
        negated = i > 0 and words[i - 1] in ("not", "no", "never", "don't", "isn't", "wasn't", "aren't")
        for emo in _lookup(w):
            scores[emo] += 0.0 if negated else 1.0
    return scores


@dataclass(frozen=True)
class AffectConfig:
    half_life_s: float = 30.0      # recency weighting of utterances
    horizon_s: float = 300.0       # utterances older than this are ignored
    avatar_weight: float = 0.5     # the avatar's own words count less than the user's
    min_evidence: float = 0.3      # weighted lexicon hits below this -> no dominant emotion


class LexiconAffect:
    def __init__(self, config: AffectConfig = AffectConfig()):
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.cfg = config
        self._vader = SentimentIntensityAnalyzer()
        self._cache: dict[str, tuple[float, dict[str, float]]] = {}

    def _analyse(self, text: str) -> tuple[float, dict[str, float]]:
        if text not in self._cache:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[text] = (float(self._vader.polarity_scores(text)["compound"]), emotion_scores(text))
        return self._cache[text]

    def analyse(self, history: Sequence[Mapping], now: float | None = None, avatar: str = "A"
                ) -> tuple[float, dict[str, float]]:
        """Recency-weighted (valence in [-1, 1], emotion evidence) over the history up to `now` (seconds)."""
        utts = utterances([e for e in history if now is None or float(e["end"]) <= now])
        if not utts:
            return 0.0, dict.fromkeys(EMOTIONS, 0.0)
        now = utts[-1]["end"] if now is None else now
        val_sum = w_sum = 0.0
        emo = dict.fromkeys(EMOTIONS, 0.0)
        for u in utts:
            age = max(0.0, now - u["end"])
            if age > self.cfg.horizon_s:
                continue
            w = math.exp(-math.log(2) * age / self.cfg.half_life_s)
            w *= self.cfg.avatar_weight if u["speaker"] == avatar else 1.0
            val, scores = self._analyse(u["text"])
            val_sum += w * val
            w_sum += w
            for k, s in scores.items():
                emo[k] += w * s
        return (val_sum / w_sum if w_sum > 0 else 0.0), emo

    def describe(self, history: Sequence[Mapping], now: float | None = None, avatar: str = "A") -> str:
        valence, emo = self.analyse(history, now, avatar)
        ranked = sorted(EMOTIONS, key=lambda k: (-emo[k], EMOTIONS.index(k)))
        top = ranked[0] if emo[ranked[0]] >= self.cfg.min_evidence else None
        if top is None and abs(valence) >= 0.3:
            top = "joy" if valence > 0 else "concern"
        tone = ("very positive" if valence >= 0.5 else "positive" if valence >= 0.15 else
                "very negative" if valence <= -0.5 else "negative" if valence <= -0.15 else "neutral")
        mood = "no strong emotion" if top is None else {
            "joy": "happy", "sadness": "sad", "anger": "angry", "fear": "afraid", "surprise": "surprised",
            "concern": "worried"}[top]
        return (f"the conversation has recently been {tone} and the user sounds {mood}; "
                f"the avatar should be {RESPONSE[top]}")


class LLMAffect:
    """Ψ through an LLM behind a local OpenAI-compatible endpoint (failures raise `LLMError`)."""

    SYSTEM = ("You read the transcript of a two-person conversation between the AVATAR and the USER. In ONE "
              "short sentence, describe the emotional state the avatar should show now (facial expression and "
              "mood), given everything said so far, most recent lines mattering most. No preamble.")

    def __init__(self, client: OpenAICompatClient, max_utterances: int = 40):
        self.client, self.max_utterances = client, max_utterances

    def describe(self, history: Sequence[Mapping], now: float | None = None, avatar: str = "A") -> str:
        utts = utterances([e for e in history if now is None or float(e["end"]) <= now])[-self.max_utterances:]
        lines = [f"[{u['start']:.1f}s] {'AVATAR' if u['speaker'] == avatar else 'USER'}: {u['text']}" for u in utts]
        return self.client.chat(self.SYSTEM, "\n".join(lines) or "(nothing has been said yet)")
