// Display names for user ids, fetched once each. Ids that are not accounts (the seed's clients
// name their own, like "streamer_123") are shown as they are.

import { useEffect, useState } from 'preact/hooks';
import { api } from './api';
import type { User } from './types';

const cache = new Map<string, Promise<User | null>>();

export function fetchUser(id: string): Promise<User | null> {
  let p = cache.get(id);
  if (!p) {
    p = api<User>(`/api/users/${encodeURIComponent(id)}`).catch(() => null);
    cache.set(id, p);
  }
  return p;
}

export function useUserName(id: string | null | undefined): string {
  const [name, setName] = useState(id ?? '');
  useEffect(() => {
    if (!id) return;
    let live = true;
    setName(id);
    void fetchUser(id).then((u) => live && u && setName(u.username));
    return () => {
      live = false;
    };
  }, [id]);
  return name;
}
