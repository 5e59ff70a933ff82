import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../lib/api';

/** Sets the document's title for the page on screen. */
export function useTitle(title: string | null | undefined): void {
  useEffect(() => {
    document.title = title ? `${title} · Ferrocast` : 'Ferrocast';
  }, [title]);
}

export interface Loaded<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
  set: (data: T) => void;
}

/** Runs `load` when `deps` change; the latest answer wins. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: ApiError | null; loading: boolean }>({
    data: null,
    error: null,
    loading: true,
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const ctl = new AbortController();
    setState((s) => ({ ...s, loading: true, error: null }));
    load(ctl.signal).then(
      (data) => !ctl.signal.aborted && setState({ data, error: null, loading: false }),
      (e) => {
        if (ctl.signal.aborted) return;
        const error = e instanceof ApiError ? e : new ApiError(0, String((e as Error)?.message ?? e));
        setState({ data: null, error, loading: false });
      },
    );
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  return {
    ...state,
    reload: () => setTick((t) => t + 1),
    set: (data: T) => setState({ data, error: null, loading: false }),
  };
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <p class="error-note" role="alert">
      {message}
    </p>
  );
}

export function Spinner({ label = 'Loading' }: { label?: string }) {
  return (
    <p class="loading" role="status">
      {label}…
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

export function LiveBadge() {
  return <span class="badge live">Live</span>;
}

/** A button that copies `text` and says so. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      class="button subtle small"
      aria-label={label}
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
          setCopied(true);
          setTimeout(() => setCopied(false), 1500);
        } catch {
          setCopied(false);
        }
      }}
    >
      {copied ? 'Copied' : 'Copy'}
    </button>
  );
}

/** How an action went: said politely when it worked, as an alert when it did not. */
export interface Outcome {
  ok: boolean;
  text: string;
}

export function OutcomeNote({ note, small = false }: { note: Outcome | null; small?: boolean }) {
  if (!note) return null;
  const hint = small ? ' hint' : '';
  return note.ok ? (
    <p class={`ok-note${hint}`} role="status">
      {note.text}
    </p>
  ) : (
    <p class={`error-note${hint}`} role="alert">
      {note.text}
    </p>
  );
}
