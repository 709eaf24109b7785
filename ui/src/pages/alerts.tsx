import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { post, strix, strixFull } from '../api';
import { ago, fmtDuration, fmtNum, fmtTime } from '../format';
import { useData, useStored } from '../hooks';
import { Badge, Card, Dialog, Empty, ErrorNote, Select, Table } from '../ui';

const STATES = ['active', 'firing', 'pending', 'acknowledged', 'resolved'];
const SORTS: Array<[string, string]> = [
  ['-startsAt', 'Newest'],
  ['startsAt', 'Oldest'],
  ['severity', 'Severity'],
  ['state', 'State'],
  ['rule', 'Rule'],
  ['-value', 'Value'],
];

function ActionDialog(props: { alert: any; action: 'acknowledge' | 'resolve'; onDone: () => void; onClose: () => void }) {
  const [operator, setOperator] = useStored('strix.operator', '');
  const [notes, setNotes] = useState('');
  const [err, setErr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const verb = props.action === 'acknowledge' ? 'Acknowledge' : 'Resolve';
  return (
    <Dialog title={`${verb} alert`} onClose={props.onClose}>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          try {
            await post(`/api/monitoring/alerts/${encodeURIComponent(props.alert.id)}/${props.action}`, { operator, notes });
            props.onDone();
            props.onClose();
          } catch (x) {
            setErr(x instanceof Error ? x.message : String(x));
          } finally {
            setBusy(false);
          }
        }}
      >
        <p>
          <strong>{props.alert.labels?.alertname ?? props.alert.rule}</strong>
        </p>
        <label>
          Operator
          <input required value={operator} onInput={(e) => setOperator((e.target as HTMLInputElement).value)} name="operator" />
        </label>
        <label>
          Notes
          <textarea rows={3} value={notes} onInput={(e) => setNotes((e.target as HTMLTextAreaElement).value)} name="notes" />
        </label>
        <ErrorNote error={err} />
        <div class="row end">
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {verb}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** Badge colour of an escalation state: an active escalation still pages. */
const ESCALATION_BADGE: Record<string, string> = { active: 'firing', acknowledged: 'acknowledged', ended: 'resolved' };

/** `escalation` of `GET /api/monitoring/alerts/{id}`; levels are shown 1-based. */
function EscalationStatus(props: { e: any }) {
  const { e } = props;
  const level = typeof e.level === 'number' ? e.level + 1 : null;
  return (
    <p class="escalation" data-testid="escalation">
      <span>Escalation </span>
      <Badge status={ESCALATION_BADGE[e.state] ?? 'unknown'} label={String(e.state ?? 'unknown')} />
      <span>
        {' '}
        policy {String(e.policy)}, level {level ?? '–'} of {String(e.levels ?? '–')}
        {e.repeat > 0 ? `, repeated ${fmtNum(e.repeat)}×` : ''}
      </span>
      {e.nextAt && (
        <span>
          , next page <time dateTime={e.nextAt}>{fmtTime(e.nextAt)}</time> ({ago(e.nextAt)})
        </span>
      )}
    </p>
  );
}

function AlertDetail(props: { id: string }) {
  const d = useData(() => strix(`/api/monitoring/alerts/${encodeURIComponent(props.id)}`), [props.id], { events: ['alert'] });
  if (d.error) return <ErrorNote error={d.error} />;
  if (!d.data) return <p class="muted">Loading…</p>;
  const a = d.data;
  return (
    <div class="detail">
      <dl class="kv">
        {Object.entries(a.labels ?? {}).map(([k, v]) => (
          <div key={`l-${k}`}>
            <dt>{k}</dt>
            <dd>{String(v)}</dd>
          </div>
        ))}
        {Object.entries(a.annotations ?? {}).map(([k, v]) => (
          <div key={`a-${k}`}>
            <dt>{k}</dt>
            <dd>{String(v)}</dd>
          </div>
        ))}
      </dl>
      {a.escalation && <EscalationStatus e={a.escalation} />}
      {a.notes && <p>Notes: {a.notes}</p>}
      <h3>History</h3>
      <ol class="timeline">
        {(a.history ?? []).map((t: any, i: number) => (
          <li key={i}>
            <span class="muted">{fmtTime(t.at)}</span> {t.from ?? '∅'} → <Badge status={t.to} />
            {t.actor && <span> by {t.actor}</span>}
            {t.notes && <span class="muted"> — {t.notes}</span>}
          </li>
        ))}
      </ol>
    </div>
  );
}

function Silences() {
  const s = useData(() => strix<any[]>('/api/monitoring/silences'), [], { events: ['alert'] });
  const [operator, setOperator] = useStored('strix.operator', '');
  const [matchers, setMatchers] = useState('');
  const [hours, setHours] = useState('2');
  const [comment, setComment] = useState('');
  const [err, setErr] = useState<string | null>(null);
  const create = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    try {
      const ms = matchers
        .split(',')
        .map((m) => m.trim())
        .filter(Boolean)
        .map((m) => {
          const r = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?$/.exec(m);
          if (!r) throw new Error(`not a matcher: ${m}`);
          return { name: r[1], value: r[3], isRegex: r[2].includes('~'), isEqual: !r[2].startsWith('!') };
        });
      if (!ms.length) throw new Error('at least one matcher is needed');
      const now = Date.now();
      await post('/api/monitoring/silences', {
        matchers: ms,
        startsAt: new Date(now).toISOString(),
        endsAt: new Date(now + Number(hours) * 3600_000).toISOString(),
        createdBy: operator,
        comment,
      });
      setMatchers('');
      setComment('');
      s.reload();
    } catch (x) {
      setErr(x instanceof Error ? x.message : String(x));
    }
  };
  const expire = async (id: string) => {
    try {
      await strix(`/api/monitoring/silences/${encodeURIComponent(id)}`, { method: 'DELETE' });
      s.reload();
    } catch (x) {
      setErr(x instanceof Error ? x.message : String(x));
    }
  };
  return (
    <Card title="Silences">
      <form class="inline-form" onSubmit={create}>
        <label>
          Matchers
          <input placeholder='alertname="HighLatency", team=db' value={matchers} onInput={(e) => setMatchers((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Hours
          <input type="number" min="0.1" step="0.1" value={hours} onInput={(e) => setHours((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          By
          <input required value={operator} onInput={(e) => setOperator((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Comment
          <input value={comment} onInput={(e) => setComment((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" class="primary">
          Silence
        </button>
      </form>
      <ErrorNote error={err ?? s.error} />
      {s.data && s.data.length === 0 && <Empty>No silences.</Empty>}
      <ul class="status-list">
        {(s.data ?? []).map((x) => (
          <li key={x.id}>
            <Badge status={x.status?.state === 'active' ? 'pending' : 'unknown'} label={x.status?.state} />
            <code>{(x.matchers ?? []).map((m: any) => `${m.name}${m.isEqual ? '' : '!'}${m.isRegex ? '=~' : '='}"${m.value}"`).join(', ')}</code>
            <span class="muted">
              until {fmtTime(x.endsAt)} · {x.createdBy} {x.comment ? `· ${x.comment}` : ''}
            </span>
            {x.status?.state !== 'expired' && (
              <button type="button" onClick={() => expire(x.id)}>
                Expire
              </button>
            )}
          </li>
        ))}
      </ul>
    </Card>
  );
}

/** The notification delivery log: what was sent to whom, and whether it got through. */
function Deliveries() {
  const d = useData(() => strix<any[]>('/api/monitoring/notifications?limit=20'), [], { events: ['alert'], intervalMs: 60000 });
  return (
    <Card title="Notifications (latest deliveries)">
      <ErrorNote error={d.error} />
      {d.data && d.data.length === 0 && <Empty>Nothing sent yet.</Empty>}
      {d.data && d.data.length > 0 && (
        <Table columns={['When', 'Receiver', 'Channel', 'Attempt', 'Status', 'Detail']}>
          {d.data.map((e) => (
            <tr key={e.id}>
              <td title={fmtTime(e.at)}>{ago(e.at)}</td>
              <td>{e.receiver}</td>
              <td>{e.channel}</td>
              <td>{e.attempt}</td>
              <td>
                <Badge status={e.status === 'delivered' ? 'ok' : e.status === 'failed' ? 'warning' : 'critical'} label={e.status} />
              </td>
              <td>{e.detail ?? ''}</td>
            </tr>
          ))}
        </Table>
      )}
    </Card>
  );
}

export function Alerts() {
  const [state, setState] = useStored('strix.alerts.state', 'active');
  const [severity, setSeverity] = useStored('strix.alerts.severity', '');
  const [sort, setSort] = useStored('strix.alerts.sort', '-startsAt');
  const [q, setQ] = useState('');
  const [open, setOpen] = useState<string | null>(null);
  const [action, setAction] = useState<{ alert: any; action: 'acknowledge' | 'resolve' } | null>(null);

  const params = new URLSearchParams();
  if (state) params.set('state', state);
  if (severity) params.set('severity', severity);
  if (q) params.set('q', q);
  params.set('sort', sort);
  params.set('limit', '200');
  const qs = params.toString();
  const list = useData(() => strixFull<any[]>(`/api/monitoring/alerts?${qs}`), [qs], { events: ['alert'] });
  const stats = useData(() => strix('/api/monitoring/alerts/stats?period=7d'), [], { events: ['alert'] });
  const severities = Object.keys(stats.data?.bySeverity ?? {});
  const exportQs = new URLSearchParams(params);
  exportQs.delete('limit');

  return (
    <div class="page">
      <div class="page-head">
        <h1>Alerts</h1>
        <div class="toolbar">
          <a class="button" href={`/api/monitoring/alerts?${exportQs}&format=json`} download="alerts.json">
            Export JSON
          </a>
          <a class="button" href={`/api/monitoring/alerts?${exportQs}&format=csv`} download="alerts.csv">
            Export CSV
          </a>
        </div>
      </div>
      <div class="grid-summary">
        <Card title="Last 7 days">
          <p>
            {stats.data?.total ?? '–'} alerts · MTTA {fmtDuration(stats.data?.mttaSeconds)} · MTTR {fmtDuration(stats.data?.mttrSeconds)}
          </p>
          <p class="muted">
            {Object.entries(stats.data?.byState ?? {})
              .map(([k, v]) => `${k} ${v}`)
              .join(' · ')}
          </p>
        </Card>
      </div>
      <Card>
        <form class="inline-form" role="search" onSubmit={(e) => e.preventDefault()}>
          <Select label="State" value={state} onChange={setState} options={[['', 'all'], ...STATES]} />
          <Select label="Severity" value={severity} onChange={setSeverity} options={[['', 'all'], ...new Set(['critical', 'warning', 'info', ...severities])]} />
          <label>
            Search
            <input type="search" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} placeholder="rule, label or annotation" />
          </label>
          <Select label="Sort" value={sort} onChange={setSort} options={SORTS} />
        </form>
        <ErrorNote error={list.error} />
        {list.data && list.data.data.length === 0 && <Empty>No alerts match.</Empty>}
        <Table columns={['Alert', 'Severity', 'State', 'Value', 'Started', 'Actions']} testid="alerts-table">
          {(list.data?.data ?? []).map((a) => (
            <Fragment key={a.id}>
              <tr key={a.id} data-alert-id={a.id}>
                <td>
                  <button type="button" class="link" aria-expanded={open === a.id} onClick={() => setOpen(open === a.id ? null : a.id)}>
                    {a.labels?.alertname ?? a.rule}
                  </button>
                  <div class="labels">
                    {Object.entries(a.labels ?? {})
                      .filter(([k]) => k !== 'alertname' && k !== 'severity')
                      .map(([k, v]) => (
                        <span class="label" key={k}>
                          {k}={String(v)}
                        </span>
                      ))}
                  </div>
                </td>
                <td>
                  <Badge status={a.severity} />
                </td>
                <td>
                  <Badge status={a.state} />
                  {a.acknowledgedBy && <div class="muted">by {a.acknowledgedBy}</div>}
                </td>
                <td>{fmtNum(a.value)}</td>
                <td title={fmtTime(a.startsAt)}>{ago(a.startsAt)}</td>
                <td class="actions">
                  {(a.state === 'firing' || a.state === 'pending') && (
                    <button type="button" onClick={() => setAction({ alert: a, action: 'acknowledge' })}>
                      Acknowledge
                    </button>
                  )}
                  {a.state !== 'resolved' && (
                    <button type="button" onClick={() => setAction({ alert: a, action: 'resolve' })}>
                      Resolve
                    </button>
                  )}
                </td>
              </tr>
              {open === a.id && (
                <tr key={`${a.id}-d`}>
                  <td colSpan={6}>
                    <AlertDetail id={a.id} />
                  </td>
                </tr>
              )}
            </Fragment>
          ))}
        </Table>
      </Card>
      <Silences />
      <Deliveries />
      {action && <ActionDialog alert={action.alert} action={action.action} onDone={list.reload} onClose={() => setAction(null)} />}
    </div>
  );
}
