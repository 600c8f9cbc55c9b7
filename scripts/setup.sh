#!/usr/bin/env bash
# Install everything Sideman's tests and training need on a fresh Debian/Ubuntu machine.
#   system: JACK (a real MIDI server) and Debian's JACK MIDI tools (clock, dump, latency test)
#   python: torch 2.13.0 (CPU) first, so the project's torch range is already satisfied and no
#           CUDA build is ever pulled; then the project with its train and dev extras.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v jackd >/dev/null || ! command -v jack_midi_clock >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends jackd2 jack-midi-clock >/dev/null
  else
    echo "setup: JACK is missing; install jackd2 and jack-midi-clock (JACK tests will be skipped)" >&2
  fi
fi

PY=${PYTHON:-python3}
"$PY" -m pip install -q torch==2.13.0
"$PY" -m pip install -q -e '.[train,dev]'
