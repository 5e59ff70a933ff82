#!/usr/bin/env python3
"""Minimal HLS playlist fetch/parse/verify helpers (stdlib only).

Handles plain media playlists (nginx-rtmp, SRS), and follows the first variant
of a multivariant playlist (MediaMTX-style index.m3u8). Understands
EXT-X-PROGRAM-DATE-TIME and counts EXT-X-PART lines (LL-HLS) without using them.

CLI:
  hls.py check URL [URL...] [--json out.json]
      For each playlist: HTTP 200, >=1 segment, newest segment fetchable and
      looks like MPEG-TS (0x47 sync every 188 bytes) or fMP4 (ISO BMFF box).
"""
import argparse
import datetime as dt
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 5.0


def http_get(url, timeout=TIMEOUT):
    """-> (status, body bytes, elapsed_s). status 0 = connection error."""
    t = time.monotonic()
    req = urllib.request.Request(url, headers={"User-Agent": "bench-hls/1", "Cache-Control": "no-cache"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
            return r.status, body, time.monotonic() - t
    except urllib.error.HTTPError as e:
        return e.code, b"", time.monotonic() - t
    except (urllib.error.URLError, OSError):
        return 0, b"", time.monotonic() - t


def parse_pdt(v):
    v = v.strip().replace("Z", "+00:00")
    try:
        return dt.datetime.fromisoformat(v).timestamp()
    except ValueError:
        return None


def parse_media_playlist(text, base_url):
    pl = {"media_sequence": 0, "target_duration": None, "segments": [], "parts": 0,
          "endlist": False, "version": None, "tail_parts": [], "first_part_url": None}
    seq = None
    pending = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            pl["media_sequence"] = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            pl["target_duration"] = float(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-VERSION:"):
            pl["version"] = int(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            pending["duration"] = float(line.split(":", 1)[1].split(",")[0])
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pending["pdt"] = parse_pdt(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-DISCONTINUITY") and not line.startswith("#EXT-X-DISCONTINUITY-"):
            pending["discontinuity"] = True
        elif line.startswith("#EXT-X-PART:"):
            pl["parts"] += 1
            # parts after the last complete segment belong to the one being written (LL-HLS)
            attrs = dict(kv.split("=", 1) for kv in line.split(":", 1)[1].split(",") if "=" in kv)
            pl["tail_parts"].append(float(attrs.get("DURATION", "0")))
            if pl["first_part_url"] is None and "URI" in attrs:
                pl["first_part_url"] = urllib.parse.urljoin(base_url, attrs["URI"].strip('"'))
        elif line.startswith("#EXT-X-ENDLIST"):
            pl["endlist"] = True
        elif not line.startswith("#"):
            if seq is None:
                seq = pl["media_sequence"]
            seg = {"seq": seq, "uri": line, "url": urllib.parse.urljoin(base_url, line),
                   "duration": pending.get("duration"), "pdt": pending.get("pdt"),
                   "discontinuity": pending.get("discontinuity", False)}
            pl["segments"].append(seg)
            seq += 1
            pending = {}
            pl["tail_parts"] = []
    return pl


def fetch_playlist(url):
    """-> (playlist dict or None, info dict). Follows one multivariant level."""
    st, body, el = http_get(url)
    info = {"url": url, "status": st, "elapsed_s": round(el, 4)}
    if st != 200:
        return None, info
    text = body.decode("utf-8", "replace")
    if "#EXT-X-STREAM-INF" in text:
        lines = [l.strip() for l in text.splitlines()]
        for i, l in enumerate(lines):
            if l.startswith("#EXT-X-STREAM-INF"):
                for nxt in lines[i + 1:]:
                    if nxt and not nxt.startswith("#"):
                        media_url = urllib.parse.urljoin(url, nxt)
                        info["variant_url"] = media_url
                        st, body, el = http_get(media_url)
                        info["status"] = st
                        if st != 200:
                            return None, info
                        text = body.decode("utf-8", "replace")
                        url = media_url
                        break
                break
    return parse_media_playlist(text, url), info


def looks_like_media(data):
    if len(data) >= 376 and data[0] == 0x47 and data[188] == 0x47:
        return "mpegts"
    if len(data) >= 8 and data[4:8] in (b"ftyp", b"styp", b"moof", b"sidx", b"moov"):
        return "fmp4"
    return None


def check(url):
    pl, info = fetch_playlist(url)
    r = {"url": url, "ok": False, "status": info["status"]}
    if pl is None:
        r["error"] = f"playlist HTTP {info['status']}"
        return r
    segs = pl["segments"]
    r.update(media_sequence=pl["media_sequence"], segments=len(segs),
             target_duration=pl["target_duration"], parts=pl["parts"],
             has_pdt=any(s["pdt"] for s in segs),
             window_s=round(sum(s["duration"] or 0 for s in segs), 3))
    if not segs:
        r["error"] = "no segments"
        return r
    last = segs[-1]
    st, data, el = http_get(last["url"])
    kind = looks_like_media(data) if st == 200 else None
    r.update(newest_seq=last["seq"], newest_uri=last["uri"], newest_status=st,
             newest_bytes=len(data), newest_duration=last["duration"], newest_kind=kind,
             newest_kbps=round(len(data) * 8 / 1000 / last["duration"], 1) if last["duration"] else None)
    if st != 200:
        r["error"] = f"segment HTTP {st}"
    elif not kind:
        r["error"] = "segment is neither MPEG-TS nor fMP4"
    else:
        r["ok"] = True
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("urls", nargs="+")
    c.add_argument("--json")
    a = ap.parse_args()
    res = [check(u) for u in a.urls]
    out = {"t": time.time(), "results": res, "ok": sum(r["ok"] for r in res), "total": len(res)}
    txt = json.dumps(out, indent=1)
    if a.json:
        with open(a.json, "w") as f:
            f.write(txt + "\n")
    print(txt)
    return 0 if out["ok"] == out["total"] else 1


if __name__ == "__main__":
    sys.exit(main())
