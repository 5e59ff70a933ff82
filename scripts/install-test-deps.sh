#!/usr/bin/env bash
# Installs what the test suite needs on a Debian machine: ffmpeg/ffprobe (media is judged by the
# real tools), Chromium with Node's hls.js, playwright-core and axe-core (live playback and the web
# app are judged in a real browser), Python's requests and websockets (the README's Python client
# runs as a test), moto's S3 server (S3 storage is tested against it), nginx (a caching proxy plays
# a CDN in front of the server) and a running PostgreSQL (half of the suite runs on it). Safe to
# run again.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

apt_packages=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || apt_packages+=(ffmpeg)
command -v python3 >/dev/null 2>&1 || apt_packages+=(python3 python3-pip)
command -v pg_ctlcluster >/dev/null 2>&1 || apt_packages+=(postgresql)
command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
command -v node >/dev/null 2>&1 || apt_packages+=(nodejs npm)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || apt_packages+=(nginx)
if [ ${#apt_packages[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

if ! python3 -c 'import requests, websockets' >/dev/null 2>&1; then
  python3 -m pip install -q requests websockets 2>/dev/null \
    || python3 -m pip install -q --break-system-packages requests websockets
fi

if ! python3 -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1; then
  python3 -m pip install -q 'moto[server]' 2>/dev/null \
    || python3 -m pip install -q --break-system-packages 'moto[server]'
fi

browser_tests="$(dirname "$0")/../crates/ferrocast/tests/browser"
if [ ! -d "$browser_tests/node_modules/hls.js" ] || [ ! -d "$browser_tests/node_modules/playwright-core" ] \
  || [ ! -d "$browser_tests/node_modules/axe-core" ]; then
  (cd "$browser_tests" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The web app's build tools and unit test runner (web/package-lock.json).
web="$(dirname "$0")/../web"
if [ ! -d "$web/node_modules/vite" ] || [ ! -d "$web/node_modules/vitest" ]; then
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
fi

# PostgreSQL on 127.0.0.1:5432 with the `postgres` role reachable without a password.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$version" ]; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
  for _ in $(seq 1 30); do
    pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && break
    sleep 1
  done
fi
if ! psql -h 127.0.0.1 -U postgres -d postgres -c 'select 1' >/dev/null 2>&1; then
  # A stock Debian cluster wants a password over TCP; the tests use a local trust rule instead.
  hba=$(ls /etc/postgresql/*/main/pg_hba.conf 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$hba" ] && ! grep -q 'ferrocast-tests' "$hba"; then
    sed -i '1i host all postgres 127.0.0.1/32 trust # ferrocast-tests' "$hba"
    version=$(basename "$(dirname "$(dirname "$hba")")")
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
  fi
fi
psql -h 127.0.0.1 -U postgres -d postgres -c 'select 1' >/dev/null
echo "test dependencies ready: $(ffmpeg -version | head -n 1)"
