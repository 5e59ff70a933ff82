import { useEffect, useRef, useState } from 'preact/hooks';
import { formatDuration } from '../lib/format';
import { parseStoryboard, type Tile, tileAt } from '../lib/storyboard';

/** A seek bar under the player that shows the storyboard picture of the time under the pointer. */
export function Seekbar({ video, storyboardUrl }: { video: HTMLVideoElement | null; storyboardUrl: string | null }) {
  const [tiles, setTiles] = useState<Tile[]>([]);
  const [time, setTime] = useState(0);
  const [duration, setDuration] = useState(0);
  const [hover, setHover] = useState<{ x: number; t: number } | null>(null);
  const barRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (!storyboardUrl) return;
    const base = new URL(storyboardUrl, location.href).toString();
    fetch(base)
      .then((r) => (r.ok ? r.text() : ''))
      .then((text) => setTiles(parseStoryboard(text, base)))
      .catch(() => setTiles([]));
  }, [storyboardUrl]);

  useEffect(() => {
    if (!video) return;
    const onTime = () => setTime(video.currentTime);
    const onMeta = () => setDuration(Number.isFinite(video.duration) ? video.duration : 0);
    video.addEventListener('timeupdate', onTime);
    video.addEventListener('durationchange', onMeta);
    video.addEventListener('loadedmetadata', onMeta);
    onMeta();
    return () => {
      video.removeEventListener('timeupdate', onTime);
      video.removeEventListener('durationchange', onMeta);
      video.removeEventListener('loadedmetadata', onMeta);
    };
  }, [video]);

  if (!video || !duration) return null;
  const tile = hover ? tileAt(tiles, hover.t) : null;

  return (
    <div class="seekbar">
      <input
        ref={barRef}
        type="range"
        min={0}
        max={duration}
        step={0.1}
        value={time}
        aria-label="Seek"
        aria-valuetext={`${formatDuration(time)} of ${formatDuration(duration)}`}
        onInput={(e) => {
          video.currentTime = Number((e.target as HTMLInputElement).value);
        }}
        onPointerMove={(e) => {
          const rect = (e.currentTarget as HTMLElement).getBoundingClientRect();
          const f = Math.min(1, Math.max(0, (e.clientX - rect.left) / rect.width));
          setHover({ x: e.clientX - rect.left, t: f * duration });
        }}
        onPointerLeave={() => setHover(null)}
      />
      {hover && (
        <div class="seek-preview" aria-hidden="true" ref={(el) => {
            if (el) el.style.left = `${hover.x}px`;
          }}>
          {tile && (
            <div
              class="seek-tile"
              ref={(el) => {
                if (!el) return;
                el.style.width = `${tile.w}px`;
                el.style.height = `${tile.h}px`;
                el.style.backgroundImage = `url("${tile.url}")`;
                el.style.backgroundPosition = `-${tile.x}px -${tile.y}px`;
              }}
            />
          )}
          <span>{formatDuration(hover.t)}</span>
        </div>
      )}
    </div>
  );
}
