#!/usr/bin/env python3
"""Collect one run_all.sh output directory into a markdown summary."""
import glob
import json
import os
import re
import sys


def load(p):
    with open(p) as f:
        return json.load(f)


def g(d, *ks):
    for k in ks:
        if d is None:
            return None
        d = d.get(k)
    return d


def main():
    run = sys.argv[1]
    lines = [f"# Baseline run {os.path.basename(run)}", ""]
    env = os.path.join(run, "env.txt")
    if os.path.exists(env):
        lines += ["```", open(env).read().rstrip(), "```", ""]

    def nkey(p):
        m = re.search(r"-n(\d+)$", os.path.dirname(p))
        return int(m.group(1)) if m else 0

    lines += ["## RTMP ingest (N publishers, -c copy, HLS 2 s fragments)", "",
              "| N | server CPU % of 1 core | CPU %/stream | RSS idle MiB | RSS peak MiB | +MiB/stream | HLS files MiB | publishers CPU % | HLS ok start/end | seq advance min/mean (exp) | segment kbps |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in sorted(glob.glob(os.path.join(run, "ingest-n*", "summary.json")), key=nkey):
        s = load(p)
        lines.append(f"| {s['streams']} | {s['server_cpu_pct_one_core']} | {s['server_cpu_pct_per_stream']} | "
                     f"{s['server_rss_idle_mib']} | {s['server_rss_peak_mib']} | {s['server_rss_delta_per_stream_mib']} | "
                     f"{s.get('hls_dir_mib')} | "
                     f"{s['publishers_cpu_pct_one_core']} | {s['hls_ok_start']} / {s['hls_ok_end']} | "
                     f"{s['hls_seq_advance_min']}/{s['hls_seq_advance_mean']} ({s['hls_seq_advance_expected']}) | "
                     f"{s['hls_newest_segment_kbps_mean']} |")

    lines += ["", "## Latency (probe stream + N-1 background publishers)", "",
              "| N live | first playlist s | first playable s | >=3 segments s | publish delay mean s | mtime delay mean s | live-edge delay mean / p95 / max s | est. std player s | LL first part s | LL part-edge delay mean / p95 / max s |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for p in sorted(glob.glob(os.path.join(run, "latency-n*", "latency.json")), key=nkey):
        r = load(p)
        n = r["background_publishers"] + 1
        lines.append(f"| {n} | {g(r,'startup','first_playlist_s')} | {g(r,'startup','first_playable_segment_s')} | "
                     f"{g(r,'startup','three_segments_s')} | {g(r,'publish_delay_s','mean')} | {g(r,'mtime_delay_s','mean')} | "
                     f"{g(r,'live_edge_delay_s','mean')} / {g(r,'live_edge_delay_s','p95')} / {g(r,'live_edge_delay_s','max')} | "
                     f"{r.get('est_standard_player_latency_s')} | {g(r,'startup','first_playable_part_s')} | "
                     f"{g(r,'part_edge_delay_s','mean')} / {g(r,'part_edge_delay_s','p95')} / {g(r,'part_edge_delay_s','max')} |")

    tp = os.path.join(run, "throughput", "summary.json")
    if os.path.exists(tp):
        lines += ["", "## HLS delivery (wrk)", "",
                  "| object | connections | bytes | req/s | payload MiB/s | payload Gbit/s | p50 ms | p99 ms | non-2xx | socket errors | server CPU % | wrk CPU % |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in load(tp):
            lines.append(f"| {r['label'].rsplit('-c', 1)[0]} | {r.get('connections')} | {r['object_bytes']} | {r['req_per_s']} | "
                         f"{r.get('payload_mib_per_s')} | {r.get('payload_gbit_per_s')} | "
                         f"{r['lat_p50_ms']} | {r['lat_p99_ms']} | {r['non_2xx']} | {r.get('socket_errors')} | "
                         f"{r.get('server_cpu_pct_one_core')} | {r.get('wrk_cpu_pct_one_core')} |")
    vp = os.path.join(run, "throughput", "viewers.json")
    if os.path.exists(vp):
        lines += ["", "## Memory per viewer (idle viewers polling the playlist)", "",
                  "| viewers | connected | reloads | failed | server RSS before MiB | with viewers MiB | KiB per viewer | server CPU % |",
                  "|---|---|---|---|---|---|---|---|"]
        for m in load(vp):
            lines.append(f"| {m['viewers']} | {m['connected']} | {m['reloads']} | {m['failed']} | {m['rss_before_mib']} | "
                         f"{m['rss_with_viewers_mib']} | {m['kib_per_viewer']} | {m['server_cpu_pct_one_core']} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
