import type HlsType from 'hls.js';
import type { Level } from 'hls.js';
import { useEffect, useRef, useState } from 'preact/hooks';

/** The video element with the player behind it, as benchmarks and tests see it. */
type PlayerElement = HTMLVideoElement & { hls?: HlsType; playerErrors?: string[] };

export interface QualityOption {
  index: number; // -1: automatic
  label: string;
}

export interface PlayerStatus {
  playing: boolean;
  /** Seconds behind the newest media the server has (live only). */
  latency: number | null;
  error: string | null;
  levels: QualityOption[];
  level: number;
  autoLevel: boolean;
}

interface Props {
  src: string | null;
  live: boolean;
  poster?: string | null;
  label: string;
  onStatus?: (s: PlayerStatus) => void;
  /** Set by the parent to switch quality (-1 automatic). */
  quality?: number;
  onVideo?: (v: HTMLVideoElement | null) => void;
}

function levelLabel(l: Level): string {
  if (l.height) return `${l.height}p`;
  if (l.bitrate) return `${Math.round(l.bitrate / 1000)} kbps`;
  return 'Source';
}

/** hls.js where Media Source Extensions exist (it is the one that knows low-latency HLS best),
 * else the browser's own HLS (Safari on iPhone). The library is fetched only when a player is
 * on the page. */
export function Player({ src, live, poster, label, onStatus, quality = -1, onVideo }: Props) {
  const videoRef = useRef<HTMLVideoElement>(null);
  const hlsRef = useRef<HlsType | null>(null);
  const status = useRef<PlayerStatus>({ playing: false, latency: null, error: null, levels: [], level: -1, autoLevel: true });
  const [, force] = useState(0);

  const update = (patch: Partial<PlayerStatus>) => {
    status.current = { ...status.current, ...patch };
    onStatus?.(status.current);
    force((n) => n + 1);
  };

  useEffect(() => {
    onVideo?.(videoRef.current);
    return () => onVideo?.(null);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    const video = videoRef.current;
    if (!video || !src) return;
    let cancelled = false;
    let latencyTimer: ReturnType<typeof setInterval> | null = null;
    update({ playing: false, error: null, latency: null, levels: [] });

    const onPlaying = () => update({ playing: true, error: null });
    const onWaiting = () => update({ playing: false });
    video.addEventListener('playing', onPlaying);
    video.addEventListener('waiting', onWaiting);

    void import('hls.js').then(({ default: Hls }) => {
      if (cancelled) return;
      if (Hls.isSupported()) {
        const hls = new Hls(
          live
            ? { lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.1, backBufferLength: 30 }
            : { backBufferLength: 60 },
        );
        hlsRef.current = hls;
        // Benchmarks and tests read the player's own figures (latency, errors) from the element.
        const element = video as PlayerElement;
        element.hls = hls;
        element.playerErrors = [];
        hls.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
          const levels: QualityOption[] = [
            { index: -1, label: 'Auto' },
            ...data.levels
              .map((l, index) => ({ index, label: levelLabel(l), height: l.height || 0 }))
              .sort((a, b) => b.height - a.height)
              .map(({ index, label: text }) => ({ index, label: text })),
          ];
          update({ levels });
          video.play().catch(() => {
            // Browsers refuse sound without a gesture: start muted rather than not at all.
            video.muted = true;
            video.play().catch(() => {});
          });
        });
        hls.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => update({ level: data.level, autoLevel: hls.autoLevelEnabled }));
        hls.on(Hls.Events.ERROR, (_e, data) => {
          element.playerErrors?.push(`${data.type}:${data.details}${data.fatal ? ':fatal' : ''}`);
          if (!data.fatal) return;
          if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
            hls.recoverMediaError();
          } else if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
            update({ error: 'The video could not be loaded. Retrying…' });
            setTimeout(() => !cancelled && hls.loadSource(src), 2000);
          } else {
            update({ error: 'This video cannot be played here.' });
          }
        });
        hls.loadSource(src);
        hls.attachMedia(video);
        if (live) {
          latencyTimer = setInterval(() => {
            const l = hls.latency;
            update({ latency: Number.isFinite(l) && l > 0 ? l : null });
          }, 1000);
        }
      } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
        video.src = src;
        video.play().catch(() => {
          video.muted = true;
          video.play().catch(() => {});
        });
      } else {
        update({ error: 'This browser cannot play HLS video.' });
      }
    });

    return () => {
      cancelled = true;
      if (latencyTimer) clearInterval(latencyTimer);
      video.removeEventListener('playing', onPlaying);
      video.removeEventListener('waiting', onWaiting);
      hlsRef.current?.destroy();
      hlsRef.current = null;
      video.removeAttribute('src');
      video.load();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [src, live]);

  useEffect(() => {
    const hls = hlsRef.current;
    if (hls) hls.currentLevel = quality;
  }, [quality]);

  return (
    <video
      ref={videoRef}
      controls
      playsInline
      autoplay
      poster={poster ?? undefined}
      aria-label={label}
      preload="metadata"
    />
  );
}
