#!/usr/bin/env python3
"""RTMP->HLS latency probe (startup latency and steady-state live-edge delay).

Method
------
The probe is its own publisher: it starts `ffmpeg -re -stream_loop -1 -i SRC
-c copy -f flv RTMP_URL -progress pipe:1 -stats_period 0.1` on a fresh stream
name and reads ffmpeg's progress lines. Each `progress=` block carries
out_time (media time of the last packet written to the RTMP socket); stamping
each block with the wall clock gives the publisher's media->wall mapping
    wall(pts) = offset + pts,   offset = median(wall_i - out_time_i)
(-re paces at 1x, the fitted slope is reported as a sanity check).

Meanwhile it polls the HLS playlist every --poll seconds (default 50 ms):

* startup latency: wall time from publisher spawn to (a) the first playlist
  with >=1 segment, (b) that segment fetched and recognised as TS/fMP4
  ("first playable"), (c) a playlist holding >=3 segments (what a standard
  player needs to start 3 target durations behind the live edge).
* per-segment publish delay: a segment's media end time E_k is the cumulative
  EXTINF sum from the first segment of this fresh stream (the first segment
  starts at media time ~0; error <= 1 frame). publish_delay_k =
  (wall time the segment first appeared in the playlist) - wall(E_k): how long
  after the publisher had sent the last frame of the segment the server
  advertised it. Quantised by the poll interval plus one HTTP round trip.
  With --hls-dir (local server) the segment file mtime gives the same figure
  without polling error (mtime_delay).
* live-edge delay, sampled at every poll: now - wall(E_newest) = how old the
  newest advertised media is. It is a saw-tooth between publish_delay and
  publish_delay + segment duration; we report min/mean/p50/p95/max.
* estimated standard-player latency = mean live-edge delay + 3 x
  TARGETDURATION (RFC 8216 6.3.3: clients should not start closer than three
  target durations to the end of a live playlist). It excludes encoder,
  network and decoder buffering on the real glass-to-glass path.
* If the playlist carries EXT-X-PROGRAM-DATE-TIME, a PDT-based edge delay
  (now - (PDT_newest + EXTINF_newest)) is also reported; it uses the server's
  clock and works for any server even without the publisher mapping.

Optional background load: --background B starts B extra publishers (streams
<prefix>bg1..B) first, so the probe measures latency with B+1 streams live.
"""
import argparse
import json
import os
import random
import statistics as st
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hls  # noqa: E402


def tmpl(t, stream):
    return t.replace("{stream}", stream)


def urls(a, stream):
    """(rtmp, hls) URLs of a stream: from STREAM_RESOLVER when set (a server that hands out a
    publish key and a playback id through its API), else from the templates."""
    resolver = os.environ.get("STREAM_RESOLVER")
    if resolver:
        out = subprocess.run(resolver.split() + [stream], check=True, capture_output=True, text=True)
        rtmp, hls = out.stdout.split()[:2]
        return rtmp, hls
    return tmpl(a.rtmp_tmpl, stream), tmpl(a.hls_tmpl, stream)


def ffmpeg_pub(src, url, log_path, max_s, progress=False):
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-re", "-stream_loop", "-1",
           "-i", src, "-t", str(max_s), "-c", "copy", "-f", "flv"]
    if progress:
        cmd += ["-progress", "pipe:1", "-stats_period", "0.1", "-nostats"]
    cmd.append(url)
    logf = open(log_path, "w")
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE if progress else subprocess.DEVNULL,
                            stderr=logf, text=True)


