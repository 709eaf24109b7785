import { useState } from 'preact/hooks';
import { queryRange, RangeResult, seriesName } from '../api';
import { Chart, ChartData, toChartData } from '../chart';
import { fmtBytes, fmtNum } from '../format';
import { useData, useStored } from '../hooks';
import { Card, ErrorNote, Segmented } from '../ui';

export const RANGES: Array<[string, number]> = [
  ['5m', 300],
  ['1h', 3600],
  ['6h', 6 * 3600],
  ['24h', 86400],
  ['7d', 7 * 86400],
  ['30d', 30 * 86400],
];

type Unit = 'seconds' | 'bytes' | 'ratio' | 'rate' | 'number';

interface Panel {
  title: string;
  unit: Unit;
  /** One PromQL expression per line; `name=expr` names the line in the legend. */
  queries: string;
}

// Defaults read Strix's own metrics: the request-duration histogram and request counter of
// its HTTP server, its process metrics, and the host collector's node_* series.
const DEFAULT_PANELS: Panel[] = [
  {
    title: 'Response time',
    unit: 'seconds',
    queries: [
      'p50=histogram_quantile(0.5, sum by (le) (rate(strix_http_request_duration_seconds_bucket[5m])))',
      'p95=histogram_quantile(0.95, sum by (le) (rate(strix_http_request_duration_seconds_bucket[5m])))',
      'p99=histogram_quantile(0.99, sum by (le) (rate(strix_http_request_duration_seconds_bucket[5m])))',
    ].join('\n'),
  },
  { title: 'Throughput (requests/s)', unit: 'rate', queries: 'requests/s=sum(rate(strix_http_requests_total[5m]))' },
  {
    title: 'Error rate (5xx share)',
    unit: 'ratio',
    queries:
      '5xx=(sum(rate(strix_http_requests_total{code=~"5.."}[5m])) or vector(0)) / sum(rate(strix_http_requests_total[5m]))',
  },
  {
    title: 'Memory',
    unit: 'bytes',
    queries: [
      'strix RSS=process_resident_memory_bytes',
      'host used=node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes',
    ].join('\n'),
  },
  {
    title: 'CPU (cores)',
    unit: 'number',
    queries: [
      'strix=rate(process_cpu_seconds_total[5m])',
      'host busy=sum(rate(node_cpu_seconds_total{mode!="idle"}[5m]))',
    ].join('\n'),
  },
];

export function unitFmt(u: Unit): (v: number) => string {
  switch (u) {
    case 'seconds':
      return (v) => (Math.abs(v) < 1 ? `${fmtNum(v * 1000)} ms` : `${fmtNum(v)} s`);
    case 'bytes':
      return fmtBytes;
    case 'ratio':
      return (v) => `${fmtNum(v * 100)} %`;
    case 'rate':
      return (v) => `${fmtNum(v)}/s`;
    default:
      return (v) => fmtNum(v);
  }
}

function parseLines(q: string): Array<{ name: string | null; expr: string }> {
  return q
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const m = /^([\w ./%-]{1,40})=(?![=~])(.*)$/.exec(l);
      return m && !/[({]/.test(m[1]) ? { name: m[1].trim(), expr: m[2].trim() } : { name: null, expr: l };
    });
}

async function loadPanel(queries: string, range: number): Promise<ChartData> {
  const lines = parseLines(queries);
  const results = await Promise.all(lines.map((l) => queryRange(l.expr, range, 300)));
  const merged: RangeResult = { resultType: 'matrix', result: [], start: results[0]?.start, end: results[0]?.end };
  const names: string[] = [];
  results.forEach((r, i) => {
    for (const s of r.result) {
      merged.result.push(s);
      const n = lines[i].name;
      const rest = seriesName(s.metric);
      names.push(n ? (r.result.length > 1 ? `${n} ${rest}` : n) : rest);
    }
  });
  const d = toChartData(merged);
  d.labels = names;
  return d;
}

function PanelView(props: { panel: Panel; range: number; refresh: number; theme: string; onEdit: (q: string) => void }) {
  const { panel, range, refresh } = props;
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(panel.queries);
  const d = useData(() => loadPanel(panel.queries, range), [panel.queries, range], { intervalMs: refresh || undefined });
  return (
    <Card
      title={panel.title}
      actions={
        <button type="button" onClick={() => { setDraft(panel.queries); setEditing(!editing); }} aria-expanded={editing}>
          {editing ? 'Close' : 'Edit queries'}
        </button>
      }
    >
      {editing && (
        <form
          class="query-edit"
          onSubmit={(e) => {
            e.preventDefault();
            props.onEdit(draft);
            setEditing(false);
          }}
        >
          <label>
            PromQL, one per line (name=expr)
            <textarea rows={4} value={draft} onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)} spellcheck={false} />
          </label>
          <button type="submit" class="primary">
            Save
          </button>
        </form>
      )}
      <ErrorNote error={d.error} />
      <Chart data={d.data ?? { x: [], ys: [], labels: [] }} fmt={unitFmt(panel.unit)} theme={props.theme} />
    </Card>
  );
}

export function Performance(props: { theme: string }) {
  const [range, setRange] = useStored('strix.perf.range', 3600);
  const [refresh, setRefresh] = useStored('strix.perf.refresh', 30000);
  const [panels, setPanels] = useStored<Panel[]>('strix.perf.panels', DEFAULT_PANELS);
  return (
    <div class="page">
      <div class="page-head">
        <h1>Performance</h1>
        <div class="toolbar">
          <Segmented label="Time range" value={range} onChange={setRange} options={RANGES} />
          <label>
            Auto-refresh{' '}
            <select value={String(refresh)} onChange={(e) => setRefresh(Number((e.target as HTMLSelectElement).value))}>
              <option value="0">off</option>
              <option value="10000">10 s</option>
              <option value="30000">30 s</option>
              <option value="60000">1 m</option>
              <option value="300000">5 m</option>
            </select>
          </label>
          <button type="button" onClick={() => setPanels(DEFAULT_PANELS)}>
            Reset queries
          </button>
        </div>
      </div>
      <div class="chart-grid">
        {panels.map((p, i) => (
          <PanelView
            key={p.title}
            panel={p}
            range={range}
            refresh={refresh}
            theme={props.theme}
            onEdit={(q) => setPanels(panels.map((x, j) => (j === i ? { ...x, queries: q } : x)))}
          />
        ))}
      </div>
    </div>
  );
}
