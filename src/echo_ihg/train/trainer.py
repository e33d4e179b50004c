"""The training loop: data shards, AdamW with warm-up + cosine, EMA, gradient clipping, NaN guard, checkpoints.

    result = train(data_root, run_dir, TrainConfig(stage=1, ...))                       # fresh
    result = train(data_root, run_dir2, TrainConfig(stage=2, ...), init=stage1_ckpt)    # stage 2
    result = train(data_root, run_dir, cfg, resume=True)                                # after a kill

Determinism (exact resume, world-size independence): the batch of step n is a function of (seed, n) only
(`data.windows.ShardedBatchSampler`); diffusion times, noise and condition dropout of step n are drawn for
the whole global batch from a generator seeded with (seed, n) and each rank takes its rows; the learning rate
and EMA decay are functions of n. A checkpoint therefore holds everything needed to continue bit-exactly.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from echo_ihg.constants import IDENTITY_DIM
from echo_ihg.data.streams import StreamBatchSampler
from echo_ihg.data.windows import ShardedBatchSampler, WindowDataset, WindowSpec, hash_seed
from echo_ihg.errors import EchoError, InputError
from echo_ihg.model.affect import LexiconAffect
from echo_ihg.model.checkpoint import load_model
from echo_ihg.model.describe import BehaviourDescriber
from echo_ihg.model.diffusion import region_weights
from echo_ihg.model.echo import EchoModel
from echo_ihg.model.sdcm import canonical_centres
from echo_ihg.model.text_encoder import make_text_encoder
from echo_ihg.motion.codec import MotionCodec, default_codec
from echo_ihg.train import checkpoint as ck
from echo_ihg.train.config import TrainConfig
from echo_ihg.model.lcu import LPEState
from echo_ihg.model.ssm import MambaState
from echo_ihg.train.dist import DistInfo, all_gather_cat, all_mean, barrier, init_distributed
from echo_ihg.train.losses import Denoiser, chunk_loss
from echo_ihg.utils.atomic import write_text
from echo_ihg.utils.config import config_from_dict, config_to_dict, dump_config
from echo_ihg.utils.progress import progress

log = logging.getLogger(__name__)
LOG_NAME = "train_log.jsonl"
# TrainConfig fields that may change when a run is resumed (they do not change what is computed)
RESUMABLE_CHANGES = {"steps", "log_interval", "ckpt_interval", "keep_checkpoints", "workers", "max_nan_skips"}


@dataclass
class TrainResult:
    run_dir: Path
    step: int                                   # steps completed
    losses: list[float] = field(default_factory=list)   # global loss of each step run in this call (NaN = skipped)
    checkpoint: Path | None = None
    nan_skips: int = 0
    samples_per_s: float = 0.0


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to cfg.lr, then cosine decay to cfg.lr × min_lr_ratio at cfg.steps."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    span = max(cfg.steps - cfg.warmup, 1)
    frac = min((step - cfg.warmup) / span, 1.0)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))


def step_draws(cfg: TrainConfig, step: int, shape: tuple[int, int, int]) -> tuple[torch.Tensor, ...]:
    """Diffusion times (B,), noise (B, T, Dm), CFG drop mask (B,) and known user horizon (B,) (`model.lcu`: with
    p = full_known_p all of the window, else uniform in [−user_lag_max, T]) of the *global* batch of one step."""
    g = torch.Generator().manual_seed(hash_seed(cfg.seed, 7919, step))
    t = torch.rand(shape[0], generator=g)
    noise = torch.randn(shape, generator=g)
    drop = torch.rand(shape[0], generator=g) < cfg.cond_drop
    t_len, lag = shape[1], cfg.model.user_lag_max
    partial = torch.randint(-lag, t_len + 1, (shape[0],), generator=g)
    known = torch.where(torch.rand(shape[0], generator=g) < cfg.full_known_p, t_len, partial)
    return t, noise, drop, known


def _param_groups(model: EchoModel, cfg: TrainConfig) -> list[dict]:
    """AdamW groups: (stage-2 user branch | rest) × (decayed matrices | undecayed vectors), each with lr_mult."""
    user = {id(p) for p in model.user_parameters()} if cfg.stage == 2 else set()

    def lr_mult(is_user: bool) -> float:
        return 1.0 if cfg.stage == 1 else cfg.user_lr_mult if is_user else cfg.base_lr_mult

    groups: dict[tuple[bool, bool], list] = {}
    for p in model.parameters():
        is_user = id(p) in user
        if lr_mult(is_user) == 0.0:
            p.requires_grad_(False)      # frozen stage-1 path
            continue
        groups.setdefault((is_user, p.dim() >= 2), []).append(p)
    return [{"params": ps, "lr_mult": lr_mult(u), "weight_decay": cfg.weight_decay if decay else 0.0}
            for (u, decay), ps in sorted(groups.items())]


def _user_keys(model: EchoModel) -> set[str]:
    ids = {id(p) for p in model.user_parameters()}
    return {k for k, p in model.named_parameters() if id(p) in ids}


# ModelConfig switches that only change the user branch (LCU, SDCM's user attention), which stage 2 starts
# fresh anyway: every ablation of the user side can start from the same stage-1 model (bench/ablation.py).
USER_BRANCH_SWITCHES = ("user_branch", "use_lpe", "use_hbcu", "use_lau", "audio_only", "short_window_frames",
                        "gca_gate_init")


def _init_from(model: EchoModel, init: Path) -> MotionCodec:
    """Stage 2 from a stage-1 checkpoint or exported model: its (EMA) weights; the user branch stays fresh."""
    src, codec, meta = load_model(init)
    mine, theirs = model.constructor_args(), src.constructor_args()
    inert = dict.fromkeys(USER_BRANCH_SWITCHES)
    if mine["layout"] != theirs["layout"] or {**mine["cfg"], **inert} != {**theirs["cfg"], **inert}:
        raise InputError(init, "the initial checkpoint's model differs from this stage's model "
                               "(size, chunk, layout or SDCM); only the user branch may differ")
    missing, unexpected = model.load_state_dict(src.state_dict(), strict=False)
    stray = set(missing) - _user_keys(model)
    if unexpected or stray:
        raise InputError(init, f"weights do not fit: unexpected {sorted(unexpected)[:3]}, "
                               f"missing non-user {sorted(stray)[:3]}")
    return codec


def _check_resume(cfg: TrainConfig, stored: dict, ckpt: Path) -> None:
    mine = config_to_dict(cfg)
    diff = sorted(k for k in set(mine) | set(stored) if mine.get(k) != stored.get(k) and k not in RESUMABLE_CHANGES)
    if diff:
        raise InputError(ckpt, f"cannot resume with a different configuration ({', '.join(diff)} changed)")


def _trim_log(path: Path, upto: int) -> None:
    """On resume: drop log lines of steps after the checkpoint (they will be run again)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= upto:
                keep.append(line)
        except json.JSONDecodeError:
            continue            # a line cut by the kill
    write_text(path, "".join(s + "\n" for s in keep))


