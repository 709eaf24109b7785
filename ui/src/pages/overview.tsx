import { num, queryRange, RangeResult, strix, strixFull } from '../api';
import { Chart, PALETTE_DARK, PALETTE_LIGHT, Sparkline, toChartData } from '../chart';
import { ago, fmtNum } from '../format';
import { useData } from '../hooks';
import { Badge, Card, Empty, ErrorNote } from '../ui';

/**
 * The health score shown on the overview: 100 × the mean of per-component scores, where
 * healthy/ok = 1, degraded/warning = 0.5, unhealthy/critical = 0; unknown components are
 * left out. Components are the health checks (storage included) and the KPIs.
 */
export function healthScore(statuses: string[]): number | null {
  const w: Record<string, number> = { healthy: 1, ok: 1, degraded: 0.5, warning: 0.5, unhealthy: 0, critical: 0 };
  const known = statuses.filter((s) => s in w);
  if (!known.length) return null;
  return Math.round((100 * known.reduce((a, s) => a + w[s], 0)) / known.length);
}

const SPARK_POINTS = 60;
const SPARK_RANGE_SEC = 3600;
/** Points of the fallback for KPIs without `expr` (one `kpis?time=` request per point). */
const FALLBACK_POINTS = 24;

interface Spark {
  x: number[];
  values: Array<number | null>;
}

/**
 * The KPI's value per step, as `GET /api/monitoring/kpis` grades it: the worst result series
 * (the highest for `direction: above`, the lowest for `below`).
 */
export function worstPerStep(r: RangeResult, direction: string): Spark {
  const step = Math.max(1, Math.ceil(SPARK_RANGE_SEC / SPARK_POINTS));
  const start = r.start ?? 0;
  const end = r.end ?? start;
  const x: number[] = [];
  for (let t = start; t <= end; t += step) x.push(t);
  const index = new Map(x.map((t, i) => [t, i]));
  const values: Array<number | null> = new Array(x.length).fill(null);
  for (const s of r.result ?? []) {
    for (const [t, raw] of s.values ?? []) {
      const i = index.get(Math.round(t));
      const v = num(raw);
      if (i === undefined || !Number.isFinite(v)) continue;
      const cur = values[i];
      values[i] = cur === null ? v : direction === 'below' ? Math.min(cur, v) : Math.max(cur, v);
    }
  }
  return { x, values };
}

/** Values over the last hour from `kpis?time=…` at evenly spaced times, for servers whose KPIs carry no `expr`. */
async function kpiHistoryByTime(names: string[]): Promise<Map<string, Spark>> {
  const now = Math.floor(Date.now() / 1000);
  const x = Array.from({ length: FALLBACK_POINTS }, (_, i) => now - SPARK_RANGE_SEC + ((i + 1) * SPARK_RANGE_SEC) / FALLBACK_POINTS);
  const readings = await Promise.all(x.map((t) => strix<any[]>(`/api/monitoring/kpis?time=${t}`).catch(() => [] as any[])));
  const out = new Map<string, Spark>(names.map((n) => [n, { x, values: new Array(FALLBACK_POINTS).fill(null) }]));
  readings.forEach((list, i) => {
    for (const k of list) {
      const v = typeof k.value === 'number' && Number.isFinite(k.value) ? k.value : null;
      const sp = out.get(k.name);
      if (sp) sp.values[i] = v;
    }
  });
  return out;
}

/**
 * Each KPI's value over the last hour: one `query_range` of the KPI's own `expr` per KPI.
 * KPIs without `expr` fall back to evaluating every KPI at evenly spaced times.
 */
async function kpiHistory(kpis: any[]): Promise<Map<string, Spark>> {
  const out = new Map<string, Spark>();
  const withExpr = kpis.filter((k) => typeof k.expr === 'string' && k.expr !== '');
  const without = kpis.filter((k) => !withExpr.includes(k)).map((k) => k.name);
  await Promise.all(
    withExpr.map((k) =>
      queryRange(k.expr, SPARK_RANGE_SEC, SPARK_POINTS).then(
        (r) => out.set(k.name, worstPerStep(r, k.direction)),
        () => undefined,
      ),
    ),
  );
  if (without.length) {
    for (const [name, sp] of await kpiHistoryByTime(without)) out.set(name, sp);
  }
  return out;
}

