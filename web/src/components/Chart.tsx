import { useEffect, useRef, useState } from 'preact/hooks';
import { clockTime } from '../lib/format';

export interface ChartPoint {
  /** Milliseconds since the epoch. */
  t: number;
  v: number;
}

const HEIGHT = 160;
const PAD = { top: 10, right: 12, bottom: 22, left: 40 };

/** The smallest "round" number (1, 2, 5 times a power of ten) at or above `max`. */
export function niceCeiling(max: number): number {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= max) return step * power;
  }
  return 10 * power;
}

/** The polyline's points for `points` drawn in a `width` by `height` box. */
export function linePoints(points: ChartPoint[], width: number, height: number, yMax: number): string {
  if (points.length === 0) return '';
  const t0 = points[0].t;
  const span = points[points.length - 1].t - t0;
  return points
    .map((p) => {
      const x = span > 0 ? ((p.t - t0) / span) * width : width / 2;
      const y = height - (Math.max(0, p.v) / yMax) * height;
      return `${round(x)},${round(y)}`;
    })
    .join(' ');
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

/**
 * A line over time, drawn at the pixel width it is given so its labels stay readable on a phone.
 * The picture is one image to assistive technology: `label` has to say what it shows.
 */
export function LineChart({ points, label }: { points: ChartPoint[]; label: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(600);

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => {
      const w = Math.round(el.clientWidth);
      if (w > 0) setWidth(w);
    };
    measure();
    if (typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  const plotW = Math.max(10, width - PAD.left - PAD.right);
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const yMax = niceCeiling(Math.max(0, ...points.map((p) => p.v)));
  const line = linePoints(points, plotW, plotH, yMax);
  const first = points[0];
  const last = points[points.length - 1];

  return (
    <div ref={ref} class="chart-box">
      <svg
        class="chart"
        role="img"
        aria-label={label}
        viewBox={`0 0 ${width} ${HEIGHT}`}
        width={width}
        height={HEIGHT}
      >
        <title>{label}</title>
        <g transform={`translate(${PAD.left} ${PAD.top})`}>
          <line x1={0} y1={0} x2={plotW} y2={0} class="chart-grid" />
          <line x1={0} y1={plotH / 2} x2={plotW} y2={plotH / 2} class="chart-grid" />
          <line x1={0} y1={plotH} x2={plotW} y2={plotH} class="chart-axis" />
          <line x1={0} y1={0} x2={0} y2={plotH} class="chart-axis" />
          <text x={-6} y={4} text-anchor="end">
            {yMax.toLocaleString('en')}
          </text>
          <text x={-6} y={plotH / 2 + 4} text-anchor="end">
            {(yMax / 2).toLocaleString('en')}
          </text>
          <text x={-6} y={plotH + 4} text-anchor="end">
            0
          </text>
          {first && (
            <text x={0} y={plotH + 16} text-anchor="start">
              {clockTime(new Date(first.t).toISOString())}
            </text>
          )}
          {last && last !== first && (
            <text x={plotW} y={plotH + 16} text-anchor="end">
              {clockTime(new Date(last.t).toISOString())}
            </text>
          )}
          {points.length > 1 && (
            <polyline
              points={line}
              fill="none"
              stroke="currentColor"
              stroke-width={2}
              stroke-linejoin="round"
              stroke-linecap="round"
            />
          )}
          {points.length === 1 && (
            <circle cx={round(plotW / 2)} cy={Number(line.split(',')[1])} r={3} fill="currentColor" />
          )}
        </g>
      </svg>
    </div>
  );
}
