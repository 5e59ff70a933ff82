#!/usr/bin/env python3
"""Writes an upload test file of exactly SIZE bytes that Ferrocast accepts as a video.

The upload is judged twice: its first bytes must sniff as a supported container, and ffprobe must
then read audio or video streams from it, or the answer is 415. Padding a real clip with
arbitrary bytes would pass the first check and fail the second, and encoding gigabytes of real
video takes far longer than the benchmark. So the file is a real short MP4 (ffmpeg, `+faststart`,
so `moov` comes before the media) followed by one ISO-BMFF `free` box holding the rest: a box every
MP4 reader skips, so ffprobe reads the clip and the file stays a valid MP4 of any size.

The padding is random bytes (not zeros), so nothing on the way can gain by compressing or by
sparse files.

  make_file.py OUT SIZE_BYTES
"""
import os
import struct
import subprocess
import sys
import tempfile

CHUNK = 8 << 20


def clip(path):
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y",
         "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=2",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", "-movflags", "+faststart", path],
        check=True,
    )


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    out, size = sys.argv[1], int(sys.argv[2])
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "clip.mp4")
        clip(src)
        with open(src, "rb") as f:
            head = f.read()
    # A `free` box with a 64-bit size: 4 bytes of 1, the type, then the real size.
    header = 16
    padding = size - len(head) - header
    if padding < 0:
        sys.exit(f"SIZE must be at least {len(head) + header} bytes")
    with open(out, "wb") as f:
        f.write(head)
        f.write(struct.pack(">I4sQ", 1, b"free", header + padding))
        left = padding
        while left:
            n = min(CHUNK, left)
            f.write(os.urandom(n))
            left -= n
    if os.path.getsize(out) != size:
        sys.exit("size mismatch")


if __name__ == "__main__":
    main()
