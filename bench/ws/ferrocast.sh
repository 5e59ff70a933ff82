#!/usr/bin/env bash
# Runs the fan-out grid against Ferrocast: builds the release binary, starts it on its own port
# with a fresh data folder and its per-stream limits raised (otherwise the limits are what gets
# measured), creates one stream, and runs run_matrix.sh against that stream. The same knobs as
# run_matrix.sh apply (NS, RATES, DURATION, ...). Only the server this script started is stopped.
#
#   ./ferrocast.sh                          # full grid
#   NS="1000 5000" RATES=10 ./ferrocast.sh  # a part of it
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PORT=${PORT:-18700}
BIN=$ROOT/target/release/ferrocast

(cd "$ROOT" && cargo build --release -p ferrocast)
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "port 127.0.0.1:$PORT already in use" >&2; exit 1
fi
DATA=$(mktemp -d)
ulimit -n "$(ulimit -Hn)"
HOST=127.0.0.1 PORT=$PORT LOG_LEVEL=warn \
  DATABASE_URL="sqlite:///$DATA/bench.db" UPLOAD_DIR="$DATA/uploads" THUMBNAIL_DIR="$DATA/thumbs" \
  RECORDING_DIR="$DATA/recordings" \
  MAX_WEBSOCKET_CONNECTIONS_PER_STREAM=20000 CHAT_RATE_LIMIT=0 \
  "$BIN" >"$DATA/server.log" 2>&1 &
SERVER=$!
stop() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$DATA"; }
trap stop EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
  sleep 0.1
done
STREAM=$(curl -sf "http://127.0.0.1:$PORT/api/streams" -H 'content-type: application/json' \
  -d '{"title": "fan-out bench", "streamer_id": "bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "ferrocast pid $SERVER, stream $STREAM"
PEER=none URL_TEMPLATE="ws://127.0.0.1:$PORT/ws/{room}" SERVER_PIDS=$SERVER LABEL=${LABEL:-ferrocast} \
  ROOM_IDS=$STREAM "$HERE/run_matrix.sh"
