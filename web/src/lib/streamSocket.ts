// A stream's WebSocket (/ws/{stream_id}): events in, chat out, reconnecting with backoff when the
// connection drops. The session cookie goes with the handshake, so a signed-in viewer chats as
// their account.

import { backoff } from './backoff';
import type { ChatMessage, Stream } from './types';

export type StreamEvent =
  | { type: 'viewer_count_update'; viewer_count: number }
  | { type: 'stream_started'; stream: Stream }
  | { type: 'stream_ended'; stream: Stream }
  | { type: 'recording_ready'; stream_id: string; video_id: string }
  | { type: 'chat_message'; message: ChatMessage }
  | { type: 'chat_message_deleted'; message_id: string }
  | { type: 'error'; detail: string }
  | { type: 'pong' }
  | { type: 'quality_change'; quality: string };

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface StreamSocketHandlers {
  onEvent: (e: StreamEvent) => void;
  onState: (s: ConnectionState) => void;
}

/** The page's player is counted as a viewer by its playback session, so its socket is not
 * counted again (`counted=false`). */
export function socketUrl(streamId: string, password: string | null, loc: Location = location): string {
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  const q = new URLSearchParams({ counted: 'false' });
  if (password) q.set('password', password);
  return `${scheme}://${loc.host}/ws/${encodeURIComponent(streamId)}?${q}`;
}

export class StreamSocket {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(
    private readonly streamId: string,
    private readonly password: string | null,
    private readonly handlers: StreamSocketHandlers,
  ) {
    this.open();
  }

  private open(): void {
    if (this.stopped) return;
    this.handlers.onState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const ws = new WebSocket(socketUrl(this.streamId, this.password));
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.handlers.onState('open');
    };
    ws.onmessage = (m) => {
      try {
        this.handlers.onEvent(JSON.parse(String(m.data)) as StreamEvent);
      } catch {
        /* not an event of ours */
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      this.handlers.onState('reconnecting');
      this.timer = setTimeout(() => this.open(), backoff(this.attempt));
      this.attempt += 1;
    };
  }

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  send(data: object): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(data));
    return true;
  }

  close(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close();
    this.ws = null;
    this.handlers.onState('closed');
  }
}