function KpiTile(props: { k: any; theme: string; x?: number[]; spark?: Array<number | null> }) {
  const { k, theme, x, spark } = props;
  const pal = theme === 'light' ? PALETTE_LIGHT : PALETTE_DARK;
  const color = k.status === 'critical' ? pal[3] : k.status === 'warning' ? pal[1] : pal[0];
  return (
    <li class={`kpi kpi-${k.status}`} data-testid="kpi">
      <div class="kpi-head">
        <span class="kpi-name">{k.name}</span>
        <Badge status={k.status} />
      </div>
      <div class="kpi-value">
        {fmtNum(k.value)}
        <span class="unit">{k.unit}</span>
      </div>
      <div class="kpi-thresholds muted">
        {k.target !== null && <span>target {fmtNum(k.target)}</span>}
        {k.warning !== null && <span>warn {fmtNum(k.warning)}</span>}
        {k.critical !== null && <span>crit {fmtNum(k.critical)}</span>}
      </div>
      <div class="spark-slot">{x && spark && spark.some((v) => v !== null) && <Sparkline x={x} values={spark} color={color} />}</div>
    </li>
  );
}

export function Overview(props: { theme: string }) {
  const health = useData(() => strix('/api/monitoring/health'), [], { events: ['check'], intervalMs: 30000 });
  const kpis = useData(() => strix<any[]>('/api/monitoring/kpis'), [], { events: ['kpi'], intervalMs: 30000 });
  const alerts = useData(
    () => strixFull<any[]>('/api/monitoring/alerts?state=active&limit=10&sort=severity'),
    [],
    { events: ['alert'] },
  );
  const errRate = useData(
    () => queryRange('sum(rate(strix_error_events_total[5m])) or vector(0)', 3600, 120),
    [],
    { events: ['error_issue'], intervalMs: 30000 },
  );
  const kpiList: any[] = kpis.data ?? [];
  const kpiKey = kpiList.map((k) => `${k.name}\u0000${k.expr ?? ''}\u0000${k.direction}`).join('\u0001');
  const history = useData(() => (kpiList.length ? kpiHistory(kpiList) : Promise.resolve(new Map<string, Spark>())), [kpiKey], {
    intervalMs: 120000,
  });
  const issues = useData(() => strixFull<any[]>('/api/monitoring/errors/issues?status=unresolved,regressed&limit=5&sort=last_seen'), [], {
    events: ['error_issue'],
  });

  const checks: any[] = health.data?.checks ?? [];
  const statuses = [...checks.map((c) => c.status), ...(kpis.data ?? []).map((k) => k.status)];
  const score = healthScore(statuses);
  const errData = toChartData(errRate.data, () => 'errors/s');

  return (
    <div class="page">
      <h1>Overview</h1>
      <div class="grid-summary">
        <Card title="Health">
          <div class="big-status" data-testid="overall">
            <Badge status={health.data?.overallStatus} />
          </div>
          <p class="score" aria-label="health score">
            <span class="score-value" data-testid="score">{score === null ? '–' : score}</span>
            <span class="muted"> / 100</span>
          </p>
          <ErrorNote error={health.error} />
        </Card>
        <Card title="Active alerts">
          <p class="score">
            <span class="score-value">{alerts.data?.meta?.total ?? '–'}</span>
          </p>
          <a href="#/alerts">All alerts</a>
        </Card>
        <Card title="Open issues">
          <p class="score">
            <span class="score-value">{issues.data?.meta?.total ?? '–'}</span>
          </p>
          <a href="#/errors">All errors</a>
        </Card>
      </div>

      <Card title="KPIs">
        <ErrorNote error={kpis.error} />
        {kpis.data && kpis.data.length === 0 && <Empty>No KPIs configured (kpis: in strix.yaml).</Empty>}
        <ul class="kpi-grid">
          {(kpis.data ?? []).map((k) => (
            <KpiTile key={k.name} k={k} theme={props.theme} x={history.data?.get(k.name)?.x} spark={history.data?.get(k.name)?.values} />
          ))}
        </ul>
      </Card>

      <div class="two-col">
        <Card title="Checks">
          <ul class="status-list">
            {checks.map((c) => (
              <li key={`${c.type ? 'check' : 'component'}-${c.name ?? c.component}`}>
                <Badge status={c.status} />
                <a href={c.type ? `#/checks/${encodeURIComponent(c.name)}` : '#/system'}>{c.name ?? c.component}</a>
                <span class="muted">{c.latencyMs !== undefined && c.latencyMs !== null ? `${fmtNum(c.latencyMs)} ms` : c.message ?? ''}</span>
              </li>
            ))}
          </ul>
        </Card>
        <Card title="Firing alerts">
          <ErrorNote error={alerts.error} />
          {alerts.data && alerts.data.data.length === 0 && <Empty>Nothing is firing.</Empty>}
          <ul class="status-list">
            {(alerts.data?.data ?? []).map((a) => (
              <li key={a.id}>
                <Badge status={a.severity} />
                <span>{a.labels?.alertname ?? a.rule}</span>
                <span class="muted">{ago(a.startsAt)}</span>
              </li>
            ))}
          </ul>
        </Card>
      </div>
      <Card title="Error rate (events/s, last hour)">
        <ErrorNote error={errRate.error} />
        <Chart data={errData} height={160} theme={props.theme} />
      </Card>
    </div>
  );
}
