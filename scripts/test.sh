#!/usr/bin/env bash
# Set up and run Sideman's tests: installs (scripts/setup.sh), starts a JACK server if none runs
# (and stops the one it started), then pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
started_jack=0
if command -v jackd >/dev/null && ! jack_lsp >/dev/null 2>&1; then
  bash scripts/jack.sh start && started_jack=1
fi
trap '[ "$started_jack" = 1 ] && bash scripts/jack.sh stop' EXIT
"${PYTHON:-python3}" -m pytest "$@"
