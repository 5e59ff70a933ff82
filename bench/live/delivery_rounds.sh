#!/usr/bin/env bash
# HLS delivery, nginx-rtmp and Ferrocast running at once: each serves one live stream of the
# same source, and wrk takes turns on the two servers' newest segment (or media playlist),
# ROUNDS times. On a VM whose speed moves by a third from one minute to the next, a ratio
# taken within one round says more than two whole runs taken minutes apart.
#
#   ./delivery_rounds.sh [ROUNDS=8] [CONNECTIONS=1000] [DURATION_S=8]
#
# Env: OBJECT (segment | playlist), THREADS (2), FERROCAST_BIN (see server_ferrocast.sh).
# Per round and server: req/s, server and wrk CPU µs per request (from /proc and `times`),
# and, where nstat exists, TCP segments and retransmissions per request (all of loopback,
# both directions). Last: the per-round Ferrocast / nginx ratios and their median.
set -euo pipefail
cd "$(dirname "$0")"
source lib/common.sh

ROUNDS=${1:-8}
CONNS=${2:-1000}
DUR=${3:-8}
OBJECT=${OBJECT:-segment}
THREADS=${THREADS:-2}
ulimit -n "$(ulimit -Hn)"
[[ -s "$SRC_FILE" ]] || { log "missing $SRC_FILE; run ./make_source.sh"; exit 1; }
OUT=${OUT_DIR:-$RESULTS_DIR/delivery-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

PUBS=()
cleanup() {
  for p in "${PUBS[@]}"; do stop_pid "$p" 3; done
  ./server_nginx.sh stop >/dev/null 2>&1 || true
  ./server_ferrocast.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

./server_nginx.sh restart >&2
./server_ferrocast.sh restart >&2
declare -A PID PL
PID[nginx]=$(cat "$NGINX_RUN_DIR/started.pid") # the master; its workers are its children
PID[ferrocast]=$(./server_ferrocast.sh pid)
publish() { # name rtmp_url
  ffmpeg -nostdin -hide_banner -loglevel error -re -stream_loop -1 -i "$SRC_FILE" -c copy \
    -f flv "$2" </dev/null >"$OUT/publisher-$1.log" 2>&1 &
  PUBS+=($!)
}
# nginx's stream URLs come from the templates, Ferrocast's from its API
publish nginx "$(STREAM_RESOLVER='' url_for rtmp rounds)"
PL[nginx]=$(STREAM_RESOLVER='' url_for hls rounds)
publish ferrocast "$(STREAM_RESOLVER=$PWD/ferrocast_resolve.sh url_for rtmp rounds)"
PL[ferrocast]=$(STREAM_RESOLVER=$PWD/ferrocast_resolve.sh url_for hls rounds)

# the newest segment (or the media playlist) of a playlist with at least 5 segments
target() {
  "$PY" - "$1" "$OBJECT" <<'PYEOF'
import sys, os
sys.path.insert(0, os.path.join(os.environ["BENCH_DIR"], "lib"))
import hls
pl, info = hls.fetch_playlist(sys.argv[1])
if pl is None or len(pl["segments"]) < 5:
    sys.exit(1)
print(pl["segments"][-1]["url"] if sys.argv[2] == "segment" else info.get("variant_url", sys.argv[1]))
PYEOF
}
for who in nginx ferrocast; do
  for ((i = 0; i < 300; i++)); do target "${PL[$who]}" >/dev/null 2>&1 && break; sleep 0.1; done
done

cpu_ticks() { # a pid and its children (nginx's workers)
  local t=0 p
  for p in "$1" $(pgrep -P "$1"); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
HZ=$(getconf CLK_TCK)
NSTAT=$(command -v nstat || true)

for ((r = 1; r <= ROUNDS; r++)); do
  for who in nginx ferrocast; do
    url=$(target "${PL[$who]}")
    before=$(cpu_ticks "${PID[$who]}")
    [[ -n "$NSTAT" ]] && "$NSTAT" -n >/dev/null
    # the subshell's children are wrk alone: `times` gives its CPU
    (
      wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --timeout 5s "$url" >"$OUT/wrk-$who-$r.txt" 2>&1 || true
      times >"$OUT/wrk-$who-$r.time" # (in a pipe it would be another subshell's)
    )
    after=$(cpu_ticks "${PID[$who]}")
    [[ -n "$NSTAT" ]] && "$NSTAT" >"$OUT/nstat-$who-$r.txt"
    echo "$((after - before))" >"$OUT/server-$who-$r.ticks"
  done
done

"$PY" - "$OUT" "$ROUNDS" "$HZ" "$OBJECT" "$CONNS" <<'PYEOF'
import json, os, re, statistics, sys
out, rounds, hz, obj, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
def read(path):
    return open(path).read() if os.path.exists(path) else ""
def counter(text, name):
    m = re.search(rf"^{name}\s+(\d+)", text, re.M)
    return int(m.group(1)) if m else 0
rows, ratios = [], []
print(f"== {obj} at {conns} connections, servers side by side, wrk taking turns ==")
for r in range(1, rounds + 1):
    rps = {}
    for who in ("nginx", "ferrocast"):
        wrk = read(f"{out}/wrk-{who}-{r}.txt")
        m = re.search(r"(\d+) requests in", wrk)
        reqs = int(m.group(1)) if m else 0
        m = re.search(r"Requests/sec:\s+([\d.]+)", wrk)
        rps[who] = float(m.group(1)) if m else 0.0
        server_s = int(read(f"{out}/server-{who}-{r}.ticks") or 0) / hz
        # `times`, second line: the children's user and system time, "0m1.234s 0m5.678s"
        times = (read(f"{out}/wrk-{who}-{r}.time").splitlines() or [""])[-1]
        wrk_s = sum(int(m) * 60 + float(s) for m, s in re.findall(r"(\d+)m([\d.]+)s", times))
        nst = read(f"{out}/nstat-{who}-{r}.txt")
        errors = re.findall(r"(Socket errors:.*|Non-2xx or 3xx responses:.*)", wrk)
        row = {"round": r, "server": who, "req_per_s": rps[who],
               "server_us_per_req": round(server_s * 1e6 / reqs) if reqs else None,
               "wrk_us_per_req": round(wrk_s * 1e6 / reqs) if reqs else None,
               "tcp_segments_per_req": round(counter(nst, "TcpOutSegs") / reqs, 1) if reqs and nst else None,
               "retransmissions_per_req": round(counter(nst, "TcpRetransSegs") / reqs, 2) if reqs and nst else None,
               "errors": errors}
        rows.append(row)
        print(f"{r:2d} {who:9s} {row['req_per_s']:9.0f} req/s  server {row['server_us_per_req']} µs/req"
              f"  wrk {row['wrk_us_per_req']} µs/req  segments {row['tcp_segments_per_req']}/req"
              f"  retransmitted {row['retransmissions_per_req']}/req {' '.join(errors)}")
    if rps["nginx"] > 0:
        ratios.append(rps["ferrocast"] / rps["nginx"])
summary = {"object": obj, "connections": int(conns), "rounds": rows,
           "ratios": [round(x, 2) for x in ratios],
           "median_ratio": round(statistics.median(ratios), 2) if ratios else None,
           "rounds_at_or_above": sum(1 for x in ratios if x >= 1.0)}
print(f"Ferrocast / nginx per round: {summary['ratios']}; median {summary['median_ratio']};"
      f" at or above nginx in {summary['rounds_at_or_above']} of {len(ratios)}")
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
print(f"json: {os.path.join(out, 'summary.json')}")
PYEOF
