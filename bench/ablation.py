#!/usr/bin/env python
"""ECHO's ablation table on the synthetic corpus: train (or load cached) ECHO and each ablation/baseline with
the same budget and seeds, evaluate all of them on the same test split, print mean ± std over seeds.

    .venv/bin/python bench/ablation.py                                   # full budget (hours on 2 CPU cores)
    .venv/bin/python bench/ablation.py --tiny                            # minutes: proves the pipeline end to end
    .venv/bin/python bench/ablation.py --corpus data/synth --steps1 1500 --steps2 500 --seeds 0 1 2 \\
        --size small --runs runs/ablation --samples 3

Rows: GT (ground truth scored as a prediction), audio-only, short-window fusion (user cues of the last 2 s),
w/o LPE, w/o HBCU, w/o LAU, w/o SDCM (entangled fusion), ECHO (`model.config.ModelConfig` switches).
Each variant is trained by the project's trainer (`echo_ihg.train.trainer.train`): stage 1 (self-audio talking)
then stage 2 (user branch) initialised from its own stage 1, both with the seed of the row's seed; every
variant gets the same steps, batch and data. Trained models are cached under RUNS/<seed>/<variant>/ and reused
when their resolved training configuration is unchanged. Evaluation: `echo_ihg.eval.runner.run_evaluation`
per seed (sampling seed = training seed), all variants on the same inputs; reports go to RUNS/eval_<seed>/.

With --stage1 DIR every row and seed starts stage 2 from one trained stage-1 model (e.g. the default model's
stage 1): the rows differ only in what ECHO adds in stage 2, stage 1 is paid once, and the seeds vary the
stage-2 initialisation of the user branch, the data order and sampling. "w/o SDCM" starts from the same weights
with SDCM replaced by the entangled fusion, whose one cross-attention starts as SDCM's audio attention.

Columns (docs/metrics.md): rPCC↓ SID↑ Var↑ FD↓ on expression codes over all frames; LSE-D↓ LSE-C↑ of the
motion sync expert on the avatar's speaking frames; FRCorr↑ FRSyn↓ (REACT, 10-s windows); lip sync during
overlapped speech: LSE-D on the overlap segment and the lips' correlation with the avatar's own audio envelope
on overlapped frames. A second table gives the dependency metrics of docs/synth.md (`eval.dependencies`).
The tables are also written to RUNS/table.md and the numbers to RUNS/results.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

VARIANTS: dict[str, dict] = {            # row name -> ModelConfig overrides (the paper's table order)
    "audio-only": {"audio_only": True},
    "short-window fusion": {"short_window_frames": 50},
    "w/o LPE": {"use_lpe": False},
    "w/o HBCU": {"use_hbcu": False},
    "w/o LAU": {"use_lau": False},
    "w/o SDCM": {"use_sdcm": False},
    "ECHO": {},
}
MAIN = [("rPCC↓", "all", "rPCC_expression"), ("SID↑", "all", "SID_expression"), ("Var↑", "all", "Var_expression"),
        ("FD↓", "all", "FD_expression"), ("LSE-D↓", "speaking", "LSE-D"), ("LSE-C↑", "speaking", "LSE-C"),
        ("FRCorr↑", "all", "FRCorr"), ("FRSyn↓", "all", "FRSyn"), ("ovl LSE-D↓", "overlap", "LSE-D"),
        ("ovl lip corr↑", "dependencies", "overlap_lip_corr")]
DEPS = [("long-range↑", "dependencies", "long_range_partial"), ("(chance)", "dependencies", "long_range_control"),
        ("affect, text only↑", "dependencies", "affect_follow_text"), ("affect↑", "dependencies", "affect_follow"),
        ("ovl lip leak↓", "dependencies", "overlap_lip_leak"), ("nods↑", "dependencies", "nod_response"),
        ("smile mirror↑", "dependencies", "smile_mirror"), ("brows at Q↑", "dependencies", "brow_question"),
        ("gate listen", "listening", "SDCM_gate"), ("gate speak", "speaking", "SDCM_gate")]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default=None, help="synthetic corpus (generated into RUNS/corpus if absent)")
    p.add_argument("--sessions", type=int, default=45, help="sessions of a generated corpus")
    p.add_argument("--seconds", type=float, default=240.0,
                   help="seconds per generated session (4 min: the long-range column needs them, docs/synth.md)")
    p.add_argument("--runs", default="runs/ablation", help="cache of trained models, reports and tables")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--stage1", default=None,
                   help="a trained stage-1 model folder shared by every row and seed (stage 1 is then not "
                        "trained; seeds vary stage 2 and sampling); its codec and size are used")
    p.add_argument("--steps1", type=int, default=1500, help="stage-1 steps per variant")
    p.add_argument("--steps2", type=int, default=500, help="stage-2 steps per variant")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", default="small", choices=("tiny", "small"))
    p.add_argument("--text-encoder", default="minilm", choices=("minilm", "hashing"))
    p.add_argument("--describe", type=int, default=None, help="frames the behaviour describer looks back "
                   "(default 60 s)")
    p.add_argument("--samples", type=int, default=3, help="generations per test input")
    p.add_argument("--eval-steps", type=int, default=6, help="sampler steps per chunk")
    p.add_argument("--max-sessions", type=int, default=0, help="test sessions to evaluate (0 = all)")
    p.add_argument("--test-sessions", nargs="+", default=[],
                   help="evaluate these test session ids (e.g. to include masked-face ones); default all")
    p.add_argument("--participants", nargs="+", default=["A", "B"], choices=["A", "B"],
                   help="who may be the avatar in evaluation")
    p.add_argument("--user-lr-mult", type=float, default=None, help="stage-2 lr multiplier of the user branch "
                                                                   "(default: TrainConfig's)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--video-seconds", type=float, default=10.0, help="example video of the first seed's report")
    p.add_argument("--tiny", action="store_true",
                   help="tiny budget: 6 sessions x 24 s, tiny model, 4+4 steps, 2 samples, 2 sampler steps")
    args = p.parse_args(argv)
    if args.tiny:      # tiny defaults; flags given explicitly still win
        p.set_defaults(sessions=6, seconds=24.0, steps1=4, steps2=4, batch=4, size="tiny", text_encoder="hashing",
                       describe=250, samples=2, eval_steps=2, video_seconds=4.0)
        args = p.parse_args(argv)
    return args


def ensure_corpus(args) -> Path:
    from echo_ihg.synth.generate import SynthConfig, generate_corpus

    root = Path(args.corpus) if args.corpus else Path(args.runs) / "corpus"
    if not (root / "manifest.json").is_file():
        test_every = 3 if args.sessions < 10 else 5          # a tiny corpus still needs ≥ 2 test sessions
        print(f"[ablation] generating the corpus: {args.sessions} sessions x {args.seconds:.0f} s -> {root}")
        generate_corpus(root, SynthConfig(sessions=args.sessions, seconds=args.seconds, seed=0, workers=2,
                                          test_every=test_every))
    return root


def train_config(args, overrides: dict, seed: int, stage: int):
    from echo_ihg.data.windows import DataConfig
    from echo_ihg.model.config import ModelConfig
    from echo_ihg.train.config import TrainConfig

    model = ModelConfig(size=args.size, **overrides)
    codec = ""
    if args.stage1:     # the shared stage-1 model fixes the size and the codec
        stage1 = json.loads((Path(args.stage1) / "model.json").read_text())
        model = ModelConfig(**{**stage1["model"]["cfg"], **overrides, "user_branch": True})
        codec = str(Path(args.stage1) / "codec.safetensors")
    data = DataConfig() if args.describe is None else DataConfig(describe_frames=args.describe)
    if args.tiny:
        data = dataclasses.replace(data, shards=2, stride=10)
    extra = {} if args.user_lr_mult is None else {"user_lr_mult": args.user_lr_mult}
    return TrainConfig(stage=stage, model=model, data=data, codec=codec, text_encoder=args.text_encoder,
                       batch=args.batch, **extra,
                       steps=args.steps1 if stage == 1 else args.steps2, seed=seed,
                       warmup=min(100, max(1, (args.steps1 if stage == 1 else args.steps2) // 10)),
                       ckpt_interval=max(args.steps1, args.steps2), log_interval=max(1, args.steps2 // 10))


def entangled_init(stage1: Path, dest: Path) -> Path:
    """The shared stage-1 model with SDCM swapped for the entangled fusion ("w/o SDCM"), written to dest.

    In stage 1 (user branch off) SDCM's output is its audio attention h_avt, scaled per token by the gate; the
    entangled fusion's one cross-attention over [audio window; user tokens] starts as that audio attention
    (same weights), so "w/o SDCM" starts stage 2 from the same stage-1 training as every other row.
    """
    import shutil

    from echo_ihg.model.config import ModelConfig
    from echo_ihg.model.echo import EchoModel
    from echo_ihg.model.checkpoint import load_model
    from echo_ihg.utils.atomic import atomic_dir, write_json

    if (dest / "model.json").is_file():
        return dest
    src, _, meta = load_model(stage1)
    args = src.constructor_args()
    cfg = dataclasses.replace(src.cfg, use_sdcm=False)
    model = EchoModel(args["layout"], args["centres"], cfg)
    weights = {k.replace(".fusion.attn_avt.", ".fusion.attn."): v for k, v in src.state_dict().items()
               if ".fusion." not in k or ".fusion.attn_avt." in k}
    model.load_state_dict(weights, strict=True)
    from safetensors.torch import save_file

    with atomic_dir(dest) as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
        for f in ("codec.safetensors", "codec.json"):
            shutil.copy2(stage1 / f, tmp / f)
        write_json(tmp / "model.json", {**meta, "model": model.constructor_args(),
                                        "note": f"bench/ablation.py: {stage1} with SDCM -> entangled fusion"})
    return dest


def shared_stage1(args, name: str) -> Path:
    """The stage-1 model every row starts stage 2 from (--stage1); w/o SDCM gets its entangled copy."""
    stage1 = Path(args.stage1)
    if not VARIANTS[name].get("use_sdcm", True):
        return entangled_init(stage1, Path(args.runs) / "stage1_entangled")
    return stage1


def trained_model(args, corpus: Path, name: str, seed: int) -> Path:
    """RUNS/<seed>/<variant>/stage2/model: trained now unless cached with the same configuration."""
    from echo_ihg.train.checkpoint import export_model, latest_checkpoint
    from echo_ihg.train.trainer import train
    from echo_ihg.utils.config import config_to_dict

    base = Path(args.runs) / f"seed{seed}" / name.replace("/", "_").replace(" ", "_")
    init = shared_stage1(args, name) if args.stage1 else None
    for stage in ((2,) if args.stage1 else (1, 2)):
        cfg = train_config(args, VARIANTS[name], seed, stage)
        run = base / f"stage{stage}"
        model_dir = run / "model"
        meta = model_dir / "model.json"
        if meta.is_file() and json.loads(meta.read_text()).get("train_config") == json.loads(
                json.dumps(config_to_dict(cfg))):
            init = model_dir
            continue
        t0 = time.perf_counter()
        result = train(corpus, run, cfg, init=init, resume=latest_checkpoint(run) is not None)
        if result.checkpoint is None:
            sys.exit(f"[ablation] {name} seed {seed} stage {stage}: training produced no checkpoint")
        export_model(result.checkpoint, model_dir)
        last = next((x for x in reversed(result.losses) if x == x), float("nan"))
        print(f"[ablation] trained {name:20s} seed {seed} stage {stage}: {result.step} steps, last loss "
              f"{last:.4f}, {time.perf_counter() - t0:.0f} s")
        init = model_dir
    return base / "stage2" / "model"


def evaluate_seed(args, corpus: Path, seed: int, models: dict[str, Path]) -> dict:
    from echo_ihg.eval.runner import EvalConfig, Variant, run_evaluation
    from echo_ihg.inference.config import GenerationConfig

    cfg = EvalConfig(GenerationConfig(steps=args.eval_steps, seed=seed, size=256), samples=args.samples,
                     max_sessions=args.max_sessions, sessions=tuple(args.test_sessions),
                     participants=tuple(args.participants),
                     video_seconds=args.video_seconds if seed == args.seeds[0] else 0.0)
    out = Path(args.runs) / f"eval_seed{seed}"
    cached = cached_results(out, cfg, models)
    if cached is not None:
        print(f"[ablation] seed {seed}: evaluation cached in {out}")
        return cached
    res = run_evaluation(corpus, [Variant(n, p) for n, p in models.items()], out, cfg,
                         notes=[f"bench/ablation.py, seed {seed}: {args.stage1 or args.steps1}+{args.steps2} "
                                f"steps, batch "
                                f"{args.batch}, size {args.size}"])
    print(f"[ablation] seed {seed}: evaluated {len(models)} variants on {len(res.items)} inputs in "
          f"{res.seconds:.0f} s -> {res.report}")
    return res.results


def cached_results(out: Path, cfg, models: dict[str, Path]) -> dict | None:
    """The results of an earlier evaluation of exactly these models (same trained weights, same evaluation
    configuration), so that seeds can run in parallel processes and one last run only assembles the table."""
    from echo_ihg.utils.config import config_to_dict

    metrics = out / "metrics.json"
    if not metrics.is_file():
        return None
    stored = json.loads(metrics.read_text())
    conf = stored.get("config", {})
    same_eval = {k: v for k, v in conf.get("eval", {}).items() if k != "video_seconds"} == {
        k: v for k, v in json.loads(json.dumps(config_to_dict(cfg))).items() if k != "video_seconds"}
    ckpts = {n: v.get("checkpoint") for n, v in conf.get("variants", {}).items()}
    fresh = all(metrics.stat().st_mtime > (p / "model.safetensors").stat().st_mtime for p in models.values())
    if same_eval and fresh and ckpts == {n: str(p) for n, p in models.items()}:
        return stored["results"]
    return None


def aggregate(per_seed: list[dict], rows: list[str], cols) -> dict[str, list[tuple[float, float, int]]]:
    """row -> [(mean, std, n) per column] over seeds (NaN/absent values left out)."""
    out = {}
    for row in rows:
        cells = []
        for _, seg, metric in cols:
            vals = [r[row].get(seg, {}).get(metric) for r in per_seed if row in r]
            vals = [float(v) for v in vals if v is not None and math.isfinite(v)]
            cells.append((float(np.mean(vals)), float(np.std(vals)), len(vals)) if vals else
                         (float("nan"), float("nan"), 0))
        out[row] = cells
    return out


def table(title: str, agg: dict, cols) -> str:
    head = "| " + " | ".join(["", *[c[0] for c in cols]]) + " |"
    lines = [f"**{title}**", "", head, "|" + "---|" * (len(cols) + 1)]
    for row, cells in agg.items():
        fmt = [("–" if n == 0 else f"{m:.3g} ± {s:.2g}") for m, s, n in cells]
        lines.append("| " + " | ".join([row, *fmt]) + " |")
    return "\n".join(lines)


def _finite(obj):
    """JSON-safe copy (NaN -> null)."""
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return None if isinstance(obj, float) and not math.isfinite(obj) else obj


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(1)        # small models on a shared machine: 1 thread avoids contention
    t0 = time.perf_counter()
    corpus = ensure_corpus(args)
    per_seed = []
    for seed in args.seeds:
        models = {name: trained_model(args, corpus, name, seed) for name in args.variants}
        per_seed.append(evaluate_seed(args, corpus, seed, models))
    rows = ["GT", *args.variants]
    stages = f"shared stage 1 {args.stage1} + {args.steps2}" if args.stage1 else f"{args.steps1}+{args.steps2}"
    budget = (f"budget: {stages} steps x batch {args.batch}, size {args.size}, "
              f"seeds {args.seeds}, {args.samples} samples x {args.eval_steps} sampler steps; corpus {corpus}"
              + ("  [TINY BUDGET: plumbing check, the numbers mean nothing]" if args.tiny else ""))
    text = "\n\n".join([budget, table("ECHO's table (mean ± std over seeds)", aggregate(per_seed, rows, MAIN), MAIN),
                        table("Dependency metrics (docs/synth.md)", aggregate(per_seed, rows, DEPS), DEPS)])
    print(text)
    runs = Path(args.runs)
    from echo_ihg.utils.atomic import write_json, write_text

    write_text(runs / "table.md", text + "\n")
    write_json(runs / "results.json", _finite({"args": vars(args), "per_seed": per_seed}))
    print(f"[ablation] done in {time.perf_counter() - t0:.0f} s; {runs / 'table.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
