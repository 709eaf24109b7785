import { useState } from 'preact/hooks';
import { num, post, prom, RangeResult, strix } from '../api';
import { ago, fmtDuration, fmtNum, fmtTime } from '../format';
import { useData } from '../hooks';
import { Badge, Card, Empty, ErrorNote, Table } from '../ui';

const BARS = 48;
const BAR_SEC = 1800;

/** Uptime per half hour over the last 24 h, from the `strix_check_up` series. */
async function uptimeBars(): Promise<Map<string, Array<number | null>>> {
  const end = Math.floor(Date.now() / 1000 / BAR_SEC) * BAR_SEC + BAR_SEC;
  const start = end - (BARS - 1) * BAR_SEC;
  const r = await prom<RangeResult>('/api/v1/query_range', {
    query: `avg by (check) (avg_over_time(strix_check_up[${BAR_SEC}s]))`,
    start,
    end,
    step: BAR_SEC,
  });
  const out = new Map<string, Array<number | null>>();
  for (const s of r.result) {
    const bars: Array<number | null> = new Array(BARS).fill(null);
    for (const [t, v] of s.values ?? []) {
      const i = Math.round((t - start) / BAR_SEC);
      if (i >= 0 && i < BARS) bars[i] = num(v);
    }
    out.set(s.metric.check ?? '', bars);
  }
  return out;
}

function Bars(props: { bars: Array<number | null> | undefined; name: string }) {
  const bars = props.bars ?? new Array(BARS).fill(null);
  const known = bars.filter((b): b is number => b !== null);
  const pct = known.length ? (100 * known.reduce((a, b) => a + b, 0)) / known.length : null;
  return (
    <div class="uptime" aria-label={`uptime of ${props.name} over 24 hours: ${pct === null ? 'no data' : `${fmtNum(pct, 4)} %`}`}>
      <div class="bars" aria-hidden="true">
        {bars.map((b, i) => (
          <span key={i} class={`bar ${b === null ? 'bar-none' : b >= 0.999 ? 'bar-up' : b >= 0.9 ? 'bar-partial' : 'bar-down'}`} title={b === null ? 'no data' : `${fmtNum(b * 100, 4)} %`} />
        ))}
      </div>
      <span class="muted">{pct === null ? 'no data' : `${fmtNum(pct, 4)} %`}</span>
    </div>
  );
}

function CheckDetail(props: { name: string }) {
  const d = useData(() => strix(`/api/monitoring/health/${encodeURIComponent(props.name)}`), [props.name], { events: ['check'], intervalMs: 30000 });
  if (d.error) return <ErrorNote error={d.error} />;
  const c = d.data;
  if (!c) return <p class="muted">Loading…</p>;
  return (
    <div class="page">
      <p>
        <a href="#/checks">← Checks</a>
      </p>
      <h1>{c.name ?? props.name}</h1>
      <div class="row wrap">
        <Badge status={c.status} /> <span>{c.type}</span> <span>since {fmtTime(c.since)}</span>
        {c.lastError && <span class="error-text">{c.lastError}</span>}
      </div>
      <Card title="Uptime">
        <Table columns={['Window', 'Uptime', 'Down', 'Error budget left']} wrap={false}>
          {Object.entries(c.uptime ?? {}).map(([w, u]: [string, any]) => (
            <tr key={w}>
              <td>{w}</td>
              <td>{u.percent === null ? '–' : `${fmtNum(u.percent, 5)} %`}</td>
              <td>{fmtDuration((u.downMs ?? 0) / 1000)}</td>
              <td>{u.errorBudget ? `${fmtNum((u.errorBudget.remainingRatio ?? 0) * 100)} %` : '–'}</td>
            </tr>
          ))}
        </Table>
        <p class="muted">SLA target {fmtNum(c.slaTarget)} %</p>
      </Card>
      <Card title="Incidents">
        {(c.incidents ?? []).length === 0 && <Empty>No incidents since start.</Empty>}
        <ol class="timeline">
          {(c.incidents ?? []).map((i: any, k: number) => (
            <li key={k}>
              <Badge status={i.status ?? 'unhealthy'} /> {fmtTime(i.start ?? i.startedAt)} → {i.end || i.endedAt ? fmtTime(i.end ?? i.endedAt) : 'ongoing'}{' '}
              <span class="muted">{String(i.reason ?? i.error ?? '')}</span>
            </li>
          ))}
        </ol>
      </Card>
    </div>
  );
}

export function Checks(props: { name?: string }) {
  const list = useData(() => strix<any[]>('/api/monitoring/checks'), [], { events: ['check'], intervalMs: 30000 });
  const bars = useData(uptimeBars, [], { events: ['check'], intervalMs: 60000 });
  const [err, setErr] = useState<string | null>(null);
  if (props.name) return <CheckDetail name={props.name} />;
  const reset = async (name?: string) => {
    setErr(null);
    try {
      await post('/api/monitoring/health/circuit-breakers/reset', name ? { name } : {});
      list.reload();
    } catch (e) {
      setErr(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <div class="page">
      <div class="page-head">
        <h1>Checks</h1>
        <div class="toolbar">
          <button type="button" onClick={() => reset()}>
            Reset all circuit breakers
          </button>
        </div>
      </div>
      <ErrorNote error={list.error ?? err ?? bars.error} />
      <Card>
      {list.data && list.data.length === 0 && <Empty>No checks configured (checks: in strix.yaml).</Empty>}
      <Table columns={['Check', 'Status', 'Latency', 'Last check', 'Uptime (24h)', 'Circuit breaker']} testid="checks-table">
        {(list.data ?? []).map((c) => (
          <tr key={c.name}>
            <td>
              <a href={`#/checks/${encodeURIComponent(c.name)}`}>{c.name}</a>
              <div class="muted">{c.type}</div>
            </td>
            <td>
              <Badge status={c.status} />
              {c.lastError && <div class="error-text">{c.lastError}</div>}
            </td>
            <td>{c.latencyMs === null || c.latencyMs === undefined ? '–' : `${fmtNum(c.latencyMs)} ms`}</td>
            <td>{ago(c.lastCheck)}</td>
            <td>
              <Bars bars={bars.data?.get(c.name)} name={c.name} />
            </td>
            <td>
              <Badge status={c.circuitBreaker?.state} />
              {c.circuitBreaker?.state && c.circuitBreaker.state !== 'closed' && (
                <button type="button" onClick={() => reset(c.name)}>
                  Reset
                </button>
              )}
            </td>
          </tr>
        ))}
      </Table>
      </Card>
    </div>
  );
}
