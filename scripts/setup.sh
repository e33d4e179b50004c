#!/usr/bin/env bash
# Idempotent setup: Debian packages, .venv, torch (CPU), mediapipe (no deps), the package.
# A second run only checks a stamp and returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
PY=${PYTHON:-python3}
STAMP="$VENV/.echo-ihg-setup"
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)

apt_packages=(espeak-ng libespeak-ng1 chromium)  # chromium: the serve browser test (headless)
# real recorded human speech for bench/listening_check.py: alsa-utils ships /usr/share/sounds/alsa/*.wav
# ("Front Center", ...); pocketsphinx-testdata ships LibriVox read speech (test/data/librivox/*.wav)
apt_packages+=(alsa-utils pocketsphinx-testdata)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && "$VENV/bin/python" -c "import echo_ihg" 2>/dev/null; then
  echo "[setup] up to date"
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip_install() {
  # This machine's pip config lists local mirrors that print one warning per package; keep real errors.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1 \
    | { grep -v -e "^WARNING: Location 'file:" -e "requires .*, which is not installed" -e "^ERROR: pip's dependency resolver" || true; }
  return "${PIPESTATUS[0]}"
}
echo "[setup] torch (CPU build)"
pip_install torch==2.13.0
echo "[setup] mediapipe 0.10.21 (no deps: newer releases bundle no face models)"
pip_install --no-deps mediapipe==0.10.21
echo "[setup] echo-ihg and its dependencies"
pip_install -e ".[dev]"
echo "$want" > "$STAMP"
echo "[setup] done"
