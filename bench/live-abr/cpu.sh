#!/usr/bin/env bash
# CPU of the live ABR ladder: starts ferrocast with transcoding on, publishes a generated
# SIZE 30 fps stream for 45 s, and reads the ladder ffmpeg's and the server's CPU time from
# /proc over 30 s of steady state. Then samples how far each rendition's live edge is behind the
# source's.
#
#   bench/live-abr/cpu.sh [PRESET=fast] [SIZE=1280x720]
#
# BIN (default target/release/ferrocast) and free ports 18931/19351 are needed, plus ffmpeg,
# curl and python3.
set -uo pipefail
PRESET=${1:-fast}
SIZE=${2:-1280x720}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:-$HERE/../../target/release/ferrocast}
D=$(mktemp -d)
export HOST=127.0.0.1 PORT=18931 RTMP_SERVER_PORT=19351 HLS_SERVER_PORT=18931 \
  DATABASE_URL="sqlite:///$D/db.sqlite" UPLOAD_DIR=$D/u THUMBNAIL_DIR=$D/t RECORDING_DIR=$D/r \
  ENABLE_TRANSCODING=true TRANSCODING_PRESET=$PRESET LOG_LEVEL=warn
"$BIN" > "$D/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$D"' EXIT
sleep 2
S=$(curl -s -X POST localhost:18931/api/streams -H 'content-type: application/json' \
  -d '{"title":"cpu","streamer_id":"bench"}')
field() { echo "$S" | python3 -c "import sys,json; print(json.load(sys.stdin)['$1'])"; }
ffmpeg -hide_banner -loglevel error -nostdin -re \
  -f lavfi -i "testsrc2=size=$SIZE:rate=30" -f lavfi -i sine=frequency=440 -t 45 \
  -c:v libx264 -preset veryfast -tune zerolatency -g 60 -b:v 2500k -pix_fmt yuv420p \
  -c:a aac -f flv "$(field rtmp_url)" &
PUB=$!
sleep 6
LADDER=$(pgrep -P $SERVER -f force_key_frames)
[ -n "$LADDER" ] || { echo "no ladder ffmpeg (source not above 360p?)"; cat "$D/server.log"; exit 1; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
T=$(getconf CLK_TCK)
l0=$(ticks "$LADDER"); s0=$(ticks $SERVER)
sleep 30
l1=$(ticks "$LADDER"); s1=$(ticks $SERVER)
pct() { python3 -c "print(round(($2-$1)/$T/30*100,1))"; }
echo "preset=$PRESET source=${SIZE}@30: ladder ffmpeg $(pct "$l0" "$l1")% of one core, server $(pct "$s0" "$s1")%"
python3 "$HERE/edge_lag.py" http://127.0.0.1:18931 "/hls/$(field id).m3u8"
wait $PUB
