// Opens the web app as a viewer would and reports, as one JSON line: the home page's compressed
// JavaScript and how soon the live stream's link is there, then how soon the live page plays,
// how far behind the publisher it stays, and every stall and player error while watching.
//
//   node app_join.mjs BASE_URL STREAM_ID STREAM_TITLE [WATCH_SECONDS]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../crates/ferrocast/tests/browser/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const [base, streamId, title, watchArg] = process.argv.slice(2);
const watch = Number(watchArg || 10);
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ferrocast-app-join-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});
const result = {};
try {
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.getByRole('link', { name: title }).first().waitFor({ timeout: 10000 });
  result.home = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const scripts = performance.getEntriesByType('resource').filter((r) => r.name.endsWith('.js'));
    return {
      // The link is there: the app has loaded, asked the API and drawn the list.
      interactive_ms: Math.round(performance.now() - nav.startTime),
      js_compressed_bytes: scripts.reduce((n, r) => n + r.encodedBodySize, 0),
      js_files: scripts.length,
    };
  });

  const opened = Date.now();
  await page.goto(`${base}/live/${streamId}`);
  await page.waitForFunction(() => {
    const v = document.querySelector('video');
    return v && !v.paused && v.currentTime > 0 && v.readyState >= 3;
  }, null, { timeout: 20000 });
  result.start_ms = Date.now() - opened;
  await page.evaluate(() => {
    const v = document.querySelector('video');
    window.__report = { stalls: 0 };
    v.addEventListener('waiting', () => window.__report.stalls++);
  });
  const behind = [];
  const t0 = await page.evaluate(() => document.querySelector('video').currentTime);
  for (let i = 0; i < watch; i++) {
    await page.waitForTimeout(1000);
    const b = await page.evaluate(() => {
      const h = document.querySelector('video').hls;
      return h && h.playingDate ? (Date.now() - h.playingDate.getTime()) / 1000 : null;
    });
    if (b !== null) behind.push(b);
  }
  const t1 = await page.evaluate(() => document.querySelector('video').currentTime);
  const report = await page.evaluate(() => window.__report);
  const errors = await page.evaluate(() => document.querySelector('video').playerErrors ?? []);
  result.advanced_s = Number((t1 - t0).toFixed(2));
  result.behind_ingest_mean_s = behind.length ? Number((behind.reduce((a, b) => a + b, 0) / behind.length).toFixed(3)) : null;
  result.behind_ingest_max_s = behind.length ? Number(Math.max(...behind).toFixed(3)) : null;
  result.stalls = report.stalls;
  result.errors = errors;
} catch (e) {
  result.failure = String(e.message || e).split('\n')[0];
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
