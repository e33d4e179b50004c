"""`echo-ihg train --stage 1|2 --data DIR -o RUN_DIR [--config C.yaml] [--set key=value ...] [--init CKPT] [--resume]`

Two-stage training of the ECHO motion generator on sessions (`DIR/<split>/<session>/`, split from
`data.split`, default train). Stage 1: self-audio talking, user branch off. Stage 2: LCU + SDCM user branch on,
initialised from a stage-1 checkpoint or exported model (`--init`). Writes RUN_DIR/config.json (resolved
TrainConfig), RUN_DIR/train_log.jsonl, RUN_DIR/checkpoints/step_*/ and, when done, RUN_DIR/model/ (EMA
weights + model.json + codec: what `generate` loads). `--resume` continues bit-exactly from the latest
checkpoint (on any world size dividing data.shards). SIGTERM/SIGINT save a checkpoint and stop.

Several processes: `torchrun --standalone --nproc_per_node N -m echo_ihg.cli.main train ...` (gloo on CPU,
NCCL on GPUs; multi-node: torchrun --nnodes M --node_rank R --rdzv_endpoint HOST:PORT ...).
"""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path

from echo_ihg.errors import InputError
from echo_ihg.utils.config import add_config_arguments, load_config

log = logging.getLogger(__name__)


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train the motion generator on sessions (stage 1, then 2)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="example:\n  echo-ihg train --stage 1 --data data/synth -o runs/s1 "
                                     "--set model.size=small --set steps=1500")
    p.add_argument("--stage", type=int, choices=(1, 2), required=True)
    p.add_argument("--data", required=True, help="session root (with train/val/test splits)")
    p.add_argument("-o", "--out", required=True, help="run folder")
    add_config_arguments(p, "TrainConfig", "model.size=tiny --set steps=100")
    p.add_argument("--init", default=None, help="stage 2: stage-1 checkpoint or exported model folder")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
    p.set_defaults(run=run)
    return p


def resolve_config(stage: int, yaml_path: str | None, overrides: list[str], base=None):
    """TrainConfig from (the stored config when resuming, else the defaults) + YAML + --set + --stage."""
    from echo_ihg.train.config import TrainConfig

    try:
        return load_config(TrainConfig, yaml_path, overrides, base=base, flags={"stage": stage})
    except (ValueError, TypeError) as exc:
        raise InputError(yaml_path, f"bad training configuration: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from echo_ihg.train.checkpoint import export_model
    from echo_ihg.train.trainer import stored_config, train

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "run folder exists and is not a folder")
    base = stored_config(out) if args.resume else None
    cfg = resolve_config(args.stage, args.config, args.overrides, base)
    if args.stage == 2 and args.init is None and base is None:
        log.warning("stage 2 without --init starts from random weights")
    stop = {"flag": False}

    def on_signal(signum, _frame):
        log.warning("signal %d: saving a checkpoint after this step", signum)
        stop["flag"] = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        result = train(Path(args.data), out, cfg, init=args.init, resume=args.resume,
                       should_stop=lambda: stop["flag"])
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    import torch.distributed as dist

    main_rank = not dist.is_initialized() or dist.get_rank() == 0
    if result.step >= cfg.steps and result.checkpoint is not None and main_rank:
        export_model(result.checkpoint, out / "model")
    if main_rank:
        last = next((x for x in reversed(result.losses) if x == x), float("nan"))
        print(f"stage {cfg.stage}: {result.step}/{cfg.steps} steps, last loss {last:.4f}, "
              f"{result.samples_per_s:.1f} samples/s, {result.nan_skips} skipped; checkpoint {result.checkpoint}"
              + (f"; model {out / 'model'}" if result.step >= cfg.steps else ""))
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0
