#!/usr/bin/env bash
# README command (a): set everything up, then run the demo on the bundled model and inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/echo-ihg demo "$@"
