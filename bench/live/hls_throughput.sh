#!/usr/bin/env bash
# HLS delivery throughput: wrk against the live playlist URL and against one
# live segment URL of a stream being published, at each connection count, while
# sampling server CPU; then memory per viewer: the server's RSS with VIEWERS idle
# viewers connected and polling the playlist (lib/viewers.py), minus its RSS
# before they came.
#
#   ./hls_throughput.sh [DURATION_S=10] [CONNECTIONS="100 1000"] [THREADS=2]
#
# Env: VIEWERS ("1000"; "" skips the memory step), VIEWER_POLL (1 s between
#      reloads), VIEWER_HOLD (15 s connected, RSS sampled over the last 10),
# Env: STREAM=<name> to use an already-live stream (otherwise a publisher is
#      started on a fresh stream and stopped afterwards); MIN_SEGS (5: wait until
#      the playlist is full, so its size is representative); lib/common.sh knobs.
# Note: wrk, the publisher and the server share this host's CPUs.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

DUR=${1:-10}
CONNS=${2:-"100 1000"}
THREADS=${3:-2}
VIEWERS=${VIEWERS-1000}
VIEWER_POLL=${VIEWER_POLL:-1}
VIEWER_HOLD=${VIEWER_HOLD:-15}
# 1,000 connections from wrk and the viewers need the descriptors
ulimit -n "$(ulimit -Hn)"
mapfile -t SPIDS < <(server_pids)
SPIDS_CSV=$(IFS=,; echo "${SPIDS[*]}")
OUT=${OUT_DIR:-$RESULTS_DIR/throughput-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

PUB=""
cleanup() { [[ -n "$PUB" ]] && { stop_pid "$PUB" 3; wait "$PUB" 2>/dev/null || true; }; PUB=""; }
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z "${STREAM:-}" ]]; then
  [[ -s "$SRC_FILE" ]] || { log "missing $SRC_FILE; run ./make_source.sh"; exit 1; }
  STREAM="tput$(date +%s)"
  url=$(url_for rtmp "$STREAM")
  ffmpeg -nostdin -hide_banner -loglevel warning -re -stream_loop -1 -i "$SRC_FILE" \
    -t $((DUR * 2 + 60)) -c copy -f flv "$url" </dev/null >"$OUT/publisher.log" 2>&1 &
  PUB=$!
  log "publisher pid $PUB -> $url"
fi
PL=$(url_for hls "$STREAM")

MIN_SEGS=${MIN_SEGS:-5}
# wait for >= MIN_SEGS segments, print the newest segment URL and its size
newest_segment() {
  "$PY" - "$PL" "$MIN_SEGS" <<'PYEOF'
import sys, os
sys.path.insert(0, os.path.join(os.environ["BENCH_DIR"], "lib"))
import hls
pl, info = hls.fetch_playlist(sys.argv[1])
if pl is None or len(pl["segments"]) < int(sys.argv[2]):
    sys.exit(1)
s = pl["segments"][-1]
st, data, _ = hls.http_get(s["url"])
if st != 200:
    sys.exit(1)
# a multivariant playlist is fetched once by a player; what it polls is the media playlist
print(s["url"], len(data), info.get("variant_url", sys.argv[1]))
PYEOF
}
for ((i = 0; i < 300; i++)); do
  if SEG=$(newest_segment 2>/dev/null); then break; fi
  sleep 0.1
