#!/usr/bin/env bash
# Instructions Ferrocast spends in user space per HLS request, counted by valgrind's callgrind.
# Where requests a second on a shared VM move by a third from one minute to the next, this count
# moves by a percent or two, so a change to the request path can be judged by it. One stream is
# published; wrk asks for its media playlist (or newest segment) for DURATION_S; callgrind counts
# only inside hyper's connection tasks (parsing, routing, the handler, writing the response),
# not the event loop, the ingest thread or the kernel.
#
#   ./request_cost.sh [DURATION_S=10] [CONNECTIONS=10]
#
# Env: OBJECT (playlist | segment), FERROCAST_BIN (the binary to measure, see
# server_ferrocast.sh). Needs valgrind. Prints instructions per request and the functions with
# the most instructions (inclusive); the callgrind file stays in the results folder for
# `callgrind_annotate`.
set -euo pipefail
cd "$(dirname "$0")"
source lib/common.sh

DUR=${1:-10}
CONNS=${2:-10}
OBJECT=${OBJECT:-playlist}
command -v valgrind >/dev/null || { log "valgrind is needed (apt-get install valgrind)"; exit 1; }
[[ -s "$SRC_FILE" ]] || { log "missing $SRC_FILE; run ./make_source.sh"; exit 1; }
ROOT=$(cd ../.. && pwd)
BIN=${FERROCAST_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/ferrocast}
[[ -x "$BIN" ]] || (cd "$ROOT" && cargo build --release -p ferrocast)
OUT=${OUT_DIR:-$RESULTS_DIR/cost-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# Counting starts and stops with each connection task's poll, so everything a request costs
# in user space is inside, and nothing else is.
cat >"$OUT/ferrocast-under-callgrind" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --collect-atstart=no '--toggle-collect=*Dispatcher*poll_catch' \
  --callgrind-out-file="$OUT/callgrind.out" "$BIN" "\$@"
EOF
chmod +x "$OUT/ferrocast-under-callgrind"

PUB=
cleanup() {
  [[ -n "$PUB" ]] && stop_pid "$PUB" 3
  ./server_ferrocast.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FERROCAST_BIN="$OUT/ferrocast-under-callgrind" ./server_ferrocast.sh restart >&2
export STREAM_RESOLVER=$PWD/ferrocast_resolve.sh
ffmpeg -nostdin -hide_banner -loglevel error -re -stream_loop -1 -i "$SRC_FILE" -c copy \
  -f flv "$(url_for rtmp cost)" </dev/null >"$OUT/publisher.log" 2>&1 &
PUB=$!
url=
for ((i = 0; i < 300; i++)); do
  url=$("$PY" - "$(url_for hls cost)" "$OBJECT" <<'PYEOF' 2>/dev/null
import sys, os
sys.path.insert(0, os.path.join(os.environ["BENCH_DIR"], "lib"))
import hls
pl, info = hls.fetch_playlist(sys.argv[1])
if pl is None or len(pl["segments"]) < 3:
    sys.exit(1)
print(pl["segments"][-1]["url"] if sys.argv[2] == "segment" else info["variant_url"])
PYEOF
  ) && break
  sleep 0.2
done
[[ -n "$url" ]] || { log "the stream never became playable; see $OUT"; exit 1; }
log "wrk -c$CONNS -d${DUR}s on $url"
wrk -t1 -c"$CONNS" -d"${DUR}s" "$url" >"$OUT/wrk.txt"
stop_pid "$PUB" 3
PUB=
./server_ferrocast.sh stop >&2 # callgrind writes its file as the server exits
for ((i = 0; i < 100; i++)); do [[ -s "$OUT/callgrind.out" ]] && break; sleep 0.1; done

requests=$(awk '/requests in/ {print $1}' "$OUT/wrk.txt")
callgrind_annotate --inclusive=yes "$OUT/callgrind.out" >"$OUT/inclusive.txt" 2>/dev/null
total=$(awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}' "$OUT/inclusive.txt")
"$PY" - "$OBJECT" "$requests" "$total" "$OUT" <<'PYEOF'
import json, re, sys
obj, requests, total, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
print(f"{obj}: {requests} requests, {total:,} instructions in connection tasks, "
      f"{total / requests:,.0f} per request")
print("heaviest functions, inclusive, per request:")
seen = set()
for line in open(f"{out}/inclusive.txt"):
    m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.+?)(\s\[[^\]]*\])?$", line)
    if not m or ".rs:" not in m.group(2):
        continue
    where, name = m.group(2).split(".rs:", 1)
    n = int(m.group(1).replace(",", ""))
    # the runtime, the standard library and the task itself wrap everything
    if n >= total * 0.99 or "/library/" in where or name in seen:
        continue
    seen.add(name)
    print(f"  {n / requests:8,.0f}  {name[:120]}")
    if len(seen) == 15:
        break
json.dump({"object": obj, "requests": requests, "instructions": total,
           "per_request": round(total / requests)}, open(f"{out}/summary.json", "w"), indent=1)
PYEOF
log "results: $OUT"
