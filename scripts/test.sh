#!/usr/bin/env bash
# The whole test suite: unit tests, the media crate's ffmpeg/ffprobe tests, and the service's
# integration tests on SQLite and on PostgreSQL (FERROCAST_TEST_POSTGRES_URL, default
# postgres://postgres@127.0.0.1:5432/postgres). Port 8000 must be free (the README's Python client
# is run as written, against localhost:8000).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --workspace "$@"