done
[[ -n "${SEG:-}" ]] || { log "no playlist with >=$MIN_SEGS segments at $PL"; exit 1; }
MEDIA_PL=${SEG##* }
SEG=${SEG% *}
PLBYTES=$(curl -s --max-time 5 "$MEDIA_PL" | wc -c)

run_wrk() { # label url bytes connections
  local label=$1 url=$2 bytes=$3 conns=$4
  log "wrk -t$THREADS -c$conns -d${DUR}s $url"
  timeout $((DUR + 30)) wrk -t"$THREADS" -c"$conns" -d"${DUR}s" --timeout 5s --latency "$url" >"$OUT/wrk-$label.txt" 2>&1 &
  local wpid=$!
  sleep 0.2
  "$PY" "$BENCH_DIR/lib/procstat.py" sample --group "server:$SPIDS_CSV" --group "wrk:$wpid" \
    --duration "$((DUR - 1))" --interval 0.5 --json "$OUT/proc-$label.json" >/dev/null
  wait "$wpid" || true
  "$PY" "$BENCH_DIR/lib/wrkparse.py" --wrk "$OUT/wrk-$label.txt" --proc "$OUT/proc-$label.json" \
    --label "$label" --bytes "$bytes" >"$OUT/$label.json"
}

LABELS=()
for c in $CONNS; do
  run_wrk "playlist-c$c" "$MEDIA_PL" "$PLBYTES" "$c"
  SEG=$(newest_segment) # re-pick the newest so it stays listed for the whole run
  SEG=${SEG% *}
  run_wrk "segment-c$c" "${SEG% *}" "${SEG#* }" "$c"
  LABELS+=("playlist-c$c" "segment-c$c")
done

# Memory per viewer: RSS before (the stream alone), then with $VIEWERS viewers connected and
# polling; the ramp is 5 s and sampling starts once every viewer has been connected 3 s.
for v in $VIEWERS; do
  "$PY" "$BENCH_DIR/lib/procstat.py" sample --group "server:$SPIDS_CSV" --duration 3 --interval 0.5 \
    --json "$OUT/viewers-$v-before.json" >/dev/null
  log "$v viewers polling $PL every ${VIEWER_POLL}s"
  "$PY" "$BENCH_DIR/lib/viewers.py" "$PL" --n "$v" --poll "$VIEWER_POLL" --ramp 5 --hold "$VIEWER_HOLD" \
    --json "$OUT/viewers-$v.json" >/dev/null &
  vpid=$!
  sleep 8
  "$PY" "$BENCH_DIR/lib/procstat.py" sample --group "server:$SPIDS_CSV" --group "viewers:$vpid" \
    --duration $((VIEWER_HOLD - 5)) --interval 0.5 --json "$OUT/viewers-$v-during.json" >/dev/null
  wait "$vpid" || log "not every viewer stayed connected; see $OUT/viewers-$v.json"
done
cleanup

"$PY" - "$OUT" "$THREADS" "$DUR" "$VIEWERS" "${LABELS[@]}" <<'PYEOF'
import json, os, sys
out, t, d, viewers, labels = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
print(f"== HLS delivery (wrk -t{t} -d{d}s) ==")
rows = []
for label in labels:
    r = json.load(open(os.path.join(out, f"{label}.json")))
    r["connections"] = int(label.rsplit("-c", 1)[1])
    rows.append(r)
    print(f"{label:14s}: {r['req_per_s']} req/s, payload {r.get('payload_mib_per_s')} MiB/s ({r.get('payload_gbit_per_s')} Gbit/s),"
          f" p50 {r['lat_p50_ms']} ms, p99 {r['lat_p99_ms']} ms, object {r['object_bytes']} B,"
          f" non-2xx {r['non_2xx']}, sock err {r['socket_errors']};"
          f" server CPU {r.get('server_cpu_pct_one_core')}% of a core, wrk CPU {r.get('wrk_cpu_pct_one_core')}%")
json.dump(rows, open(os.path.join(out, "summary.json"), "w"), indent=1)
mem = []
for v in viewers.split():
    before = json.load(open(os.path.join(out, f"viewers-{v}-before.json")))["groups"]["server"]
    server = json.load(open(os.path.join(out, f"viewers-{v}-during.json")))["groups"]["server"]
    client = json.load(open(os.path.join(out, f"viewers-{v}.json")))
    delta = server["rss_mean_mib"] - before["rss_mean_mib"]
    m = {"viewers": int(v), "connected": client["connected"], "reloads": client["reloads"],
         "failed": client["failed"] + client["connect_failed"],
         "rss_before_mib": before["rss_mean_mib"], "rss_with_viewers_mib": server["rss_mean_mib"],
         "kib_per_viewer": round(delta * 1024 / int(v), 1),
         "server_cpu_pct_one_core": server["cpu_pct_one_core"]}
    mem.append(m)
    print(f"viewers {v:>5s}: {m['connected']} connected, {m['reloads']} reloads, {m['failed']} failed;"
          f" server RSS {m['rss_before_mib']} -> {m['rss_with_viewers_mib']} MiB = {m['kib_per_viewer']} KiB/viewer,"
          f" server CPU {m['server_cpu_pct_one_core']}% of a core")
json.dump(mem, open(os.path.join(out, "viewers.json"), "w"), indent=1)
print(f"json          : {os.path.join(out, 'summary.json')}, {os.path.join(out, 'viewers.json')}")
PYEOF
