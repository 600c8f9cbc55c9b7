#!/usr/bin/env bash
# Start a JACK server with the dummy backend (no sound card needed) unless one already runs, and
# wait until it answers. Usage: scripts/jack.sh start [PERIOD] | stop
set -euo pipefail
cmd=${1:-start}
period=${2:-64}
pidfile=${SIDEMAN_JACK_PIDFILE:-/tmp/sideman-jackd.pid}
case "$cmd" in
  start)
    if jack_lsp >/dev/null 2>&1; then echo "jack: a server is already running"; exit 0; fi
    jackd --no-realtime -d dummy -r 48000 -p "$period" >/tmp/sideman-jackd.log 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
      if jack_lsp >/dev/null 2>&1; then echo "jack: dummy backend up (48 kHz, period $period)"; exit 0; fi
      sleep 0.1
    done
    echo "jack: server did not answer within 10 s; log:" >&2; cat /tmp/sideman-jackd.log >&2; exit 1 ;;
  stop)
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi ;;
esac
