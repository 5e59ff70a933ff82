#!/usr/bin/env bash
# Full baseline run: source file, then for each N in $NS a fresh server,
# rtmp_ingest.sh N T and latency_probe.sh (N-1 background + 1 probe = N live),
# then hls_throughput.sh; writes results/<stamp>/summary.md.
#
#   ./run_all.sh
# Env: NS ("1 4 16"), T (30), LAT_DUR (30), WRK_DUR (10), WRK_CONNS ("100 1000": one wrk run
#      per count), WRK_THREADS (2), VIEWERS ("1000": idle polling viewers for memory per viewer), SERVER_CTL (./server_nginx.sh: the script that restarts the
#      server under test for every N; ./server_ferrocast.sh for Ferrocast; "none" to leave
#      the target alone, e.g. another server given via RTMP_URL_TMPL, HLS_PLAYLIST_TMPL and
#      SERVER_PIDS). LOCAL_NGINX=0 is the same as SERVER_CTL=none.
set -euo pipefail
cd "$(dirname "$0")"
source lib/common.sh

NS=${NS:-"1 4 16"}
T=${T:-30}
LAT_DUR=${LAT_DUR:-30}
WRK_DUR=${WRK_DUR:-10}
WRK_CONNS=${WRK_CONNS:-"100 1000"}
WRK_THREADS=${WRK_THREADS:-2}
SERVER_CTL=${SERVER_CTL:-./server_nginx.sh}
[[ "${LOCAL_NGINX:-1}" == 0 ]] && SERVER_CTL=none
STAMP=$(date +%Y%m%d-%H%M%S)
RUN_OUT=$RESULTS_DIR/run-$STAMP
mkdir -p "$RUN_OUT"

./make_source.sh

server_restart() { [[ "$SERVER_CTL" != none ]] && "$SERVER_CTL" restart || true; }
server_stop() { [[ "$SERVER_CTL" != none ]] && "$SERVER_CTL" stop || true; }
trap server_stop EXIT

{
  echo "host: $(nproc) CPU ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -m | awk '/Mem:/{print $2}') MiB RAM, kernel $(uname -r)"
  echo "nginx: $($NGINX_BIN -v 2>&1 | cut -d/ -f2), libnginx-mod-rtmp $(dpkg-query -W -f='${Version}' libnginx-mod-rtmp 2>/dev/null || echo '?'), workers=$NGINX_WORKERS"
  echo "ffmpeg: $(ffmpeg -version | head -1 | cut -d' ' -f3), wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f2)"
  echo "source: $(ffprobe -v error -show_entries format=duration,bit_rate -of compact=p=0 "$SRC_FILE")"
  echo "target: rtmp=$RTMP_URL_TMPL hls=$HLS_PLAYLIST_TMPL"
} >"$RUN_OUT/env.txt"
cat "$RUN_OUT/env.txt" >&2

for N in $NS; do
  server_restart
  OUT_DIR=$RUN_OUT/ingest-n$N timeout $((T + 120)) ./rtmp_ingest.sh "$N" "$T" | tee "$RUN_OUT/ingest-n$N.txt"
  OUT_DIR=$RUN_OUT/latency-n$N ./latency_probe.sh "$LAT_DUR" $((N - 1)) | tee "$RUN_OUT/latency-n$N.txt"
done

server_restart
OUT_DIR=$RUN_OUT/throughput timeout $((WRK_DUR * 6 + 300)) ./hls_throughput.sh "$WRK_DUR" "$WRK_CONNS" "$WRK_THREADS" \
  | tee "$RUN_OUT/throughput.txt"
server_stop

"$PY" lib/summarize.py "$RUN_OUT" | tee "$RUN_OUT/summary.md"
