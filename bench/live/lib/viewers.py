#!/usr/bin/env python3
"""N HLS viewers that keep a connection open and poll a live playlist (stdlib only).

Each viewer opens its own keep-alive HTTP/1.1 connection, fetches the playlist URL
once (a multivariant playlist, as Ferrocast serves, is followed to its first
variant, which opens that viewer's playback session), then reloads the media
playlist every POLL seconds, as a player does between segments. Viewers connect
over RAMP seconds and stay for HOLD seconds; the caller samples the server's RSS
meanwhile. Media segments are not fetched: what is measured is what the server
keeps per connected viewer, not the bandwidth.

CLI:
  viewers.py URL --n 1000 --poll 1 --ramp 5 --hold 20 [--json out.json]
Prints (and writes) how many viewers connected, reloads made and failed.
"""
import argparse
import asyncio
import json
import sys
import time
import urllib.parse


async def get(reader, writer, host, path):
    """One request on an open connection -> (status, body)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bench-viewer/1\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    chunked = False
    for line in lines[1:]:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        if k == "content-length":
            length = int(v.strip())
        elif k == "transfer-encoding" and "chunked" in v.lower():
            chunked = True
    if chunked:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = await reader.readexactly(length)
    return status, body


def first_variant(text, base):
    if "#EXT-X-STREAM-INF" not in text:
        return None
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return urllib.parse.urljoin(base, line)
    return None


async def viewer(url, poll, until, stats):
    u = urllib.parse.urlsplit(url)
    host = u.netloc
    try:
        reader, writer = await asyncio.open_connection(u.hostname, u.port or 80)
    except OSError:
        stats["connect_failed"] += 1
        return
    try:
        path = u.path + (f"?{u.query}" if u.query else "")
        status, body = await get(reader, writer, host, path)
        if status != 200:
            stats["failed"] += 1
            return
        variant = first_variant(body.decode("utf-8", "replace"), url)
        if variant:
            v = urllib.parse.urlsplit(variant)
            path = v.path + (f"?{v.query}" if v.query else "")
        stats["connected"] += 1
        while time.monotonic() < until:
            status, _ = await get(reader, writer, host, path)
            stats["reloads" if status == 200 else "failed"] += 1
            await asyncio.sleep(poll)
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        stats["failed"] += 1
    finally:
        writer.close()


async def main_async(a):
    stats = {"connected": 0, "reloads": 0, "failed": 0, "connect_failed": 0}
    start = time.monotonic()
    until = start + a.ramp + a.hold
    tasks = []
    for i in range(a.n):
        tasks.append(asyncio.create_task(viewer(a.url, a.poll, until, stats)))
        # spread the connects over the ramp so the server is not measured mid-burst
        await asyncio.sleep(a.ramp / max(a.n, 1))
    await asyncio.gather(*tasks)
    stats["n"] = a.n
    stats["wall_s"] = round(time.monotonic() - start, 2)
    return stats


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--poll", type=float, default=1.0)
    p.add_argument("--ramp", type=float, default=5.0)
    p.add_argument("--hold", type=float, default=20.0)
    p.add_argument("--json")
    a = p.parse_args()
    stats = asyncio.run(main_async(a))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(stats, f)
    print(json.dumps(stats))
    return 0 if stats["connected"] == a.n else 1


if __name__ == "__main__":
    sys.exit(main())
