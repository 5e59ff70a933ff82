#!/usr/bin/env bash
# Upload throughput and server memory: the same file sent with curl over loopback to
#   - nginx storing a PUT body to disk (the dav module; the reference),
#   - Ferrocast's multipart upload (POST /api/videos/upload, curl -F),
#   - Ferrocast's tus upload (POST /api/uploads, then one PATCH of the whole file),
# reporting MiB/s (file size over curl's total time, which ends when the server has answered,
# so it includes Ferrocast's check of the file: sniffing, ffprobe, the database row) and each
# server's peak resident memory during the upload minus its idle memory just before it.
#
#   bench/upload/run.sh                  # SIZE_MB=2048
#   SIZE_MB=200 RUNS=1 bench/upload/run.sh
#
# Knobs: SIZE_MB (MiB, default 2048), RUNS (uploads per target, default 3), FERROCAST_BIN
# (default target/release/ferrocast, built if missing), FERROCAST_PORT (18900), NGINX_PORT
# (18901), NGINX_BIN (nginx), WORK (scratch folder, default a new one under /var/tmp, removed at
# the end unless KEEP=1), TARGETS (default "nginx multipart tus").
#
# Run it on a quiet machine: both servers and curl share the cores, and other work changes the
# figures more than the servers do. Transcoding is off, so only receiving is measured.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
SIZE_MB=${SIZE_MB:-2048}
RUNS=${RUNS:-3}
FERROCAST_BIN=${FERROCAST_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/ferrocast}
FERROCAST_PORT=${FERROCAST_PORT:-18900}
NGINX_PORT=${NGINX_PORT:-18901}
NGINX_BIN=${NGINX_BIN:-nginx}
TARGETS=${TARGETS:-nginx multipart tus}
HOST=127.0.0.1
WORK=${WORK:-$(mktemp -d /var/tmp/ferrocast-upload-bench.XXXXXX)}
mkdir -p "$WORK"
# nginx workers started by root run as nobody and must reach their folders.
chmod 0755 "$WORK"

log() { echo "[upload-bench] $*" >&2; }

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  if [[ "${KEEP:-0}" != 1 ]]; then
    rm -rf "$WORK"
  else
    log "kept $WORK"
  fi
}
trap cleanup EXIT

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
wait_port() { # port pid name
  local i
  for ((i = 0; i < 200; i++)); do
    port_open "$1" && return 0
    kill -0 "$2" 2>/dev/null || { log "$3 exited during start"; return 1; }
    sleep 0.05
  done
  log "$3 did not open port $1"
  return 1
}
for p in "$FERROCAST_PORT" "$NGINX_PORT"; do
  if port_open "$p"; then
    log "port $p is in use; set FERROCAST_PORT / NGINX_PORT"
    exit 1
  fi
done

# --- the file ---------------------------------------------------------------
file=$WORK/bench.mp4
size=$((SIZE_MB * 1024 * 1024))
log "writing a $SIZE_MB MiB test file"
python3 "$here/make_file.py" "$file" "$size"

# --- nginx ------------------------------------------------------------------
nginx_run=$WORK/nginx
mkdir -p "$nginx_run/www/store" "$nginx_run/body_temp" "$nginx_run/tmp"
user_line=""
if [[ $EUID -eq 0 ]]; then
  user_line="user nobody nogroup;"
  chmod 0777 "$nginx_run/www/store" "$nginx_run/body_temp"
fi
sed -e "s#@USER_LINE@#$user_line#" -e "s#@RUN@#$nginx_run#g" -e "s#@HOST@#$HOST#" \
  -e "s#@PORT@#$NGINX_PORT#" "$here/nginx.conf.tmpl" >"$nginx_run/nginx.conf"
"$NGINX_BIN" -t -c "$nginx_run/nginx.conf" -g 'daemon off;' 2>"$nginx_run/configtest.log" ||
  { cat "$nginx_run/configtest.log" >&2; exit 1; }
"$NGINX_BIN" -c "$nginx_run/nginx.conf" -g 'daemon off;' </dev/null >"$nginx_run/stdout.log" 2>&1 &
nginx_master=$!
pids+=("$nginx_master")
wait_port "$NGINX_PORT" "$nginx_master" nginx
# The worker receives the body; the master only supervises.
nginx_worker=$(pgrep -P "$nginx_master" | head -n1)

# --- Ferrocast --------------------------------------------------------------
if [[ ! -x "$FERROCAST_BIN" ]]; then
  log "building $FERROCAST_BIN"
  (cd "$root" && cargo build --release -p ferrocast)
fi
fc=$WORK/ferrocast
mkdir -p "$fc"
max_file=$((size + 64 * 1024 * 1024))
(( max_file < 5368709120 )) && max_file=5368709120
env PORT="$FERROCAST_PORT" HOST="$HOST" HLS_SERVER_PORT="$FERROCAST_PORT" \
  RTMP_SERVER_PORT=0 DATABASE_URL="sqlite:///$fc/db.sqlite" UPLOAD_DIR="$fc/uploads" \
  THUMBNAIL_DIR="$fc/thumbnails" RECORDING_DIR="$fc/recordings" ENABLE_TRANSCODING=false \
  MAX_FILE_SIZE="$max_file" LOG_LEVEL=warn \
  "$FERROCAST_BIN" </dev/null >"$fc/server.log" 2>&1 &
