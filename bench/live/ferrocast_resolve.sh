#!/usr/bin/env bash
# STREAM_RESOLVER for Ferrocast: creates a stream named NAME through the API and prints its
# "rtmp_url hls_url" (the publish URL carries the random stream key, the playback URL the id).
set -euo pipefail
name=$1
api="http://${BENCH_HOST:-127.0.0.1}:${FERROCAST_PORT:-18700}"
curl -sf "$api/api/streams" -H 'content-type: application/json' \
  -d "{\"title\": \"$name\", \"streamer_id\": \"bench\", \"max_viewers\": 1000000}" \
  | python3 -c 'import json, sys; s = json.load(sys.stdin); print(s["rtmp_url"], s["hls_url"])'
