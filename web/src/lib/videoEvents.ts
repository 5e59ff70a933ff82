// A video's processing events over Server-Sent Events (GET /api/videos/{id}/events).

import type { Video } from './types';

export type VideoEvent =
  | { type: 'upload_progress'; progress: number; bytes_received: number; total_bytes: number }
  | { type: 'upload_completed'; video: Video }
  | { type: 'upload_failed'; error: string }
  | { type: 'upload_cancelled'; reason: string }
  | { type: 'transcode_started'; job_id: string; attempt: number }
  | { type: 'transcode_progress'; job_id: string; progress: number; eta_seconds: number | null; stage: string }
  | { type: 'transcode_completed'; job_id: string; video: Video }
  | { type: 'transcode_failed'; job_id: string; error: string }
  | { type: 'transcode_cancelled'; job_id: string };

const TYPES: VideoEvent['type'][] = [
  'upload_progress',
  'upload_completed',
  'upload_failed',
  'upload_cancelled',
  'transcode_started',
  'transcode_progress',
  'transcode_completed',
  'transcode_failed',
  'transcode_cancelled',
];

/** Follows a video's events until `close` is called; EventSource reconnects by itself. */
export function followVideo(videoId: string, onEvent: (e: VideoEvent) => void): () => void {
  const source = new EventSource(`/api/videos/${encodeURIComponent(videoId)}/events`);
  for (const type of TYPES) {
    source.addEventListener(type, (m) => {
      try {
        onEvent(JSON.parse((m as MessageEvent).data) as VideoEvent);
      } catch {
        /* not JSON: ignore */
      }
    });
  }
  return () => source.close();
}
