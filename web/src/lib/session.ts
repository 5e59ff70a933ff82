// Who is signed in, shared by every page. The session itself is an HttpOnly cookie the app never
// sees; the server tells who it belongs to and hands out the CSRF token writes must carry.

import { useEffect, useState } from 'preact/hooks';
import { sessionApi, setCsrfToken } from './api';
import type { Role, SessionInfo, User } from './types';

type Listener = (user: User | null) => void;

let current: User | null = null;
let loaded = false;
const listeners = new Set<Listener>();
let loading: Promise<void> | null = null;

function apply(info: SessionInfo): void {
  current = info.user;
  loaded = true;
  setCsrfToken(info.csrf_token);
  for (const l of listeners) l(current);
}

export function loadSession(): Promise<void> {
  loading ??= sessionApi
    .current()
    .then(apply)
    .catch(() => apply({ user: null, csrf_token: null }));
  return loading;
}

export async function signIn(username: string, password: string): Promise<User> {
  const info = await sessionApi.signIn(username, password);
  apply(info);
  return info.user as User;
}

export async function signOut(): Promise<void> {
  try {
    await sessionApi.signOut();
  } finally {
    apply({ user: null, csrf_token: null });
  }
}

/** Re-reads the session, for example after the account's role changed. */
export async function refreshSession(): Promise<void> {
  loading = null;
  await loadSession();
}

export function useSession(): { user: User | null; loaded: boolean } {
  const [state, setState] = useState({ user: current, loaded });
  useEffect(() => {
    const l: Listener = (user) => setState({ user, loaded: true });
    listeners.add(l);
    if (!loaded) void loadSession();
    else setState({ user: current, loaded: true });
    return () => {
      listeners.delete(l);
    };
  }, []);
  return state;
}

const rank: Record<Role, number> = { viewer: 0, streamer: 1, moderator: 2, admin: 3 };

export function canStream(user: User | null): boolean {
  return !!user && (user.role === 'streamer' || user.role === 'admin');
}

export function canModerate(user: User | null): boolean {
  return !!user && rank[user.role] >= rank.moderator;
}

export function isAdmin(user: User | null): boolean {
  return user?.role === 'admin';
}
