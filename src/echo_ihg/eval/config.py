"""`EvalConfig`: the settings of an evaluation run (`eval.runner.run_evaluation`, `echo-ihg evaluate`)."""

from __future__ import annotations

from dataclasses import dataclass

from echo_ihg.inference.config import GenerationConfig


@dataclass(frozen=True)
class EvalConfig:
    generation: GenerationConfig = GenerationConfig(steps=6, size=256)   # sampler steps, first seed (seeds
                                     # seed..seed+samples-1), describer history, threads; size: the example video
    split: str = "test"
    samples: int = 3                 # generations per input (diversity metrics need ≥ 2)
    max_sessions: int = 0            # 0 = every session of the split (sorted by id)
    sessions: tuple[str, ...] = ()   # these session ids of the split only (e.g. to include masked-face
                                     # sessions, which the first N may lack); () = all (max_sessions applies)
    participants: tuple[str, ...] = ("A", "B")   # who may be the avatar
    min_valid: float = 0.9           # fraction of tracked frames an avatar needs to be evaluated
    react_window: int = 250          # frames per REACT window (10 s)
    long_range_s: int = 60           # history of the long-range dependency metric
    sync_expert: str = ""            # lip-sync expert file; "" = the bundled one
    video_seconds: float = 10.0      # example side-by-side video of the first item; 0 = none
    curves: int = 1                  # items with attribute-curve and gate plots
    shuffle_user: bool = False       # control: each avatar is generated against the user of another session
                                     # (scores still compare with its own session's user): reactions that
                                     # come from the user must vanish

    def __post_init__(self) -> None:
        if self.samples < 1 or self.max_sessions < 0 or self.curves < 0:
            raise ValueError("samples ≥ 1, max_sessions ≥ 0 and curves ≥ 0 are required")
        if not self.participants or not set(self.participants) <= {"A", "B"}:
            raise ValueError(f"participants must be a non-empty subset of ('A', 'B'), got {self.participants}")
        if not 0.0 <= self.min_valid <= 1.0:
            raise ValueError("min_valid must be in [0, 1]")
