import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { useRoute } from 'preact-iso';
import { ApiError, api, query } from '../lib/api';
import { canStream, useSession } from '../lib/session';
import type { Job, Stream, StreamHealth, StreamSample, User, Video } from '../lib/types';
import { formatDuration, timeAgo } from '../lib/format';
import { CopyButton, Empty, ErrorNote, LiveBadge, type Outcome, OutcomeNote, Spinner, useLoad, useTitle } from '../components/common';
import { LineChart } from '../components/Chart';
import './studio.css';

const HEALTH_POLL_MS = 5000;
/** The stream list is read again so a stream that went live from the encoder shows it. */
const STREAMS_POLL_MS = 10000;
const ANALYTICS_POLL_MS = 30000;
const JOB_POLL_MS = 5000;
const DASH = '—';

export const CONTENT_TYPES: [string, string][] = [
  ['live_stream', 'Live stream'],
  ['recorded', 'Recorded'],
  ['webinar', 'Webinar'],
  ['conference', 'Conference'],
  ['gaming', 'Gaming'],
  ['education', 'Education'],
  ['entertainment', 'Entertainment'],
];

function contentTypeLabel(value: string): string {
  return CONTENT_TYPES.find(([v]) => v === value)?.[1] ?? value;
}

function visible(): boolean {
  return document.visibilityState === 'visible';
}

/** The ingest server part of an RTMP publish URL: everything before the key. */
export function rtmpServer(rtmpUrl: string): string {
  const i = rtmpUrl.lastIndexOf('/');
  return i > 0 ? rtmpUrl.slice(0, i) : rtmpUrl;
}

export function splitTags(text: string): string[] {
  return text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}

/**
 * Chat messages a minute over the samples. Each sample counts the messages since the one before,
 * so the first sample's count belongs to time before the span and is left out.
 */
export function chatPerMinute(samples: Pick<StreamSample, 'timestamp' | 'chat_messages_count'>[]): number | null {
  if (samples.length < 2) return null;
  const first = Date.parse(samples[0].timestamp);
  const last = Date.parse(samples[samples.length - 1].timestamp);
  const minutes = (last - first) / 60000;
  if (!(minutes > 0)) return null;
  let total = 0;
  for (const s of samples.slice(1)) total += s.chat_messages_count;
  return total / minutes;
}

function chars(s: string): number {
  return [...s].length;
}

