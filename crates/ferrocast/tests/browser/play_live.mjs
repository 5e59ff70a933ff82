// Plays an HLS URL in headless Chromium with hls.js in low-latency mode and reports, as one JSON
// line on stdout, whether it played and kept advancing, and how far behind it was: behind the
// newest media the playlist lists (hls.js's own `latency`) and behind the server's receipt of the
// media (the wall clock minus the EXT-X-PROGRAM-DATE-TIME of the frame on screen; the server
// stamps media time zero with the moment publishing began, so this errs on the high side).
//
//   node play_live.mjs HLS_URL [WATCH_SECONDS] [SCREENSHOT.png]
//
// HLS_CONFIG (JSON) replaces the hls.js settings, {"lowLatencyMode":true} plus catching up by
// playing at up to 1.1x speed when behind the server's PART-HOLD-BACK.
//
// Exit code 0 when playback started and currentTime advanced while watching.
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const [hlsUrl, watchArg, screenshot] = process.argv.slice(2);
if (!hlsUrl) {
  console.error('usage: node play_live.mjs HLS_URL [WATCH_SECONDS] [SCREENSHOT.png]');
  process.exit(2);
}
const watchSeconds = Number(watchArg || 6);
const hlsConfig = process.env.HLS_CONFIG || JSON.stringify({ lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.1 });
const here = path.dirname(fileURLToPath(import.meta.url));
const hlsJs = fs.readFileSync(path.join(here, 'node_modules/hls.js/dist/hls.min.js'));

const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>player</title></head>
<body style="margin:0;background:#000">
<video id="v" muted autoplay playsinline style="width:640px;height:360px"></video>
<script src="/hls.js"></script>
<script>
  window.report = { events: [], errors: [], playing: false };
  const video = document.getElementById('v');
  video.addEventListener('playing', () => { window.report.playing = true; window.report.events.push('playing'); });
  const src = new URLSearchParams(location.search).get('src');
  if (Hls.isSupported()) {
    const hls = new Hls(${hlsConfig});
    window.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
      window.report.levels = data.levels.map(l => ({ width: l.width, height: l.height, bitrate: l.bitrate }));
      video.play().catch(e => window.report.errors.push('play: ' + e.message));
    });
    hls.on(Hls.Events.ERROR, (_, data) => window.report.errors.push(data.type + ':' + data.details + (data.fatal ? ':fatal' : '')));
    hls.loadSource(src);
    hls.attachMedia(video);
  } else {
    window.report.errors.push('hls.js not supported');
  }
</script></body></html>`;

const server = http.createServer((req, res) => {
  if (req.url.startsWith('/hls.js')) {
    res.writeHead(200, { 'content-type': 'application/javascript' });
    res.end(hlsJs);
  } else {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(page);
  }
});
await new Promise(r => server.listen(0, '127.0.0.1', r));
const pageUrl = `http://127.0.0.1:${server.address().port}/?src=${encodeURIComponent(hlsUrl)}`;

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ferrocast-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required'],
});
let result = { played: false };
try {
  const tab = await context.newPage();
  await tab.goto(pageUrl);
  const started = Date.now();
  await tab.waitForFunction(() => window.report.playing, null, { timeout: 20000 }).catch(() => {});
  const startupMs = Date.now() - started;
  const t0 = await tab.evaluate(() => document.getElementById('v').currentTime);
  const latencies = [];
  const behind = [];
  for (let i = 0; i < watchSeconds; i++) {
    await tab.waitForTimeout(1000);
    const [l, b] = await tab.evaluate(() => {
      const h = window.hls;
      const l = (h && Number.isFinite(h.latency)) ? h.latency : null;
      const b = (h && h.playingDate) ? (Date.now() - h.playingDate.getTime()) / 1000 : null;
      return [l, b];
    });
    if (l !== null) latencies.push(l);
    if (b !== null) behind.push(b);
  }
  const t1 = await tab.evaluate(() => document.getElementById('v').currentTime);
  const report = await tab.evaluate(() => window.report);
  const video = await tab.evaluate(() => {
    const v = document.getElementById('v');
    return { width: v.videoWidth, height: v.videoHeight, paused: v.paused };
  });
  if (screenshot) await tab.screenshot({ path: screenshot });
  const avg = xs => xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
  const mean = avg(latencies);
  result = {
    played: report.playing,
    advanced: t1 - t0,
    startup_ms: startupMs,
    latency_mean_s: mean,
    latency_max_s: latencies.length ? Math.max(...latencies) : null,
    behind_ingest_mean_s: avg(behind),
    behind_ingest_max_s: behind.length ? Math.max(...behind) : null,
    target_latency_s: await tab.evaluate(() => window.hls ? window.hls.targetLatency : null),
    video,
    levels: report.levels || [],
    errors: report.errors,
  };
} finally {
  await context.close();
  server.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
process.exit(result.played && result.advanced > watchSeconds * 0.5 ? 0 : 1);
