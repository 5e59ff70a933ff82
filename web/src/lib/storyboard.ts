// The storyboard WebVTT a processed video has: cues whose text is `storyboard.jpg#xywh=x,y,w,h`.

export interface Tile {
  start: number;
  end: number;
  url: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

function seconds(stamp: string): number {
  const parts = stamp.trim().split(':').map(Number);
  return parts.reduce((acc, p) => acc * 60 + p, 0);
}

/** Parses the cues; relative image URLs resolve against the VTT's own URL. */
export function parseStoryboard(vtt: string, base: string): Tile[] {
  const tiles: Tile[] = [];
  const blocks = vtt.replace(/\r\n?/g, '\n').split(/\n\n+/);
  for (const block of blocks) {
    const lines = block.split('\n').filter(Boolean);
    const timing = lines.findIndex((l) => l.includes('-->'));
    if (timing < 0 || !lines[timing + 1]) continue;
    const [from, to] = lines[timing].split('-->');
    const target = lines[timing + 1].trim();
    const hash = target.indexOf('#xywh=');
    if (hash < 0) continue;
    const [x, y, w, h] = target
      .slice(hash + 6)
      .split(',')
      .map(Number);
    if ([x, y, w, h].some((n) => !Number.isFinite(n))) continue;
    tiles.push({ start: seconds(from), end: seconds(to.split(' ')[1] ?? to), url: new URL(target.slice(0, hash), base).toString(), x, y, w, h });
  }
  return tiles;
}

export function tileAt(tiles: Tile[], t: number): Tile | null {
  let lo = 0;
  let hi = tiles.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (t < tiles[mid].start) hi = mid - 1;
    else if (t >= tiles[mid].end) lo = mid + 1;
    else return tiles[mid];
  }
  return tiles.length && t >= tiles[tiles.length - 1].start ? tiles[tiles.length - 1] : null;
}
