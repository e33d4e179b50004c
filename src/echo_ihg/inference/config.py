"""`GenerationConfig`: the settings every way of generating shares, defined once.

Offline generation (`inference.pipeline.PipelineConfig`), the live server (`inference.live.LiveConfig`), the
evaluation (`eval.config.EvalConfig`) and the demo (`demo.run.DemoConfig`) each nest one as `generation`:

    PipelineConfig(generation=GenerationConfig(steps=4))        # YAML: generation: {steps: 4}
    echo-ihg generate ... --steps 4                             # = --set generation.steps=4 (= --set steps=4)

Each application chooses its own defaults by the instance it nests (live and evaluation sample fewer steps);
the fields, their meaning and their checks live here. The CLI merges its flags into the nested fields one way
everywhere (`utils.config.load_config(..., flags=...)`). Threading figures: README, "Bench".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

from echo_ihg.utils.config import check_config

SPEAKERS = ("A", "B")
VAD_BACKENDS = ("silero", "webrtc")


@dataclass(frozen=True)
class GenerationConfig:
    """What the sampler, the audio front end and the renderer need from the caller, whoever it is."""

    steps: int = 8                    # sampler steps per chunk (the model is trained for ≤ 10)
    guidance: float = 1.0             # classifier-free guidance on the user / emotion conditions (1 = off;
                                      # > 1 strengthens the reactions to the user and doubles the model's cost)
    seed: int = 0                     # the sampler's noise (evaluation: the first of its seeds)
    size: int = 512                   # rendered avatar frames, px (square)
    history_s: float = 60.0           # seconds of the user's behaviour the describer reads (the LPE scan
                                      # itself summarises the whole conversation in a fixed-size state)
    vad_backend: str = "silero"       # speech detection of audio decoded here ("silero" or "webrtc")
    avatar_speaker: str = "A"         # the avatar's speaker label in transcripts (the user is the other)
    torch_threads: int = 1            # intra-op threads for the model (0 = torch's default): the per-chunk
                                      # tensors are small and a second thread mostly waits

    def __post_init__(self) -> None:
        check_config("generation", [
            (1 <= int(self.steps) <= 50, f"steps must be in 1..50 (got {self.steps})"),
            (0 < float(self.guidance) <= 10, f"guidance must be in (0, 10] (got {self.guidance})"),
            (64 <= int(self.size) <= 2048, f"size must be 64..2048 px (got {self.size})"),
            (float(self.history_s) > 0, f"history_s must be > 0 (got {self.history_s})"),
            (self.vad_backend in VAD_BACKENDS, f"vad_backend must be 'silero' or 'webrtc' (got {self.vad_backend!r})"),
            (self.avatar_speaker in SPEAKERS, f"avatar_speaker must be 'A' or 'B' (got {self.avatar_speaker!r})"),
            (int(self.torch_threads) >= 0, f"torch_threads must be ≥ 0 (got {self.torch_threads})")])

    @property
    def user_speaker(self) -> str:
        return "B" if self.avatar_speaker == "A" else "A"

    @contextlib.contextmanager
    def threads(self) -> Iterator[None]:
        """torch's intra-op threads set to `torch_threads` (0: left alone) for the block, restored after."""
        import torch

        before = torch.get_num_threads()
        if self.torch_threads:
            torch.set_num_threads(int(self.torch_threads))
        try:
            yield
        finally:
            torch.set_num_threads(before)
