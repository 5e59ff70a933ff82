# Sourced by the VOD benchmarks: `vod_input DIR [FILE]` prints the input to use: FILE if given,
# else a generated 60 s 1080p30 clip with a tone made in DIR. `VOD_INPUT` picks which clip:
#   reference (default): x264 ultrafast at its default quality (15.5 Mbit/s) and keyframe interval
#     (250 frames), above the 1080p rung's bitrate ceiling: every rung is encoded;
#   camera: H.264 at 4.5 Mbit/s with a keyframe every 2 s, as streaming encoders and exports
#     made for the web write it: within the 1080p rung's ceiling, so Ferrocast copies it as that
#     rung.
vod_input() {
  if [ -n "${2:-}" ]; then echo "$2"; return; fi
  local video=(-c:v libx264 -preset ultrafast)
  if [ "${VOD_INPUT:-reference}" = camera ]; then
    video=(-c:v libx264 -preset veryfast -b:v 4500k -maxrate 5000k -bufsize 9000k -g 60)
  fi
  ffmpeg -hide_banner -nostdin -v error -y -f lavfi -i testsrc2=size=1920x1080:rate=30:duration=60 \
    -f lavfi -i sine=frequency=440:duration=60 "${video[@]}" -pix_fmt yuv420p \
    -c:a aac -shortest "$1/in.mp4"
  echo "$1/in.mp4"
}
