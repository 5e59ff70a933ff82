import { useEffect, useId, useState } from 'preact/hooks';
import { ApiError, api, query } from '../lib/api';
import { isAdmin, refreshSession, useSession } from '../lib/session';
import type { Job, QueuedJob, Role, Stats, User } from '../lib/types';
import { clockTime, formatBytes, formatDuration, timeAgo } from '../lib/format';
import { Empty, ErrorNote, type Outcome, OutcomeNote, Spinner, useLoad, useTitle } from '../components/common';
import './studio.css';

const STATS_POLL_MS = 5000;
const JOBS_POLL_MS = 5000;
const DASH = '—';
const ROLES: Role[] = ['viewer', 'streamer', 'moderator', 'admin'];
const JOB_STATES: Job['state'][] = ['queued', 'running', 'completed', 'failed', 'cancelled'];

function visible(): boolean {
  return document.visibilityState === 'visible';
}

function n(x: number | null | undefined): string {
  return x == null || !Number.isFinite(x) ? DASH : x.toLocaleString('en');
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

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function Admin() {
  const { user, loaded } = useSession();
  useTitle('Admin');

  if (!loaded) {
    return (
      <div class="page">
        <h1>Admin</h1>
        <Spinner />
      </div>
    );
  }
  if (!user || !isAdmin(user)) {
    return (
      <section class="page narrow">
        <h1>Admin</h1>
        <p>Admins only.</p>
        {user ? (
          <p>Your account is not an admin of this server.</p>
        ) : (
          <p>
            <a href="/signin?next=%2Fadmin">Sign in</a> with an admin account.
          </p>
        )}
      </section>
    );
  }
  return (
    <div class="page">
      <h1>Admin</h1>
      <StatsSection />
      <UsersSection me={user} />
      <JobsSection />
    </div>
  );
}

/* -------------------------------------------------------------- Statistics */

function StatsSection() {
  const stats = useLoad((signal) => api<Stats>('/api/stats', { signal }), []);
  const [stale, setStale] = useState(false);

  useEffect(() => {
    const timer = setInterval(() => {
      if (!visible()) return;
      api<Stats>('/api/stats').then(
        (s) => {
          stats.set(s);
          setStale(false);
        },
        () => setStale(true),
      );
    }, STATS_POLL_MS);
    return () => clearInterval(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const s = stats.data;
  const formatKbps = (kbps: number | undefined) =>
    kbps == null ? DASH : kbps >= 1000 ? `${(kbps / 1000).toFixed(1)} Mbit/s` : `${kbps} kbit/s`;
  const items: [string, string][] = s
    ? [
        ['Live streams', n(s.live_streams)],
        ['Current viewers', n(s.current_viewers)],
        ['Live bandwidth', formatKbps(s.live_bandwidth_kbps)],
        ['WebSocket connections', n(s.websocket_connections)],
        ['Jobs queued', n(s.queued_jobs)],
        ['Jobs running', n(s.running_jobs)],
        ['Jobs failed', n(s.failed_jobs)],
        ['Total streams', n(s.total_streams)],
        ['Videos', n(s.total_videos)],
        ['Processed videos', n(s.processed_videos)],
        ['Views', n(s.total_video_views)],
        ['Likes', n(s.total_likes)],
        ['Storage', formatBytes(s.total_storage_bytes) || DASH],
        ['Chat messages', n(s.total_chat_messages)],
        ['Users', n(s.total_users)],
      ]
    : [];

  return (
    <section aria-labelledby="admin-stats">
      <h2 id="admin-stats">Platform</h2>
      {stats.loading && !s ? (
        <Spinner />
      ) : stats.error && !s ? (
        <ErrorNote error={stats.error} />
      ) : s ? (
        <>
          <dl class="stats dashboard">
            {items.map(([label, value]) => (
              <div key={label}>
                <dt>{label}</dt>
                <dd>{value}</dd>
              </div>
            ))}
          </dl>
          <p class="hint">
            {stale
              ? 'The latest refresh failed; these figures may be out of date.'
              : `Updated every ${STATS_POLL_MS / 1000} seconds${s.timestamp ? `, last at ${clockTime(s.timestamp)}` : ''}.`}
          </p>
        </>
      ) : null}
    </section>
  );
}

/* ------------------------------------------------------------------- Users */

function UsersSection({ me }: { me: User }) {
  const users = useLoad((signal) => api<User[]>(`/api/users${query({ limit: 100 })}`, { signal }), []);
  const list = users.data ?? [];
  const replace = (u: User) => users.set(list.map((x) => (x.id === u.id ? u : x)));

  return (
    <section aria-labelledby="admin-users">
      <h2 id="admin-users">Users and roles</h2>
      {users.loading && !users.data ? (
        <Spinner />
      ) : users.error ? (
        <ErrorNote
          error={users.error.status === 404 || users.error.status === 405 ? 'This server does not list users.' : users.error}
        />
      ) : list.length === 0 ? (
        <Empty>No users.</Empty>
      ) : (
        <>
          <p class="hint">
            Streamers may create streams; moderators may delete chat messages; admins may do everything.
            {list.length >= 100 && ' The first 100 accounts are shown.'}
          </p>
          <div class="table-wrap" role="region" aria-labelledby="admin-users" tabIndex={0}>
            <table class="data-table narrow">
              <caption class="visually-hidden">Users and their roles</caption>
              <thead>
                <tr>
                  <th scope="col">User</th>
                  <th scope="col">E-mail</th>
                  <th scope="col">Role</th>
                  <th scope="col">Joined</th>
                </tr>
              </thead>
              <tbody>
                {list.map((u) => (
                  <UserRow key={u.id} user={u} me={me} onSaved={replace} />
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

function UserRow({ user, me, onSaved }: { user: User; me: User; onSaved: (u: User) => void }) {
  const [role, setRole] = useState<Role>(user.role);
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState<Outcome | null>(null);
  const self = user.id === me.id;

  const save = async () => {
    if (self && role !== 'admin' && !confirm('Take the admin role from your own account? You lose this page at once.')) {
      return;
    }
    setBusy(true);
    setNote(null);
    try {
      const updated = await api<User | undefined>(`/api/users/${encodeURIComponent(user.id)}/role`, {
        method: 'PUT',
        body: { role },
      });
      onSaved(updated && typeof updated === 'object' && 'id' in updated ? updated : { ...user, role });
      setNote({ ok: true, text: `Now ${role}` });
      if (self) await refreshSession();
    } catch (e) {
      setNote({ ok: false, text: message(e) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <tr>
      <th scope="row">
        <a href={`/channel/${encodeURIComponent(user.id)}`}>{user.username}</a>
        {self && <span class="hint"> (you)</span>}
      </th>
      <td>{user.email || DASH}</td>
      <td>
        <div class="role-cell">
          <select
            aria-label={`Role of ${user.username}`}
            value={role}
            disabled={busy}
            onChange={(e) => {
              setRole(e.currentTarget.value as Role);
              setNote(null);
            }}
          >
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
          <button
            type="button"
            class="small"
            disabled={busy || role === user.role}
            aria-label={`Save role of ${user.username}`}
            onClick={save}
          >
            {busy ? 'Saving…' : 'Save'}
          </button>
        </div>
        <OutcomeNote note={note} small />
      </td>
      <td class="nowrap">
        <When iso={user.created_at} />
      </td>
    </tr>
  );
}

/* -------------------------------------------------------------------- Jobs */

const ACTIVE: Job['state'][] = ['queued', 'running'];

function JobsSection() {
  const filterId = useId();
  const [state, setState] = useState('');
  const path = `/api/jobs${query({ state, limit: 100 })}`;
  const jobs = useLoad((signal) => api<QueuedJob[]>(path, { signal }), [path]);
  const list = jobs.data ?? [];
  const anyActive = list.some((j) => ACTIVE.includes(j.state));

  // Progress moves only while something is queued or running; otherwise there is nothing to follow.
  useEffect(() => {
    if (!anyActive) return;
    const timer = setInterval(() => {
      if (visible()) api<QueuedJob[]>(path).then(jobs.set, () => {});
    }, JOBS_POLL_MS);
    return () => clearInterval(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [path, anyActive]);

  const replace = (j: QueuedJob) =>
    jobs.set(list.map((x) => (x.id === j.id ? { ...j, video_title: j.video_title ?? x.video_title } : x)));

  return (
    <section aria-labelledby="admin-jobs">
      <h2 id="admin-jobs">Job queue</h2>
      <div class="filter-row">
        <div>
          <label for={filterId}>State</label>
          <select id={filterId} value={state} onChange={(e) => setState(e.currentTarget.value)}>
            <option value="">All</option>
            {JOB_STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <button type="button" class="subtle" onClick={jobs.reload}>
          Refresh
        </button>
      </div>
      {jobs.loading && !jobs.data ? (
        <Spinner />
      ) : jobs.error ? (
        <ErrorNote
          error={jobs.error.status === 404 || jobs.error.status === 405 ? 'This server does not list jobs.' : jobs.error}
        />
      ) : list.length === 0 ? (
        <Empty>{state ? `No ${state} jobs.` : 'No jobs.'}</Empty>
      ) : (
        <div class="table-wrap" role="region" aria-labelledby="admin-jobs" tabIndex={0}>
          <table class="data-table wide">
            <caption class="visually-hidden">Processing jobs</caption>
            <thead>
              <tr>
                <th scope="col" class="title-col">
                  Video
                </th>
                <th scope="col">State</th>
                <th scope="col">Progress</th>
                <th scope="col">Attempts</th>
                <th scope="col" class="error-col">
                  Error
                </th>
                <th scope="col">Created</th>
                <th scope="col">Started</th>
                <th scope="col">Finished</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.map((j) => (
                <JobRow key={j.id} job={j} onChanged={replace} onRetried={jobs.reload} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function JobRow({
  job,
  onChanged,
  onRetried,
}: {
  job: QueuedJob;
  onChanged: (j: QueuedJob) => void;
  onRetried: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState<Outcome | null>(null);
  const title = job.video_title || job.video_id;
  const pct = Math.max(0, Math.min(100, Math.round(job.progress)));

  const act = async (action: () => Promise<string>) => {
    setBusy(true);
    setNote(null);
    try {
      setNote({ ok: true, text: await action() });
    } catch (e) {
      const text = e instanceof ApiError && e.status === 409 ? `${e.message} (refresh to see its state)` : message(e);
      setNote({ ok: false, text });
    } finally {
      setBusy(false);
    }
  };

  const cancel = () =>
    act(async () => {
      onChanged(await api<QueuedJob>(`/api/jobs/${encodeURIComponent(job.id)}/cancel`, { method: 'POST' }));
      return 'Cancelled';
    });
  const retry = () =>
    act(async () => {
      const p = job.params;
      await api<Job>(`/api/videos/${encodeURIComponent(job.video_id)}/transcode`, {
        method: 'POST',
        body: {
          profiles: p.profiles,
          generateHLS: p.generateHLS,
          generateDASH: p.generateDASH,
          generateThumbnails: p.generateThumbnails,
        },
      });
      onRetried();
      return 'Queued again';
    });

  const long = !!job.error && (job.error.length > 120 || job.error.includes('\n'));

  return (
    <tr>
      <th scope="row">
        <a href={`/videos/${encodeURIComponent(job.video_id)}`}>{title}</a>
        <p class="hint">
          {job.kind}
          {job.params?.profiles?.length ? ` · ${job.params.profiles.join(', ')}` : ''}
        </p>
      </th>
      <td class="nowrap">
        <span
          class={`badge ${job.state === 'completed' ? 'ok' : job.state === 'failed' ? 'bad' : job.state === 'running' ? 'scheduled' : 'muted'}`}
        >
          {job.state}
        </span>
      </td>
      <td>
        <progress max={100} value={pct} aria-label={`Progress of the job for ${title}`}>
          {pct}%
        </progress>
        <p class="hint">
          {pct}%
          {job.state === 'running' && job.eta_seconds != null && job.eta_seconds > 0
            ? `, ${formatDuration(job.eta_seconds)} left`
            : ''}
        </p>
      </td>
      <td class="nowrap">
        {job.attempts}/{job.max_attempts}
      </td>
      <td>
        {!job.error ? (
          DASH
        ) : long ? (
          <details>
            <summary>{job.error.split('\n')[0].slice(0, 80)}…</summary>
            <pre class="command">{job.error}</pre>
          </details>
        ) : (
          job.error
        )}
      </td>
      <td class="nowrap">
        <When iso={job.created_at} />
      </td>
      <td class="nowrap">
        <When iso={job.started_at} />
      </td>
      <td class="nowrap">
        <When iso={job.finished_at} />
      </td>
      <td>
        <div class="field-row">
          {ACTIVE.includes(job.state) && (
            <button
              type="button"
              class="subtle small"
              disabled={busy}
              aria-label={`Cancel the job for ${title}`}
              onClick={cancel}
            >
              Cancel
            </button>
          )}
          {(job.state === 'failed' || job.state === 'cancelled') && (
            <button
              type="button"
              class="small"
              disabled={busy}
              aria-label={`Retry the job for ${title}`}
              onClick={retry}
            >
              Retry
            </button>
          )}
        </div>
        <OutcomeNote note={note} small />
      </td>
    </tr>
  );
}
