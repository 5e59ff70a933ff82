#!/usr/bin/env bash
# The whole test suite: the web app's unit tests, the Rust unit tests, the media crate's
# ffmpeg/ffprobe tests, and the service's integration tests (the web app's in headless Chromium)
# on SQLite and on PostgreSQL (FERROCAST_TEST_POSTGRES_URL, default
# postgres://postgres@127.0.0.1:5432/postgres). Port 8000 must be free (the README's Python client
# is run as written, against localhost:8000).
set -euo pipefail
cd "$(dirname "$0")/.."
# The web app's own logic (web/test), then everything else.
(cd web && npm test --silent)
exec cargo test --workspace "$@"
