/** Milliseconds to wait before reconnect attempt `attempt` (0-based): doubling from half a second
 * up to `max`, with jitter so a crowd dropped at once does not come back at once. */
export function backoff(attempt: number, random: () => number = Math.random, max = 15000): number {
  const base = Math.min(max, 500 * 2 ** Math.max(0, attempt));
  return Math.round(base / 2 + (random() * base) / 2);
}
