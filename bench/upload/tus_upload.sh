#!/usr/bin/env bash
# One tus 1.0 upload with curl: POST /api/uploads (Upload-Length, Upload-Metadata), then one PATCH
# of the whole file from offset 0 (curl -T streams it from disk). Prints
# "<PATCH status> <seconds, creation plus PATCH> <bytes sent> <upload id>".
#
#   tus_upload.sh BASE_URL FILE
set -euo pipefail
base=$1
file=$2
size=$(stat -c %s "$file")
b64() { printf %s "$1" | base64 -w0; }
meta="filename $(b64 "$(basename "$file")"),uploader_id $(b64 bench),title $(b64 "upload bench")"
headers=$(mktemp)
trap 'rm -f "$headers"' EXIT
create_time=$(curl -sS -o /dev/null -D "$headers" -X POST "$base/api/uploads" \
  -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $size" -H "Upload-Metadata: $meta" \
  -w '%{time_total}')
location=$(tr -d '\r' <"$headers" | awk 'tolower($1) == "location:" { print $2 }')
if [[ -z "$location" ]]; then
  echo "tus creation failed:" >&2
  cat "$headers" >&2
  exit 1
fi
case "$location" in
  http*) url=$location ;;
  *) url=$base$location ;;
esac
read -r code patch_time sent < <(curl -sS -o /dev/null -X PATCH -T "$file" "$url" \
  -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
  -H 'Content-Type: application/offset+octet-stream' -H 'Expect:' \
  -w '%{http_code} %{time_total} %{size_upload}\n')
total=$(awk -v a="$create_time" -v b="$patch_time" 'BEGIN { printf "%.3f", a + b }')
echo "$code $total $sent ${location##*/}"
