import { queryRange, strix, strixFull } from '../api';
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

const SPARK_POINTS = 24;
const SPARK_RANGE_SEC = 3600;

/**
 * Each KPI's value over the last hour: `GET /api/monitoring/kpis?time=…` at evenly spaced
 * times (one request per point evaluates every KPI), so the sparkline is the KPI's own
 * expression, whatever it is.
 */
async function kpiHistory(): Promise<{ x: number[]; byName: Map<string, Array<number | null>> }> {
  const now = Math.floor(Date.now() / 1000);
  const x = Array.from({ length: SPARK_POINTS }, (_, i) => now - SPARK_RANGE_SEC + ((i + 1) * SPARK_RANGE_SEC) / SPARK_POINTS);
  const readings = await Promise.all(x.map((t) => strix<any[]>(`/api/monitoring/kpis?time=${t}`).catch(() => [] as any[])));
  const byName = new Map<string, Array<number | null>>();
  readings.forEach((list, i) => {
    for (const k of list) {
      if (!byName.has(k.name)) byName.set(k.name, new Array(SPARK_POINTS).fill(null));
      const v = typeof k.value === 'number' && Number.isFinite(k.value) ? k.value : null;
      (byName.get(k.name) as Array<number | null>)[i] = v;
    }
  });
  return { x, byName };
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
  const history = useData(kpiHistory, [], { intervalMs: 120000 });
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
            <KpiTile key={k.name} k={k} theme={props.theme} x={history.data?.x} spark={history.data?.byName.get(k.name)} />
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
