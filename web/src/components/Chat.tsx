import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api } from '../lib/api';
import { clockTime } from '../lib/format';
import { canModerate } from '../lib/session';
import type { ConnectionState, StreamSocket } from '../lib/streamSocket';
import type { ChatMessage, User } from '../lib/types';

/** How many messages the log keeps on screen; older ones drop off the top. */
const KEEP = 300;

/** Adds `incoming` to `list` by id (no duplicates after a reconnect refetch), oldest first. */
export function mergeMessages(list: ChatMessage[], incoming: ChatMessage[]): ChatMessage[] {
  const byId = new Map(list.map((m) => [m.id, m]));
  for (const m of incoming) if (!m.is_deleted) byId.set(m.id, m);
  return [...byId.values()].sort((a, b) => a.timestamp.localeCompare(b.timestamp)).slice(-KEEP);
}

interface Props {
  streamId: string;
  ownerId: string;
  password: string | null;
  user: User | null;
  socket: StreamSocket | null;
  connection: ConnectionState;
  messages: ChatMessage[];
  setMessages: (f: (m: ChatMessage[]) => ChatMessage[]) => void;
  notice: string | null;
  ended: boolean;
}

function guestName(): string {
  try {
    const saved = sessionStorage.getItem('ferrocast-guest');
    if (saved) return saved;
    const name = `guest-${Math.floor(Math.random() * 9000 + 1000)}`;
    sessionStorage.setItem('ferrocast-guest', name);
    return name;
  } catch {
    return 'guest';
  }
}

export function Chat({ streamId, ownerId, password, user, socket, connection, messages, setMessages, notice, ended }: Props) {
  const [text, setText] = useState('');
  const [name, setName] = useState(guestName);
  const [error, setError] = useState<string | null>(null);
  const logRef = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const mayModerate = canModerate(user) || user?.id === ownerId || user?.role === 'admin';

  useEffect(() => setError(notice), [notice]);

  // Keep the newest message in view unless the person scrolled up to read.
  useLayoutEffect(() => {
    const log = logRef.current;
    if (log && stick.current) log.scrollTop = log.scrollHeight;
  }, [messages]);

  const send = async (e: Event) => {
    e.preventDefault();
    const message = text.trim();
    if (!message) return;
    setError(null);
    const payload = { type: 'chat_message', message, username: user ? user.username : name, user_id: user ? user.id : null };
    if (socket?.send(payload)) {
      setText('');
      return;
    }
    // No socket right now: the REST route takes the same message.
    try {
      const sent = await api<ChatMessage>(`/api/streams/${encodeURIComponent(streamId)}/chat`, {
        method: 'POST',
        body: { message, username: payload.username, user_id: payload.user_id },
        headers: password ? { 'X-Stream-Password': password } : {},
      });
      setMessages((m) => mergeMessages(m, [sent]));
      setText('');
    } catch (err) {
      setError((err as Error).message);
    }
  };

  const remove = async (m: ChatMessage) => {
    try {
      await api(`/api/streams/${encodeURIComponent(streamId)}/chat/${encodeURIComponent(m.id)}`, { method: 'DELETE' });
      setMessages((list) => list.filter((x) => x.id !== m.id));
    } catch (err) {
      setError((err as Error).message);
    }
  };

  const status =
    connection === 'open' ? 'Connected' : connection === 'reconnecting' ? 'Reconnecting…' : connection === 'connecting' ? 'Connecting…' : 'Offline';

  return (
    <section class="chat" aria-labelledby="chat-heading">
      <h2 id="chat-heading">
        Chat <span class="chat-status" role="status">{status}</span>
      </h2>
      <div
        class="chat-log"
        role="log"
        aria-label="Chat messages"
        aria-live="polite"
        ref={logRef}
        tabIndex={0}
        onScroll={(e) => {
          const el = e.currentTarget as HTMLElement;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        {messages.length === 0 && <p class="empty">No messages yet. Say hello!</p>}
        {messages.map((m) => (
          <p key={m.id} class="chat-line">
            <span class="who">{m.username}</span>
            <span class="text">{m.message}</span>
            <time class="when" dateTime={m.timestamp}>
              {clockTime(m.timestamp)}
            </time>
            {mayModerate && (
              <button type="button" class="subtle small" aria-label={`Delete message from ${m.username}`} onClick={() => remove(m)}>
                ✕
              </button>
            )}
          </p>
        ))}
      </div>
      {error && (
        <p class="error-note chat-error" role="alert">
          {error} {!user && error.toLowerCase().includes('auth') && <a href={`/signin?next=${encodeURIComponent(location.pathname)}`}>Sign in</a>}
        </p>
      )}
      {ended ? (
        <p class="hint chat-closed">Chat is closed: the stream has ended.</p>
      ) : (
        <form class="chat-form" onSubmit={send}>
          {!user && (
            <>
              <label class="visually-hidden" for="chat-name">
                Your name
              </label>
              <input
                id="chat-name"
                type="text"
                value={name}
                maxLength={50}
                onInput={(e) => setName((e.target as HTMLInputElement).value)}
                placeholder="Your name"
                class="chat-name"
              />
            </>
          )}
          <label class="visually-hidden" for="chat-message">
            Chat message
          </label>
          <input
            id="chat-message"
            type="text"
            autocomplete="off"
            placeholder="Send a message"
            value={text}
            onInput={(e) => setText((e.target as HTMLInputElement).value)}
          />
          <button type="submit">Send</button>
        </form>
      )}
    </section>
  );
}
