import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, query } from '../lib/api';
import type { Stream, Video } from '../lib/types';
import { StreamCard, VideoCard } from '../components/cards';
import { Empty, ErrorNote, Spinner, useLoad, useTitle } from '../components/common';
import { useUserName } from '../lib/users';

/** How often the list of live streams (and their viewer counts) is read again. */
const LIVE_REFRESH_MS = 5000;

function matches(text: string, needle: string): boolean {
  return text.toLowerCase().includes(needle);
}

export function filterItems<T extends { title: string; description: string | null; category: string | null; tags: string[] }>(
  items: T[],
  category: string,
  search: string,
): T[] {
  const needle = search.trim().toLowerCase();
  return items.filter(
    (i) =>
      (!category || i.category === category) &&
      (!needle ||
        matches(i.title, needle) ||
        matches(i.description ?? '', needle) ||
        i.tags.some((t) => matches(t, needle))),
  );
}

function NamedStreamCard({ stream }: { stream: Stream }) {
  const name = useUserName(stream.streamer_id);
  return <StreamCard stream={stream} channel={name} />;
}

export function Home() {
  useTitle(null);
  const [category, setCategory] = useState('');
  const [search, setSearch] = useState('');
  const live = useLoad((signal) => api<Stream[]>(`/api/streams${query({ status: 'live', limit: 100 })}`, { signal }), []);
  const videos = useLoad((signal) => api<Video[]>(`/api/videos${query({ limit: 48 })}`, { signal }), []);

  // Viewer counts change all the time; the list is read again while the page is visible.
  useEffect(() => {
    const timer = setInterval(() => {
      if (document.visibilityState !== 'visible') return;
      api<Stream[]>(`/api/streams${query({ status: 'live', limit: 100 })}`).then(live.set, () => {});
    }, LIVE_REFRESH_MS);
    return () => clearInterval(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const categories = useMemo(() => {
    const all = new Set<string>();
    for (const s of live.data ?? []) if (s.category) all.add(s.category);
    for (const v of videos.data ?? []) if (v.category) all.add(v.category);
    return [...all].sort((a, b) => a.localeCompare(b));
  }, [live.data, videos.data]);

  const streams = filterItems(live.data ?? [], category, search);
  const recent = filterItems(videos.data ?? [], category, search);

  return (
    <div class="page">
      <h1 class="visually-hidden">Ferrocast</h1>
      <div class="toolbar" role="search">
        <div>
          <label for="home-search">Search</label>
          <input
            id="home-search"
            type="search"
            placeholder="Titles, descriptions, tags"
            value={search}
            onInput={(e) => setSearch((e.target as HTMLInputElement).value)}
          />
        </div>
      </div>
      {categories.length > 0 && (
        <ul class="chips" aria-label="Categories">
          <li>
            <button type="button" aria-pressed={category === ''} onClick={() => setCategory('')}>
              All
            </button>
          </li>
          {categories.map((c) => (
            <li key={c}>
              <button type="button" aria-pressed={category === c} onClick={() => setCategory(c)}>
                {c}
              </button>
            </li>
          ))}
        </ul>
      )}

      <section aria-labelledby="live-now">
        <h2 id="live-now">Live now</h2>
        {live.loading && !live.data ? (
          <Spinner />
        ) : live.error ? (
          <ErrorNote error={live.error} />
        ) : streams.length === 0 ? (
          <Empty>{search || category ? 'No live stream matches.' : 'Nobody is live right now.'}</Empty>
        ) : (
          <div class="grid">
            {streams.map((s) => (
              <NamedStreamCard key={s.id} stream={s} />
            ))}
          </div>
        )}
      </section>

      <section aria-labelledby="recent-videos">
        <h2 id="recent-videos">Recent videos</h2>
        {videos.loading && !videos.data ? (
          <Spinner />
        ) : videos.error ? (
          <ErrorNote error={videos.error} />
        ) : recent.length === 0 ? (
          <Empty>{search || category ? 'No video matches.' : 'No videos yet.'}</Empty>
        ) : (
          <div class="grid">
            {recent.map((v) => (
              <VideoCard key={v.id} video={v} />
            ))}
          </div>
        )}
      </section>
    </div>
  );
}
