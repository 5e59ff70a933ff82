import { describe, expect, it } from 'vitest';
import { describeError } from '../src/lib/api';
import { backoff } from '../src/lib/backoff';
import { parseStoryboard, tileAt } from '../src/lib/storyboard';
import { mergeMessages } from '../src/components/Chat';
import { filterItems } from '../src/pages/Home';
import { nextPath } from '../src/pages/SignIn';
import { uploadId } from '../src/pages/Upload';
import type { ChatMessage } from '../src/lib/types';

describe('describeError', () => {
  it('names each failing field of a 422', () => {
    const e = describeError(422, [
      { loc: ['body', 'title'], msg: 'field required' },
      { loc: ['body', 'password'], msg: 'too short' },
    ]);
    expect(e.status).toBe(422);
    expect(e.fields).toEqual({ title: 'field required', password: 'too short' });
    expect(e.message).toBe('title: field required; password: too short');
  });
  it('keeps a plain detail and explains a bare status', () => {
    expect(describeError(409, 'stream is already live').message).toBe('stream is already live');
    expect(describeError(401, undefined).message).toBe('Please sign in');
  });
});

describe('backoff', () => {
  it('doubles up to the cap, with jitter within half of it', () => {
    expect(backoff(0, () => 0)).toBe(250);
    expect(backoff(0, () => 1)).toBe(500);
    expect(backoff(3, () => 1)).toBe(4000);
    expect(backoff(30, () => 1)).toBe(15000);
    expect(backoff(30, () => 0)).toBe(7500);
  });
});

describe('storyboard', () => {
  const vtt = `WEBVTT

00:00:00.000 --> 00:00:05.000
storyboard.jpg?sig=abc#xywh=0,0,160,90

00:00:05.000 --> 00:00:10.000
storyboard.jpg?sig=abc#xywh=160,0,160,90

00:00:10.000 --> 00:01:10.500
storyboard.jpg?sig=abc#xywh=0,90,160,90
`;
  const tiles = parseStoryboard(vtt, 'http://h/api/videos/v/thumbnails/storyboard.vtt?sig=abc');
  it('reads every cue with its picture and position', () => {
    expect(tiles).toHaveLength(3);
    expect(tiles[1]).toEqual({ start: 5, end: 10, url: 'http://h/api/videos/v/thumbnails/storyboard.jpg?sig=abc', x: 160, y: 0, w: 160, h: 90 });
    expect(tiles[2].end).toBe(70.5);
  });
  it('finds the tile of a time, the last one past the end', () => {
    expect(tileAt(tiles, 0)?.x).toBe(0);
    expect(tileAt(tiles, 7.2)?.x).toBe(160);
    expect(tileAt(tiles, 30)?.y).toBe(90);
    expect(tileAt(tiles, 500)?.y).toBe(90);
    expect(tileAt([], 3)).toBeNull();
  });
});

describe('mergeMessages', () => {
  const msg = (id: string, t: string, extra: Partial<ChatMessage> = {}): ChatMessage => ({
    id,
    stream_id: 's',
    user_id: null,
    username: 'u',
    message: id,
    timestamp: t,
    is_deleted: false,
    ...extra,
  });
  it('keeps one of each message, in time order, without deleted ones', () => {
    const a = msg('a', '2026-01-01T00:00:01Z');
    const b = msg('b', '2026-01-01T00:00:02Z');
    const c = msg('c', '2026-01-01T00:00:03Z', { is_deleted: true });
    expect(mergeMessages([b], [a, b, c]).map((m) => m.id)).toEqual(['a', 'b']);
  });
});

describe('filterItems', () => {
  const items = [
    { title: 'Speedrun', description: null, category: 'Gaming', tags: ['retro'] },
    { title: 'Cooking pasta', description: 'with friends', category: 'Food', tags: [] },
  ];
  it('filters by category and by words in title, description or tags', () => {
    expect(filterItems(items, 'Gaming', '')).toHaveLength(1);
    expect(filterItems(items, '', 'RETRO')[0].title).toBe('Speedrun');
    expect(filterItems(items, '', 'friends')[0].title).toBe('Cooking pasta');
    expect(filterItems(items, 'Food', 'retro')).toHaveLength(0);
  });
});

describe('navigation helpers', () => {
  it('only follows next= to paths of this site', () => {
    expect(nextPath('?next=/upload')).toBe('/upload');
    expect(nextPath('?next=//evil.example/x')).toBe('/');
    expect(nextPath('?next=https://evil.example')).toBe('/');
    expect(nextPath('')).toBe('/');
  });
  it('takes the video id from a tus upload URL', () => {
    expect(uploadId('http://h/api/uploads/video_abc123')).toBe('video_abc123');
    expect(uploadId('/api/uploads/video_x?foo=1')).toBe('video_x');
    expect(uploadId(null)).toBeNull();
  });
});

import { socketUrl } from '../src/lib/streamSocket';

describe('socketUrl', () => {
  it('follows the page: wss on https, the password escaped, never counted twice', () => {
    const https = { protocol: 'https:', host: 'tv.example' } as Location;
    expect(socketUrl('stream_a', null, https)).toBe('wss://tv.example/ws/stream_a?counted=false');
    const http = { protocol: 'http:', host: 'localhost:8000' } as Location;
    expect(socketUrl('stream_a', 'p&w d', http)).toBe('ws://localhost:8000/ws/stream_a?counted=false&password=p%26w+d');
  });
});
