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
from echo_ihg.model.lcu import LPEState
from echo_ihg.model.ssm import MambaState


def reset_rows(state: LPEState | None, first: torch.Tensor, model: EchoModel) -> LPEState | None:
    """Zero the carried scan state of rows (B,) whose stream starts a conversation (None: all start)."""
    if state is None:
        return None
    keep = (1 - first.float())
    k = model.lcu.lpe.k

    def scale(st: MambaState, rep: int) -> MambaState:
        m = keep.repeat_interleave(rep)
        return MambaState(st.conv * m.view(-1, 1, 1), st.ssm * m.view(-1, 1, 1))

    return LPEState(scale(state.audio, 1), scale(state.motion, k))


def build_cond(model: EchoModel, batch: Mapping[str, torch.Tensor], drop: torch.Tensor | None,
               known: torch.Tensor | None = None, carry: LPEState | None = None
               ) -> tuple[GenCond, LPEState | None]:
    """Generator conditions of a batch (keys as `data.windows.WindowDataset` items), as the engine builds them:
    the LPE scans the window's user span [s − R, s + T − l) from the carried state (stage-2 streams: the state
    the previous window of the same row left at s − R; zero for a row whose conversation starts here, and for
    `carry` None), the LCU reads it per frame up to the known horizon (known (B,); default T: all known) and
    fuses S_usr -> f_pu; c_emo when the model uses LAU.

    Returns the conditions and the scan state at s − R + T, detached, for the row's next window (truncated
    back-propagation through time: gradients stay inside one window's span). None without a scan.
    """
    cfg = model.cfg
    b = batch["target"].shape[0]
    f_pu, nxt = None, None
    if cfg.uses_user:
        feats = None
        if model.uses_perception:
            ua, um, t_len = batch["user_audio"], batch["user_motion"], cfg.chunk_frames
            state = reset_rows(carry, batch["stream_first"], model)
            head, mid = model.perceive(ua[:, :t_len], um[:, :t_len], state)
            tail, _ = model.perceive(ua[:, t_len:], um[:, t_len:], mid)
            feats = torch.cat([head, tail], dim=1)                          # (B, F, 1 + K, E)
            nxt = None if mid is None else _detach(mid)
        if known is None:
            known = torch.full((b,), cfg.chunk_frames, dtype=torch.long)
        f_pu = model.user_context(feats, batch["s_usr"] if cfg.use_hbcu else None, known.to(batch["target"].device), b)
    c_emo = batch["c_emo"] if cfg.uses_emotion else None
    return GenCond(batch["prev"], batch["identity"], batch["avatar_audio"], f_pu, c_emo, drop), nxt


def _detach(st: LPEState) -> LPEState:
    return LPEState(*(MambaState(m.conv.detach(), m.ssm.detach()) for m in (st.audio, st.motion)))


class Denoiser(nn.Module):
    """One module whose forward runs conditions + generator, so DistributedDataParallel sees the whole step.
    It keeps the rows' carried scan state between calls (`carry`, see `build_cond`)."""

    def __init__(self, model: EchoModel):
        super().__init__()
        self.model = model
        self.carry: LPEState | None = None
        self.known: torch.Tensor | None = None

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, batch: Mapping[str, torch.Tensor],
                drop: torch.Tensor | None) -> torch.Tensor:
        cond, self.next_carry = build_cond(self.model, batch, drop, self.known, self.carry)
        return self.model(x_t, t, cond)


def chunk_loss(net: nn.Module, batch: Mapping[str, torch.Tensor], t: torch.Tensor, noise: torch.Tensor,
               drop: torch.Tensor | None, weights: torch.Tensor, velocity_weight: float,
               listening_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """x0 = batch["target"] (B, T, Dm); t (B,); noise like x0; weights (Dm,) (normalised to mean 1 here).

    v-loss on valid frames (batch["valid"] (B, T)) + velocity_weight · velocity loss on x̂0 over pairs of
    valid frames; frames where the avatar is silent (batch["avatar_vad"] = 0) weigh `listening_weight` (its
    reactions to the user are small next to its speech motion). Returns the loss and its detached parts.
    """
    x0 = batch["target"]
    frames = batch["valid"] * (1.0 + (listening_weight - 1.0) * (1.0 - batch["avatar_vad"]))
    loss, parts = diffusion_loss(lambda x_t, tt, b: net(x_t, tt, b, drop), x0, batch, weights, velocity_weight,
                                 t=t, mask=frames, noise=noise, denominator=x0.shape[0] * x0.shape[1])
    del parts["total"]                                   # the trainer logs the loss itself
    return loss, parts