def stop(p, grace=3.0):
    if p.poll() is not None:
        return
    p.terminate()
    try:
        p.wait(grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return None
    i = min(len(xs) - 1, max(0, int(round(q / 100 * (len(xs) - 1)))))
    return xs[i]


def summ(xs, nd=3):
    if not xs:
        return None
    return {"n": len(xs), "min": round(min(xs), nd), "mean": round(st.mean(xs), nd),
            "p50": round(pct(xs, 50), nd), "p95": round(pct(xs, 95), nd), "max": round(max(xs), nd)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rtmp-tmpl", default=os.environ.get("RTMP_URL_TMPL", "rtmp://127.0.0.1:19350/live/{stream}"))
    ap.add_argument("--hls-tmpl", default=os.environ.get("HLS_PLAYLIST_TMPL", "http://127.0.0.1:18080/hls/{stream}.m3u8"))
    ap.add_argument("--src", default=os.environ.get("LAT_SRC_FILE", "data/src_lat.flv"),
                    help="source for the probe's own publisher (B-frame-free recommended)")
    ap.add_argument("--bg-src", default=os.environ.get("SRC_FILE", "data/src.flv"),
                    help="source for background publishers")
    ap.add_argument("--stream", help="probe stream name (default: fresh lat<time><rand>)")
    ap.add_argument("--prefix", default=os.environ.get("STREAM_PREFIX", "stream"))
    ap.add_argument("--duration", type=float, default=30.0, help="seconds after publisher start")
    ap.add_argument("--poll", type=float, default=0.05)
    ap.add_argument("--background", type=int, default=0, help="extra publishers to run meanwhile")
    ap.add_argument("--bg-warmup", type=float, default=4.0)
    ap.add_argument("--hls-dir", help="local HLS directory (nginx hls_path) for mtime-based delay")
    ap.add_argument("--out", default=".", help="directory for logs + latency.json")
    a = ap.parse_args()

    os.makedirs(a.out, exist_ok=True)
    try:
        kf = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-read_intervals", "%+#1",
                             "-show_entries", "packet=pts_time,dts_time", "-of", "csv=p=0", a.src],
                            capture_output=True, text=True, timeout=20).stdout.split()[0].split(",")
        src_cts = round(float(kf[0]) - float(kf[1]), 4)
    except Exception:
        src_cts = None
    max_s = a.duration + a.bg_warmup + 30
    bgs = []
    res = {"background_publishers": a.background}
    try:
        for i in range(1, a.background + 1):
            name = f"{a.prefix}bg{i}"
            bgs.append(ffmpeg_pub(a.bg_src, urls(a, name)[0], os.path.join(a.out, f"bg-{i}.log"), max_s))
        if bgs:
            time.sleep(a.bg_warmup)

        stream = a.stream or f"lat{int(time.time())}{random.randint(100, 999)}"
        rtmp_url, hls_url = urls(a, stream)
        res.update(stream=stream, rtmp_url=rtmp_url, hls_url=hls_url, poll_s=a.poll, src=a.src)

        samples = []  # (wall, out_time_s)

        t_start = time.time()
        pub = ffmpeg_pub(a.src, rtmp_url, os.path.join(a.out, "probe-publisher.log"), max_s, progress=True)

        def reader():
            cur = None
            for line in pub.stdout:
                line = line.strip()
                if line.startswith("out_time_us="):
                    try:
                        cur = int(line.split("=", 1)[1]) / 1e6
                    except ValueError:
                        cur = None
                elif line.startswith("progress=") and cur is not None:
                    samples.append((time.time(), cur))

        th = threading.Thread(target=reader, daemon=True)
        th.start()

        seen = {}          # seq -> dict(appear, duration, pdt, uri, mtime)
        edge_polls = []    # (wall, newest_seq, pdt_edge or None)
        t_playlist = t_playable = t_3seg = None
        t_first_part = None  # LL-HLS: a player can start from the first part
        target = None
        poll_errors = 0
        deadline = t_start + a.duration
        while time.time() < deadline:
            t_poll = time.time()
            pl, info = hls.fetch_playlist(hls_url)
            now = time.time()
            if t_first_part is None and pl is not None and pl.get("first_part_url"):
                stt, data, _ = hls.http_get(pl["first_part_url"])
                if stt == 200 and hls.looks_like_media(data):
                    t_first_part = time.time()
            if pl is None or not pl["segments"]:
                if info["status"] not in (0, 404) and pl is None:
                    poll_errors += 1
            else:
                target = pl["target_duration"]
                segs = pl["segments"]
                for s in segs:
                    if s["seq"] not in seen:
                        rec = {"appear": now, "duration": s["duration"], "pdt": s["pdt"], "uri": s["uri"]}
                        if a.hls_dir:
                            try:
                                rec["mtime"] = os.stat(os.path.join(a.hls_dir, os.path.basename(s["uri"]))).st_mtime
                            except OSError:
                                pass
                        seen[s["seq"]] = rec
                if t_playlist is None:
                    t_playlist = now
                    stt, data, _ = hls.http_get(segs[0]["url"])
                    if stt == 200 and hls.looks_like_media(data):
                        t_playable = time.time()
                if t_playable is None and t_playlist is not None and t_poll > t_playlist:
                    stt, data, _ = hls.http_get(segs[-1]["url"])
                    if stt == 200 and hls.looks_like_media(data):
                        t_playable = time.time()
                if t_3seg is None and len(segs) >= 3:
                    t_3seg = now
                newest = segs[-1]
                pdt_edge = (now - (newest["pdt"] + (newest["duration"] or 0))) if newest["pdt"] else None
                edge_polls.append((now, newest["seq"], pdt_edge, sum(pl.get("tail_parts") or [])))
            sl = a.poll - (time.time() - t_poll)
            if sl > 0:
                time.sleep(sl)
        stop(pub)
        th.join(2)
    finally:
        for p in bgs:
            stop(p)

    # --- publisher media->wall mapping
    good = [(w, o) for (w, o) in samples if o > 0.2]
    if len(good) < 5:
        res["error"] = f"too few progress samples ({len(samples)})"
        print(json.dumps(res, indent=1))
        return 1
    offset = st.median(w - o for w, o in good)
    n = len(good)
    mw, mo = sum(w for w, _ in good) / n, sum(o for _, o in good) / n
    slope = sum((o - mo) * (w - mw) for w, o in good) / max(1e-9, sum((o - mo) ** 2 for _, o in good))
    resid = [abs((w - o) - offset) for w, o in good]
    first_media_wall = min(w for w, o in samples if o > 0) if any(o > 0 for _, o in samples) else None
    res["publisher_mapping"] = {
        "src_first_keyframe_pts_minus_dts_s": src_cts,
        "samples": n, "slope_wall_per_media": round(slope, 4),
        "offset_jitter_p95_s": round(pct(resid, 95), 4),
        "spawn_to_media_start_s": round(offset - t_start, 3),
        "spawn_to_first_progress_s": round(first_media_wall - t_start, 3) if first_media_wall else None,
    }

    # --- per-segment publish delay
    seqs = sorted(seen)
    ends = {}
    acc = 0.0
    for q in seqs:
        acc += seen[q]["duration"] or 0.0
        ends[q] = acc
    pub_delay, mtime_delay = [], []
    for q in seqs[1:-1]:  # skip the first (startup) and last (maybe truncated by stop)
        wall_end = offset + ends[q]
        pub_delay.append(seen[q]["appear"] - wall_end)
        if "mtime" in seen[q]:
            mtime_delay.append(seen[q]["mtime"] - wall_end)

    # --- live-edge delay over steady state (after the 2nd segment appeared)
    steady_from = seen[seqs[1]]["appear"] if len(seqs) > 1 else None
    edge, pdt_edge = [], []
    part_edge = []  # LL-HLS: the newest advertised part, not the newest whole segment
    for (t, q, pe, tail) in edge_polls:
        if steady_from is None or t < steady_from:
            continue
        edge.append(t - (offset + ends[q]))
        if tail:
            part_edge.append(t - (offset + ends[q] + tail))
        if pe is not None:
            pdt_edge.append(pe)

    res["startup"] = {
        "first_playlist_s": round(t_playlist - t_start, 3) if t_playlist else None,
        "first_playable_segment_s": round(t_playable - t_start, 3) if t_playable else None,
        "three_segments_s": round(t_3seg - t_start, 3) if t_3seg else None,
        "first_segment_duration_s": seen[seqs[0]]["duration"] if seqs else None,
        "first_playable_part_s": round(t_first_part - t_start, 3) if t_first_part else None,
    }
    res["target_duration_s"] = target
    res["segments_seen"] = len(seqs)
    res["segment_duration"] = summ([seen[q]["duration"] for q in seqs[1:-1] if seen[q]["duration"]])
    res["publish_delay_s"] = summ(pub_delay)
    res["mtime_delay_s"] = summ(mtime_delay)
    res["live_edge_delay_s"] = summ(edge)
    res["pdt_edge_delay_s"] = summ(pdt_edge)
    res["part_edge_delay_s"] = summ(part_edge)
    if edge and target:
        res["est_standard_player_latency_s"] = round(st.mean(edge) + 3 * target, 3)
    res["poll_errors"] = poll_errors

    with open(os.path.join(a.out, "latency.json"), "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")

    s = res["startup"]
    pm = res["publisher_mapping"]
    print(f"== latency probe: stream {stream}, {a.background} background publishers, poll {a.poll}s ==")
    print(f"publisher       : media start {pm['spawn_to_media_start_s']}s after spawn, slope {pm['slope_wall_per_media']},"
          f" mapping jitter p95 {pm['offset_jitter_p95_s']}s")
    print(f"startup         : first playlist {s['first_playlist_s']}s, first playable segment"
          f" {s['first_playable_segment_s']}s, >=3 segments {s['three_segments_s']}s (from publisher spawn)")
    if s.get("first_playable_part_s") is not None:
        print(f"LL-HLS          : first playable part {s['first_playable_part_s']}s,"
              f" part live-edge delay {res['part_edge_delay_s']}")

    def fmt(d):
        return "n/a" if not d else f"mean {d['mean']} p50 {d['p50']} p95 {d['p95']} min {d['min']} max {d['max']} (n={d['n']})"
    print(f"segment dur     : {fmt(res['segment_duration'])}")
    print(f"publish delay   : {fmt(res['publish_delay_s'])}")
    if mtime_delay:
        print(f"mtime delay     : {fmt(res['mtime_delay_s'])}")
    print(f"live-edge delay : {fmt(res['live_edge_delay_s'])}")
    if pdt_edge:
        print(f"PDT edge delay  : {fmt(res['pdt_edge_delay_s'])}")
    print(f"est. std player : {res.get('est_standard_player_latency_s')}s (mean edge + 3 x TARGETDURATION {target})")
    print(f"json            : {os.path.join(a.out, 'latency.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
