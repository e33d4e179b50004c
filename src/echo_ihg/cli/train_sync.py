"""`echo-ihg train-sync --data ROOT -o sync_expert.safetensors`: train the motion lip-sync expert.

Trains on the sessions of ROOT/<split> (default train): each participant's own log-mel and lips/jaw
motion codes (the motion codec's `lips_jaw` block; codes are cached next to the sessions). Then
validates on ROOT/<val-split> (default test, or val if present): ground truth vs. the same lips shifted
by 10 frames vs. lips paired with another session's audio. Writes the weights (.safetensors), a .json
with config, training info and validation scores, and the resolved training config (.config.json).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from echo_ihg.errors import InputError
from echo_ihg.utils.config import add_config_arguments, dump_config, load_config

log = logging.getLogger(__name__)


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train-sync", help="train the lip-sync expert behind LSE-D / LSE-C",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="example:\n  echo-ihg train-sync --data data/synth -o sync_expert.safetensors --steps 1500")
    p.add_argument("--data", required=True, help="root of a session corpus (with train/ and test/ or val/)")
    p.add_argument("-o", "--out", required=True, help="output weights (.safetensors); a .json is written next to it")
    p.add_argument("--split", default="train", help="training split (default train)")
    p.add_argument("--val-split", default=None, help="validation split (default: val if present, else test)")
    p.add_argument("--codec", default=None, help="motion codec file (default: the bundled codec)")
    p.add_argument("--steps", type=int, default=None, help="training steps (overrides the config)")
    add_config_arguments(p, "SyncTrainConfig", "batch=128")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from echo_ihg.eval.sync_train import (SyncTrainConfig, corpus_info, load_clips, train_sync_expert,
                                          validate_sync_expert)
    from echo_ihg.motion.codec import MotionCodec, default_codec

    cfg = load_config(SyncTrainConfig, args.config, args.overrides, flags={"steps": args.steps})
    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise InputError(out, "the sync expert file name must end in .safetensors")
    root = Path(args.data)
    if not root.is_dir():
        raise InputError(root, "data folder not found")
    val_split = args.val_split or ("val" if (root / "val").is_dir() else "test")
    codec = MotionCodec.load(args.codec) if args.codec else default_codec()
    train = load_clips(root, args.split, codec, cfg.speech_threshold)
    val = load_clips(root, val_split, codec, cfg.speech_threshold)
    model, info = train_sync_expert(train, cfg)
    info["validation"] = {"split": val_split, **validate_sync_expert(model, val)}
    info["data"] = str(root.resolve())
    info["corpus"] = corpus_info(root)
    # evaluation converts other codecs' lips into this one (eval.sync_expert.expert_lips); "" = the default
    info["codec"] = str(Path(args.codec).resolve()) if args.codec else ""
    model.save(out, info)
    dump_config(cfg, out.with_suffix(".config.json"))
    v = info["validation"]
    print(f"sync expert trained on {info['clips']} clips in {info['seconds']} s -> {out}\n"
          f"  {val_split}: LSE-D gt {v['gt']['lse_d']:.3f} | mismatched audio {v['mismatched']['lse_d']:.3f}; "
          f"LSE-C gt {v['gt']['lse_c']:.3f} | mismatched {v['mismatched']['lse_c']:.3f}; "
          f"d(0) gt {v['gt']['d_zero']:.3f} | shifted 10 {v['shifted']['d_zero']:.3f}; "
          f"offset found: gt {100 * v['gt']['offset_hits']:.0f}%, shifted {100 * v['shifted']['offset_hits']:.0f}%")
    log.debug(json.dumps(info))
    return 0
