#!/usr/bin/env bash
# Set up the live bridge (runtime dependencies only: no torch) and start it with the defaults.
# On Linux without an ALSA sequencer (no /dev/snd/seq, e.g. a server or container) it uses JACK,
# starting a dummy-backend JACK server if one is installed and none runs.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -m pip install -q -e .
if [ "$(uname)" = Linux ] && [ ! -e /dev/snd/seq ] && command -v jackd >/dev/null && ! jack_lsp >/dev/null 2>&1; then
  bash scripts/jack.sh start
fi
exec sideman run "$@"
