#!/usr/bin/env bash
# Shared settings for the bench scripts. Every value can be overridden from the
# environment, so the same scripts can be pointed at another server that uses
# the same RTMP-in / HLS-out URL scheme.
#
#   {stream} in the URL templates is replaced by the stream name.

BENCH_DIR="${BENCH_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export BENCH_DIR

# --- target ---------------------------------------------------------------
export BENCH_HOST="${BENCH_HOST:-127.0.0.1}"
export RTMP_PORT="${RTMP_PORT:-19350}"
export HTTP_PORT="${HTTP_PORT:-18080}"
export RTMP_APP="${RTMP_APP:-live}"
# where the HLS files are served from (nginx: location /hls -> hls_path)
export HLS_URL_PATH="${HLS_URL_PATH:-/hls}"
# (plain if-empty assignments: a '}' inside ${var:-...} would end the expansion)
if [[ -z "${RTMP_URL_TMPL:-}" ]]; then
  RTMP_URL_TMPL="rtmp://${BENCH_HOST}:${RTMP_PORT}/${RTMP_APP}/{stream}"
fi
if [[ -z "${HLS_PLAYLIST_TMPL:-}" ]]; then
  HLS_PLAYLIST_TMPL="http://${BENCH_HOST}:${HTTP_PORT}${HLS_URL_PATH}/{stream}.m3u8"
fi
export RTMP_URL_TMPL HLS_PLAYLIST_TMPL
# stream names are ${STREAM_PREFIX}1..N
export STREAM_PREFIX="${STREAM_PREFIX:-stream}"

# PID(s) of the server under test. CPU/RSS are summed over these PIDs and all
# their descendants. Either a pid file or an explicit list ("123 456").
export SERVER_PIDFILE="${SERVER_PIDFILE:-${BENCH_DIR}/run/nginx/nginx.pid}"
export SERVER_PIDS="${SERVER_PIDS:-}"

# --- source media -----------------------------------------------------------
export SRC_FILE="${SRC_FILE:-${BENCH_DIR}/data/src.flv}"
# B-frame-free copy used by the latency probe's own publisher
export LAT_SRC_FILE="${LAT_SRC_FILE:-${BENCH_DIR}/data/src_lat.flv}"

# --- local nginx (only used by server_nginx.sh) ------------------------------
export NGINX_BIN="${NGINX_BIN:-/usr/sbin/nginx}"
export NGINX_RTMP_MODULE="${NGINX_RTMP_MODULE:-/usr/lib/nginx/modules/ngx_rtmp_module.so}"
export NGINX_WORKERS="${NGINX_WORKERS:-1}"
export NGINX_RUN_DIR="${NGINX_RUN_DIR:-${BENCH_DIR}/run/nginx}"
export HLS_FRAGMENT="${HLS_FRAGMENT:-2s}"
export HLS_PLAYLIST_LENGTH="${HLS_PLAYLIST_LENGTH:-10s}"

export RESULTS_DIR="${RESULTS_DIR:-${BENCH_DIR}/results}"
export PY="${PY:-python3}"

# STREAM_RESOLVER: for servers whose publish name and playback name differ (a random stream key
# and a stream id, both handed out by the server's API), a command that, given a stream name,
# prints "RTMP_URL HLS_URL" for it; answers are cached per name for the run. Without it the two
# templates above are used.
export STREAM_RESOLVER="${STREAM_RESOLVER:-}"
export RESOLVE_CACHE="${RESOLVE_CACHE:-${BENCH_DIR}/run/resolved}"

stream_name() { printf '%s%s' "$STREAM_PREFIX" "$1"; }
# url_for rtmp|hls NAME
url_for() {
  local kind=$1 name=$2 line
  if [[ -z "$STREAM_RESOLVER" ]]; then
    if [[ $kind == rtmp ]]; then printf '%s' "${RTMP_URL_TMPL//\{stream\}/$name}"
    else printf '%s' "${HLS_PLAYLIST_TMPL//\{stream\}/$name}"; fi
    return
  fi
  mkdir -p "$RESOLVE_CACHE"
  if [[ ! -s "$RESOLVE_CACHE/$name" ]]; then
    $STREAM_RESOLVER "$name" >"$RESOLVE_CACHE/$name"
  fi
  read -r line <"$RESOLVE_CACHE/$name"
  if [[ $kind == rtmp ]]; then printf '%s' "${line%% *}"; else printf '%s' "${line##* }"; fi
}
rtmp_url() { url_for rtmp "$(stream_name "$1")"; }
hls_url() { url_for hls "$(stream_name "$1")"; }

# The server PIDs: explicit list wins, otherwise the pid file.
server_pids() {
  if [[ -n "$SERVER_PIDS" ]]; then printf '%s\n' $SERVER_PIDS; return; fi
  if [[ -r "$SERVER_PIDFILE" ]]; then cat "$SERVER_PIDFILE"; return; fi
  echo "no server pid: set SERVER_PIDS or SERVER_PIDFILE" >&2
  return 1
}

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# stop_pid PID [grace_seconds]: TERM, wait, then KILL. Only ever called with
# PIDs this harness started itself.
stop_pid() {
  local pid=$1 grace=${2:-3} i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}
