#!/usr/bin/env bash
# The web app's budgets, measured as a viewer meets them: Ferrocast's release build with one live
# stream published in real time from the benchmark source; JOINS times in a row a fresh headless
# Chromium opens the home page, follows the stream's link, and watches WATCH seconds
# (bench/web/app_join.mjs), at a random moment of the stream. BUSY=1 keeps two ffmpeg encodes
# running beside it, as a loaded machine would.
#
#   ./app_join.sh                      # JOINS=20 WATCH=10 BUSY=0
#
# One JSON line per join (home page JavaScript and time to its live link, time to playing, how far
# behind the publisher, stalls and player errors), then a summary line.
set -euo pipefail
LIVE="$(cd "$(dirname "$0")/../live" && pwd)"
source "$LIVE/lib/common.sh"

ROOT=$(cd "$LIVE/../.." && pwd)
JOINS=${JOINS:-20}
WATCH=${WATCH:-10}
BUSY=${BUSY:-0}
[[ -s "$SRC_FILE" ]] || { log "missing $SRC_FILE; run bench/live/make_source.sh"; exit 1; }
[[ -d "$ROOT/crates/ferrocast/tests/browser/node_modules/playwright-core" ]] ||
  { log "run: npm ci --prefix crates/ferrocast/tests/browser"; exit 1; }

"$LIVE/server_ferrocast.sh" restart >&2
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$LIVE/server_ferrocast.sh" stop >&2 || true
}
trap cleanup EXIT

title="Benchmark stream $$"
read -r rtmp hls < <("$LIVE/ferrocast_resolve.sh" "$title")
id=$(basename "$hls" .m3u8)
ffmpeg -nostdin -hide_banner -loglevel error -re -stream_loop -1 -i "$SRC_FILE" -c copy -f flv "$rtmp" &
pids+=($!)
if [[ "$BUSY" == 1 ]]; then
  for _ in 1 2; do
    ffmpeg -nostdin -hide_banner -loglevel error -re -stream_loop -1 -i "$SRC_FILE" \
      -c:v libx264 -preset veryfast -f null - &
    pids+=($!)
  done
fi
for _ in $(seq 1 100); do
  curl -sf -o /dev/null "$hls" && break
  sleep 0.1
done
sleep 2

out=$(mktemp)
base="http://$BENCH_HOST:$FERROCAST_PORT"
for run in $(seq 1 "$JOINS"); do
  # Join at any moment of a segment or part, not in step with the stream.
  sleep "0.$((RANDOM % 1000))"
  timeout $((WATCH + 60)) node "$ROOT/bench/web/app_join.mjs" "$base" "$id" "$title" "$WATCH" | tee -a "$out"
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = [r for r in rows if "failure" not in r]
def med(k):
    xs = [r[k] for r in ok if r.get(k) is not None]
    return round(statistics.median(xs), 3) if xs else None
def mx(k):
    xs = [r[k] for r in ok if r.get(k) is not None]
    return round(max(xs), 3) if xs else None
print(json.dumps({
    "joins": len(rows), "failed": len(rows) - len(ok),
    "with_stalls": sum(1 for r in ok if r["stalls"]), "with_errors": sum(1 for r in ok if r["errors"]),
    "errors": sorted({e for r in ok for e in r["errors"]}),
    "home_interactive_ms_median": round(statistics.median(r["home"]["interactive_ms"] for r in ok), 1) if ok else None,
    "home_js_compressed_bytes_max": max((r["home"]["js_compressed_bytes"] for r in ok), default=None),
    "start_ms_median": med("start_ms"), "start_ms_max": mx("start_ms"),
    "behind_ingest_median_s": med("behind_ingest_mean_s"), "behind_ingest_max_s": mx("behind_ingest_max_s"),
}))
PY
