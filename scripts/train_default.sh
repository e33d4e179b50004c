#!/usr/bin/env bash
# Train the bundled default motion model end to end on the synthetic corpus:
#   1. synthetic corpus (echo-ihg synth; ~3 h of conversation)
#   2. motion codec fitted on its training split (echo-ihg fit-codec)
#   3. stage 1 (self-audio talking) then stage 2 (LCU + SDCM user branch) of the "small" size (echo-ihg train)
#   4. the final EMA model + its codec, resolved configs and training logs copied to DEST
#      (default src/echo_ihg/assets/default_model/).
# Budget: ≤ 60 min on the 2-core development machine, ≤ 20 MB of assets. Evaluates nothing.
#
#   bash scripts/train_default.sh                 # the real thing (do not run it on a shared, loaded machine)
#   bash scripts/train_default.sh --tiny          # minutes: tiny corpus, tiny model, 3 steps per stage; proves the
#                                                 # pipeline works; writes to WORK/default_model, not the assets
#   options: --work DIR (scratch, default runs/default_model, git-ignored) --dest DIR (where the model goes)
# Environment: SESSIONS, SECONDS_PER_SESSION, STEPS1, STEPS2, BATCH override the sizes below.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
CLI=("$PY" -m echo_ihg.cli.main)
TINY=0
WORK=runs/default_model
DEST=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tiny) TINY=1 ;;
    --work) WORK="$2"; shift ;;
    --dest) DEST="$2"; shift ;;
    *) echo "usage: $0 [--tiny] [--work DIR] [--dest DIR]" >&2; exit 2 ;;
  esac
  shift
done

if [[ $TINY == 1 ]]; then
  SESSIONS=${SESSIONS:-4}; SECONDS_PER_SESSION=${SECONDS_PER_SESSION:-20}
  STEPS1=${STEPS1:-3}; STEPS2=${STEPS2:-3}; BATCH=${BATCH:-4}
  MODEL=(--set model.size=tiny --set data.describe_frames=250 --set data.shards=2 --set text_encoder=hashing
         --set warmup=1 --set ckpt_interval=2 --set log_interval=1)
  STAGE2=()
  DEST=${DEST:-$WORK/default_model}
else
  # 45 sessions x 240 s = 3 h, in 4-min conversations so that the long-range engagement plant exists
  # (docs/synth.md). Stage 2 walks the conversations as streams (data/streams.py) with the fresh user branch
  # at 3x the learning rate. Timings of the bundled model's run: README, "Default model".
  SESSIONS=${SESSIONS:-45}; SECONDS_PER_SESSION=${SECONDS_PER_SESSION:-240}
  STEPS1=${STEPS1:-1500}; STEPS2=${STEPS2:-600}; BATCH=${BATCH:-16}
  MODEL=(--set model.size=small --set ckpt_interval=250 --set log_interval=10)
  STAGE2=(--set user_lr_mult=3 --set warmup=20)
  DEST=${DEST:-src/echo_ihg/assets/default_model}
fi
export ECHO_IHG_PROGRESS=${ECHO_IHG_PROGRESS:-1}
mkdir -p "$WORK"
start=$(date +%s)
stamp() { echo "[train_default] $(( $(date +%s) - start )) s: $*"; }

if [[ ! -f "$WORK/corpus/manifest.json" ]]; then
  stamp "synthetic corpus: $SESSIONS sessions x $SECONDS_PER_SESSION s"
  "${CLI[@]}" synth --sessions "$SESSIONS" --seconds "$SECONDS_PER_SESSION" --seed 0 -o "$WORK/corpus"
fi
if [[ ! -f "$WORK/codec.safetensors" ]]; then
  stamp "fitting the motion codec on the training split"
  "${CLI[@]}" fit-codec --data "$WORK/corpus/train" -o "$WORK/codec.safetensors"
fi
COMMON=(--data "$WORK/corpus" --set codec="$WORK/codec.safetensors" --set batch="$BATCH" "${MODEL[@]}")

stamp "stage 1: $STEPS1 steps"
RESUME1=(); [[ -d "$WORK/stage1/checkpoints" ]] && RESUME1=(--resume)
"${CLI[@]}" train --stage 1 "${COMMON[@]}" --set steps="$STEPS1" "${RESUME1[@]}" -o "$WORK/stage1"

stamp "stage 2: $STEPS2 steps from the stage-1 model"
RESUME2=(); [[ -d "$WORK/stage2/checkpoints" ]] && RESUME2=(--resume)
"${CLI[@]}" train --stage 2 "${COMMON[@]}" --set steps="$STEPS2" "${STAGE2[@]}" --init "$WORK/stage1/model" \
  "${RESUME2[@]}" \
  -o "$WORK/stage2"

stamp "copying the final EMA model to $DEST"
"$PY" - "$WORK" "$DEST" <<'EOF'
import shutil, sys
from pathlib import Path

from echo_ihg.model.checkpoint import load_model
from echo_ihg.utils.atomic import atomic_dir

work, dest = Path(sys.argv[1]), Path(sys.argv[2])
load_model(work / "stage2/model")                       # refuse to ship a model that does not load
with atomic_dir(dest) as tmp:
    for f in ("model.safetensors", "model.json", "codec.safetensors", "codec.json"):
        shutil.copy2(work / "stage2/model" / f, tmp / f)
    for stage in ("stage1", "stage2"):
        shutil.copy2(work / stage / "config.json", tmp / f"{stage}_config.json")
        shutil.copy2(work / stage / "train_log.jsonl", tmp / f"{stage}_train_log.jsonl")
size = sum(f.stat().st_size for f in dest.iterdir())
print(f"{dest}: {size / 1e6:.2f} MB")
if size > 20e6:
    sys.exit(f"the default model is {size / 1e6:.1f} MB, over the 20 MB budget")
EOF
stamp "done"
