# Sourced by the VOD benchmarks: `vod_input DIR [FILE]` prints the input to use, FILE if given,
# else a generated 60 s 1080p30 clip with a tone (the reference input) made in DIR.
vod_input() {
  if [ -n "${2:-}" ]; then echo "$2"; return; fi
  ffmpeg -hide_banner -nostdin -v error -y -f lavfi -i testsrc2=size=1920x1080:rate=30:duration=60 \
    -f lavfi -i sine=frequency=440:duration=60 -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
    -c:a aac -shortest "$1/in.mp4"
  echo "$1/in.mp4"
}
