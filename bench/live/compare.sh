#!/usr/bin/env bash
# nginx-rtmp and Ferrocast measured in one go on this machine, with the same source and knobs.
set -euo pipefail
cd "$(dirname "$0")"
NS=${NS:-"1 4 16 64"} ./run_all.sh
NS=${NS:-"1 4 16 64"} ./ferrocast.sh
ls -d results/run-* | tail -n 2
