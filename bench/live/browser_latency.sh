#!/usr/bin/env bash
# How far a real browser player is behind a live stream: headless Chromium with hls.js in
# low-latency mode (crates/ferrocast/tests/browser/play_live.mjs) plays a stream that ffmpeg
# publishes from the benchmark source in real time, on Ferrocast's release build with its
# default segment and part durations.
#
#   ./browser_latency.sh            # RUNS=3 streams, each watched WATCH=20 s
#
# Each run prints the player's JSON report: `latency_mean_s` is hls.js's own figure (behind the
# newest media the playlist lists), `behind_ingest_mean_s` is the wall clock minus the program
# date time of the frame on screen (behind the server's receipt of the media). HLS_CONFIG (JSON)
# overrides the player's settings. Needs `npm ci --prefix crates/ferrocast/tests/browser` and
# Chromium (scripts/install-test-deps.sh installs both).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

ROOT=$(cd "$BENCH_DIR/../.." && pwd)
RUNS=${RUNS:-3}
WATCH=${WATCH:-20}
PLAYER=$ROOT/crates/ferrocast/tests/browser/play_live.mjs
[[ -s "$SRC_FILE" ]] || { log "missing $SRC_FILE; run ./make_source.sh"; exit 1; }
[[ -d "$ROOT/crates/ferrocast/tests/browser/node_modules/hls.js" ]] ||
  { log "run: npm ci --prefix crates/ferrocast/tests/browser"; exit 1; }

export STREAM_RESOLVER="$BENCH_DIR/ferrocast_resolve.sh"
"$BENCH_DIR/server_ferrocast.sh" restart >&2
pub=""
cleanup() {
  [[ -n "$pub" ]] && kill "$pub" 2>/dev/null || true
  "$BENCH_DIR/server_ferrocast.sh" stop >&2 || true
}
trap cleanup EXIT

for run in $(seq 1 "$RUNS"); do
  read -r rtmp hls < <("$STREAM_RESOLVER" "browser-$run-$$")
  ffmpeg -nostdin -hide_banner -loglevel error -re -stream_loop -1 -i "$SRC_FILE" \
    -c copy -f flv "$rtmp" &
  pub=$!
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$hls" && break
    sleep 0.1
  done
  timeout $((WATCH + 60)) node "$PLAYER" "$hls" "$WATCH" || log "run $run: playback failed"
  kill "$pub" 2>/dev/null || true
  wait "$pub" 2>/dev/null || true
  pub=""
  sleep 3
done
