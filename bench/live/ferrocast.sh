#!/usr/bin/env bash
# The live benchmark against Ferrocast, with the same scripts, source and knobs as the nginx-rtmp
# baseline (run_all.sh): a fresh server per N, streams created through the API.
#
#   ./ferrocast.sh                 # NS="1 4 16 64"
#   ./compare.sh                   # nginx-rtmp then Ferrocast, one after the other
set -euo pipefail
cd "$(dirname "$0")"
(cd ../.. && cargo build --release -p ferrocast)
export SERVER_CTL=./server_ferrocast.sh
export STREAM_RESOLVER="$PWD/ferrocast_resolve.sh"
export SERVER_PIDFILE="$PWD/run/ferrocast/ferrocast.pid"
export NS=${NS:-"1 4 16 64"}
exec ./run_all.sh
