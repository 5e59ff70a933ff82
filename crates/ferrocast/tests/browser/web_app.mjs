// Drives Ferrocast's web app in headless Chromium as a person would: by the roles and accessible
// names on screen, never by CSS classes. One scenario a run, against a running server; the Rust
// tests (tests/web_app.rs) prepare the data, then judge the one JSON line this prints last.
//
//   node web_app.mjs SCENARIO BASE_URL
//
// WEB_APP_ARGS (JSON) carries the scenario's data (users, stream and video ids, files);
// SCREENSHOT_DIR is where screenshots go. Exit code 0 when the scenario ran to its end; what it
// saw on the way (accessibility violations, playback, layout) is in the report for the caller to
// judge. A scenario that needs the caller to act in its middle (start publishing, end a stream)
// prints a cue, `{"cue": NAME}`, on a line of its own and waits for one line of JSON on stdin.
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core'), 'utf8');

const [scenario, base] = process.argv.slice(2);
const args = JSON.parse(process.env.WEB_APP_ARGS || '{}');
const shotDir = process.env.SCREENSHOT_DIR || null;
if (!scenario || !base) {
  console.error('usage: WEB_APP_ARGS=JSON SCREENSHOT_DIR=DIR node web_app.mjs SCENARIO BASE_URL');
  process.exit(2);
}
if (shotDir) fs.mkdirSync(shotDir, { recursive: true });

const report = {
  scenario,
  ok: false,
  steps: [],
  a11y: {},
  axe_rules_passed: {},
  page_errors: [],
  csp_violations: [],
  console_errors: [],
  screenshots: [],
  cues: {},
};

function step(name) {
  report.steps.push(name);
}

const UI_TIMEOUT = 15_000;

let answers = null;

/**
 * Asks the caller to do `name` and waits (bounded) for its answer, which goes into the report.
 * Everything else on stdout is the final report, so a cue is a line of its own.
 */
async function cue(name, timeout = 60_000) {
  answers ??= readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  step(`cue ${name}`);
  console.log(JSON.stringify({ cue: name }));
  let timer;
  const next = await Promise.race([
    answers.next(),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer to the cue ${name} within ${timeout / 1000} s`)), timeout);
    }),
  ]).finally(() => clearTimeout(timer));
  if (next.done) throw new Error(`stdin closed before the cue ${name} was answered`);
  const answer = JSON.parse(next.value);
  report.cues[name] = answer;
  return answer;
}

let browser = null;
const pages = [];

async function newContext(options = {}) {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 800 }, ...options });
  context.setDefaultTimeout(UI_TIMEOUT);
  context.setDefaultNavigationTimeout(UI_TIMEOUT);
  // Media events do not bubble, but a capturing listener on the document still hears them, so a
  // `playing` that fires before a test looks is not missed.
  await context.addInitScript(() => {
    window.__media = { playing: 0 };
    document.addEventListener('playing', () => window.__media.playing++, true);
  });
  return context;
}

async function newPage(context, label) {
  const page = await context.newPage();
  page.__label = label;
  pages.push(page);
  page.on('pageerror', (e) => report.page_errors.push(`${label}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    if (/Content Security Policy/i.test(text)) report.csp_violations.push(`${label}: ${text}`);
    else if (report.console_errors.length < 50) report.console_errors.push(`${label}: ${text.slice(0, 300)}`);
  });
  return page;
}

/**
 * The serious and critical axe-core violations on the page as it is now. The app's CSP allows
 * scripts from its own origin only, which rightly refuses an inline <script> (what addScriptTag
 * makes); the source is evaluated through the DevTools protocol instead, which CSP does not
 * govern, so the page keeps running under the policy it ships with.
 */
async function axeCheck(page, label) {
  const loaded = await page.evaluate(() => typeof window.axe === 'object');
  if (!loaded) await page.evaluate(axeSource);
  const { passed, violations } = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    const violations = result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.slice(0, 5).map((n) => ({
          target: n.target.join(' '),
          summary: (n.failureSummary || '').slice(0, 400),
        })),
      }));
    return { passed: result.passes.length, violations };
  });
  report.a11y[label] = violations;
  // How many rules held: proof that axe looked at a real page, not an empty one.
  report.axe_rules_passed[label] = passed;
  return violations;
}

