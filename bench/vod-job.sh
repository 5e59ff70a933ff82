#!/usr/bin/env bash
# A VOD job through the running server against the same ffmpeg command run bare. Starts a release
# build of ferrocast on a scratch database, uploads a 60 s 1080p30 clip, and measures:
#   - the automatic job (ladder, pictures, storyboard, preview), wall and CPU;
#   - a ladder-only job (POST /transcode with generateThumbnails false), wall and CPU;
#   - that job's exact ladder command (taken from the server's debug log), run bare by hand,
#     alternating with the job RUNS times (default 3), medians reported.
# CPU is the server's own plus its reaped children's (utime+stime+cutime+cstime in /proc/PID/stat).
#
#   cargo build --release -p ferrocast && RUNS=3 bench/vod-job.sh [input] [preset]
#   (default: a generated 60 s 1080p30 clip; preset veryfast)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FERROCAST_BIN:-$root/target/release/ferrocast}
[ -x "$bin" ] || { echo "build first: cargo build --release -p ferrocast" >&2; exit 1; }
work=$(mktemp -d)
port=${PORT:-18091}
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
source "$(dirname "$0")/vod-input.sh"
in=$(vod_input "$work" "${1:-}")
preset=${2:-veryfast}

PORT=$port RTMP_SERVER_PORT=0 HLS_SERVER_PORT=$port HOST=127.0.0.1 \
  DATABASE_URL="sqlite:///$work/bench.db" UPLOAD_DIR="$work/uploads" THUMBNAIL_DIR="$work/thumbs" \
  RECORDING_DIR="$work/rec" ENABLE_TRANSCODING=true TRANSCODING_CONCURRENCY=1 \
  TRANSCODING_PRESET="$preset" MAX_FILE_SIZE=$((8 << 30)) LOG_LEVEL="warn,ferrocast::vod=debug" \
  "$bin" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done

cpu_ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$server/stat"; }
own_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
hz=$(getconf CLK_TCK)
job_of() { curl -fs "http://127.0.0.1:$port/api/videos/$1/jobs" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])'; }
wait_job() { # video_id -> prints "state wall_seconds"
  # Polls with curl alone, once a second: a Python start every 0.2 s (0.13 s of CPU each) took
  # over half a core from the job being measured and none from the bare run. The wall time comes
  # from the job's own timestamps, so the polling step does not enter it.
  local body
  while :; do
    body=$(curl -fs "http://127.0.0.1:$port/api/videos/$1/jobs")
    case "${body%%\"state\":\"queued\"*}${body%%\"state\":\"running\"*}" in
      "$body$body") break ;;
    esac
    sleep 1
  done
  python3 -c '
import json, sys
from datetime import datetime
j = json.loads(sys.argv[1])[0]
t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
print(j["state"], "%.2f" % (t(j["finished_at"]) - t(j["started_at"])).total_seconds())
' "$body"
}

c0=$(cpu_ticks)
id=$(curl -fs -F "file=@$in;filename=bench.mp4" -F title=bench -F uploader_id=bench \
  "http://127.0.0.1:$port/api/videos/upload" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
read -r state full_wall < <(wait_job "$id")
c1=$(cpu_ticks)
[ "$state" = completed ] || { echo "the automatic job ended $state" >&2; tail -20 "$work/server.log" >&2; exit 1; }
full_cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')

# The ladder-only job and its exact command run bare, alternately RUNS times: ffmpeg's own wall
# time on a shared machine varies by more than the difference being measured.
runs=${RUNS:-3}
mkdir -p "$work/bare"
: >"$work/pairs"
for run in $(seq "$runs"); do
  c0=$(cpu_ticks); o0=$(own_ticks)
  curl -fs -X POST -H 'Content-Type: application/json' \
    -d '{"generateHLS": true, "generateDASH": true, "generateThumbnails": false}' \
    "http://127.0.0.1:$port/api/videos/$id/transcode?uploader_id=bench" >/dev/null
  sleep 0.3
  read -r state ladder_wall < <(wait_job "$id")
  c1=$(cpu_ticks); o1=$(own_ticks)
  [ "$state" = completed ] || { echo "the ladder job ended $state" >&2; exit 1; }
  ladder_cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')
  ladder_own=$(awk -v a="$o0" -v b="$o1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')
  job=$(job_of "$id")

  # The job's own ladder command, with its output folder moved to a scratch one.
  python3 - "$work/server.log" "$job" "$work/bare" >"$work/bare.args" <<'EOF'
import ast, re, sys
log, job, bare = sys.argv[1:]
ansi = re.compile(r"\x1b\[[0-9;]*m")
for line in open(log, encoding="utf-8", errors="replace"):
    line = ansi.sub("", line)
    if job in line and 'stage="ladder"' in line and "command=" in line:
        args = ast.literal_eval(line.split("command=", 1)[1].strip())
out = [a for a in args if a.endswith("manifest.mpd")][0]
outdir = out.rsplit("/", 1)[0]
for a in args:
    print(a.replace(outdir, bare), end="\0")
EOF
  /usr/bin/time -f "%e %U %S" -o "$work/bare.time" bash -c 'xargs -0 -a "$1" ffmpeg >/dev/null' _ "$work/bare.args"
  read -r bare_wall bare_cpu < <(awk '{printf "%.2f %.2f\n", $1, $2 + $3}' "$work/bare.time")

  # Where the job's time went: when its ffmpeg steps started and when it ended, by the server log.
  python3 - "$work/server.log" "$job" >&2 <<'PY'
import re, sys
log, job = sys.argv[1:]
ansi = re.compile(r"\x1b\[[0-9;]*m")
for line in open(log, encoding="utf-8", errors="replace"):
    line = ansi.sub("", line)
    if job in line:
        what = re.search(r'stage="?([a-z]+)', line) if "running ffmpeg" in line else None
        print("  ", line.split()[0], "step " + what.group(1) if what else line.split(None, 2)[-1][:100].strip())
PY
  echo "run $run: ladder-only job ${ladder_wall} s wall, ${ladder_cpu} s cpu (server itself ${ladder_own} s);" \
    "bare ${bare_wall} s wall, ${bare_cpu} s cpu"
  echo "$ladder_wall $ladder_cpu $bare_wall $bare_cpu" >>"$work/pairs"
done

echo "automatic job (ladder + pictures + preview): ${full_wall} s wall, ${full_cpu} s cpu"
python3 - "$work/pairs" <<'EOF'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
med = [statistics.median(c) for c in zip(*rows)]
print("ladder-only job, median of %d: %.2f s wall, %.2f s cpu" % (len(rows), med[0], med[1]))
print("its command run bare, median:  %.2f s wall, %.2f s cpu" % (med[2], med[3]))
print("ladder job vs bare ffmpeg: %+.1f%% wall, %+.1f%% cpu (medians)" % ((med[0] / med[2] - 1) * 100, (med[1] / med[3] - 1) * 100))
EOF