class Trainer:
    def __init__(self, data_root: str | Path, run_dir: str | Path, cfg: TrainConfig, init: str | Path | None = None,
                 resume: bool = False, info: DistInfo | None = None):
        self.info = info or init_distributed()
        self.run_dir, self.cfg = Path(run_dir), cfg
        torch.manual_seed(cfg.seed)
        mcfg = cfg.model_config()
        if mcfg.identity_dim != IDENTITY_DIM:
            raise InputError(None, f"model.identity_dim must be {IDENTITY_DIM} (the identity vector of "
                                   f"data.train_features), got {mcfg.identity_dim}")
        ckpt = ck.latest_checkpoint(self.run_dir) if resume else None
        if resume and ckpt is None:
            log.warning("%s: no checkpoint to resume from, starting afresh", self.run_dir)
        self.codec = MotionCodec.load(cfg.codec) if cfg.codec else default_codec()
        self.model = EchoModel(self.codec.layout, canonical_centres(), mcfg)
        if ckpt is None and init is not None:
            self.codec = _init_from(self.model, Path(init))
        elif ckpt is None and cfg.stage == 2:
            log.warning("stage 2 without --init: the stage-1 path starts from random weights")
        self.step, self.nan_skips = 0, 0
        self.carry_global: dict[str, torch.Tensor] | None = None     # streams' scan states (global rows)
        if ckpt is not None:
            self._restore(ckpt)
        self.model.to(self.info.device)
        self.opt = torch.optim.AdamW(_param_groups(self.model, cfg), lr=cfg.lr, betas=cfg.betas)
        self.ema = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        if ckpt is not None:
            self.opt.load_state_dict(self._state["optimizer"])
            self.ema = {k: v.to(self.info.device) for k, v in ck.load_weights(ckpt / "ema.safetensors").items()}
        self.weights = region_weights(self.codec.layout, cfg.region_weights).to(self.info.device)

    def _restore(self, ckpt: Path) -> None:
        meta = ck.read_checkpoint_json(ckpt)
        _check_resume(self.cfg, meta["train_config"], ckpt)
        self.codec = MotionCodec.load(ckpt / "codec.safetensors")
        self.model = EchoModel.from_args(meta["model"])
        self.model.load_state_dict(ck.load_weights(ckpt / "model.safetensors"))
        self._state = ck.load_trainer_state(ckpt)
        self.step, self.nan_skips = int(meta["step"]), int(self._state["nan_skips"])
        self.carry_global = self._state.get("lpe_carry")
        torch.set_rng_state(self._state["rng"])
        log.info("resuming %s at step %d", ckpt, self.step)

    def dataset(self) -> WindowDataset:
        spec = WindowSpec.for_model(self.model.cfg, self.cfg.data)
        return WindowDataset(self.data_root, spec, self.codec, make_text_encoder(self.cfg.text_encoder),
                             self.cfg.text_encoder, BehaviourDescriber(), LexiconAffect(),
                             self.info.rank, self.info.world)

    def _gather_carry(self, carry: LPEState | None, rows: torch.Tensor) -> None:
        """The streams' scan states of all ranks in global row order (what a checkpoint keeps)."""
        if carry is None:
            return
        b, k = len(rows), self.model.lcu.lpe.k
        local = {"audio_conv": carry.audio.conv, "audio_ssm": carry.audio.ssm,
                 "motion_conv": carry.motion.conv.view(b, k, *carry.motion.conv.shape[1:]),
                 "motion_ssm": carry.motion.ssm.view(b, k, *carry.motion.ssm.shape[1:])}
        order = all_gather_cat(rows.to(self.info.device), self.info).cpu()
        self.carry_global = {}
        for name, x in local.items():
            full = all_gather_cat(x.detach(), self.info).cpu()
            out = torch.empty_like(full)
            out[order] = full
            self.carry_global[name] = out

    def _local_carry(self, rows: torch.Tensor) -> LPEState | None:
        g = self.carry_global
        if g is None or not self.model.uses_perception:
            return None
        dev, k = self.info.device, self.model.lcu.lpe.k
        mot = lambda x: x[rows].flatten(0, 1).to(dev)                       # (B, K, ...) -> (B·K, ...)
        return LPEState(MambaState(g["audio_conv"][rows].to(dev), g["audio_ssm"][rows].to(dev)),
                        MambaState(mot(g["motion_conv"]), mot(g["motion_ssm"])))

    def _save(self) -> Path | None:
        path = None
        if self.info.main:
            state = {"nan_skips": self.nan_skips, "rng": torch.get_rng_state()}
            if self.carry_global is not None:
                state["lpe_carry"] = self.carry_global
            path = ck.save_checkpoint(self.run_dir, self.step, self.model, self.ema, self.opt,
                                      config_to_dict(self.cfg), self.codec, state, self.cfg.keep_checkpoints)
        barrier(self.info)
        return path

    @torch.no_grad()
    def _ema_update(self) -> None:
        decay = min(self.cfg.ema_decay, (1 + self.step) / (10 + self.step))
        for k, v in self.model.state_dict().items():
            if v.dtype.is_floating_point:
                self.ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
            else:
                self.ema[k].copy_(v)

    def run(self, data_root: str | Path, stop_after: int | None = None, should_stop=lambda: False) -> TrainResult:
        """Train up to cfg.steps. stop_after: stop after that step without saving (a simulated kill);
        should_stop(): checked after each step; True saves a checkpoint and returns (SIGTERM handling)."""
        cfg, info = self.cfg, self.info
        self.data_root = Path(data_root)
        result = TrainResult(self.run_dir, self.step, nan_skips=self.nan_skips)
        if info.main:
            dump_config(cfg, self.run_dir / "config.json")
            _trim_log(self.run_dir / LOG_NAME, self.step)
        if self.step >= cfg.steps:
            result.checkpoint = ck.latest_checkpoint(self.run_dir)
            return result
        ds = self.dataset()
        # stage 2 walks conversations window after window (streams) and carries the LPE state between steps
        sampler_cls = StreamBatchSampler if cfg.stage == 2 else ShardedBatchSampler
        sampler = sampler_cls(ds, cfg.batch, cfg.seed, self.step, cfg.steps - self.step)
        loader = DataLoader(ds, batch_sampler=sampler, num_workers=cfg.workers)
        rows = torch.from_numpy(sampler.rows())
        den = net = Denoiser(self.model)
        den.carry = self._local_carry(rows)
        if self.step > 0 and cfg.stage == 2 and self.model.uses_perception and den.carry is None:
            log.warning("resuming stage 2 without the streams' scan states: rows start from zero states")
        if info.world > 1:
            net = DistributedDataParallel(net, find_unused_parameters=True)
        params = [p for p in self.model.parameters() if p.requires_grad]
        shape = (cfg.batch, self.model.cfg.chunk_frames, self.model.motion_dim)
        bar = progress(total=cfg.steps - self.step, desc=f"train stage {cfg.stage}", unit="step")
        logf = open(self.run_dir / LOG_NAME, "a") if info.main else None
        t_start, n_done = time.perf_counter(), 0
        try:
            for batch in loader:
                batch = {k: v.to(info.device) for k, v in batch.items()}
                t, noise, drop, den.known = (x[rows].to(info.device) for x in step_draws(cfg, self.step, shape))
                lr = lr_at(self.step, cfg)
                for g in self.opt.param_groups:
                    g["lr"] = lr * g["lr_mult"]
                loss, parts = chunk_loss(net, batch, t, noise, drop, self.weights, cfg.velocity_weight,
                                         cfg.listening_weight)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                gnorm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
                stats = all_mean(torch.stack([loss.detach(), *parts.values()]), info)
                ok = bool(torch.isfinite(stats).all() and torch.isfinite(gnorm))
                den.carry = den.next_carry                 # the rows' next windows continue these scans
                if ok:
                    self.opt.step()
                    self._ema_update()
                else:
                    self.nan_skips += 1
                    log.warning("step %d: non-finite loss or gradient, skipped (%d so far)", self.step,
                                self.nan_skips)
                    if self.nan_skips > cfg.max_nan_skips:
                        raise EchoError(f"training aborted: {self.nan_skips} non-finite steps "
                                        f"(max_nan_skips {cfg.max_nan_skips})")
                self.step += 1
                n_done += 1
                loss_val = float(stats[0]) if ok else float("nan")
                result.losses.append(loss_val)
                sps = n_done * cfg.batch / max(time.perf_counter() - t_start, 1e-9)
                bar.update(1)
                bar.set_postfix(loss=f"{loss_val:.4f}", samples_s=f"{sps:.1f}")
                if logf is not None and (self.step % cfg.log_interval == 0 or self.step == cfg.steps):
                    rec = {"step": self.step, "loss": loss_val, **{k: float(v) for k, v in zip(parts, stats[1:])},
                           "lr": lr, "grad_norm": float(gnorm), "samples_per_s": sps, "nan_skips": self.nan_skips,
                           "time": time.time()}
                    logf.write(json.dumps(rec) + "\n")
                    logf.flush()
                if stop_after is not None and self.step >= stop_after:
                    break
                if self.step % cfg.ckpt_interval == 0 or self.step == cfg.steps or should_stop():
                    self._gather_carry(den.carry, rows)
                    result.checkpoint = self._save()
                    if should_stop():
                        break
        finally:
            bar.close()
            if logf is not None:
                logf.close()
        result.step, result.nan_skips = self.step, self.nan_skips
        result.samples_per_s = n_done * cfg.batch / max(time.perf_counter() - t_start, 1e-9)
        return result


def train(data_root: str | Path, run_dir: str | Path, cfg: TrainConfig, init: str | Path | None = None,
          resume: bool = False, stop_after: int | None = None, should_stop=lambda: False) -> TrainResult:
    """Train one stage (see the module docstring); returns the steps done, losses and last checkpoint."""
    trainer = Trainer(data_root, run_dir, cfg, init=init, resume=resume)
    trainer.data_root = Path(data_root)
    return trainer.run(data_root, stop_after=stop_after, should_stop=should_stop)


def stored_config(run_dir: str | Path) -> TrainConfig | None:
    """The TrainConfig of a run's latest checkpoint (resume starts from it), or None."""
    ckpt = ck.latest_checkpoint(run_dir)
    if ckpt is None:
        return None
    return config_from_dict(TrainConfig, ck.read_checkpoint_json(ckpt)["train_config"], str(ckpt))

