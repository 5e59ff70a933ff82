#!/usr/bin/env bash
# Start/stop Ferrocast as the server under test, tracked by PID, with a fresh data folder on
# every start (so each run starts from an empty database and RSS is comparable).
#
#   ./server_ferrocast.sh start|stop|restart|status
#
# It listens on BENCH_HOST: RTMP on FERROCAST_RTMP_PORT (19360), HTTP/HLS on FERROCAST_PORT
# (18700); the binary is target/release/ferrocast (built if missing). Streams are created
# through the API by ferrocast_resolve.sh (STREAM_RESOLVER), which hands out each stream's
# rtmp_url (with its random key) and hls_url (with its id).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

ROOT=$(cd "$BENCH_DIR/../.." && pwd)
BIN=${FERROCAST_BIN:-$ROOT/target/release/ferrocast}
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
