import { useEffect, useState } from 'preact/hooks';
import { useRoute } from 'preact-iso';
import { VideoCard } from '../components/cards';
import { ErrorNote, Spinner, useLoad, useTitle } from '../components/common';
import { Player } from '../components/Player';
import { Seekbar } from '../components/Seekbar';
import { api, query } from '../lib/api';
import { formatCount, timeAgo } from '../lib/format';
import { useSession } from '../lib/session';
import type { Playlist, Video } from '../lib/types';
import { useUserName } from '../lib/users';
import { followVideo } from '../lib/videoEvents';

export function Watch() {
  const { params } = useRoute();
  const id = params.id;
  const { user } = useSession();
  const video = useLoad((signal) => api<Video>(`/api/videos/${encodeURIComponent(id)}`, { signal }), [id]);
  const [element, setElement] = useState<HTMLVideoElement | null>(null);
  const [reactionError, setReactionError] = useState<unknown>(null);
  const v = video.data;
  const uploader = useUserName(v?.uploader_id);
  useTitle(v?.title ?? 'Video');

  // A video still processing becomes playable on this page when its job finishes.
  useEffect(() => {
    if (!v || v.processing_status === 'completed' || v.processing_status === 'failed') return;
    return followVideo(v.id, (e) => {
      if (e.type === 'transcode_completed') video.set(e.video);
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [v?.id, v?.processing_status]);

  if (video.loading && !v) return <Spinner />;
  if (video.error || !v) return <ErrorNote error={video.error ?? 'Video not found'} />;

  const src = v.hls_url ?? null;
  const original = `/api/videos/${encodeURIComponent(v.id)}/file`;

  const react = async (kind: 'like' | 'dislike') => {
    setReactionError(null);
    try {
      video.set(await api<Video>(`/api/videos/${encodeURIComponent(v.id)}/${kind}`, { method: 'POST' }));
    } catch (e) {
      setReactionError(e);
    }
  };

  return (
    <div class="watch">
      <div>
        <div class="player">
          {src ? (
            <Player src={src} live={false} poster={v.thumbnails?.poster} label={`Video: ${v.title}`} onVideo={setElement} />
          ) : (
            // Not processed (yet, or on a server that does not process): the original file.
            <video controls playsInline preload="metadata" src={original} aria-label={`Video: ${v.title}`} ref={setElement} />
          )}
        </div>
        {src && <Seekbar video={element} storyboardUrl={v.thumbnails?.storyboard_vtt ?? null} />}
        {v.processing_status !== 'completed' && (
          <p class="hint" role="status">
            {v.processing_status === 'failed'
              ? `Processing failed${v.processing_error ? `: ${v.processing_error}` : ''}. The original file plays instead.`
              : 'This video is still being processed; the original file plays until then.'}
          </p>
        )}
        <h1>{v.title}</h1>
        <div class="meta-row">
          <a href={`/channel/${encodeURIComponent(v.uploader_id)}`}>{uploader}</a>
          <span class="hint">
            {formatCount(v.view_count, 'view', 'views')} · {timeAgo(v.created_at)}
          </span>
          {v.category && <span class="badge">{v.category}</span>}
          {!v.is_public && <span class="badge">Private</span>}
          <span class="reactions">
            <button type="button" class="subtle small" onClick={() => react('like')} aria-label={`Like: ${v.like_count}`}>
              <Thumb /> {v.like_count}
            </button>
            <button type="button" class="subtle small" onClick={() => react('dislike')} aria-label={`Dislike: ${v.dislike_count}`}>
              <Thumb down /> {v.dislike_count}
            </button>
          </span>
        </div>
        <ErrorNote error={reactionError} />
        {v.description && <p class="description">{v.description}</p>}
        {v.tags.length > 0 && <p class="hint">{v.tags.map((t) => `#${t}`).join(' ')}</p>}
        {user && <PlaylistPicker videoId={v.id} userId={user.id} />}
      </div>
      <aside aria-labelledby="more-heading">
        <h2 id="more-heading">More from {uploader}</h2>
        <MoreVideos uploaderId={v.uploader_id} exclude={v.id} />
      </aside>
    </div>
  );
}

function Thumb({ down = false }: { down?: boolean }) {
  return (
    <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" class={down ? 'thumb-icon down' : 'thumb-icon'}>
      <path
        fill="currentColor"
        d="M2 21h4V9H2v12zm20-11c0-1.1-.9-2-2-2h-6.3l1-4.6v-.3c0-.4-.2-.8-.4-1.1L13.2 1 6.6 7.6C6.2 7.9 6 8.4 6 9v10c0 1.1.9 2 2 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z"
      />
    </svg>
  );
}

function MoreVideos({ uploaderId, exclude }: { uploaderId: string; exclude: string }) {
  const list = useLoad(
    (signal) => api<Video[]>(`/api/videos${query({ uploader_id: uploaderId, limit: 12 })}`, { signal }),
    [uploaderId],
  );
  const others = (list.data ?? []).filter((v) => v.id !== exclude);
  if (list.loading && !list.data) return <Spinner />;
  if (others.length === 0) return <p class="empty">No other videos.</p>;
  return (
    <div class="stack">
      {others.map((v) => (
        <VideoCard key={v.id} video={v} />
      ))}
    </div>
  );
}

function PlaylistPicker({ videoId, userId }: { videoId: string; userId: string }) {
  const lists = useLoad(
    (signal) => api<Playlist[]>(`/api/playlists${query({ creator_id: userId, limit: 100 })}`, { signal }),
    [userId],
  );
  const [chosen, setChosen] = useState('');
  const [name, setName] = useState('');
  const [note, setNote] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const mine = lists.data ?? [];
  const containing = mine.filter((p) => p.video_ids.includes(videoId));

  const add = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setNote(null);
    try {
      if (chosen === 'new') {
        if (!name.trim()) return;
        await api('/api/playlists', { method: 'POST', body: { name: name.trim(), video_ids: [videoId], is_public: true } });
        setNote(`Added to the new playlist “${name.trim()}”.`);
        setName('');
      } else if (chosen) {
        await api(`/api/playlists/${encodeURIComponent(chosen)}/videos/${encodeURIComponent(videoId)}`, { method: 'POST' });
        setNote(`Added to “${mine.find((p) => p.id === chosen)?.name ?? 'playlist'}”.`);
      }
      lists.reload();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section class="panel playlists" aria-labelledby="playlists-heading">
      <h2 id="playlists-heading">Playlists</h2>
      {containing.length > 0 && <p>In your playlists: {containing.map((p) => p.name).join(', ')}</p>}
      <form class="field-row" onSubmit={add}>
        <label class="visually-hidden" for="playlist-choice">
          Add to playlist
        </label>
        <select id="playlist-choice" value={chosen} onChange={(e) => setChosen((e.target as HTMLSelectElement).value)}>
          <option value="">Add to playlist…</option>
          {mine.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
          <option value="new">New playlist…</option>
        </select>
        {chosen === 'new' && (
          <>
            <label class="visually-hidden" for="playlist-name">
              Playlist name
            </label>
            <input id="playlist-name" type="text" placeholder="Playlist name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          </>
        )}
        <button type="submit" class="small" disabled={!chosen}>
          Add
        </button>
      </form>
      {note && (
        <p class="ok-note" role="status">
          {note}
        </p>
      )}
      <ErrorNote error={error} />
    </section>
  );
}
