#!/usr/bin/env bash
# Install everything Sideman's tests and training need on a fresh Debian/Ubuntu machine.
#   system: JACK (a real MIDI server) and Debian's JACK MIDI tools (clock, dump, latency test)
#           and FluidSynth with a General MIDI SoundFont (`--wav`, `sideman demo`'s audio)
#   python: torch 2.13.0 (CPU) first, so the project's torch range is already satisfied and no
#           CUDA build is ever pulled; then the project with its train and dev extras.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v jackd >/dev/null || ! command -v jack_midi_clock >/dev/null || ! command -v fluidsynth >/dev/null \
   || [ ! -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends jackd2 jack-midi-clock fluidsynth fluid-soundfont-gm >/dev/null
  else
    echo "setup: JACK or FluidSynth is missing; install jackd2, jack-midi-clock, fluidsynth and fluid-soundfont-gm" \
         "(JACK and audio tests will be skipped)" >&2
  fi
fi

PY=${PYTHON:-python3}
"$PY" -m pip install -q torch==2.13.0
"$PY" -m pip install -q -e '.[train,dev]'
