import { useState } from 'preact/hooks';
import { ApiError, post, queryRange, strix, strixFull } from '../api';
import { Chart, toChartData } from '../chart';
import { ago, fmtNum, fmtTime } from '../format';
import { useData, useStored } from '../hooks';
import { Badge, Card, Empty, ErrorNote, Select, Table } from '../ui';

/** Loads an optional endpoint: `null` when the server does not have it (404/405). */
async function optional<T>(path: string): Promise<T | null> {
  try {
    return await strix<T>(path);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return null;
    throw e;
  }
}

/** Any JSON value as nested text (for reports whose shape may grow). */
export function JsonView(props: { value: any; depth?: number }) {
  const { value, depth = 0 } = props;
  if (value === null || value === undefined) return <span class="muted">–</span>;
  if (Array.isArray(value)) {
    if (!value.length) return <span class="muted">none</span>;
    return (
      <ul class="json-list">
        {value.slice(0, 50).map((v, i) => (
          <li key={i}>
            <JsonView value={v} depth={depth + 1} />
          </li>
        ))}
      </ul>
    );
  }
  if (typeof value === 'object') {
    if (depth > 4) return <code>{JSON.stringify(value)}</code>;
    return (
      <dl class="kv">
        {Object.entries(value).map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>
              <JsonView value={v} depth={depth + 1} />
            </dd>
          </div>
        ))}
      </dl>
    );
  }
  return <span>{String(value)}</span>;
}

function tagsOf(p: any): Array<[string, string]> {
  const t = p?.tags;
  if (Array.isArray(t)) return t.filter((x) => Array.isArray(x)).map((x) => [String(x[0]), String(x[1])]);
  if (t && typeof t === 'object') return Object.entries(t).map(([k, v]) => [k, String(v)]);
  return [];
}

function Stack(props: { payload: any }) {
  const exc = props.payload?.exception?.values ?? [];
  if (!exc.length) {
    const raw = props.payload?.extra?.stack;
    return raw ? <pre class="stack">{String(raw)}</pre> : <p class="muted">No stack trace.</p>;
  }
  return (
    <div>
      {exc.map((x: any, i: number) => (
        <div key={i} class="exception">
          <p>
            <strong>{String(x.type ?? 'Error')}</strong>: {String(x.value ?? '')}
          </p>
          <ol class="frames">
            {[...(x.stacktrace?.frames ?? [])].reverse().map((f: any, j: number) => (
              <li key={j} class={f.in_app ? 'in-app' : ''}>
                <code>
                  {String(f.function ?? '?')} — {String(f.filename ?? f.abs_path ?? f.module ?? '?')}
                  {f.lineno ? `:${f.lineno}` : ''}
                  {f.colno ? `:${f.colno}` : ''}
                </code>
                {f.context_line && <pre class="context">{String(f.context_line)}</pre>}
              </li>
            ))}
          </ol>
        </div>
      ))}
    </div>
  );
}

const TICKET_STATUSES = ['open', 'investigating', 'in_progress', 'resolved', 'closed'];

/** The issue list's status filter: `[value, label]` or a value shown as itself. */
const ISSUE_STATUSES: Array<string | [string, string]> = [['unresolved,regressed', 'open'], 'unresolved', 'regressed', 'resolved', ['', 'all']];
const ISSUE_SORTS: Array<[string, string]> = [
  ['last_seen', 'last seen'],
  ['first_seen', 'first seen'],
  ['count', 'events'],
  ['users', 'users'],
];

