import { prom, strix } from '../api';
import { fmtBytes, fmtDuration, fmtNum, fmtTime } from '../format';
import { useData } from '../hooks';
import { live } from '../live';
import { Badge, Card, ErrorNote, Table } from '../ui';

export function System() {
  const status = useData(() => strix('/api/monitoring/dashboard/status'), [], { events: ['tick'], intervalMs: 30000 });
  const health = useData(() => strix('/api/monitoring/health'), [], { events: ['check'], intervalMs: 30000 });
  const tsdb = useData(() => prom<any>('/api/v1/status/tsdb', {}), [], { intervalMs: 60000 });
  const runtime = useData(() => prom<any>('/api/v1/status/runtimeinfo', {}), []);
  const build = useData(() => prom<any>('/api/v1/status/buildinfo', {}), []);
  const s = status.data;
  const storage = [...(health.data?.components ?? []), ...(health.data?.checks ?? [])].find((c: any) => (c.name ?? c.component) === 'storage');
  const head = tsdb.data?.headStats;
  return (
    <div class="page">
      <h1>System</h1>
      <div class="grid-summary">
        <Card title="Strix">
          <dl class="kv">
            <div>
              <dt>Version</dt>
              <dd data-testid="version">{s?.version ?? build.data?.version ?? '–'}</dd>
            </div>
            <div>
              <dt>Uptime</dt>
              <dd>{fmtDuration(s?.uptimeSeconds ?? health.data?.uptime)}</dd>
            </div>
            <div>
              <dt>Started</dt>
              <dd>{fmtTime(runtime.data?.startTime)}</dd>
            </div>
            <div>
              <dt>Live clients</dt>
              <dd>{s?.sseClients ?? '–'}</dd>
            </div>
            <div>
              <dt>Last event id</dt>
              <dd>{s?.lastEventId ?? live.lastId ?? '–'}</dd>
            </div>
            <div>
              <dt>Retention</dt>
              <dd>{runtime.data?.storageRetention ?? '–'}</dd>
            </div>
          </dl>
          <ErrorNote error={status.error} />
        </Card>
        <Card title="Components">
          <ul class="status-list" data-testid="components">
            {(s?.components ?? []).map((c: any) => (
              <li key={c.name}>
                <Badge status={c.status} /> <span>{c.name}</span> <span class="muted">{c.message ?? ''}</span>
              </li>
            ))}
          </ul>
        </Card>
        <Card title="Storage">
          <dl class="kv">
            <div>
              <dt>Head series</dt>
              <dd>{fmtNum(head?.numSeries, 9)}</dd>
            </div>
            <div>
              <dt>Head chunks</dt>
              <dd>{fmtNum(head?.chunkCount, 9)}</dd>
            </div>
            <div>
              <dt>Blocks</dt>
              <dd>{fmtNum(storage?.details?.blocks, 9)}</dd>
            </div>
            <div>
              <dt>Block bytes</dt>
              <dd>{fmtBytes(storage?.details?.blocksBytes)}</dd>
            </div>
            <div>
              <dt>WAL bytes</dt>
              <dd>{fmtBytes(storage?.details?.walBytes)}</dd>
            </div>
            <div>
              <dt>Oldest in head</dt>
              <dd>{fmtTime(head?.minTime)}</dd>
            </div>
          </dl>
        </Card>
      </div>
      <Card title="Series by metric (head)">
        <ErrorNote error={tsdb.error} />
        <Table columns={['Metric', 'Series']} wrap={false}>
          {(tsdb.data?.seriesCountByMetricName ?? []).map((r: any) => (
            <tr key={r.name}>
              <td>
                <code>{r.name}</code>
              </td>
              <td>{fmtNum(r.value, 9)}</td>
            </tr>
          ))}
        </Table>
      </Card>
    </div>
  );
}
