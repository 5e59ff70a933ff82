#!/usr/bin/env bash
# Transcode cost of the VOD ladder: ferrocast's single pass (decode once, scale each rung from the
# next larger one, encode every rung into one DASH/HLS output, the shape `vod::ladder::ladder_args`
# builds) against the seed's
# approach of one ffmpeg run per rendition, with the same x264 settings. Prints wall and CPU time
# of each and the ratio.
#
#   bench/vod-ladder.sh [input] [preset]     (default: a generated 60 s 1080p30 clip, veryfast)
#
# With TOP=copy the single pass copies the source as its 1080p rung and the other rungs take their
# keyframes from the source (the command the server runs when the source qualifies,
# `vod::passthrough`; VOD_INPUT=camera makes such a source). The per-rendition runs encode every
# rung either way, as the seed's `generate_hls_variants` does.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/vod-input.sh"
in=$(vod_input "$work" "${1:-}")
preset=${2:-veryfast}
rungs=("640:360:800" "854:480:1400" "1280:720:2800" "1920:1080:5000")
base=(-hide_banner -nostdin -v error -y)
x264=(-c:v libx264 -preset "$preset" -sc_threshold 0 -g 120 -keyint_min 120
  -force_key_frames "expr:gte(t,n_forced*4)")
dash=(-f dash -seg_duration 4 -use_template 1 -use_timeline 1)

top=${TOP:-encode}
encoded=${#rungs[@]}
single_x264=("${x264[@]}")
if [ "$top" = copy ]; then
  encoded=$((encoded - 1))
  graph="[0:v:0]format=yuv420p"
  single_x264=(-c:v libx264 -preset "$preset" -sc_threshold 0 -g 240 -keyint_min 240
    -force_key_frames source)
else
  graph="[0:v:0]fps=30,format=yuv420p"
fi
# Each rung scaled from the next larger one's picture, as `ladder::scale_graph` does.
maps=()
for i in $(seq $((encoded - 1)) -1 0); do
  IFS=: read -r w h k <<<"${rungs[$i]}"
  if [ "$i" -eq $((encoded - 1)) ]; then graph+=","; else graph+=";[c$((i + 1))]"; fi
  graph+="scale=$w:$h:flags=bicubic"
  if [ "$i" -gt 0 ]; then graph+=",split=2[v$i][c$i]"; else graph+="[v$i]"; fi
done
for i in $(seq 0 $((encoded - 1))); do
  IFS=: read -r w h k <<<"${rungs[$i]}"
  maps+=(-map "[v$i]" "-b:v:$i" "${k}k")
done
copy=()
# After the x264 options: for per-stream options ffmpeg takes the last that matches.
[ "$top" = copy ] && copy=(-map 0:v:0 "-c:v:$encoded" copy)

measure() { # prints "wall cpu" in seconds
  local out="$work/time"
  /usr/bin/time -f "%e %U %S" -o "$out" "$@"
  awk '{printf "%.2f %.2f\n", $1, $2 + $3}' "$out"
}

mkdir -p "$work/single"
read -r s_wall s_cpu < <(measure ffmpeg "${base[@]}" -i "$in" -filter_complex "$graph" "${maps[@]}" \
  "${single_x264[@]}" "${copy[@]}" -map 0:a:0 -c:a aac -b:a 192k "${dash[@]}" -hls_playlist 1 "$work/single/manifest.mpd")

per_rendition() {
  for r in "${rungs[@]}"; do
    IFS=: read -r w h k <<<"$r"
    mkdir -p "$work/per/$h"
    ffmpeg "${base[@]}" -i "$in" -vf "fps=30,format=yuv420p,scale=$w:$h" -map 0:v:0 -map 0:a:0 \
      "${x264[@]}" -b:v "${k}k" -c:a aac -b:a 128k "${dash[@]}" "$work/per/$h/manifest.mpd"
  done
}
export -f per_rendition
export in work preset
read -r p_wall p_cpu < <(measure bash -c "$(declare -p rungs base x264 dash); $(declare -f per_rendition); per_rendition")

echo "single pass (top rung: $top): ${s_wall} s wall, ${s_cpu} s cpu"
echo "per rendition:   ${p_wall} s wall, ${p_cpu} s cpu"
awk -v a="$p_wall" -v b="$s_wall" -v c="$p_cpu" -v d="$s_cpu" \
  'BEGIN { printf "single pass is %.2fx faster (wall), %.2fx less cpu\n", a / b, c / d }'
