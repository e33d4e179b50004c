"""Dialogue scripts: two participants taking turns on topics, with news that sets a lasting mood.

A script is a list of `Turn`s (main utterances; backchannels and laughs are added by the timeline,
because they depend on where the partner's phrase ends fall). Each turn carries the conversation
*mood* in force while it is spoken: bad news sets mood −1 until a resolution turn several turns later,
good news sets +1 for a few turns. The mood is the ground truth of the linguistic-affect dependency:
during the turns in between, the words themselves are neutral, so only the dialogue history tells.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from echo_ihg.synth.grammar import ADJ_NEG, ADJ_NEU, ADJ_POS, TIMES, TOPICS, template_pool


@dataclasses.dataclass
class Turn:
    """One main utterance. sentiment: valence of the words themselves (−1, 0, +1); mood: the
    conversation's affective state while it is spoken (−1 concerned, 0 neutral, +1 happy)."""

    speaker: str
    text: str
    kind: str
    template: str
    topic: str
    sentiment: int
    mood: int
    question: bool
    joke: bool = False


class _Writer:
    def __init__(self, rng: np.random.Generator, pool: str):
        self.rng, self.pool = rng, pool
        self.used: set[str] = set()

    def fill(self, kind: str, topic: str, adj_sign: int = 0) -> tuple[str, str]:
        """A sentence of `kind` about `topic`; retries to avoid repeating a sentence verbatim."""
        options = template_pool(kind, self.pool)
        text, tid = "", ""
        for _ in range(8):
            tid, tpl = options[self.rng.integers(len(options))]
            slots = TOPICS[topic]
            adj = ADJ_POS if adj_sign > 0 else ADJ_NEG if adj_sign < 0 else ADJ_NEU
            text = tpl.format(thing=self._pick(slots["thing"]), place=self._pick(slots["place"]),
                              act=self._pick(slots["act"]), adj=self._pick(adj), time=self._pick(TIMES))
            text = text[0].upper() + text[1:]
            if text not in self.used:
                break
        self.used.add(text)
        return text, tid

    def _pick(self, items: list[str]) -> str:
        return items[self.rng.integers(len(items))]


def make_script(rng: np.random.Generator, pool: str, n_turns: int, news_rate: float = 0.3,
                joke_rate: float = 0.15) -> list[Turn]:
    """About `n_turns` turns of a two-person conversation drawn from template pool `pool`."""
    w = _Writer(rng, pool)
    turns: list[Turn] = []
    speaker = "A" if rng.random() < 0.5 else "B"
    topics = list(TOPICS)
    while len(turns) < n_turns:
        topic = topics[rng.integers(len(topics))]
        r = rng.random()
        if r < news_rate:
            _news_episode(w, turns, speaker, topic, good=rng.random() < 0.45)
        elif r < news_rate + joke_rate:
            _joke_episode(w, turns, speaker, topic)
        else:
            _chat_episode(w, turns, speaker, topic)
        speaker = _other(speaker) if rng.random() < 0.6 else speaker
    return turns


def _other(s: str) -> str:
    return "B" if s == "A" else "A"


def _add(w: _Writer, turns: list[Turn], speaker: str, kind: str, topic: str, mood: int,
         sentiment: int = 0, adj: int | None = None, extra: str | None = None) -> None:
    text, tid = w.fill(kind, topic, sentiment if adj is None else adj)
    if extra is not None:  # a second sentence makes turns of realistic length
        more, _ = w.fill(extra, topic, sentiment if adj is None else adj)
        text = f"{text} {more}"
    turns.append(Turn(speaker, text, kind, tid, topic, sentiment, mood, question=text.endswith("?")))


def _chat_episode(w: _Writer, turns: list[Turn], a: str, topic: str) -> None:
    rng, b = w.rng, _other(a)
    mood = _carry_mood(turns)
    _add(w, turns, a, "open_question", topic, mood)
    tone = int(rng.choice([-1, 0, 0, 1]))
    _add(w, turns, b, "answer", topic, mood, adj=tone, extra="statement" if rng.random() < 0.6 else None)
    for _ in range(int(rng.integers(1, 4))):
        mood = _carry_mood(turns)
        a, b = b, a
        kind = "comment" if rng.random() < 0.5 else "statement"
        _add(w, turns, a, kind, topic, mood, adj=int(rng.choice([-1, 0, 1])),
             extra="statement" if rng.random() < 0.4 else None)


def _joke_episode(w: _Writer, turns: list[Turn], a: str, topic: str) -> None:
    mood = _carry_mood(turns)
    _add(w, turns, a, "statement", topic, mood)
    _add(w, turns, a, "joke", topic, mood, sentiment=0, adj=1)
    turns[-1].joke = True
    _add(w, turns, _other(a), "comment", topic, mood, adj=1)


def _news_episode(w: _Writer, turns: list[Turn], a: str, topic: str, good: bool) -> None:
    """News sets the mood; bad news lasts until `a` resolves it 3–7 turns later, good news fades."""
    rng, b = w.rng, _other(a)
    sign = 1 if good else -1
    _add(w, turns, a, "good_news" if good else "bad_news", topic, sign, sentiment=sign)
    _add(w, turns, b, "congrats" if good else "sympathy", topic, sign, sentiment=sign)
    n_mid = int(rng.integers(3, 8)) if not good else int(rng.integers(2, 5))
    spk = a
    for k in range(n_mid):
        # neutral words while the mood holds: the face must carry what was said turns ago
        kind = "concern_followup" if (not good and spk == b and rng.random() < 0.4) else \
            ("statement" if rng.random() < 0.6 else "answer")
        _add(w, turns, spk, kind, topic, sign, adj=0)
        spk = _other(spk)
    if not good:
        _add(w, turns, a, "resolution", topic, 0, sentiment=1, adj=0)
        _add(w, turns, b, "comment", topic, 0, adj=1)


def _carry_mood(turns: list[Turn]) -> int:
    """Good-news mood fades once its episode is over; bad news only ends with a resolution turn."""
    if not turns:
        return 0
    return turns[-1].mood if turns[-1].mood < 0 else 0
