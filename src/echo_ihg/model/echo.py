"""EchoModel: LCU (user context) + the motion generator, as one module with explicit constructor arguments.

    model = EchoModel(layout=codec.layout, centres=region_centres_by_name, cfg=ModelConfig(size="small"))
    feats, lpe_state = model.perceive(user_audio, user_motion, lpe_state)     # LPE scan, any span of frames
    f_pu = model.user_context(feats, s_usr, known, batch)     # feats over the window's user span -> per frame
    v = model(x_t, t, GenCond(prev_motion, identity, avatar_audio, f_pu, c_emo))

Text embeddings (S_usr of the behaviour description, c_emo of the emotion description) come in as tensors:
the describers and the frozen text encoder run outside the network (and are cached).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from echo_ihg.model.config import ModelConfig
from echo_ihg.model.generator import EchoGenerator, GenCond, layout_pairs
from echo_ihg.model.lcu import LCU, LPEState
from echo_ihg.utils.config import config_from_dict, config_to_dict


class EchoModel(nn.Module):
    def __init__(self, layout: Mapping[str, slice | Sequence[int]], centres: Mapping[str, Sequence[float]],
                 cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.layout = layout_pairs(layout)
        self.centres = {str(k): [float(x) for x in v] for k, v in centres.items()}
        self.generator = EchoGenerator(self.layout, self.centres, cfg)
        self.lcu = LCU(self.layout, cfg) if cfg.uses_user else None

    @property
    def motion_dim(self) -> int:
        return self.generator.motion_dim

    @property
    def uses_perception(self) -> bool:
        return self.lcu is not None and self.lcu.lpe is not None

    def constructor_args(self) -> dict[str, Any]:
        """JSON-able arguments that rebuild this model (stored next to the safetensors weights)."""
        return {"layout": {k: list(v) for k, v in self.layout.items()}, "centres": self.centres,
                "cfg": config_to_dict(self.cfg), "dims": dict(self.cfg.dims)}

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "EchoModel":
        cfg = config_from_dict(ModelConfig, dict(args["cfg"]), "model")
        dims = args.get("dims")
        if dims is not None and dict(dims) != cfg.dims:
            # the size name is resolved through SIZES: refuse rather than build a different network
            raise ValueError(f"size {cfg.size!r} is now {cfg.dims}, the checkpoint was built with {dict(dims)}")
        return cls(args["layout"], args["centres"], cfg)

    def init_state(self, batch: int) -> LPEState | None:
        return self.lcu.lpe.init_state(batch) if self.uses_perception else None

    def perceive(self, user_audio: torch.Tensor, user_motion: torch.Tensor, state: LPEState | None = None
                 ) -> tuple[torch.Tensor | None, LPEState | None]:
        """LPE scan over user frames: (B, T, Da), (B, T, Dm) -> feats (B, T, 1 + K, E), new state.

        Returns (None, None) when the configuration uses no perception (w/o LPE, audio-only, stage 1). The
        short-window baseline does not scan: its features are the per-frame embeddings, and its state None.
        """
        if not self.uses_perception:
            return None, None
        if self.cfg.short_window_frames > 0:
            return self.lcu.lpe.embed(user_audio, user_motion), None
        return self.lcu.lpe.encode(user_audio, user_motion, state)

    def perceive_step(self, user_audio: torch.Tensor, user_motion: torch.Tensor, state: LPEState
                      ) -> tuple[torch.Tensor | None, LPEState | None]:
        """One user frame: (B, Da), (B, Dm) -> feat (B, 1 + K, E), new state (streaming)."""
        if not self.uses_perception:
            return None, None
        return self.lcu.lpe.step(user_audio, user_motion, state)

    def user_context(self, feats: torch.Tensor | None, s_usr: torch.Tensor | None, known: torch.Tensor | None,
                     batch: int) -> torch.Tensor | None:
        """LPE features over a chunk window's user span (B, F, 1 + K, E), S_usr (B, 384) and the known horizon
        (B,) -> f_pu (B, T, Nu, D) (one set of user tokens per frame), or None without a user branch."""
        if self.lcu is None:
            return None
        return self.lcu(feats, s_usr, known, batch)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: GenCond, return_gates: bool = False):
        """Noisy chunk (B, T, Dm), diffusion time (B,) -> v prediction (B, T, Dm) [, SDCM gates]."""
        return self.generator(x, t, cond, return_gates=return_gates)

    def user_parameters(self) -> list[nn.Parameter]:
        """The stage-2 parameters: LCU (incl. the c_emo projection) and SDCM's user branch (the rest is the
        stage-1 path: audio/lips, previous motion, identity, null condition tokens)."""
        params = list(self.lcu.parameters()) if self.lcu is not None else []
        for block in self.generator.blocks:
            fusion = block.fusion
            if hasattr(fusion, "attn_usr"):
                params += list(fusion.attn_usr.parameters())
        params += [self.generator.null_user, *self.generator.emo_in.parameters()]
        return params