fc_pid=$!
pids+=("$fc_pid")
wait_port "$FERROCAST_PORT" "$fc_pid" ferrocast
curl -fsS -o /dev/null "http://$HOST:$FERROCAST_PORT/health"

# --- uploads ----------------------------------------------------------------
results=$WORK/results.tsv
: >"$results"
nginx_url=http://$HOST:$NGINX_PORT
fc_url=http://$HOST:$FERROCAST_PORT

# Runs one upload of $target under the memory sampler; appends a result line.
upload() { # target run
  local target=$1 run=$2 pid out code secs sent id
  out=$WORK/out.txt
  case "$target" in
    nginx)
      pid=$nginx_worker
      python3 "$here/peak_rss.py" "$pid" "$WORK/rss.json" -- \
        curl -sS -o /dev/null -T "$file" -H 'Expect:' "$nginx_url/store/bench-$run.mp4" \
        -w '%{http_code} %{time_total} %{size_upload}\n' >"$out"
      read -r code secs sent <"$out"
      [[ "$code" == 201 || "$code" == 204 ]] || { log "nginx answered $code"; return 1; }
      [[ $(stat -c %s "$nginx_run/www/store/bench-$run.mp4") == "$size" ]] ||
        { log "nginx stored a file of the wrong size"; return 1; }
      rm -f "$nginx_run/www/store/bench-$run.mp4"
      ;;
    multipart)
      pid=$fc_pid
      python3 "$here/peak_rss.py" "$pid" "$WORK/rss.json" -- \
        curl -sS -o "$WORK/video.json" -H 'Expect:' "$fc_url/api/videos/upload" \
        -F "file=@$file;type=video/mp4" -F uploader_id=bench -F "title=upload bench" \
        -w '%{http_code} %{time_total} %{size_upload}\n' >"$out"
      read -r code secs sent <"$out"
      [[ "$code" == 201 ]] || { log "multipart answered $code: $(cat "$WORK/video.json")"; return 1; }
      id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/video.json")
      check_video "$id"
      ;;
    tus)
      pid=$fc_pid
      python3 "$here/peak_rss.py" "$pid" "$WORK/rss.json" -- \
        "$here/tus_upload.sh" "$fc_url" "$file" >"$out"
      read -r code secs sent id <"$out"
      [[ "$code" == 204 ]] || { log "tus PATCH answered $code"; return 1; }
      check_video "$id"
      ;;
  esac
  python3 - "$WORK/rss.json" "$target" "$run" "$secs" "$sent" "$size" >>"$results" <<'PY'
import json, sys
rss = json.load(open(sys.argv[1]))
target, run, secs, sent, size = sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
mib = 1024.0
# The kernel folds per-thread RSS counters in lazily, so a sample can top VmHWM by a little.
peak = max(rss["hwm_kib"] if rss["hwm_reset"] else 0, rss["sampled_peak_kib"])
print("\t".join([target, run, f"{secs:.2f}", f"{size / 2**20 / secs:.0f}",
                 f"{rss['idle_kib'] / mib:.1f}", f"{peak / mib:.1f}",
                 f"{(peak - rss['idle_kib']) / mib:.1f}", f"{rss['sampled_peak_kib'] / mib:.1f}",
                 f"{int(sent)}"]))
PY
}

# The upload became a video of the right size; then it is deleted so the disk does not fill.
check_video() { # id
  local v
  v=$(curl -fsS "$fc_url/api/videos/$1")
  python3 - "$v" "$size" <<'PY'
import json, sys
v = json.loads(sys.argv[1])
assert v["file_size"] == int(sys.argv[2]), v
assert v["format"] == "MP4" and v["duration"], v
PY
  curl -fsS -o /dev/null -X DELETE "$fc_url/api/videos/$1?uploader_id=bench"
}

for ((run = 1; run <= RUNS; run++)); do
  for target in $TARGETS; do
    log "run $run: $target"
    upload "$target" "$run"
    sync
  done
done

echo
echo "Upload of $SIZE_MB MiB ($size bytes) over loopback, $RUNS run(s) per target"
echo
printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' target run seconds "MiB/s" \
  "idle RSS MiB" "peak RSS MiB" "extra MiB" "sampled peak MiB"
echo '|---|---|---|---|---|---|---|---|'
while IFS=$'\t' read -r target run secs rate idle peak extra sampled _sent; do
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$target" "$run" "$secs" "$rate" \
    "$idle" "$peak" "$extra" "$sampled"
done <"$results"
echo
echo "nginx: its worker process. Ferrocast: the whole server. Peak: VmHWM after a reset (or the"
echo "sampled peak if higher); 'extra' is peak minus idle."
