import { describe, expect, it } from 'vitest';
import { formatBytes, formatCount, formatDuration, timeAgo } from '../src/lib/format';

describe('formatDuration', () => {
  it('shows minutes and seconds, hours when there are any', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(65.9)).toBe('1:05');
    expect(formatDuration(3600 + 2 * 60 + 3)).toBe('1:02:03');
  });
  it('shows nothing for unknown durations', () => {
    expect(formatDuration(null)).toBe('');
    expect(formatDuration(Number.NaN)).toBe('');
    expect(formatDuration(-1)).toBe('');
  });
});

describe('formatCount', () => {
  it('uses the singular for one and shortens large numbers', () => {
    expect(formatCount(1, 'viewer', 'viewers')).toBe('1 viewer');
    expect(formatCount(0, 'viewer', 'viewers')).toBe('0 viewers');
    expect(formatCount(9999, 'view', 'views')).toBe('9,999 views');
    expect(formatCount(12_345, 'view', 'views')).toBe('12.3K views');
    expect(formatCount(2_000_000, 'view', 'views')).toBe('2M views');
  });
});

describe('formatBytes', () => {
  it('steps by thousands', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1_500_000)).toBe('1.5 MB');
    expect(formatBytes(250_000_000_000)).toBe('250 GB');
  });
});

describe('timeAgo', () => {
  const now = Date.parse('2026-12-06T12:00:00Z');
  it('counts back in the largest whole unit', () => {
    expect(timeAgo('2026-12-06T11:59:58Z', now)).toBe('just now');
    expect(timeAgo('2026-12-06T11:59:00Z', now)).toBe('1 minute ago');
    expect(timeAgo('2026-12-06T09:00:00Z', now)).toBe('3 hours ago');
    expect(timeAgo('2026-12-01T12:00:00Z', now)).toBe('5 days ago');
  });
  it('is empty for what is not a time', () => {
    expect(timeAgo('soon', now)).toBe('');
  });
});