function When({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <>{DASH}</>;
  const d = new Date(iso);
  return (
    <time dateTime={iso} title={Number.isNaN(d.getTime()) ? undefined : d.toLocaleString()}>
      {timeAgo(iso) || iso}
    </time>
  );
}

function StatusBadge({ status }: { status: Stream['status'] }) {
  if (status === 'live') return <LiveBadge />;
  if (status === 'scheduled') return <span class="badge scheduled">Not live yet</span>;
  return <span class="badge ended">Ended</span>;
}

export function Studio() {
  const { user, loaded } = useSession();
  const { params } = useRoute();
  const section = params.section === 'videos' ? 'videos' : 'streams';
  useTitle('Studio');

  if (!loaded) {
    return (
      <div class="page">
        <h1>Studio</h1>
        <Spinner />
      </div>
    );
  }
  if (!user) {
    return (
      <section class="page narrow">
        <h1>Studio</h1>
        <p>
          The studio is where you run your streams and videos. <a href="/signin?next=%2Fstudio">Sign in</a> to open it.
        </p>
      </section>
    );
  }
  if (!canStream(user)) {
    return (
      <section class="page narrow">
        <h1>Studio</h1>
        <p>
          Going live needs the streamer role, and your account is a {user.role}. Ask an admin of this server to make
          you a streamer.
        </p>
        <p>
          You can still <a href="/upload">upload videos</a>.
        </p>
      </section>
    );
  }

  return (
    <div class="page">
      <h1>Studio</h1>
      <nav class="tabs" aria-label="Studio sections">
        <a href="/studio" aria-current={section === 'streams' ? 'page' : undefined}>
          Streams
        </a>
        <a href="/studio/videos" aria-current={section === 'videos' ? 'page' : undefined}>
          Videos
        </a>
      </nav>
      {section === 'streams' ? <StreamsSection user={user} /> : <VideosSection user={user} />}
    </div>
  );
}

/* ---------------------------------------------------------------- Streams */

const ORDER: Record<Stream['status'], number> = { live: 0, scheduled: 1, ended: 2 };

function StreamsSection({ user }: { user: User }) {
  const path = `/api/streams${query({ streamer_id: user.id, limit: 100 })}`;
  const streams = useLoad((signal) => api<Stream[]>(path, { signal }), [path]);
  const [formOpen, setFormOpen] = useState<boolean | null>(null);
  const [created, setCreated] = useState<Stream | null>(null);
  const listHeading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    const timer = setInterval(() => {
      if (visible()) api<Stream[]>(path).then(streams.set, () => {});
    }, STREAMS_POLL_MS);
    return () => clearInterval(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [path]);

  const list = [...(streams.data ?? [])].sort((a, b) => ORDER[a.status] - ORDER[b.status]);
  const replace = (s: Stream) => streams.set((streams.data ?? []).map((x) => (x.id === s.id ? s : x)));
  const remove = (id: string) => {
    streams.set((streams.data ?? []).filter((x) => x.id !== id));
    if (created?.id === id) setCreated(null);
    listHeading.current?.focus();
  };
  const open = formOpen ?? (streams.data !== null && streams.data.length === 0);

  return (
    <>
      <details class="panel" open={open} onToggle={(e) => setFormOpen(e.currentTarget.open)}>
        <summary>
          <h2>New stream</h2>
        </summary>
        <StreamForm
          name="New stream"
          initial={valuesOf(null)}
          submitLabel="Create stream"
          editing={false}
          onSave={async (v) => {
            const s = await api<Stream>('/api/streams', { method: 'POST', body: createBody(v) });
            streams.set([s, ...(streams.data ?? []).filter((x) => x.id !== s.id)]);
            setCreated(s);
            setFormOpen(false);
            return 'reset';
          }}
        />
      </details>
      {created && (
        <p class="ok-note" role="status">
          “{created.title}” is ready. Set up your encoder with the server and stream key below, then start streaming.
        </p>
      )}

      <section aria-labelledby="your-streams" class="section-gap">
        <h2 id="your-streams" ref={listHeading} tabIndex={-1}>
          Your streams
        </h2>
        {streams.loading && !streams.data ? (
          <Spinner />
        ) : streams.error ? (
          <ErrorNote error={streams.error} />
        ) : list.length === 0 ? (
          <Empty>No streams yet. Create one above to get a stream key.</Empty>
        ) : (
          <div class="stack">
            {list.map((s) => (
              <StreamItem
                key={s.id}
                stream={s}
                focusOnMount={created?.id === s.id}
                onChange={replace}
                onDeleted={remove}
              />
            ))}
          </div>
        )}
      </section>
    </>
  );
}

interface StreamValues {
  title: string;
  description: string;
  category: string;
  content_type: string;
  tags: string;
  is_private: boolean;
  password: string;
  record: boolean;
}

function valuesOf(s: Stream | null): StreamValues {
  return {
    title: s?.title ?? '',
    description: s?.description ?? '',
    category: s?.category ?? '',
    content_type: s?.content_type ?? 'live_stream',
    tags: s?.tags.join(', ') ?? '',
    is_private: s?.is_private ?? false,
    password: '',
    record: s?.record ?? false,
  };
}

function createBody(v: StreamValues) {
  return {
    title: v.title.trim(),
    description: v.description.trim() || undefined,
    category: v.category.trim() || undefined,
    content_type: v.content_type,
    tags: splitTags(v.tags),
    is_private: v.is_private,
    password: v.is_private && v.password ? v.password : undefined,
    record: v.record,
  };
}

/** Empty texts are sent as they are: the server clears a field given an empty value. */
function updateBody(v: StreamValues) {
  return {
    title: v.title.trim(),
    description: v.description.trim(),
    category: v.category.trim(),
    content_type: v.content_type,
    tags: splitTags(v.tags),
    is_private: v.is_private,
    password: v.is_private && v.password ? v.password : undefined,
    record: v.record,
  };
}

export function checkStream(v: StreamValues): Record<string, string> {
  const e: Record<string, string> = {};
  const title = v.title.trim();
  if (!title) e.title = 'Enter a title';
  else if (chars(title) > 200) e.title = 'At most 200 characters';
  if (chars(v.description.trim()) > 5000) e.description = 'At most 5000 characters';
  if (chars(v.category.trim()) > 100) e.category = 'At most 100 characters';
  const tags = splitTags(v.tags);
  if (tags.length > 20) e.tags = 'At most 20 tags';
  else if (tags.some((t) => chars(t) > 50)) e.tags = 'Each tag at most 50 characters';
  if (v.is_private && v.password && (chars(v.password) < 4 || chars(v.password) > 256)) {
    e.password = '4 to 256 characters';
  }
  return e;
}

const FORM_FIELDS = ['title', 'description', 'category', 'content_type', 'tags', 'is_private', 'password', 'record'];

function StreamForm({
  name,
  initial,
  submitLabel,
  editing,
  onSave,
  onCancel,
}: {
  /** The form's accessible name, so assistive technology can list and find it. */
  name: string;
  initial: StreamValues;
  submitLabel: string;
  editing: boolean;
  /** Resolves to 'reset' when the form should start empty again. */
  onSave: (v: StreamValues) => Promise<'reset' | 'keep'>;
  onCancel?: () => void;
}) {
  const id = useId();
  const [v, setV] = useState<StreamValues>(initial);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const [focusTick, setFocusTick] = useState(0);

  useEffect(() => {
    if (focusTick > 0) form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [focusTick]);

  const set = <K extends keyof StreamValues>(key: K, value: StreamValues[K]) => {
    setV((old) => ({ ...old, [key]: value }));
    setSaved(false);
  };
  const fid = (name: string) => `${id}-${name}`;
  const describedBy = (name: string, hint = false) =>
    [hint ? fid(`${name}-hint`) : '', errors[name] ? fid(`${name}-error`) : ''].filter(Boolean).join(' ') || undefined;
  const fieldError = (name: string) =>
    errors[name] ? (
      <p id={fid(`${name}-error`)} class="field-error">
        {errors[name]}
      </p>
    ) : null;
  const text = (e: Event) => (e.currentTarget as HTMLInputElement).value;

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setSaved(false);
    const found = checkStream(v);
    setErrors(found);
    if (Object.keys(found).length > 0) {
      setFocusTick((t) => t + 1);
      return;
    }
    setBusy(true);
    try {
      const next = await onSave(v);
      if (next === 'reset') setV(valuesOf(null));
      else setV((old) => ({ ...old, password: '' }));
      setSaved(editing);
    } catch (err) {
      const apiErr = err instanceof ApiError ? err : null;
      const fields = apiErr?.fields ?? {};
      const mine: Record<string, string> = {};
      for (const [k, msg] of Object.entries(fields)) if (FORM_FIELDS.includes(k)) mine[k] = msg;
      setErrors(mine);
      const others = Object.entries(fields).filter(([k]) => !FORM_FIELDS.includes(k));
      if (Object.keys(mine).length > 0 && others.length === 0) {
        setError('Please correct the fields marked below.');
        setFocusTick((t) => t + 1);
      } else {
        setError(err instanceof Error ? err.message : String(err));
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <form ref={form} onSubmit={submit} noValidate aria-label={name}>
      {error && (
        <p class="error-note" role="alert">
          {error}
        </p>
      )}
      <label for={fid('title')}>Title (required)</label>
      <input
        id={fid('title')}
        type="text"
        required
        maxLength={200}
        value={v.title}
        aria-invalid={errors.title ? 'true' : undefined}
        aria-describedby={describedBy('title')}
        onInput={(e) => set('title', text(e))}
      />
      {fieldError('title')}

      <label for={fid('description')}>Description</label>
      <textarea
        id={fid('description')}
        maxLength={5000}
        value={v.description}
        aria-invalid={errors.description ? 'true' : undefined}
        aria-describedby={describedBy('description')}
        onInput={(e) => set('description', text(e))}
      />
      {fieldError('description')}

      <label for={fid('category')}>Category</label>
      <input
        id={fid('category')}
        type="text"
        maxLength={100}
        value={v.category}
        aria-invalid={errors.category ? 'true' : undefined}
        aria-describedby={describedBy('category')}
        onInput={(e) => set('category', text(e))}
      />
      {fieldError('category')}

      <label for={fid('content_type')}>Content type</label>
      <select
        id={fid('content_type')}
        value={v.content_type}
        aria-invalid={errors.content_type ? 'true' : undefined}
        aria-describedby={describedBy('content_type')}
        onChange={(e) => set('content_type', e.currentTarget.value)}
      >
        {CONTENT_TYPES.map(([value, label]) => (
          <option key={value} value={value}>
            {label}
          </option>
        ))}
      </select>
      {fieldError('content_type')}

      <label for={fid('tags')}>Tags</label>
      <input
        id={fid('tags')}
        type="text"
        value={v.tags}
        placeholder="music, live, chill"
        aria-invalid={errors.tags ? 'true' : undefined}
        aria-describedby={describedBy('tags', true)}
        onInput={(e) => set('tags', text(e))}
      />
      <p id={fid('tags-hint')} class="hint">
        Separate tags with commas; up to 20.
      </p>
      {fieldError('tags')}

      <div class="check-row">
        <label class="inline" for={fid('is_private')}>
          <input
            id={fid('is_private')}
            type="checkbox"
            checked={v.is_private}
            aria-describedby={describedBy('is_private')}
            onChange={(e) => set('is_private', e.currentTarget.checked)}
          />
          Private
        </label>
        <label class="inline" for={fid('record')}>
          <input
            id={fid('record')}
            type="checkbox"
            checked={v.record}
            aria-describedby={describedBy('record', true)}
            onChange={(e) => set('record', e.currentTarget.checked)}
          />
          Record
        </label>
      </div>
      <p id={fid('record-hint')} class="hint">
        A recorded stream becomes a video when it ends.{editing ? ' Changes apply from the next time you go live.' : ''}
      </p>
      {fieldError('is_private')}
      {fieldError('record')}

      {v.is_private && (
        <>
          <label for={fid('password')}>Password</label>
          <input
            id={fid('password')}
            type="password"
            autocomplete="new-password"
            maxLength={256}
            value={v.password}
            aria-invalid={errors.password ? 'true' : undefined}
            aria-describedby={describedBy('password', true)}
            onInput={(e) => set('password', text(e))}
          />
          <p id={fid('password-hint')} class="hint">
            4 to 256 characters; viewers need it to watch.{' '}
            {editing ? 'Leave empty to keep the current one.' : 'Without one only you can watch.'}
          </p>
          {fieldError('password')}
        </>
      )}

      <div class="form-actions">
        <button type="submit" disabled={busy}>
          {busy ? 'Saving…' : submitLabel}
        </button>
        {onCancel && (
          <button type="button" class="subtle" onClick={onCancel}>
            Cancel
          </button>
        )}
        {saved && (
          <span class="ok-note" role="status">
            Saved
          </span>
        )}
      </div>
    </form>
  );
}

function StreamItem({
  stream,
  focusOnMount,
  onChange,
  onDeleted,
}: {
  stream: Stream;
  /** Set for the stream just created, whose form closed under the keyboard's focus. */
  focusOnMount?: boolean;
  onChange: (s: Stream) => void;
  onDeleted: (id: string) => void;
}) {
  const headingId = useId();
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (focusOnMount) heading.current?.focus();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  const [revealed, setRevealed] = useState(false);
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState<Outcome | null>(null);
  const [editOpen, setEditOpen] = useState(false);
  const [analyticsOpen, setAnalyticsOpen] = useState<boolean | null>(null);
  const base = `/api/streams/${encodeURIComponent(stream.id)}`;
  const live = stream.status === 'live';

  const run = async (action: () => Promise<string | null>) => {
    setBusy(true);
    setNote(null);
    try {
      const text = await action();
      if (text) setNote({ ok: true, text });
    } catch (e) {
      setNote({ ok: false, text: e instanceof Error ? e.message : String(e) });
    } finally {
      setBusy(false);
    }
  };

  const regenerate = () => {
    if (!confirm('Make a new stream key? The current key stops working at once; every encoder using it must be given the new one.')) return;
    void run(async () => {
      const s = await api<Stream>(`${base}/key`, { method: 'POST' });
      onChange(s);
      setRevealed(true);
      return 'A new stream key was made and is shown below. Put it in your encoder.';
    });
  };
  const end = () => {
    if (!confirm(`End “${stream.title}”? Viewers are told it is over, and an ended stream cannot go live again.`)) return;
    void run(async () => {
      onChange(await api<Stream>(`${base}/end`, { method: 'POST' }));
      return 'The stream has ended.';
    });
  };
  const remove = () => {
    const extra = live ? ' It is live now: it is ended first, and viewers are told.' : '';
    if (!confirm(`Delete “${stream.title}”? This cannot be undone.${extra}`)) return;
    void run(async () => {
      await api<void>(base, { method: 'DELETE' });
      onDeleted(stream.id);
      return null;
    });
  };

  const typeLabel = contentTypeLabel(stream.content_type);
  const meta = [
    typeLabel,
    stream.category && stream.category.toLowerCase() !== typeLabel.toLowerCase() ? stream.category : null,
    stream.record ? 'recording on' : null,
    stream.tags.length ? stream.tags.join(', ') : null,
  ].filter(Boolean);

  return (
    <article class="panel" aria-labelledby={headingId}>
      <div class="item-head">
        <h3 id={headingId} ref={heading} tabIndex={-1}>
          {stream.title}
        </h3>
        <StatusBadge status={stream.status} />
        {stream.is_private && <span class="badge muted">Private</span>}
      </div>
      <p class="meta-line">
        {meta.join(' · ')}
        {meta.length > 0 && ' · '}
        {stream.status === 'ended' ? (
          <>
            ended <When iso={stream.end_time} />
            {stream.duration != null && <> after {formatDuration(stream.duration)}</>}
          </>
        ) : live ? (
          <>
            live since <When iso={stream.start_time} />
          </>
        ) : (
          <>
            created <When iso={stream.created_at} />
          </>
        )}
      </p>
      {stream.description && <p class="description">{stream.description}</p>}

      <div class="form-actions">
        <a class="button subtle small" href={`/live/${encodeURIComponent(stream.id)}`}>
          Open live page
        </a>
        {live && (
          <button type="button" class="small" disabled={busy} onClick={end}>
            End stream
          </button>
        )}
        {stream.status !== 'ended' && (
          <button type="button" class="subtle small" disabled={busy} onClick={regenerate}>
            Regenerate key
          </button>
        )}
        <button type="button" class="danger small" disabled={busy} onClick={remove}>
          Delete
        </button>
      </div>
      <OutcomeNote note={note} />

      {stream.status === 'ended' && stream.recording_video_id && (
        <p>
          <a href={`/videos/${encodeURIComponent(stream.recording_video_id)}`}>Watch the recording</a>
        </p>
      )}
      {stream.status === 'ended' && stream.record && !stream.recording_video_id && (
        <p class="hint">The recording becomes a video shortly after the stream ends.</p>
      )}

      {stream.status !== 'ended' && <ConnectInfo stream={stream} revealed={revealed} setRevealed={setRevealed} />}
      {live && <HealthView streamId={stream.id} />}

      {stream.status !== 'scheduled' && (
        <details
          class="disclosure"
          open={analyticsOpen ?? live}
          onToggle={(e) => setAnalyticsOpen(e.currentTarget.open)}
        >
          <summary>Viewers, last 24 hours</summary>
          {(analyticsOpen ?? live) && <AnalyticsView stream={stream} />}
        </details>
      )}

      <details class="disclosure" open={editOpen} onToggle={(e) => setEditOpen(e.currentTarget.open)}>
        <summary>Edit stream</summary>
        {editOpen && (
          <StreamForm
            name={`Edit ${stream.title}`}
            initial={valuesOf(stream)}
            submitLabel="Save changes"
            editing
            onSave={async (v) => {
              onChange(await api<Stream>(base, { method: 'PATCH', body: updateBody(v) }));
              return 'keep';
            }}
            onCancel={() => setEditOpen(false)}
          />
        )}
      </details>
    </article>
  );
}

function ConnectInfo({
  stream,
  revealed,
  setRevealed,
}: {
  stream: Stream;
  revealed: boolean;
  setRevealed: (r: boolean) => void;
}) {
  const keyId = useId();
  const url = stream.rtmp_url;
  if (!url) {
    return (
      <section class="subsection">
        <h4>Connect your encoder</h4>
        <p class="hint">The stream key is shown only to the stream's owner.</p>
      </section>
    );
  }
  const server = rtmpServer(url);
  const key = stream.stream_key ?? url.slice(server.length + 1);
  const masked = '•'.repeat(Math.min(Math.max(key.length, 8), 24));
  const command = (k: string) =>
    `ffmpeg -re -i input.mp4 -c:v libx264 -preset veryfast -tune zerolatency -g 60 -c:a aac -f flv ${server}/${k}`;

  return (
    <section class="subsection">
      <h4>Connect your encoder</h4>
      <dl class="kv">
        <div>
          <dt>Server</dt>
          <dd class="field-row">
            <code class="secret">{server}</code>
            <CopyButton text={server} label="Copy server URL" />
          </dd>
        </div>
        <div>
          <dt>Stream key</dt>
          <dd class="field-row">
            <code class="secret" id={keyId}>
              {revealed ? (
                key
              ) : (
                <>
                  <span aria-hidden="true">{masked}</span>
                  <span class="visually-hidden">hidden</span>
                </>
              )}
            </code>
            <button
              type="button"
              class="subtle small"
              aria-controls={keyId}
              onClick={() => setRevealed(!revealed)}
            >
              {revealed ? 'Hide key' : 'Show key'}
            </button>
            <CopyButton text={key} label="Copy stream key" />
          </dd>
        </div>
      </dl>
      <p class="hint">Anyone with the key can stream as you. Keep it secret; regenerate it if it leaks.</p>

      <p>
        <strong>OBS:</strong>
      </p>
      <ol class="steps">
        <li>Settings → Stream: Service “Custom”, Server as above, Stream Key as above.</li>
        <li>
          Settings → Output (Output Mode “Advanced”): encoder x264, rate control CBR, keyframe interval 1 or 2 s, tune
          “zerolatency”.
        </li>
        <li>Start streaming: the stream goes live by itself.</li>
      </ol>
      <p>
        <strong>ffmpeg:</strong>
      </p>
      <pre class="command">
        <code>{command(revealed ? key : masked)}</code>
      </pre>
      <div class="field-row">
        <CopyButton text={command(key)} label="Copy ffmpeg command" />
        <span class="hint">Copies the command with the key.</span>
      </div>
    </section>
  );
}

function show(n: number | null | undefined, unit = '', digits = 1): string {
  if (n == null || !Number.isFinite(n)) return DASH;
  const value = n.toLocaleString('en', { maximumFractionDigits: digits });
  return unit ? `${value} ${unit}` : value;
}

/** Bits a second as people read them. */
function bitrate(bps: number | null | undefined): string {
  if (bps == null || !Number.isFinite(bps)) return DASH;
  if (bps >= 1_000_000) return `${(bps / 1_000_000).toFixed(1)} Mbps`;
  return `${Math.round(bps / 1000)} kbps`;
}

function size(w: number | null | undefined, h: number | null | undefined): string {
  return w && h ? `${w}×${h}` : '';
}

function HealthView({ streamId }: { streamId: string }) {
  const [health, setHealth] = useState<StreamHealth | null>(null);
  const [failed, setFailed] = useState(false);
  const [absent, setAbsent] = useState(false);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setInterval> | undefined;
    let ctl: AbortController | null = null;
    const read = async () => {
      if (!visible()) return;
      ctl?.abort();
      ctl = new AbortController();
      try {
        const h = await api<StreamHealth>(`/api/streams/${encodeURIComponent(streamId)}/health`, { signal: ctl.signal });
        if (stopped) return;
        setHealth(h);
        setFailed(false);
      } catch (e) {
        if (stopped || (e as Error).name === 'AbortError') return;
        // Servers without the health route answer 404: there is nothing to show, and no point asking again.
        if (e instanceof ApiError && e.status === 404) {
          clearInterval(timer);
          setAbsent(true);
        } else {
          setFailed(true);
        }
      }
    };
    void read();
    timer = setInterval(read, HEALTH_POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
      ctl?.abort();
    };
  }, [streamId]);

  if (absent) return null;
  const v = health?.video;
  const a = health?.audio;
  const audio = a
    ? [
        a.codec,
        typeof a.sample_rate === 'number' ? `${a.sample_rate / 1000} kHz` : null,
        typeof a.channels === 'number' ? (a.channels === 1 ? 'mono' : a.channels === 2 ? 'stereo' : `${a.channels} ch`) : null,
      ]
        .filter(Boolean)
        .join(' · ')
    : '';
  const keyframes = health?.keyframe_interval_seconds;

  return (
    <section class="subsection">
      <h4>Stream health</h4>
      {!health ? (
        failed ? (
          <p class="hint">The stream's health cannot be read right now; trying again.</p>
        ) : (
          <Spinner label="Reading the stream's health" />
        )
      ) : (
        <>
          <dl class="stats compact">
            <div>
              <dt>Encoder</dt>
              <dd>{health.live ? 'Connected' : 'Not connected'}</dd>
            </div>
            <div>
              <dt>Uptime</dt>
              <dd>{formatDuration(health.uptime_seconds) || DASH}</dd>
            </div>
            <div>
              <dt>Ingest bitrate</dt>
              <dd>{show(health.ingest_kbps, 'kbps', 0)}</dd>
            </div>
            <div>
              <dt>Frame rate</dt>
              <dd>{show(health.fps, 'fps', 2)}</dd>
            </div>
            <div>
              <dt>Keyframe interval</dt>
              <dd>{show(keyframes, 's')}</dd>
            </div>
            <div>
              <dt>Video</dt>
              <dd>{v ? [v.codec, size(v.width, v.height)].filter(Boolean).join(' ') || DASH : DASH}</dd>
            </div>
            <div>
              <dt>Audio</dt>
              <dd>{audio || DASH}</dd>
            </div>
            <div>
              <dt>Viewers</dt>
              <dd>{show(health.viewers)}</dd>
            </div>
          </dl>
          {keyframes != null && keyframes > 2 && (
            <p class="hint">
              Keyframes every {show(keyframes)} s make playback start late; set your encoder's keyframe interval to 1 or 2
              seconds.
            </p>
          )}
          {failed && <p class="hint">The latest reading failed; these figures may be out of date.</p>}
          {health.renditions.length > 0 && (
            <p class="meta-line">
              Renditions:{' '}
              {health.renditions
                .map((r) => [r.name, size(r.width, r.height), r.bandwidth != null ? bitrate(r.bandwidth) : ''].filter(Boolean).join(' '))
                .join(' · ')}
            </p>
          )}
        </>
      )}
    </section>
  );
}

function AnalyticsView({ stream }: { stream: Stream }) {
  const live = stream.status === 'live';
  const path = `/api/streams/${encodeURIComponent(stream.id)}/analytics${query({ hours: 24 })}`;
  const data = useLoad((signal) => api<StreamSample[]>(path, { signal }), [path]);

  useEffect(() => {
    if (!live) return;
    const timer = setInterval(() => {
      if (visible()) api<StreamSample[]>(path).then(data.set, () => {});
    }, ANALYTICS_POLL_MS);
    return () => clearInterval(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [path, live]);

  if (data.loading && !data.data) return <Spinner />;
  if (data.error) return <ErrorNote error={data.error} />;
  const samples = data.data ?? [];
  if (samples.length === 0) {
    return <Empty>No viewer samples in the last 24 hours.</Empty>;
  }
  const points = samples
    .map((s) => ({ t: Date.parse(s.timestamp), v: s.viewer_count }))
    .filter((p) => Number.isFinite(p.t));
  const peak = Math.max(...samples.map((s) => s.viewer_count));
  const latest = samples[samples.length - 1].viewer_count;
  const totalChat = samples.reduce((n, s) => n + s.chat_messages_count, 0);
  const perMinute = chatPerMinute(samples);
  const label = `Viewers over time, ${samples.length} samples: peak ${peak}, latest ${latest}.`;

  return (
    <>
      <LineChart points={points} label={label} />
      <dl class="figures">
        <div>
          <dt>Peak viewers</dt>
          <dd>{peak.toLocaleString('en')}</dd>
        </div>
        {live && (
          <div>
            <dt>Latest</dt>
            <dd>{latest.toLocaleString('en')}</dd>
          </div>
        )}
        <div>
          <dt>Chat messages a minute</dt>
          <dd>{perMinute == null ? DASH : perMinute.toLocaleString('en', { maximumFractionDigits: 1 })}</dd>
        </div>
        <div>
          <dt>Chat messages</dt>
          <dd>{totalChat.toLocaleString('en')}</dd>
        </div>
      </dl>
    </>
  );
}

/* ----------------------------------------------------------------- Videos */

const STATUS_TEXT: Record<Video['processing_status'], string> = {
  pending: 'Waiting',
  processing: 'Processing',
  completed: 'Ready',
  failed: 'Failed',
};

function VideosSection({ user }: { user: User }) {
  const path = `/api/videos${query({ uploader_id: user.id, limit: 100 })}`;
  const videos = useLoad((signal) => api<Video[]>(path, { signal }), [path]);
  const reread = () => api<Video[]>(path).then(videos.set, () => {});
  const list = videos.data ?? [];
  const recordings = list.filter((v) => v.content_type === 'recorded').length;

  return (
    <section aria-labelledby="your-videos">
      <div class="page-head">
        <h2 id="your-videos">Your videos</h2>
        <a class="button" href="/upload">
          Upload a video
        </a>
      </div>
      {videos.loading && !videos.data ? (
        <Spinner />
      ) : videos.error ? (
        <ErrorNote error={videos.error} />
      ) : list.length === 0 ? (
        <Empty>
          No videos yet. <a href="/upload">Upload one</a>, or turn on recording for a stream.
        </Empty>
      ) : (
        <>
          <p class="hint">
            {list.length} {list.length === 1 ? 'video' : 'videos'}
            {recordings > 0 && `, of which ${recordings} ${recordings === 1 ? 'is a recording' : 'are recordings'} of your streams`}.
          </p>
          <div class="table-wrap" role="region" aria-labelledby="your-videos" tabIndex={0}>
            <table class="data-table">
              <caption class="visually-hidden">Your videos</caption>
              <thead>
                <tr>
                  <th scope="col" class="title-col">
                    Title
                  </th>
                  <th scope="col">Status</th>
                  <th scope="col">Views</th>
                  <th scope="col">Likes</th>
                  <th scope="col">Duration</th>
                  <th scope="col">Visibility</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {list.map((v) => (
                  <tr key={v.id}>
                    <th scope="row">
                      <a href={`/videos/${encodeURIComponent(v.id)}`}>{v.title}</a>
                      {v.content_type === 'recorded' && (
                        <>
                          {' '}
                          <span class="badge muted">Recording</span>
                        </>
                      )}
                    </th>
                    <td>
                      <span
                        class={`badge ${v.processing_status === 'completed' ? 'ok' : v.processing_status === 'failed' ? 'bad' : 'muted'}`}
                      >
                        {STATUS_TEXT[v.processing_status] ?? v.processing_status}
                      </span>
                      {v.processing_error && <p class="hint">{v.processing_error}</p>}
                      {(v.processing_status === 'pending' || v.processing_status === 'processing') && (
                        <JobProgress video={v} onEnded={reread} />
                      )}
                    </td>
                    <td class="nowrap">{v.view_count.toLocaleString('en')}</td>
                    <td class="nowrap">{v.like_count.toLocaleString('en')}</td>
                    <td class="nowrap">{formatDuration(v.duration) || DASH}</td>
                    <td>{v.is_public ? 'Public' : 'Private'}</td>
                    <td class="nowrap">
                      <When iso={v.created_at} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

/** The video's latest job, read again while it is queued or running. */
function JobProgress({ video, onEnded }: { video: Video; onEnded: () => void }) {
  const [job, setJob] = useState<Job | null | undefined>(undefined);
  const ended = useRef(onEnded);
  ended.current = onEnded;

  useEffect(() => {
    let stopped = false;
    let wasActive = false;
    let timer: ReturnType<typeof setInterval> | undefined;
    const read = async () => {
      if (wasActive && !visible()) return;
      try {
        const jobs = await api<Job[]>(`/api/videos/${encodeURIComponent(video.id)}/jobs`);
        if (stopped) return;
        const latest = jobs[0] ?? null;
        setJob(latest);
        const active = !!latest && (latest.state === 'queued' || latest.state === 'running');
        if (!active) {
          clearInterval(timer);
          if (wasActive) ended.current();
        }
        wasActive = active;
      } catch {
        if (!stopped) setJob(null);
      }
    };
    void read();
    timer = setInterval(read, JOB_POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [video.id]);

  if (job === undefined) return null;
  if (job === null) return <p class="hint">Not queued for processing.</p>;
  let body: ComponentChildren;
  if (job.state === 'running') {
    const pct = Math.round(job.progress);
    body = (
      <>
        <progress max={100} value={pct} aria-label={`Processing “${video.title}”`}>
          {pct}%
        </progress>
        <span class="hint">
          {pct}%{job.eta_seconds != null && job.eta_seconds > 0 ? `, about ${formatDuration(job.eta_seconds)} left` : ''}
        </span>
      </>
    );
  } else if (job.state === 'queued') {
    body = <span class="hint">Queued for processing</span>;
  } else {
    body = (
      <span class="hint">
        Last job {job.state}
        {job.error ? `: ${job.error}` : ''}
      </span>
    );
  }
  return <div>{body}</div>;
}
