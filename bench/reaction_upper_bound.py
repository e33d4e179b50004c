#!/usr/bin/env python
"""How much of the planted reaction is learnable: a small supervised causal predictor, scored like the model.

A regressor (not a generator) of the avatar's motion from what the avatar may know at frame t: the user's
motion and voice up to t − `--latency` (dilated causal convolutions) and the avatar's own speech around t (±4
frames, as SDCM reads it). It is trained with MSE on the training split of a corpus (both participants as the
avatar, random 8-s windows) and then predicts the evaluated sessions' avatars, which are scored by the same
code as `echo-ihg evaluate` (`eval.runner.score_variant`; nods, smile mirroring, question brows from
`eval.dependencies`). Its numbers next to the ground truth's and the model's tell how much of the reaction a
causal reader of the user can capture, so a model's shortfall can be read against a reachable target rather
than against the ground truth alone.

    .venv/bin/python bench/reaction_upper_bound.py --data runs/dm/corpus --codec runs/dm/codec.safetensors \
        --sessions synth0000_00004 synth0000_00009 [--steps 1500] [--latency 1] [--out runs/upper_bound]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from echo_ihg.data.session import list_sessions
from echo_ihg.data.train_features import participant_mel, participant_motion
from echo_ihg.eval.config import EvalConfig
from echo_ihg.eval.inputs import load_inputs, motion_of
from echo_ihg.eval.runner import GT, Generated, _expert, score_variant
from echo_ihg.motion.codec import MotionCodec
from echo_ihg.utils.atomic import write_json
from echo_ihg.utils.progress import progress

MEL_DIM, AUDIO_HALF = 320, 4
METRICS = (("dependencies", "nod_response", "nods"), ("dependencies", "smile_mirror", "smile mirror"),
           ("dependencies", "brow_question", "brows at Q"), ("speaking", "LSE-C", "LSE-C"),
           ("all", "FD_expression", "FD"))


class CausalPredictor(nn.Module):
    """user (B, T, Du) read causally, avatar audio (B, T, 320) read ±4 frames -> motion (B, T, Dm)."""

    def __init__(self, d_user: int, d_out: int, width: int = 96, layers: int = 5, latency: int = 1):
        super().__init__()
        self.latency = latency
        self.user_in = nn.Conv1d(d_user, width, 1)
        self.dilations = [2 ** i for i in range(layers)]           # receptive field 2^layers·2 frames (~2.5 s)
        self.convs = nn.ModuleList(nn.Conv1d(width, width, 3, dilation=d) for d in self.dilations)
        self.audio = nn.Conv1d(MEL_DIM, width, 2 * AUDIO_HALF + 1, padding=AUDIO_HALF)
        self.out = nn.Sequential(nn.Conv1d(2 * width, width, 1), nn.GELU(), nn.Conv1d(width, d_out, 1))

    def forward(self, user: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        u = nn.functional.pad(user.transpose(1, 2), (self.latency, 0))[..., :user.shape[1]]   # shift: ≤ t − l
        h = self.user_in(u)
        for conv, d in zip(self.convs, self.dilations):
            h = h + nn.functional.gelu(conv(nn.functional.pad(h, (2 * d, 0))))              # causal
        a = nn.functional.gelu(self.audio(audio.transpose(1, 2)))
        return self.out(torch.cat([h, a], dim=1)).transpose(1, 2)


def _pairs(data: Path, codec: MotionCodec) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(user features (T, Dm + 320), avatar mel (T, 320), avatar motion (T, Dm)) per training (session, avatar)."""
    out = []
    for d in progress(list_sessions(data, "train"), desc="features", unit="session"):
        feats = {w: (np.asarray(participant_motion(d, w, codec)), np.asarray(participant_mel(d, w))) for w in "AB"}
        for who, user in (("A", "B"), ("B", "A")):
            out.append((np.concatenate(feats[user], axis=1), feats[who][1], feats[who][0]))
    return out


def train(pairs, d_out: int, steps: int, latency: int, seed: int, window: int = 200, batch: int = 16
          ) -> CausalPredictor:
    rng = random.Random(seed)
    torch.manual_seed(seed)
    net = CausalPredictor(pairs[0][0].shape[1], d_out, latency=latency)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
    bar = progress(range(steps), desc="train predictor", unit="step")
    for step in bar:
        picks = [rng.randrange(len(pairs)) for _ in range(batch)]
        starts = [rng.randrange(len(pairs[i][2]) - window) for i in picks]
        u, a, y = (torch.from_numpy(np.stack([pairs[i][k][s:s + window] for i, s in zip(picks, starts)])).float()
                   for k in range(3))
        loss = ((net(u, a) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
    return net.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--codec", required=True, help="the motion codec of the corpus' model (codec.safetensors)")
    ap.add_argument("--sessions", nargs="+", required=True, help="evaluated session ids of the test split")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--latency", type=int, default=1, help="frames between the user and what the avatar reads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/upper_bound")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    codec = MotionCodec.load(args.codec)
    net = train(_pairs(Path(args.data), codec), codec.dim, args.steps, args.latency, args.seed)
    cfg = EvalConfig(sessions=tuple(args.sessions), samples=1, video_seconds=0, curves=0)
    inputs = load_inputs(Path(args.data), cfg)
    gens = []
    with torch.no_grad():
        for inp in inputs:
            user = np.concatenate([motion_of(inp, inp.user, codec), inp.user_mel], axis=1)
            audio = np.array(inp.avatar_mel, np.float32)                    # a writable copy of the memory map
            pred = net(torch.from_numpy(user.astype(np.float32))[None], torch.from_numpy(audio)[None])
            gens.append(Generated(pred.numpy().astype(np.float32), ()))
    expert = _expert(cfg)
    results = {GT: score_variant(inputs, [Generated(motion_of(i, i.who, codec)[None], ()) for i in inputs],
                                 codec, expert, cfg),
               "causal predictor": score_variant(inputs, gens, codec, expert, cfg)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", {"results": results, "args": vars(args)})
    print(f"\nReaction upper bound: {len(inputs)} (session, avatar) inputs, predictor latency {args.latency} "
          f"frame(s), {args.steps} steps, {time.perf_counter() - t0:.0f} s, load average "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| | " + " | ".join(label for _, _, label in METRICS) + " |")
    print("|---" * (len(METRICS) + 1) + "|")
    for name, res in results.items():
        print(f"| {name} | " + " | ".join(f"{res.get(seg, {}).get(m, float('nan')):.3g}" for seg, m, _ in METRICS)
              + " |")


if __name__ == "__main__":
    main()