function Investigation(props: { inv: any }) {
  const v = props.inv;
  const h = v.systemHealth ?? {};
  return (
    <div>
      <p>
        Pattern <span class="pill">{String(v.pattern ?? '–')}</span> · {fmtNum(v.occurrences?.lastHour)} in the last hour ·{' '}
        {fmtNum(v.occurrences?.last24h)} in 24 h · {fmtNum(v.occurrences?.total)} in total
      </p>
      {(v.recommendations ?? []).length > 0 && (
        <ul>
          {v.recommendations.map((r: any, i: number) => (
            <li key={i}>{String(r)}</li>
          ))}
        </ul>
      )}
      <dl class="kv">
        <div>
          <dt>CPU at the time</dt>
          <dd>{h.cpuPercent === null || h.cpuPercent === undefined ? '–' : `${fmtNum(h.cpuPercent)} %`}</dd>
        </div>
        <div>
          <dt>Memory</dt>
          <dd>{h.memoryPercent === null || h.memoryPercent === undefined ? '–' : `${fmtNum(h.memoryPercent)} %`}</dd>
        </div>
        <div>
          <dt>HTTP 5xx</dt>
          <dd>{h.errorRatePercent === null || h.errorRatePercent === undefined ? '–' : `${fmtNum(h.errorRatePercent)} %`}</dd>
        </div>
        <div>
          <dt>p99 latency</dt>
          <dd>{h.latencyP99Seconds === null || h.latencyP99Seconds === undefined ? '–' : `${fmtNum(h.latencyP99Seconds * 1000)} ms`}</dd>
        </div>
      </dl>
      {(v.similarIssues ?? []).length > 0 && (
        <>
          <h3>Similar issues</h3>
          <ul>
            {v.similarIssues.map((x: any, i: number) => (
              <li key={i}>
                {x.id !== undefined ? <a href={`#/errors/${encodeURIComponent(String(x.id))}`}>{String(x.title ?? x.id)}</a> : <JsonView value={x} />}
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

function Ticket(props: { id: string; ticket: any; operator: string; onChange: () => void }) {
  const t = props.ticket;
  const [status, setStatus] = useState<string>(t?.status ?? 'open');
  const [note, setNote] = useState('');
  const [err, setErr] = useState<string | null>(null);
  const save = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    try {
      await post(`/api/monitoring/errors/issues/${props.id}/ticket`, { author: props.operator, status, ...(note ? { note } : {}) });
      setNote('');
      props.onChange();
    } catch (x) {
      setErr(x instanceof Error ? x.message : String(x));
    }
  };
  return (
    <div>
      {t ? (
        <p>
          <Badge status={t.status === 'resolved' || t.status === 'closed' ? 'resolved' : 'pending'} label={t.status} /> opened by {t.createdBy} {ago(t.createdAt)}
          {t.assignee ? ` · assignee ${t.assignee}` : ''}
        </p>
      ) : (
        <Empty>No ticket yet.</Empty>
      )}
      <ol class="timeline" data-testid="ticket-timeline">
        {(t?.steps ?? []).map((s: any) => (
          <li key={s.id}>
            <span class="muted">{fmtTime(s.at)}</span> <span class="pill">{String(s.action)}</span> {String(s.description ?? '')}{' '}
            <span class="muted">— {String(s.author ?? '')}</span>
          </li>
        ))}
      </ol>
      <form class="inline-form" onSubmit={save}>
        <Select label="Status" value={status} onChange={setStatus} options={TICKET_STATUSES} />
        <label>
          Note
          <input value={note} onInput={(e) => setNote((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" disabled={!props.operator}>
          {t ? 'Update ticket' : 'Open ticket'}
        </button>
      </form>
      <ErrorNote error={err} />
    </div>
  );
}

function IssueDetail(props: { id: string }) {
  const id = encodeURIComponent(props.id);
  const d = useData(() => strix(`/api/monitoring/errors/issues/${id}`), [props.id], { events: ['error_issue'] });
  const inv = useData(() => optional(`/api/monitoring/errors/issues/${id}/investigation`), [props.id]);
  const [operator, setOperator] = useStored('strix.operator', '');
  const [notes, setNotes] = useState('');
  const [assignee, setAssignee] = useState('');
  const [err, setErr] = useState<string | null>(null);
  if (d.error) return <ErrorNote error={d.error} />;
  const issue = d.data;
  if (!issue) return <p class="muted">Loading…</p>;
  const ev = issue.latestEvents?.[0];
  const p = ev?.payload ?? {};
  const crumbs: any[] = p.breadcrumbs?.values ?? (Array.isArray(p.breadcrumbs) ? p.breadcrumbs : []);
  const act = async (path: string, body: any) => {
    setErr(null);
    try {
      await post(path, body);
      d.reload();
    } catch (e) {
      setErr(e instanceof Error ? e.message : String(e));
    }
  };
  const resolved = issue.status === 'resolved';
  return (
    <div class="page">
      <p>
        <a href="#/errors">← Issues</a>
      </p>
      <h1 class="issue-title" data-testid="issue-title">
        {issue.title}
      </h1>
      <p class="muted">{issue.culprit}</p>
      <div class="row wrap">
        <Badge status={issue.status} /> <Badge status={issue.level} /> <span class="pill">{issue.category}</span>
        <span class="pill">{issue.priority}</span> <span class="pill">{issue.pattern}</span>
        <span>
          {issue.count} events · {issue.userCount} users · first {ago(issue.firstSeen)} · last {ago(issue.lastSeen)}
        </span>
        <span>assignee: {issue.assignee ?? 'none'}</span>
        {issue.regressionCount > 0 && <span>regressed {issue.regressionCount}×</span>}
      </div>
      <Card title="Actions">
        <form class="inline-form" onSubmit={(e) => e.preventDefault()}>
          <label>
            Operator
            <input value={operator} onInput={(e) => setOperator((e.target as HTMLInputElement).value)} />
          </label>
          <label>
            Notes
            <input value={notes} onInput={(e) => setNotes((e.target as HTMLInputElement).value)} />
          </label>
          {resolved ? (
            <button type="button" disabled={!operator} onClick={() => act(`/api/monitoring/errors/issues/${id}/unresolve`, { operator })}>
              Reopen
            </button>
          ) : (
            <button type="button" class="primary" disabled={!operator} onClick={() => act(`/api/monitoring/errors/issues/${id}/resolve`, { operator, notes })}>
              Resolve
            </button>
          )}
          <label>
            Assign to
            <input value={assignee} onInput={(e) => setAssignee((e.target as HTMLInputElement).value)} placeholder="team or person" />
          </label>
          <button type="button" disabled={!operator} onClick={() => act(`/api/monitoring/errors/issues/${id}/assign`, { assignee: assignee || null, operator })}>
            Assign
          </button>
        </form>
        <ErrorNote error={err} />
      </Card>
      <div class="two-col">
        <Card title="Stack trace">
          <Stack payload={p} />
        </Card>
        <Card title="Breadcrumbs">
          {crumbs.length === 0 && <Empty>No breadcrumbs.</Empty>}
          <ol class="timeline">
            {crumbs.slice(-50).map((c, i) => (
              <li key={i}>
                <span class="muted">{typeof c.timestamp === 'number' ? fmtTime(c.timestamp * 1000) : fmtTime(c.timestamp)}</span>{' '}
                <span class="pill">{String(c.category ?? c.type ?? '')}</span> {String(c.message ?? '')}
              </li>
            ))}
          </ol>
        </Card>
      </div>
      <div class="two-col">
        <Card title="Investigation">
          {inv.data === null && <Empty>This server has no investigation reports.</Empty>}
          {inv.data && <Investigation inv={inv.data} />}
          <ErrorNote error={inv.error} />
        </Card>
        <Card title="Ticket">
          <Ticket id={id} ticket={issue.ticket ?? null} operator={operator} onChange={d.reload} />
        </Card>
      </div>
      <Card title="Tags">
        <dl class="kv">
          {tagsOf(p).map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </div>
          ))}
        </dl>
      </Card>
    </div>
  );
}

function TrendBars(props: { trend: any }) {
  const b: any[] = props.trend?.buckets ?? [];
  const max = Math.max(1, ...b.map((x) => x.count ?? 0));
  return (
    <div class="trend" aria-label={`events per hour over 24 hours: ${b.map((x) => x.count).join(', ')}`}>
      <div class="trend-bars" aria-hidden="true">
        {b.map((x, i) => (
          <span key={i} class="trend-bar" style={{ height: `${Math.max(2, (100 * (x.count ?? 0)) / max)}%` }} title={`${fmtTime(x.start)}: ${x.count}`} />
        ))}
      </div>
    </div>
  );
}

export function Errors(props: { id?: string; theme: string }) {
  const [status, setStatus] = useStored('strix.errors.status', 'unresolved,regressed');
  const [sort, setSort] = useStored('strix.errors.sort', 'last_seen');
  const [q, setQ] = useState('');
  const qs = new URLSearchParams({ limit: '200', sort, ...(status ? { status } : {}), ...(q ? { q } : {}) }).toString();
  const list = useData(() => strixFull<any[]>(`/api/monitoring/errors/issues?${qs}`), [qs], { events: ['error_issue'] });
  const trend = useData(
    // 15-minute buckets: the window equals the step, so every event lands in one bucket.
    () => queryRange('sum by (category) (increase(strix_error_events_total[15m]))', 86400, 96),
    [],
    { events: ['error_issue'], intervalMs: 60000 },
  );
  const stats = useData(() => optional<any>('/api/monitoring/errors/stats'), [], { events: ['error_issue'] });
  const trends = useData(() => optional<any>('/api/monitoring/errors/trends?period=24h'), [], { events: ['error_issue'], intervalMs: 60000 });
  if (props.id) return <IssueDetail id={props.id} />;
  const cats = new Map<string, number>();
  for (const i of list.data?.data ?? []) cats.set(i.category, (cats.get(i.category) ?? 0) + i.count);
  return (
    <div class="page">
      <h1>Errors</h1>
      <div class="two-col">
        <Card title="Events per 15 min by category (24h)">
          <ErrorNote error={trend.error} />
          <Chart data={toChartData(trend.data, (m) => m.category ?? 'all')} height={160} theme={props.theme} />
        </Card>
        <Card title="Categories">
          <ul class="status-list">
            {[...cats.entries()]
              .sort((a, b) => b[1] - a[1])
              .map(([c, n]) => (
                <li key={c}>
                  <span class="pill">{c}</span> <span>{fmtNum(n)} events</span>
                </li>
              ))}
          </ul>
          {stats.data && (
            <p class="muted">
              {fmtNum(stats.data.eventsInWindow)} events in the last {fmtNum((stats.data.windowSeconds ?? 3600) / 60)} min ({fmtNum(stats.data.errorRatePerMinute)}/min) ·{' '}
              {fmtNum(stats.data.issues)} issues · MTTR {stats.data.mttrSeconds === null ? '–' : `${fmtNum(stats.data.mttrSeconds / 60)} min`}
            </p>
          )}
          {trends.data && (
            <>
              <h3>Events per hour (24h)</h3>
              <TrendBars trend={trends.data} />
            </>
          )}
        </Card>
      </div>
      <Card>
        <form class="inline-form" role="search" onSubmit={(e) => e.preventDefault()}>
          <Select label="Status" value={status} onChange={setStatus} options={ISSUE_STATUSES} />
          <Select label="Sort" value={sort} onChange={setSort} options={ISSUE_SORTS} />
          <label>
            Search
            <input type="search" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
          </label>
        </form>
        <ErrorNote error={list.error} />
        {list.data && list.data.data.length === 0 && <Empty>No issues.</Empty>}
        <Table columns={['Issue', 'Level', 'Category', 'Events', 'Users', 'Last seen', 'Status']} testid="issues-table">
          {(list.data?.data ?? []).map((i) => (
            <tr key={i.id}>
              <td>
                <a href={`#/errors/${i.id}`}>{i.title}</a>
                <div class="muted">{i.culprit}</div>
              </td>
              <td>
                <Badge status={i.level} />
              </td>
              <td>{i.category}</td>
              <td>{fmtNum(i.count)}</td>
              <td>{fmtNum(i.userCount)}</td>
              <td title={fmtTime(i.lastSeen)}>{ago(i.lastSeen)}</td>
              <td>
                <Badge status={i.status} />
              </td>
            </tr>
          ))}
        </Table>
      </Card>
    </div>
  );
}
