#!/usr/bin/env bash
# Start/stop Ferrocast as the server under test, tracked by PID, with a fresh data folder on
# every start (so each run starts from an empty database and RSS is comparable).
#
#   ./server_ferrocast.sh start|stop|restart|status
#
# It listens on BENCH_HOST: RTMP on FERROCAST_RTMP_PORT (19360), HTTP/HLS on FERROCAST_PORT
# (18700); the binary is $CARGO_TARGET_DIR (or target)/release/ferrocast, built if missing, or
# FERROCAST_BIN. Streams are created through the API by ferrocast_resolve.sh (STREAM_RESOLVER),
# which hands out each stream's rtmp_url (with its random key) and hls_url (with its id).
#
# Live thumbnails are off (FERROCAST_THUMBNAILS=0, the LIVE_THUMBNAIL_INTERVAL given to the
# server): nginx-rtmp makes none, and each is an ffmpeg run (~0.15 s of CPU, ~70 MB while it
# lasts) that would be measured as the server's (procstat counts reaped children). Set it to 10
# (the server's default) to measure a stream with its thumbnail.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

ROOT=$(cd "$BENCH_DIR/../.." && pwd)
BIN=${FERROCAST_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/ferrocast}
FERROCAST_THUMBNAILS=${FERROCAST_THUMBNAILS:-0}
RUN=$BENCH_DIR/run/ferrocast
PIDF=$RUN/ferrocast.pid
export FERROCAST_PORT=${FERROCAST_PORT:-18700}
export FERROCAST_RTMP_PORT=${FERROCAST_RTMP_PORT:-19360}

running() { [[ -r "$PIDF" ]] && kill -0 "$(cat "$PIDF")" 2>/dev/null; }

start() {
  if running; then log "ferrocast already running (pid $(cat "$PIDF"))"; return 0; fi
  [[ -x "$BIN" ]] || (cd "$ROOT" && cargo build --release -p ferrocast)
  rm -rf "$RUN" "$RESOLVE_CACHE"
  mkdir -p "$RUN"
  ulimit -n "$(ulimit -Hn)"
  HOST=$BENCH_HOST PORT=$FERROCAST_PORT RTMP_SERVER_PORT=$FERROCAST_RTMP_PORT \
    RTMP_SERVER_HOST=$BENCH_HOST HLS_SERVER_HOST=$BENCH_HOST HLS_SERVER_PORT=$FERROCAST_PORT \
    DATABASE_URL="sqlite:///$RUN/bench.db" UPLOAD_DIR="$RUN/uploads" THUMBNAIL_DIR="$RUN/thumbs" \
    RECORDING_DIR="$RUN/recordings" LOG_LEVEL=warn ENABLE_TRANSCODING=false \
    LIVE_THUMBNAIL_INTERVAL=$FERROCAST_THUMBNAILS \
    MAX_WEBSOCKET_CONNECTIONS_PER_STREAM=100000 \
    "$BIN" >"$RUN/server.log" 2>&1 </dev/null &
  echo $! >"$PIDF"
  for _ in $(seq 1 100); do
    curl -sf "http://$BENCH_HOST:$FERROCAST_PORT/health" >/dev/null && { log "ferrocast pid $(cat "$PIDF")"; return 0; }
    sleep 0.1
  done
  log "ferrocast did not come up; see $RUN/server.log"; exit 1
}

stop() {
  running && stop_pid "$(cat "$PIDF")" 5
  rm -f "$PIDF"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) running && echo "running: pid $(cat "$PIDF")" || echo "stopped" ;;
  pid) cat "$PIDF" ;;
  *) echo "usage: $0 start|stop|restart|status|pid" >&2; exit 2 ;;
esac