async function shot(page, name, options = {}) {
  if (!shotDir) return null;
  const file = path.join(shotDir, `${name}.png`);
  await page.screenshot({ path: file, ...options });
  report.screenshots.push(file);
  return file;
}

/** Waits until the page has its heading and no loading placeholder is left. */
async function settle(page) {
  await page.locator('main h1').first().waitFor({ state: 'attached' });
  await page.waitForFunction(() => !document.querySelector('main [role="status"].loading'), null, {
    timeout: UI_TIMEOUT,
  });
  await page.evaluate(() => document.fonts.ready.then(() => true));
}

async function signIn(page, user) {
  await page.goto('/signin');
  await page.getByLabel('Username', { exact: true }).fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
}

/** Waits until the live page's chat socket is open. */
async function chatConnected(page) {
  await page.getByRole('status').filter({ hasText: /^Connected$/ }).waitFor();
}

/** Sends a chat message from the live page's form and waits until the form has taken it. */
async function say(page, text) {
  await page.getByRole('textbox', { name: 'Chat message', exact: true }).fill(text);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await page.waitForFunction(() => document.getElementById('chat-message').value === '', null, {
    timeout: UI_TIMEOUT,
  });
}

/** The chat log's line holding `text`. */
function chatLine(page, text) {
  return page.getByRole('log').locator('p').filter({ hasText: text });
}

/**
 * Waits for the page's <video> to play and its currentTime to advance by `seconds` (a live stream
 * starts near its edge, so only advancing proves playback). Bounded by `timeout`.
 */
async function watchPlayback(page, seconds, timeout = 40_000) {
  const started = Date.now();
  await page.waitForFunction(() => window.__media.playing > 0, null, { timeout });
  const t0 = await page.evaluate(() => document.querySelector('video').currentTime);
  await page.waitForFunction(
    ([from, s]) => document.querySelector('video').currentTime >= from + s,
    [t0, seconds],
    { timeout: Math.max(5_000, timeout - (Date.now() - started)) },
  );
  return page.evaluate((from) => {
    const v = document.querySelector('video');
    return {
      playing_events: window.__media.playing,
      advanced: v.currentTime - from,
      width: v.videoWidth,
      height: v.videoHeight,
      paused: v.paused,
    };
  }, t0);
}

/**
 * Keeps every <progress> ever on the page, with its label, in `window.__progress`, however
 * briefly it was there.
 */
