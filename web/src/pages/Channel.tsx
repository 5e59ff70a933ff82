import { useRoute } from 'preact-iso';
import { ApiError, api, query } from '../lib/api';
import { canStream, useSession } from '../lib/session';
import type { Playlist, Stream, User, Video } from '../lib/types';
import { formatCount, timeAgo } from '../lib/format';
import { StreamCard, VideoCard } from '../components/cards';
import { Empty, ErrorNote, Spinner, useLoad, useTitle } from '../components/common';
import './studio.css';

/** Only pictures from the web or this server: a profile's URL is whatever its owner typed. */
function safeImage(url: string | null | undefined): string | null {
  if (!url) return null;
  return /^(https?:\/\/|\/(?!\/))/i.test(url) ? url : null;
}

export function Channel() {
  const { params } = useRoute();
  const id = params.id ?? '';
  const { user: me } = useSession();

  // Ids the seed's clients made up name no account, yet may have streams and videos: such a
  // channel is shown under its id.
  const profile = useLoad(
    (signal) =>
      api<User>(`/api/users/${encodeURIComponent(id)}`, { signal }).catch((e: unknown) => {
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      }),
    [id],
  );
  const live = useLoad(
    (signal) => api<Stream[]>(`/api/streams${query({ streamer_id: id, status: 'live', limit: 20 })}`, { signal }),
    [id],
  );
  const videos = useLoad(
    (signal) => api<Video[]>(`/api/videos${query({ uploader_id: id, limit: 100 })}`, { signal }),
    [id],
  );
  const playlists = useLoad(
    (signal) =>
      api<Playlist[]>(`/api/playlists${query({ creator_id: id, is_public: true, limit: 100 })}`, { signal }),
    [id],
  );

  const user = profile.data;
  const name = user?.username ?? id;

  const everythingLoaded = !profile.loading && !live.loading && !videos.loading && !playlists.loading;
  const nothing =
    everythingLoaded &&
    !profile.error &&
    user === null &&
    (live.data?.length ?? 0) === 0 &&
    (videos.data?.length ?? 0) === 0 &&
    (playlists.data?.length ?? 0) === 0;
  useTitle(nothing ? 'Channel not found' : profile.loading ? null : name);

  if (nothing) {
    return (
      <section class="page narrow">
        <h1>Channel not found</h1>
        <p>
          There is no channel with this id. <a href="/">Go to the home page</a>.
        </p>
      </section>
    );
  }

  const avatar = safeImage(user?.avatar_url);
  const mine = !!me && me.id === id;
  const liveStreams = live.data ?? [];

  return (
    <div class="page">
      <header class="channel-head">
        {avatar ? (
          <img class="avatar" src={avatar} alt="" width={72} height={72} />
        ) : (
          <div class="avatar placeholder" aria-hidden="true">
            {[...name][0]?.toUpperCase() ?? '?'}
          </div>
        )}
        <div>
          <h1>{profile.loading ? 'Channel' : name}</h1>
          {user && (
            <p class="meta-line">
              {user.role === 'streamer' || user.role === 'admin' ? 'Streamer' : 'Member'}
              {user.created_at && <> · joined {timeAgo(user.created_at)}</>}
            </p>
          )}
        </div>
        {mine && canStream(me) && (
          <a class="button subtle" href="/studio">
            Open your studio
          </a>
        )}
      </header>
      {profile.loading && <Spinner />}
      {profile.error && <ErrorNote error={profile.error} />}
      {user?.bio && <p class="description">{user.bio}</p>}

      {live.error ? (
        <ErrorNote error={live.error} />
      ) : (
        liveStreams.length > 0 && (
          <section aria-labelledby="channel-live">
            <h2 id="channel-live">Live now</h2>
            <div class="grid">
              {liveStreams.map((s) => (
                <StreamCard key={s.id} stream={s} channel={name} />
              ))}
            </div>
          </section>
        )
      )}

      <section aria-labelledby="channel-videos">
        <h2 id="channel-videos">Videos</h2>
        {videos.loading && !videos.data ? (
          <Spinner />
        ) : videos.error ? (
          <ErrorNote error={videos.error} />
        ) : (videos.data ?? []).length === 0 ? (
          <Empty>No videos yet.</Empty>
        ) : (
          <div class="grid">
            {(videos.data ?? []).map((v) => (
              <VideoCard key={v.id} video={v} />
            ))}
          </div>
        )}
      </section>

      <section aria-labelledby="channel-playlists">
        <h2 id="channel-playlists">Playlists</h2>
        {playlists.loading && !playlists.data ? (
          <Spinner />
        ) : playlists.error ? (
          <ErrorNote error={playlists.error} />
        ) : (playlists.data ?? []).length === 0 ? (
          <Empty>No public playlists.</Empty>
        ) : (
          <ul class="plain-list">
            {(playlists.data ?? []).map((p) => (
              <li key={p.id}>
                <span class="title">{p.name}</span>
                <span class="meta-line"> · {formatCount(p.video_count, 'video', 'videos')}</span>
                {p.description && <p class="meta-line">{p.description}</p>}
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
