import type { Stream, Video } from '../lib/types';
import { formatCount, formatDuration, timeAgo } from '../lib/format';
import { LiveBadge } from './common';

/** The stream's picture from the server that serves this app: `thumbnail_url` names the
 * server's configured public address, which need not be the one this browser reached. */
export function streamThumbnail(stream: Stream): string | null {
  return stream.thumbnail_url ? `/api/streams/${encodeURIComponent(stream.id)}/thumbnail.jpg` : null;
}

export function StreamCard({ stream, channel }: { stream: Stream; channel?: string }) {
  const picture = streamThumbnail(stream);
  return (
    <article class="card">
      <a class="card-link" href={`/live/${encodeURIComponent(stream.id)}`}>
        <div class="thumb">
          {picture ? (
            <img src={picture} alt="" loading="lazy" width={320} height={180} />
          ) : (
            <div class="thumb-placeholder" aria-hidden="true" />
          )}
          {stream.status === 'live' && <LiveBadge />}
          {stream.status === 'live' && (
            <span class="thumb-corner">{formatCount(stream.viewer_count, 'viewer', 'viewers')}</span>
          )}
        </div>
        <h3 class="card-title">{stream.title}</h3>
      </a>
      <p class="card-meta">
        <a href={`/channel/${encodeURIComponent(stream.streamer_id)}`}>{channel ?? stream.streamer_id}</a>
        {stream.category && <span> · {stream.category}</span>}
      </p>
    </article>
  );
}

export function VideoCard({ video }: { video: Video }) {
  const picture = video.thumbnails?.card ?? video.thumbnail_url;
  return (
    <article class="card">
      <a class="card-link" href={`/videos/${encodeURIComponent(video.id)}`}>
        <div class="thumb">
          {picture ? (
            <img src={picture} alt="" loading="lazy" width={320} height={180} />
          ) : (
            <div class="thumb-placeholder" aria-hidden="true" />
          )}
          {video.duration != null && <span class="thumb-corner">{formatDuration(video.duration)}</span>}
        </div>
        <h3 class="card-title">{video.title}</h3>
      </a>
      <p class="card-meta">
        {formatCount(video.view_count, 'view', 'views')} · {timeAgo(video.created_at)}
        {video.processing_status !== 'completed' && <span> · {video.processing_status}</span>}
      </p>
    </article>
  );
}
