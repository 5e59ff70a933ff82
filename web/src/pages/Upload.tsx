import { useEffect, useRef, useState } from 'preact/hooks';
import type { Upload as TusUpload } from 'tus-js-client';
import { ErrorNote, useTitle } from '../components/common';
import { api, csrfHeaders } from '../lib/api';
import { formatBytes } from '../lib/format';
import { useSession } from '../lib/session';
import type { Job, Video } from '../lib/types';
import { followVideo } from '../lib/videoEvents';

type Phase =
  | { kind: 'idle' }
  | { kind: 'uploading'; sent: number; total: number; resumed: boolean }
  | { kind: 'processing'; videoId: string; progress: number; stage: string }
  | { kind: 'ready'; videoId: string }
  | { kind: 'failed'; message: string; videoId?: string };

/** The id of the video an upload becomes: the last part of its tus URL. */
export function uploadId(url: string | null): string | null {
  if (!url) return null;
  const last = url.split('?')[0].split('/').filter(Boolean).pop();
  return last ?? null;
}

export function Upload() {
  useTitle('Upload');
  const { user, loaded } = useSession();
  const [file, setFile] = useState<File | null>(null);
  const [form, setForm] = useState({ title: '', description: '', category: '', tags: '', isPublic: true });
  const [phase, setPhase] = useState<Phase>({ kind: 'idle' });
  const [over, setOver] = useState(false);
  const uploadRef = useRef<TusUpload | null>(null);
  const stopEvents = useRef<(() => void) | null>(null);

  useEffect(
    () => () => {
      void uploadRef.current?.abort();
      stopEvents.current?.();
    },
    [],
  );

  if (loaded && !user) {
    return (
      <section class="page narrow">
        <h1>Upload a video</h1>
        <p>
          <a href="/signin?next=/upload">Sign in</a> to upload videos.
        </p>
      </section>
    );
  }

  const pick = (f: File | null | undefined) => {
    if (!f) return;
    setFile(f);
    if (!form.title) setForm((s) => ({ ...s, title: f.name.replace(/\.[^.]+$/, '') }));
  };

  const watchProcessing = async (videoId: string) => {
    setPhase({ kind: 'processing', videoId, progress: 0, stage: 'queued' });
    stopEvents.current = followVideo(videoId, (e) => {
      if (e.type === 'transcode_progress') setPhase({ kind: 'processing', videoId, progress: e.progress, stage: e.stage });
      else if (e.type === 'transcode_started') setPhase({ kind: 'processing', videoId, progress: 0, stage: 'starting' });
      else if (e.type === 'transcode_completed') {
        stopEvents.current?.();
        setPhase({ kind: 'ready', videoId });
      } else if (e.type === 'transcode_failed') {
        stopEvents.current?.();
        setPhase({ kind: 'failed', message: `Processing failed: ${e.error}`, videoId });
      }
    });
    // Events sent before the listener joined are not replayed: read where the job is now.
    try {
      const [video, jobs] = await Promise.all([
        api<Video>(`/api/videos/${encodeURIComponent(videoId)}`),
        api<Job[]>(`/api/videos/${encodeURIComponent(videoId)}/jobs`),
      ]);
      if (video.processing_status === 'completed' || jobs.length === 0) {
        // Processed already, or this server does not process videos: the original plays as it is.
        stopEvents.current?.();
        setPhase({ kind: 'ready', videoId });
      } else if (video.processing_status === 'failed') {
        stopEvents.current?.();
        setPhase({ kind: 'failed', message: `Processing failed: ${video.processing_error ?? 'unknown error'}`, videoId });
      }
    } catch {
      /* the events will tell */
    }
  };

  const start = async (e: Event) => {
    e.preventDefault();
    if (!file) {
      setPhase({ kind: 'failed', message: 'Choose a video file first.' });
      return;
    }
    const { Upload: Tus } = await import('tus-js-client');
    const metadata: Record<string, string> = {
      filename: file.name,
      title: form.title || file.name,
      is_public: String(form.isPublic),
    };
    if (form.description) metadata.description = form.description;
    if (form.category) metadata.category = form.category;
    if (form.tags) metadata.tags = form.tags;
    const upload = new Tus(file, {
      endpoint: '/api/uploads',
      chunkSize: 8 * 1024 * 1024,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      metadata,
      headers: csrfHeaders(),
      // After a reload, the same file picks up where it stopped.
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onProgress: (sent, total) => setPhase((p) => ({ kind: 'uploading', sent, total, resumed: p.kind === 'uploading' && p.resumed })),
      onError: (err) => {
        const body = (err as { originalResponse?: { getBody(): string } }).originalResponse?.getBody();
        let message = err.message;
        try {
          const detail = body ? JSON.parse(body).detail : null;
          if (typeof detail === 'string') message = detail;
          else if (Array.isArray(detail)) message = detail.map((d: { msg: string }) => d.msg).join('; ');
        } catch {
          /* not JSON */
        }
        setPhase({ kind: 'failed', message: `Upload failed: ${message}` });
      },
      onSuccess: () => {
        const id = uploadId(upload.url);
        if (id) void watchProcessing(id);
      },
    });
    uploadRef.current = upload;
    const previous = await upload.findPreviousUploads();
    const resumed = previous.length > 0;
    if (resumed) upload.resumeFromPreviousUpload(previous[0]);
    setPhase({ kind: 'uploading', sent: 0, total: file.size, resumed });
    upload.start();
  };

  const busy = phase.kind === 'uploading' || phase.kind === 'processing';

  return (
    <section class="page narrow">
      <h1>Upload a video</h1>
      <form class="panel" onSubmit={start}>
        <div
          class={`dropzone${over ? ' over' : ''}`}
          onDragOver={(e) => {
            e.preventDefault();
            setOver(true);
          }}
          onDragLeave={() => setOver(false)}
          onDrop={(e) => {
            e.preventDefault();
            setOver(false);
            pick(e.dataTransfer?.files[0]);
          }}
        >
          <label for="video-file">Video file</label>
          <input
            id="video-file"
            type="file"
            accept="video/*,.mkv,.flv,.wmv,.avi,.mov,.webm,.mp4"
            disabled={busy}
            onChange={(e) => pick((e.target as HTMLInputElement).files?.[0])}
          />
          <p class="hint">Drop a file here or choose one. MP4, MOV, MKV, WebM, AVI, FLV or WMV.</p>
          {file && (
            <p>
              {file.name} ({formatBytes(file.size)})
            </p>
          )}
        </div>
        <label for="video-title">Title</label>
        <input
          id="video-title"
          type="text"
          required
          maxLength={200}
          value={form.title}
          disabled={busy}
          onInput={(e) => setForm({ ...form, title: (e.target as HTMLInputElement).value })}
        />
        <label for="video-description">Description</label>
        <textarea
          id="video-description"
          value={form.description}
          disabled={busy}
          onInput={(e) => setForm({ ...form, description: (e.target as HTMLTextAreaElement).value })}
        />
        <label for="video-category">Category</label>
        <input
          id="video-category"
          type="text"
          value={form.category}
          disabled={busy}
          onInput={(e) => setForm({ ...form, category: (e.target as HTMLInputElement).value })}
        />
        <label for="video-tags">Tags</label>
        <input
          id="video-tags"
          type="text"
          value={form.tags}
          disabled={busy}
          aria-describedby="video-tags-hint"
          onInput={(e) => setForm({ ...form, tags: (e.target as HTMLInputElement).value })}
        />
        <p class="hint" id="video-tags-hint">
          Separated by commas.
        </p>
        <label class="inline">
          <input
            type="checkbox"
            checked={form.isPublic}
            disabled={busy}
            onChange={(e) => setForm({ ...form, isPublic: (e.target as HTMLInputElement).checked })}
          />
          Public (listed and playable by anyone)
        </label>
        <div class="form-actions">
          <button type="submit" disabled={busy}>
            Upload
          </button>
        </div>
        <UploadStatus phase={phase} />
      </form>
    </section>
  );
}

