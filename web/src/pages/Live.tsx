import { useEffect, useRef, useState } from 'preact/hooks';
import { useRoute } from 'preact-iso';
import { Chat, mergeMessages } from '../components/Chat';
import { ErrorNote, LiveBadge, Spinner, useTitle } from '../components/common';
import { Player, type PlayerStatus } from '../components/Player';
import { api, ApiError } from '../lib/api';
import { formatCount, timeAgo } from '../lib/format';
import { useSession } from '../lib/session';
import { type ConnectionState, StreamSocket, type StreamEvent } from '../lib/streamSocket';
import type { ChatMessage, Stream } from '../lib/types';
import { useUserName } from '../lib/users';

const passwordKey = (id: string) => `ferrocast-stream-password:${id}`;

function savedPassword(id: string): string | null {
  try {
    return sessionStorage.getItem(passwordKey(id));
  } catch {
    return null;
  }
}

export function Live() {
  const { params } = useRoute();
  const id = params.id;
  const { user } = useSession();
  const [stream, setStream] = useState<Stream | null>(null);
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [password, setPassword] = useState<string | null>(() => savedPassword(id));
  const [needsPassword, setNeedsPassword] = useState(false);
  const [viewers, setViewers] = useState(0);
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [connection, setConnection] = useState<ConnectionState>('connecting');
  const [notice, setNotice] = useState<string | null>(null);
  const [player, setPlayer] = useState<PlayerStatus | null>(null);
  const [quality, setQuality] = useState(-1);
  const socketRef = useRef<StreamSocket | null>(null);
  const channel = useUserName(stream?.streamer_id);
  useTitle(stream?.title ?? 'Live');

  const headers = password ? { 'X-Stream-Password': password } : undefined;

  // The stream, or the password prompt when it is private (or unknown: the two look alike).
  useEffect(() => {
    let live = true;
    setLoadError(null);
    api<Stream>(`/api/streams/${encodeURIComponent(id)}`, { headers })
      .then((s) => {
        if (!live) return;
        setStream(s);
        setViewers(s.viewer_count);
        setNeedsPassword(false);
      })
      .catch((e: ApiError) => {
        if (!live) return;
        if (e.status === 404) {
          setNeedsPassword(true);
          if (password) setLoadError(new ApiError(404, 'Wrong password, or no such stream.'));
        } else setLoadError(e);
      });
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id, password]);

  // What the socket's events would have said while it was not connected: the chat said, and
  // whether the stream started or ended.
  const catchUp = () => {
    void api<ChatMessage[]>(`/api/streams/${encodeURIComponent(id)}/chat?limit=100`, { headers }).then(
      (list) => setMessages((m) => mergeMessages(m, list)),
      () => {},
    );
    void api<Stream>(`/api/streams/${encodeURIComponent(id)}`, { headers }).then(
      (s) => setStream((old) => (old && old.status === s.status ? old : s)),
      () => {},
    );
  };

  // Events and chat: one socket for the page, catching up each time it (re)opens so nothing said
  // or changed while it was disconnected, or before it first connected, is missed.
  useEffect(() => {
    if (!stream) return;
    const socket = new StreamSocket(stream.id, password, {
      onState: (s) => {
        setConnection(s);
        if (s === 'open') catchUp();
      },
      onEvent: (e: StreamEvent) => {
        switch (e.type) {
          case 'viewer_count_update':
            setViewers(e.viewer_count);
            break;
          case 'stream_started':
          case 'stream_ended':
            setStream((s) => (s ? { ...s, ...e.stream, stream_key: s.stream_key, rtmp_url: s.rtmp_url } : e.stream));
            break;
          case 'chat_message':
            setMessages((m) => mergeMessages(m, [e.message]));
            break;
          case 'chat_message_deleted':
            setMessages((m) => m.filter((x) => x.id !== e.message_id));
            break;
          case 'error':
            setNotice(e.detail);
            break;
          default:
            break;
        }
      },
    });
    socketRef.current = socket;
    return () => {
      socket.close();
      socketRef.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [stream?.id, password]);

  if (needsPassword && !stream) {
    return <PasswordPrompt error={loadError} onSubmit={(pw) => {
      try {
        sessionStorage.setItem(passwordKey(id), pw);
      } catch {
        /* remembered for this page only */
      }
      setPassword(pw);
    }} />;
  }
  if (loadError && !stream) return <ErrorNote error={loadError} />;
  if (!stream) return <Spinner />;

  const live = stream.status === 'live';
  const src = live
    ? `/hls/${encodeURIComponent(stream.id)}.m3u8${password ? `?password=${encodeURIComponent(password)}` : ''}`
    : null;

  return (
    <div class="watch">
      <div>
        <div class="player">
          <Player src={src} live label={`Live video: ${stream.title}`} onStatus={setPlayer} quality={quality} />
          {!live && (
            <div class="player-overlay" role="status">
              {stream.status === 'ended' ? (
                <>
                  <strong>This stream has ended.</strong>
                  {stream.recording_video_id && <a href={`/videos/${stream.recording_video_id}`}>Watch the recording</a>}
                </>
              ) : (
                <>
                  <strong>Offline</strong>
                  <span>The stream starts playing here as soon as it goes live.</span>
                </>
              )}
            </div>
          )}
        </div>
        {live && (
          <div class="player-bar">
            <LiveBadge />
            <span>{formatCount(viewers, 'viewer', 'viewers')}</span>
            {player?.latency != null && <span>{player.latency.toFixed(1)} s behind live</span>}
            {/* The list starts with "Auto": a menu only when there are renditions to choose from. */}
            {player && player.levels.length > 2 && (
              <label class="inline">
                Quality
                <select
                  value={quality}
                  onChange={(e) => {
                    const q = Number((e.target as HTMLSelectElement).value);
                    setQuality(q);
                    const level = player.levels.find((l) => l.index === q);
                    socketRef.current?.send({ type: 'quality_change', quality: q === -1 ? 'auto' : level?.label ?? 'auto' });
                  }}
                >
                  {player.levels.map((l) => (
                    <option key={l.index} value={l.index}>
                      {l.label}
                    </option>
                  ))}
                </select>
              </label>
            )}
            {player?.error && <span class="error-note">{player.error}</span>}
          </div>
        )}
        <h1>{stream.title}</h1>
        <div class="meta-row">
          <a href={`/channel/${encodeURIComponent(stream.streamer_id)}`}>{channel}</a>
          {stream.category && <span class="badge">{stream.category}</span>}
          {stream.is_private && <span class="badge">Private</span>}
          {live && stream.start_time && <span class="hint">Started {timeAgo(stream.start_time)}</span>}
        </div>
        {stream.description && <p class="description">{stream.description}</p>}
        {stream.tags.length > 0 && (
          <p class="hint">
            {stream.tags.map((t) => `#${t}`).join(' ')}
          </p>
        )}
      </div>
      <Chat
        streamId={stream.id}
        ownerId={stream.streamer_id}
        password={password}
        user={user}
        socket={socketRef.current}
        connection={connection}
        messages={messages}
        setMessages={setMessages}
        notice={notice}
        ended={stream.status === 'ended'}
      />
    </div>
  );
}

function PasswordPrompt({ error, onSubmit }: { error: unknown; onSubmit: (pw: string) => void }) {
  const [pw, setPw] = useState('');
  useTitle('Private stream');
  return (
    <section class="page narrow">
      <h1>Private stream</h1>
      <form
        class="panel"
        onSubmit={(e) => {
          e.preventDefault();
          if (pw) onSubmit(pw);
        }}
      >
        <p>This stream is private, or there is no stream at this address. Enter its password to watch.</p>
        <label for="stream-password">Stream password</label>
        <input id="stream-password" type="password" required value={pw} onInput={(e) => setPw((e.target as HTMLInputElement).value)} />
        <ErrorNote error={error} />
        <div class="form-actions">
          <button type="submit">Watch</button>
        </div>
      </form>
    </section>
  );
}
