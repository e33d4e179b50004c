"""Training objective: the batch -> generator conditions, and the masked, region-weighted v-loss + velocity loss.

The diffusion schedule (`model.diffusion`: cosine α/σ, v-prediction) stays in one place; this module draws
nothing at random itself: the diffusion times, noise and condition-dropout mask come in from the trainer,
which draws them per *global* batch row, so a sample gets the same noise whatever rank holds it (this is
what makes 1-process and N-process training agree). The loss is normalised by the fixed number of
entries (B · T · Dm), not by the number of valid frames, so that the mean over ranks equals the global mean.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from echo_ihg.model.diffusion import diffusion_loss
from echo_ihg.model.echo import EchoModel
from echo_ihg.model.generator import GenCond


def build_cond(model: EchoModel, batch: Mapping[str, torch.Tensor], drop: torch.Tensor | None,
               grad_frames: int = 0) -> GenCond:
    """Generator conditions of a batch (keys as `data.windows.WindowDataset` items), as the engine builds them:
    LPE over the user history up to the chunk start (the last `short_window_frames` only for that baseline),
    then the LCU with S_usr -> f_pu; c_emo when the model uses LAU.

    grad_frames > 0: truncated back-propagation through the history — the scan runs over the older frames
    without autograd (their state is carried in exactly, as in streaming) and only the last `grad_frames`
    keep gradients. Same forward values (to float rounding: the older span only needs its final scan state,
    computed in one pass per chunk by `ssm.selective_scan_state`); memory and backward cost bounded by
    grad_frames, not the history.
    """
    cfg = model.cfg
    b = batch["target"].shape[0]
    f_pu = None
    if cfg.uses_user:
        feat = None
        if model.uses_perception:
            ua, um = batch["user_audio"], batch["user_motion"]
            if cfg.short_window_frames > 0:
                ua, um = ua[:, -cfg.short_window_frames:], um[:, -cfg.short_window_frames:]
            state = None
            if 0 < grad_frames < ua.shape[1]:
                with torch.no_grad():
                    state = model.perceive_state(ua[:, :-grad_frames], um[:, :-grad_frames])
                ua, um = ua[:, -grad_frames:], um[:, -grad_frames:]
            feats, _ = model.perceive(ua, um, state)
            feat = feats[:, -1]
        f_pu = model.user_context(feat, batch["s_usr"] if cfg.use_hbcu else None, b)
    c_emo = batch["c_emo"] if cfg.uses_emotion else None
    return GenCond(batch["prev"], batch["identity"], batch["avatar_audio"], f_pu, c_emo, drop)


class Denoiser(nn.Module):
    """One module whose forward runs conditions + generator, so DistributedDataParallel sees the whole step."""

    def __init__(self, model: EchoModel, grad_frames: int = 0):
        super().__init__()
        self.model, self.grad_frames = model, grad_frames

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, batch: Mapping[str, torch.Tensor],
                drop: torch.Tensor | None) -> torch.Tensor:
        return self.model(x_t, t, build_cond(self.model, batch, drop, self.grad_frames))


def chunk_loss(net: nn.Module, batch: Mapping[str, torch.Tensor], t: torch.Tensor, noise: torch.Tensor,
               drop: torch.Tensor | None, weights: torch.Tensor, velocity_weight: float
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """x0 = batch["target"] (B, T, Dm); t (B,); noise like x0; weights (Dm,) (normalised to mean 1 here).

    v-loss on valid frames (batch["valid"] (B, T)) + velocity_weight · velocity loss on x̂0 over pairs of
    valid frames. Returns the loss and its detached parts.
    """
    x0 = batch["target"]
    loss, parts = diffusion_loss(lambda x_t, tt, b: net(x_t, tt, b, drop), x0, batch, weights, velocity_weight,
                                 t=t, mask=batch["valid"], noise=noise, denominator=x0.shape[0] * x0.shape[1])
    del parts["total"]                                   # the trainer logs the loss itself
    return loss, parts
