// Time-series charts on uPlot. A chart is created once and then fed with `setData`, so live
// refreshes do not rebuild the canvas; it is rebuilt only when the set of series or the
// theme changes. uPlot's own legend is off: the legend below is Preact text nodes, so label
// values from ingested data can never become markup.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef, useState } from 'preact/hooks';
import { num, PromSeries, RangeResult, seriesName } from './api';
import { fmtNum } from './format';

export const PALETTE_DARK = ['#5fb0ff', '#ffb347', '#7ee787', '#ff7b9c', '#c39bff', '#4fd1c5', '#f6e05e', '#fc8181'];
export const PALETTE_LIGHT = ['#0b62c4', '#b35900', '#1a7f37', '#c0234e', '#6f42c1', '#0f7b72', '#8a6d00', '#c53030'];

export interface ChartData {
  x: number[];
  ys: Array<Array<number | null>>;
  labels: string[];
  /** The time window asked for (Unix seconds); the x axis spans it even when data is sparse. */
  start?: number;
  end?: number;
}

/** Aligns a range query's series on one time axis (seconds). */
export function toChartData(r: RangeResult | undefined, name?: (m: Record<string, string>) => string): ChartData {
  if (!r || r.resultType !== 'matrix') return { x: [], ys: [], labels: [] };
  const times = new Set<number>();
  for (const s of r.result) for (const [t] of s.values ?? []) times.add(t);
  const x = [...times].sort((a, b) => a - b);
  const index = new Map(x.map((t, i) => [t, i]));
  const ys = r.result.map((s: PromSeries) => {
    const col: Array<number | null> = new Array(x.length).fill(null);
    for (const [t, v] of s.values ?? []) {
      const n = num(v);
      col[index.get(t) as number] = Number.isFinite(n) ? n : null;
    }
    return col;
  });
  return { x, ys, labels: r.result.map((s) => (name ?? seriesName)(s.metric)), start: r.start, end: r.end };
}

function currentTheme(): 'dark' | 'light' {
  return document.documentElement.dataset.theme === 'light' ? 'light' : 'dark';
}

export function Chart(props: {
  data: ChartData;
  height?: number;
  fmt?: (v: number) => string;
  title?: string;
  theme: string;
}) {
  const { data, height = 200, fmt = (v: number) => fmtNum(v), title, theme } = props;
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = useRef('');
  const [idx, setIdx] = useState<number | null>(null);
  const fmtRef = useRef(fmt);
  fmtRef.current = fmt;
  const dataRef = useRef(data);
  dataRef.current = data;

  const key = `${theme}|${data.labels.length}|${data.labels.join('\u0000')}`;

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const aligned = [data.x, ...data.ys] as uPlot.AlignedData;
    if (plot.current && shape.current === key) {
      plot.current.setData(aligned);
      return;
    }
    plot.current?.destroy();
    shape.current = key;
    const t = currentTheme();
    const pal = t === 'light' ? PALETTE_LIGHT : PALETTE_DARK;
    const axis = t === 'light' ? '#333' : '#c9d1d9';
    const grid = t === 'light' ? 'rgba(0,0,0,0.08)' : 'rgba(255,255,255,0.08)';
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: false },
      cursor: { drag: { x: true, y: false } },
      scales: {
        x: {
          time: true,
          range: (_u, min, max) => {
            const d = dataRef.current;
            return d.start !== undefined && d.end !== undefined ? [d.start, d.end] : [min, max];
          },
        },
        // Non-negative data starts at zero; an all-zero series gets a small positive range.
        y: { range: (_u, min, max) => (min >= 0 ? [0, max > 0 ? max * 1.1 : 1] : [min - Math.abs(min) * 0.1, max + Math.abs(max) * 0.1]) },
      },
      series: [
        {},
        ...data.labels.map((_l, i) => ({
          label: `series ${i + 1}`,
          stroke: pal[i % pal.length],
          width: 1.5,
          spanGaps: false,
        })),
      ],
      axes: [
        { stroke: axis, grid: { stroke: grid }, ticks: { stroke: grid } },
        {
          stroke: axis,
          grid: { stroke: grid },
          ticks: { stroke: grid },
          size: (_u, values) => 24 + 7 * Math.max(3, ...(values ?? []).map((v) => String(v).length)),
          values: (_u, vals) => vals.map((v) => fmtRef.current(v)),
        },
      ],
      hooks: {
        setCursor: [
          (u) => {
            const i = u.cursor.idx;
            setIdx(i === undefined || i === null ? null : i);
          },
        ],
      },
    };
    plot.current = new uPlot(opts, aligned, el);
  }, [key, data]);

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const ro = new ResizeObserver(() => {
      if (plot.current) plot.current.setSize({ width: Math.max(200, el.clientWidth), height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
      shape.current = '';
    };
  }, []);

  const pal = theme === 'light' ? PALETTE_LIGHT : PALETTE_DARK;
  const last = (ys: Array<number | null>) => {
    if (idx !== null) return ys[idx];
    for (let i = ys.length - 1; i >= 0; i--) if (ys[i] !== null) return ys[i];
    return null;
  };
  const shown = data.labels.slice(0, 12);
  return (
    <figure class="chart">
      {title && <figcaption>{title}</figcaption>}
      <div class="chart-canvas" style={{ height: `${height}px` }} ref={host} role="img" aria-label={title ?? 'chart'} />
      {data.x.length === 0 && <p class="muted chart-empty">No data in this range.</p>}
      <ul class="legend">
        {shown.map((l, i) => {
          const v = last(data.ys[i]);
          return (
            <li key={i}>
              <span class="swatch" style={{ background: pal[i % pal.length] }} />
              <span class="legend-label">{l}</span>
              <span class="legend-value">{v === null || v === undefined ? '–' : fmt(v)}</span>
            </li>
          );
        })}
        {data.labels.length > shown.length && <li class="muted">… {data.labels.length - shown.length} more series</li>}
      </ul>
    </figure>
  );
}

/** A small sparkline (no axes) for KPI tiles. */
export function Sparkline(props: { values: Array<number | null>; x: number[]; color: string }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const d = [props.x, props.values] as uPlot.AlignedData;
    if (plot.current) {
      plot.current.setData(d);
      return;
    }
    plot.current = new uPlot(
      {
        width: Math.max(80, el.clientWidth),
        height: 36,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: true } },
        axes: [{ show: false }, { show: false }],
        series: [{}, { stroke: props.color, width: 1.5, points: { show: false }, fill: 'transparent' }],
      },
      d,
      el,
    );
  }, [props.x, props.values]);
  useEffect(
    () => () => {
      plot.current?.destroy();
      plot.current = null;
    },
    [],
  );
  return <div class="sparkline" ref={host} aria-hidden="true" />;
}
