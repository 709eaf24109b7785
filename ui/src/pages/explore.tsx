import { useEffect, useRef, useState } from 'preact/hooks';
import { num, prom, queryInstant, queryRange, RangeResult, seriesName } from '../api';
import { Chart, toChartData } from '../chart';
import { fmtNum } from '../format';
import { useStored } from '../hooks';
import { Card, ErrorNote, Segmented, Table } from '../ui';
import { RANGES } from './performance';

type View = 'graph' | 'table';
const VIEWS: Array<[string, View]> = [
  ['Graph', 'graph'],
  ['Table', 'table'],
];

const FUNCTIONS = [
  'rate', 'irate', 'increase', 'sum', 'avg', 'min', 'max', 'count', 'topk', 'bottomk', 'quantile',
  'histogram_quantile', 'avg_over_time', 'max_over_time', 'min_over_time', 'sum_over_time',
  'count_over_time', 'delta', 'deriv', 'abs', 'absent', 'clamp_min', 'clamp_max', 'label_replace',
  'predict_linear', 'resets', 'changes', 'time', 'vector', 'scalar', 'round', 'sort', 'sort_desc',
];

interface Ctx {
  kind: 'metric' | 'label' | 'value';
  prefix: string;
  label?: string;
  start: number;
}

/** What is being typed at `pos`: a metric/function name, a label name in `{}`, or a label value. */
export function completionContext(text: string, pos: number): Ctx | null {
  const before = text.slice(0, pos);
  const open = before.lastIndexOf('{');
  const close = before.lastIndexOf('}');
  if (open > close) {
    const inner = before.slice(open + 1);
    const v = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)$/.exec(inner);
    if (v) return { kind: 'value', label: v[1], prefix: v[3], start: pos - v[3].length };
    const l = /(?:^|[,{\s])([a-zA-Z_][a-zA-Z0-9_]*)?$/.exec(inner);
    if (l) return { kind: 'label', prefix: l[1] ?? '', start: pos - (l[1] ?? '').length };
    return null;
  }
  const m = /([a-zA-Z_:][a-zA-Z0-9_:]*)$/.exec(before);
  if (m) return { kind: 'metric', prefix: m[1], start: pos - m[1].length };
  return null;
}