async function recordProgress(page) {
  await page.evaluate(() => {
    window.__progress = [];
    const look = () => {
      for (const p of document.querySelectorAll('progress')) {
        const label = p.labels && p.labels[0] ? p.labels[0].textContent.trim() : '';
        const last = window.__progress[window.__progress.length - 1];
        if (!last || last.id !== p.id || last.label !== label) {
          window.__progress.push({ id: p.id, label, max: p.max, value: p.value });
        }
      }
    };
    new MutationObserver(look).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

/* ------------------------------------------------------------------ scenarios */

/** A live stream is listed on the home page, opens from there and plays. */
async function homeLive() {
  const context = await newContext();
  const page = await newPage(context, 'viewer');
  step('home page lists the live stream');
  await page.goto('/');
  const link = page.getByRole('link', { name: args.title });
  await link.waitFor();
  await settle(page);
  report.home_link = await link.ariaSnapshot();
  report.home_live_links = await page
    .getByRole('region', { name: 'Live now' })
    .getByRole('link')
    .evaluateAll((links) => links.map((a) => a.textContent.trim()));
  await axeCheck(page, 'home');
  await shot(page, 'home_live-home');

  step('the link opens the live page');
  await link.click();
  await page.waitForURL(`**/live/${args.stream_id}`);
  await page.locator('video').waitFor();
  await page.getByRole('textbox', { name: 'Chat message', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Send', exact: true }).waitFor();
  await page.getByRole('log').waitFor();
  report.live_heading = (await page.getByRole('heading', { level: 1 }).textContent()).trim();
  report.video_elements = await page.locator('video').count();

  step('the live video plays');
  report.playback = await watchPlayback(page, 3);
  await settle(page);
  await axeCheck(page, 'live');
  await shot(page, 'home_live-live');
}

/** Two people on one live page: a signed-in chatter and a guest. */
async function chat() {
  const url = `/live/${args.stream_id}`;
  const a = await newPage(await newContext(), 'signed-in');
  const b = await newPage(await newContext(), 'guest');
  step('A signs in');
  await signIn(a, args.user);
  step('both open the live page and connect');
  await Promise.all([a.goto(url), b.goto(url)]);
  await Promise.all([chatConnected(a), chatConnected(b)]);

  step('A says hello; B sees it');
  const hello = `hello from ${args.user.username} ${Date.now()}`;
  await say(a, hello);
  await chatLine(b, hello).waitFor();
  report.hello_seen_by_b = (await chatLine(b, hello).textContent()).trim();

  step('B answers as a guest; A sees it');
  await b.getByRole('textbox', { name: 'Your name', exact: true }).fill('guest-viewer');
  const answer = `hi back ${Date.now()}`;
  await say(b, answer);
  await chatLine(a, answer).waitFor();
  report.answer_seen_by_a = (await chatLine(a, answer).textContent()).trim();

  step('markup in a message stays text');
  const markup = args.markup;
  await say(a, markup);
  const inspect = (page) =>
    page.evaluate(async (s) => {
      const log = document.querySelector('[role="log"]');
      // An injected <img src=x> would fail to load at once; give its onerror a turn to run.
      await new Promise((r) => setTimeout(r, 300));
      return {
        literal: log.textContent.includes(s),
        elements: log.querySelectorAll('img, b, script').length,
        pwned: typeof window.__pwned !== 'undefined',
      };
    }, markup);
  await b.waitForFunction((s) => document.querySelector('[role="log"]').textContent.includes(s), markup, {
    timeout: UI_TIMEOUT,
  });
  report.markup_b = await inspect(b);
  report.markup_a = await inspect(a);
  await settle(a);
  await axeCheck(a, 'live-chat');
  await shot(b, 'chat-guest');
}

/** A private stream asks for its password before it shows anything. */
async function privateStream() {
  const page = await newPage(await newContext(), 'viewer');
  step('the live page asks for a password');
  await page.goto(`/live/${args.stream_id}`);
  await page.getByRole('heading', { name: 'Private stream', level: 1 }).waitFor();
  const password = page.getByLabel('Stream password', { exact: true });
  await password.waitFor();
  report.videos_before = await page.locator('video').count();
  await settle(page);
  await axeCheck(page, 'private-prompt');

  step('a wrong password is refused');
  await password.fill('not-the-password');
  await page.getByRole('button', { name: 'Watch', exact: true }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  report.wrong_password_error = (await alert.textContent()).trim();
  report.videos_after_wrong = await page.locator('video').count();
  await shot(page, 'private-wrong-password');

  step('the right password shows the player');
  await password.fill(args.password);
  await page.getByRole('button', { name: 'Watch', exact: true }).click();
  await page.locator('video').waitFor();
  report.heading = (await page.getByRole('heading', { level: 1 }).textContent()).trim();
  report.playback = await watchPlayback(page, 2);
  await settle(page);
  await axeCheck(page, 'private-live');
}

/** Sign in, upload a file through the form, follow processing, watch the result. */
async function upload() {
  const page = await newPage(await newContext(), 'uploader');
  step('sign in');
  await signIn(page, args.user);
  step('open the upload page');
  await page.getByRole('link', { name: 'Upload', exact: true }).click();
  await page.waitForURL('**/upload');
  await page.getByLabel('Video file', { exact: true }).setInputFiles(args.file);
  await page.getByLabel('Title', { exact: true }).fill(args.title);
  await settle(page);
  await axeCheck(page, 'upload-form');
  // A small file is sent in a blink.
  await recordProgress(page);

  step('upload');
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  const watch = page.getByRole('link', { name: 'Watch video', exact: true });
  const bar = page.getByRole('progressbar').first();
  report.progressbar_shown = await Promise.race([
    bar.waitFor({ timeout: 30_000 }).then(() => true),
    watch.waitFor({ timeout: 30_000 }).then(() => false),
  ]);
  if (report.progressbar_shown) {
    report.progressbar_name = await bar.evaluate((p) => (p.labels && p.labels[0] ? p.labels[0].textContent.trim() : ''));
    await axeCheck(page, 'upload-progress');
  }

  step('wait for the video to be ready');
  await watch.waitFor({ timeout: 90_000 });
  report.progress_seen = await page.evaluate(() => window.__progress);
  await shot(page, 'upload-ready');
  step('watch it');
  await watch.click();
  await page.waitForURL('**/videos/*');
  report.video_id = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
  // The address changes before the video page (a chunk of its own) has replaced the upload page:
  // wait for its heading, and report whatever heading is there if it never comes.
  await page
    .getByRole('heading', { level: 1, name: args.title, exact: true })
    .waitFor({ timeout: 15_000 })
    .catch(() => {});
  report.heading = (await page.getByRole('heading', { level: 1 }).first().textContent()).trim();
  report.playback = await watchPlayback(page, 1.5);
  await settle(page);
  await axeCheck(page, 'video');
}

/** A streamer creates a stream in the studio and reveals its key. */
async function studio() {
  const page = await newPage(await newContext(), 'streamer');
  step('sign in through the form');
  await signIn(page, args.user);
  step('open the studio');
  await page.getByRole('link', { name: 'Studio', exact: true }).click();
  await page.waitForURL('**/studio');
  const form = page.getByRole('form', { name: 'New stream' });
  // The form starts open only for an account without streams, which the page knows once its list
  // has loaded: opening it before then could close it again.
  await settle(page);
  if (!(await form.isVisible())) await page.getByText('New stream', { exact: true }).click();
  await form.waitFor();
  step('create a stream');
  await form.getByLabel('Title').fill(args.title);
  await form.getByRole('button', { name: 'Create stream', exact: true }).click();
  const item = page.getByRole('article', { name: args.title, exact: true });
  await item.waitFor();
  report.created_note = (await page.getByRole('status').filter({ hasText: 'is ready' }).textContent()).trim();
  report.live_page_href = await item.getByRole('link', { name: 'Open live page' }).getAttribute('href');

  step('the key is hidden until asked for');
  const show = item.getByRole('button', { name: 'Show key', exact: true });
  const keyId = await show.getAttribute('aria-controls');
  const key = page.locator(`[id="${keyId}"]`);
  report.key_text_hidden = (await key.innerText()).trim();
  await settle(page);
  await axeCheck(page, 'studio');
  await show.click();
  await item.getByRole('button', { name: 'Hide key', exact: true }).waitFor();
  report.key_text_shown = (await key.innerText()).trim();
  report.key_visible = await key.isVisible();
  await shot(page, 'studio-key-shown');
}

/** The admin changes another account's role on the admin page. */
async function admin() {
  const page = await newPage(await newContext(), 'admin');
  step('sign in');
  await signIn(page, args.user);
  step('open the admin page');
  await page.getByRole('link', { name: 'Admin', exact: true }).click();
  await page.waitForURL('**/admin');
  const select = page.getByRole('combobox', { name: `Role of ${args.target}`, exact: true });
  await select.waitFor();
  report.role_before = await select.inputValue();
  await settle(page);
  await axeCheck(page, 'admin');
  step('change the role');
  await select.selectOption(args.role);
  await page.getByRole('button', { name: `Save role of ${args.target}`, exact: true }).click();
  const row = page.getByRole('row').filter({ has: select });
  const note = row.getByRole('status');
  await note.waitFor();
  report.saved_note = (await note.textContent()).trim();
  step('the change is there after a reload');
  await page.reload();
  await select.waitFor();
  report.role_after_reload = await select.inputValue();
}

/** Where the page is: the document the scenario started with (no reload, no navigation) or not. */
function sameDocument(page, marker) {
  return page.evaluate((m) => ({
    navigation_entries: performance.getEntriesByType('navigation').length,
    marker_kept: window.__sameDocument === m,
    path: location.pathname,
  }), marker);
}

function videoState(page) {
  return page.evaluate(() => {
    const v = document.querySelector('video');
    return {
      videos: document.querySelectorAll('video').length,
      playing_events: window.__media.playing,
      current_time: v ? v.currentTime : null,
      paused: v ? v.paused : null,
      ready_state: v ? v.readyState : null,
      // currentSrc outlives a detached player; an element with nothing to load is NETWORK_EMPTY.
      network_state: v ? v.networkState : null,
    };
  });
}

/** A viewer waits on the page of a stream that is not on air; it goes live, then ends, and the
 * page follows both without being reloaded. */
async function goesLive() {
  const page = await newPage(await newContext(), 'viewer');
  step('open the live page before the stream is on air');
  await page.goto(`/live/${args.stream_id}`);
  // The start reaches the page through its socket only: wait for it before publishing.
  await chatConnected(page);
  const offline = page.getByRole('status').filter({ hasText: 'Offline' });
  await offline.waitFor();
  report.offline_status = (await offline.textContent()).trim();
  report.before = await videoState(page);
  await settle(page);
  await axeCheck(page, 'live-offline');
  await shot(page, 'goes_live-offline');
  // Any reload or navigation from here on would lose this, and count a load.
  const marker = `kept-${Date.now()}-${Math.random()}`;
  await page.evaluate((m) => {
    window.__sameDocument = m;
  }, marker);
  let loads = 0;
  page.on('load', () => loads++);

  step('the stream goes live and the page plays it');
  await cue('publish');
  const published = Date.now();
  report.playback = await watchPlayback(page, 2, 45_000);
  report.seconds_to_playback = (Date.now() - published) / 1000;
  report.while_live = {
    ...(await sameDocument(page, marker)),
    loads,
    offline_shown: await offline.count(),
    // hls.js may miss the first playlist and retry; once playing, no error should be left on screen.
    player_errors_shown: await page.getByText('The video could not be loaded', { exact: false }).count(),
    player_errors: await page.evaluate(() => document.querySelector('video').playerErrors ?? null),
  };
  await settle(page);
  await axeCheck(page, 'live-on-air');
  await shot(page, 'goes_live-playing');

  step('the stream ends and the page says so');
  await cue('end');
  const ended = page.getByRole('status').filter({ hasText: 'This stream has ended.' });
  await ended.waitFor({ timeout: 20_000 });
  report.ended_status = (await ended.textContent()).trim();
  // The player lets go of the stream in an effect, which runs a moment after the notice shows.
  const released = await page
    .waitForFunction(
      () => {
        const v = document.querySelector('video');
        return v.readyState === HTMLMediaElement.HAVE_NOTHING && v.networkState === HTMLMediaElement.NETWORK_EMPTY;
      },
      null,
      { timeout: 10_000 },
    )
    .then(
      () => true,
      () => false,
    );
  report.after_end = {
    ...(await sameDocument(page, marker)),
    loads,
    player_released: released,
    video: await videoState(page),
    chat_closed: await page.getByText('Chat is closed: the stream has ended.', { exact: true }).count(),
  };
  await settle(page);
  await axeCheck(page, 'live-ended');
  await shot(page, 'goes_live-ended');
}

/** The streamer deletes a viewer's chat message; it goes from every page on the stream. */
async function moderation() {
  const url = `/live/${args.stream_id}`;
  const streamer = await newPage(await newContext(), 'streamer');
  const viewer = await newPage(await newContext(), 'viewer');
  const guest = await newPage(await newContext(), 'guest');
  const everyone = { streamer, viewer, guest };
  step('the streamer and the viewer sign in');
  await signIn(streamer, args.streamer);
  await signIn(viewer, args.viewer);
  step('all three open the live page and connect');
  await Promise.all([streamer.goto(url), viewer.goto(url), guest.goto(url)]);
  await Promise.all(Object.values(everyone).map(chatConnected));
  // Delete buttons depend on who is signed in: count them only once each page knows.
  await streamer.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
  await viewer.getByRole('button', { name: 'Sign out', exact: true }).waitFor();

  step('the viewer says two things; everyone sees both');
  const { kept, doomed } = args;
  await say(viewer, kept);
  await say(viewer, doomed);
  for (const page of Object.values(everyone)) {
    await chatLine(page, kept).waitFor();
    await chatLine(page, doomed).waitFor();
  }

  step('only the streamer is offered delete buttons');
  const deleteButtons = (page) => page.getByRole('log').getByRole('button', { name: /^Delete message/ });
  report.delete_buttons = {};
  for (const [who, page] of Object.entries(everyone)) report.delete_buttons[who] = await deleteButtons(page).count();
  await settle(streamer);
  await axeCheck(streamer, 'live-moderator');

  step('the streamer deletes the second message');
  const name = `Delete message from ${args.viewer.username}`;
  const button = chatLine(streamer, doomed).getByRole('button', { name, exact: true });
  report.delete_button_name = await button.getAttribute('aria-label');
  await button.click();

  step('it disappears for everyone, the other message stays');
  report.after_delete = {};
  for (const [who, page] of Object.entries(everyone)) {
    await chatLine(page, doomed).waitFor({ state: 'detached' });
    report.after_delete[who] = {
      doomed_lines: await chatLine(page, doomed).count(),
      kept_lines: await chatLine(page, kept).count(),
      alerts: await page.getByRole('alert').allTextContents(),
    };
  }
  await shot(streamer, 'moderation-after-delete');
}

/** A large upload on a slow connection is interrupted by a reload, and the same file picks up
 * where it stopped. */
async function uploadResume() {
  const context = await newContext();
  const page = await newPage(context, 'uploader');
  step('sign in');
  await signIn(page, args.user);
  await page.goto('/upload');
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const throttle = (bytesPerSecond) =>
    cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: bytesPerSecond,
    });
  let reloaded = false;
  const t0 = Date.now();
  const tus = new Map();
  page.on('request', (r) => {
    const url = new URL(r.url());
    if (!url.pathname.startsWith('/api/uploads')) return;
    tus.set(r, {
      reloaded,
      method: r.method(),
      path: url.pathname,
      upload_offset: r.headers()['upload-offset'] ?? null,
      sent_ms: Date.now() - t0,
    });
  });
  page.on('requestfinished', async (r) => {
    const seen = tus.get(r);
    if (!seen) return;
    seen.finished_ms = Date.now() - t0;
    seen.status = (await r.response().catch(() => null))?.status() ?? null;
  });
  page.on('requestfailed', (r) => {
    const seen = tus.get(r);
    if (seen) Object.assign(seen, { failed_ms: Date.now() - t0, failure: r.failure()?.errorText });
  });
  const storedUploads = () =>
    page.evaluate(() =>
      Object.keys(localStorage)
        .filter((k) => k.startsWith('tus::'))
        .map((k) => JSON.parse(localStorage.getItem(k))),
    );
  const server = async (id) => {
    const r = await page.request.get(`/api/uploads/${encodeURIComponent(id)}`);
    const body = await r.json().catch(() => null);
    return {
      status: r.status(),
      state: body?.state,
      bytes_received: body?.bytes_received,
      total_bytes: body?.total_bytes,
    };
  };

  step('choose a large file and start uploading on a slow connection');
  // Set once for the whole first attempt: changing the conditions while a chunk was under way let
  // that chunk through at full speed.
  await throttle(args.upload_bytes_per_second);
  await page.getByLabel('Video file', { exact: true }).setInputFiles(args.file);
  await page.getByLabel('Title', { exact: true }).fill(args.title);
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  const bar = page.getByRole('progressbar', { name: /^Uploading/ });
  await bar.waitFor();

  step('the bar moves and the server holds some bytes');
  await page.waitForFunction((p) => p.value > 0, await bar.elementHandle(), { timeout: 60_000 });
  // tus-js-client remembers the upload's URL under the file's fingerprint once it is created.
  await page.waitForFunction(() => Object.keys(localStorage).some((k) => k.startsWith('tus::')), null, {
    timeout: UI_TIMEOUT,
  });
  const stored = await storedUploads();
  const id = stored[0].uploadUrl.split('/').pop();
  report.upload_id = id;
  const deadline = Date.now() + 60_000;
  let held = await server(id);
  while (!(held.bytes_received > 0) && Date.now() < deadline) {
    await page.waitForTimeout(200);
    held = await server(id);
  }
  if (!(held.bytes_received > 0)) throw new Error(`the server never reported bytes: ${JSON.stringify(held)}`);
  report.before_reload = {
    at_ms: Date.now() - t0,
    server: held,
    progress_value: await bar.evaluate((p) => p.value),
    progress_label: await bar.evaluate((p) => p.labels[0].textContent.trim()),
    stored_uploads: stored,
  };

  step('reload in the middle of the upload');
  reloaded = true;
  await page.reload();
  await throttle(-1);
  await page.getByLabel('Video file', { exact: true }).waitFor();
  report.at_reload = { server: await server(id), stored_uploads: await storedUploads() };
  // The rest of the file goes fast now.
  await recordProgress(page);

  step('choose the same file again and upload');
  await page.getByLabel('Video file', { exact: true }).setInputFiles(args.file);
  await page.getByLabel('Title', { exact: true }).fill(args.title);
  await settle(page);
  await axeCheck(page, 'upload-resume-form');
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  const watch = page.getByRole('link', { name: 'Watch video', exact: true });
  await watch.waitFor({ timeout: 90_000 });
  report.progress_seen = await page.evaluate(() => window.__progress);
  report.tus_requests = [...tus.values()];
  report.stored_after = await storedUploads();
  report.watch_href = await watch.getAttribute('href');
  report.video_id = decodeURIComponent(report.watch_href.split('/').pop());
  await shot(page, 'upload-resumed-ready');
}

/** Every page, at a phone's and a desktop's width, in both colour schemes. */
async function a11yLayout() {
  const sizes = [
    { width: 360, height: 740 },
    { width: 1440, height: 900 },
  ];
  const schemes = ['light', 'dark'];
  const signedIn = await newPage(await newContext(), 'signed-in');
  const guest = await newPage(await newContext(), 'guest');
  step('sign in');
  await signIn(signedIn, args.user);

  const visits = [
    [guest, 'guest-home', '/'],
    [guest, 'guest-signin', '/signin'],
    [guest, 'guest-register', '/register'],
    [signedIn, 'home', '/'],
    [signedIn, 'signin', '/signin'],
    [signedIn, 'register', '/register'],
    [signedIn, 'upload', '/upload'],
    [signedIn, 'studio', '/studio'],
    [signedIn, 'admin', '/admin'],
    [signedIn, 'live', `/live/${args.live_stream_id}`],
    [signedIn, 'video', `/videos/${args.video_id}`],
    [signedIn, 'channel', `/channel/${args.channel_id}`],
    [signedIn, 'not-found', '/no/such/page'],
  ];
  report.layout = {};
  for (const [page, name, url] of visits) {
    for (const size of sizes) {
      for (const colorScheme of schemes) {
        const label = `${name}@${size.width}-${colorScheme}`;
        step(label);
        await page.setViewportSize(size);
        await page.emulateMedia({ colorScheme });
        await page.goto(url);
        await settle(page);
        if (name === 'live' || name === 'video') {
          // The screenshot should show a picture, not a black box.
          await page.waitForFunction(() => window.__media.playing > 0, null, { timeout: 30_000 });
        }
        await axeCheck(page, label);
        report.layout[label] = await page.evaluate(() => {
          const width = window.innerWidth;
          const wide = [];
          for (const el of document.querySelectorAll('body *')) {
            const r = el.getBoundingClientRect();
            if (r.right > width + 1 && wide.length < 5) {
              wide.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${[...el.classList].join('.')} right=${Math.round(r.right)}`);
            }
          }
          return {
            scroll_width: document.documentElement.scrollWidth,
            inner_width: width,
            fits: document.documentElement.scrollWidth <= width,
            too_wide: wide,
            scheme_dark: matchMedia('(prefers-color-scheme: dark)').matches,
          };
        });
        await shot(page, `layout-${name}-${size.width}-${colorScheme}`);
      }
    }
  }
}

const scenarios = {
  home_live: [homeLive, 90_000],
  chat: [chat, 90_000],
  private: [privateStream, 90_000],
  upload: [upload, 180_000],
  studio: [studio, 60_000],
  admin: [admin, 60_000],
  a11y_layout: [a11yLayout, 420_000],
  goes_live: [goesLive, 150_000],
  moderation: [moderation, 90_000],
  upload_resume: [uploadResume, 240_000],
};

function finish(code) {
  console.log(JSON.stringify(report));
  process.exit(code);
}

const entry = scenarios[scenario];
if (!entry) {
  report.error = `unknown scenario ${scenario}; one of ${Object.keys(scenarios).join(', ')}`;
  finish(2);
}
const [run, budget] = entry;
// The whole run is bounded: a wait that hangs must still end in a report.
const watchdog = setTimeout(() => {
  report.error = `scenario still running after ${budget / 1000} s, at step ${report.steps[report.steps.length - 1]}`;
  finish(1);
}, budget);

try {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  await run();
  report.ok = true;
} catch (e) {
  report.error = String(e && e.stack ? e.stack : e).split('\n').slice(0, 6).join('\n');
  for (const page of pages) {
    try {
      if (!page.isClosed()) await shot(page, `failure-${scenario}-${page.__label}`, { fullPage: true });
    } catch {
      /* the page may be gone with the browser */
    }
  }
} finally {
  clearTimeout(watchdog);
  try {
    await browser?.close();
  } catch {
    /* already closed */
  }
}
finish(report.ok ? 0 : 1);