function UploadStatus({ phase }: { phase: Phase }) {
  switch (phase.kind) {
    case 'idle':
      return null;
    case 'uploading': {
      const pct = phase.total ? (phase.sent / phase.total) * 100 : 0;
      return (
        <div class="upload-status">
          <label for="upload-progress">
            Uploading{phase.resumed ? ' (resumed)' : ''}: {formatBytes(phase.sent)} of {formatBytes(phase.total)}
          </label>
          <progress id="upload-progress" max={100} value={pct}>
            {pct.toFixed(0)}%
          </progress>
        </div>
      );
    }
    case 'processing':
      return (
        <div class="upload-status">
          <label for="processing-progress">
            Processing ({phase.stage}): {phase.progress.toFixed(0)}%
          </label>
          <progress id="processing-progress" max={100} value={phase.progress}>
            {phase.progress.toFixed(0)}%
          </progress>
        </div>
      );
    case 'ready':
      return (
        <p class="ok-note" role="status">
          Your video is ready. <a href={`/videos/${encodeURIComponent(phase.videoId)}`}>Watch video</a>
        </p>
      );
    case 'failed':
      return (
        <>
          <ErrorNote error={phase.message} />
          {phase.videoId && <a href={`/videos/${encodeURIComponent(phase.videoId)}`}>Open the video's page</a>}
        </>
      );
  }
}