function PromEditor(props: { value: string; onChange: (v: string) => void; onRun: () => void }) {
  const ref = useRef<HTMLTextAreaElement>(null);
  const [metrics, setMetrics] = useState<string[]>([]);
  const [labels, setLabels] = useState<string[]>([]);
  const values = useRef(new Map<string, string[]>());
  const [sugg, setSugg] = useState<string[]>([]);
  const [sel, setSel] = useState(0);
  const ctx = useRef<Ctx | null>(null);

  useEffect(() => {
    prom<string[]>('/api/v1/label/__name__/values', {}).then(setMetrics, () => setMetrics([]));
    prom<string[]>('/api/v1/labels', {}).then(setLabels, () => setLabels([]));
  }, []);

  const suggest = async (text: string, pos: number) => {
    const c = completionContext(text, pos);
    ctx.current = c;
    if (!c) return setSugg([]);
    let pool: string[] = [];
    if (c.kind === 'metric') {
      if (c.prefix.length < 1) return setSugg([]);
      pool = [...FUNCTIONS, ...metrics];
    } else if (c.kind === 'label') pool = labels.filter((l) => l !== '__name__');
    else if (c.label) {
      let vs = values.current.get(c.label);
      if (!vs) {
        try {
          vs = await prom<string[]>(`/api/v1/label/${encodeURIComponent(c.label)}/values`, {});
        } catch {
          vs = [];
        }
        values.current.set(c.label, vs);
      }
      pool = vs;
    }
    const p = c.prefix.toLowerCase();
    const out = pool.filter((x) => x.toLowerCase().startsWith(p) && x !== c.prefix).slice(0, 12);
    const more = pool.filter((x) => !x.toLowerCase().startsWith(p) && x.toLowerCase().includes(p)).slice(0, 12 - out.length);
    setSugg([...out, ...more]);
    setSel(0);
  };

  // Names arrive after the page opens: refresh the open suggestions once they do, so
  // what was typed before the lists loaded still gets completed.
  useEffect(() => {
    const el = ref.current;
    if (el && document.activeElement === el && el.value) void suggest(el.value, el.selectionStart);
  }, [metrics, labels]);

  const accept = (s: string) => {
    const c = ctx.current;
    const el = ref.current;
    if (!c || !el) return;
    const pos = el.selectionStart;
    const next = props.value.slice(0, c.start) + s + props.value.slice(pos);
    props.onChange(next);
    setSugg([]);
    const caret = c.start + s.length;
    requestAnimationFrame(() => {
      el.focus();
      el.setSelectionRange(caret, caret);
    });
  };

  return (
    <div class="editor">
      <label for="promql">PromQL</label>
      <textarea
        id="promql"
        ref={ref}
        rows={3}
        spellcheck={false}
        value={props.value}
        aria-controls="promql-suggestions"
        aria-autocomplete="list"
        aria-activedescendant={sugg.length ? `sugg-${sel}` : undefined}
        onInput={(e) => {
          const el = e.target as HTMLTextAreaElement;
          props.onChange(el.value);
          void suggest(el.value, el.selectionStart);
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey || (!e.shiftKey && !sugg.length))) {
            e.preventDefault();
            setSugg([]);
            props.onRun();
            return;
          }
          if (!sugg.length) return;
          if (e.key === 'ArrowDown') {
            e.preventDefault();
            setSel((sel + 1) % sugg.length);
          } else if (e.key === 'ArrowUp') {
            e.preventDefault();
            setSel((sel - 1 + sugg.length) % sugg.length);
          } else if (e.key === 'Enter' || e.key === 'Tab') {
            e.preventDefault();
            accept(sugg[sel]);
          } else if (e.key === 'Escape') {
            setSugg([]);
          }
        }}
        onBlur={() => window.setTimeout(() => setSugg([]), 150)}
      />
      {sugg.length > 0 && (
        <ul id="promql-suggestions" class="suggestions" role="listbox" aria-label="Suggestions">
          {sugg.map((s, i) => (
            <li
              key={s}
              id={`sugg-${i}`}
              role="option"
              aria-selected={i === sel}
              onMouseDown={(e) => {
                e.preventDefault();
                accept(s);
              }}
            >
              {s}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function Explore(props: { theme: string }) {
  const [expr, setExpr] = useStored('strix.explore.expr', 'sum by (handler) (rate(strix_http_requests_total[5m]))');
  const [view, setView] = useStored<View>('strix.explore.view', 'graph');
  const [range, setRange] = useStored('strix.explore.range', 3600);
  const [points, setPoints] = useStored('strix.explore.points', 500);
  const [graph, setGraph] = useState<RangeResult | undefined>(undefined);
  const [table, setTable] = useState<RangeResult | undefined>(undefined);
  const [err, setErr] = useState<string | null>(null);
  const [took, setTook] = useState<number | null>(null);

  const run = async () => {
    if (!expr.trim()) return;
    setErr(null);
    const t0 = performance.now();
    try {
      if (view === 'graph') setGraph(await queryRange(expr, range, points));
      else setTable(await queryInstant(expr));
      setTook(performance.now() - t0);
    } catch (e) {
      setErr(e instanceof Error ? e.message : String(e));
    }
  };
  useEffect(() => {
    void run();
  }, [view, range, points]);

  const rows = table?.result ?? [];
  return (
    <div class="page">
      <h1>Explore</h1>
      <Card>
        <PromEditor value={expr} onChange={setExpr} onRun={run} />
        <div class="toolbar">
          <button type="button" class="primary" onClick={run}>
            Run
          </button>
          <Segmented label="View" value={view} onChange={setView} options={VIEWS} />
          {view === 'graph' && <Segmented label="Time range" value={range} onChange={setRange} options={RANGES} />}
          {view === 'graph' && (
            <label>
              Points per series
              <select value={String(points)} onChange={(e) => setPoints(Number((e.target as HTMLSelectElement).value))}>
                {[250, 500, 2000, 10000].map((n) => (
                  <option key={n} value={String(n)}>
                    {n}
                  </option>
                ))}
              </select>
            </label>
          )}
          <span class="muted" data-testid="took">
            {took === null ? '' : `${Math.round(took)} ms`}
          </span>
        </div>
        <ErrorNote error={err} />
      </Card>
      {view === 'graph' ? (
        <Card>
          <Chart data={toChartData(graph)} height={320} theme={props.theme} />
        </Card>
      ) : (
        <Card>
          <Table columns={['Series', 'Value']} testid="explore-table">
            {table?.resultType === 'scalar' || table?.resultType === 'string' ? (
              <tr>
                <td>{table.resultType}</td>
                <td>{String((table.result as any)[1])}</td>
              </tr>
            ) : (
              rows.slice(0, 1000).map((s, i) => (
                <tr key={i}>
                  <td>
                    <code>{seriesName(s.metric)}</code>
                  </td>
                  <td>{s.value ? fmtNum(num(s.value[1]), 6) : `${s.values?.length ?? 0} samples`}</td>
                </tr>
              ))
            )}
          </Table>
          {rows.length > 1000 && <p class="muted">Showing 1000 of {rows.length} series.</p>}
        </Card>
      )}
    </div>
  );
}
