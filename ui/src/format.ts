export function fmtNum(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
  return Number(v.toPrecision(digits)).toLocaleString('en-US', { maximumFractionDigits: 6 });
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
export function fmtBytes(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  let i = 0;
  let x = v;
  while (Math.abs(x) >= 1024 && i < UNITS.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x.toFixed(i ? 1 : 0)} ${UNITS[i]}`;
}

export function fmtDuration(sec: number | null | undefined): string {
  if (sec === null || sec === undefined || !Number.isFinite(sec)) return '–';
  const s = Math.floor(sec);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** "3m ago" for an RFC 3339 string or Unix milliseconds. */
export function ago(t: string | number | null | undefined): string {
  if (t === null || t === undefined) return '–';
  const ms = typeof t === 'number' ? t : Date.parse(t);
  if (!Number.isFinite(ms)) return '–';
  const d = (Date.now() - ms) / 1000;
  if (d < 0) return `in ${fmtDuration(-d)}`;
  if (d < 5) return 'just now';
  return `${fmtDuration(d)} ago`;
}

export function fmtTime(t: string | number | null | undefined): string {
  if (t === null || t === undefined) return '–';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? '–' : d.toLocaleString();
}

/** The CSS class for a status word from any of the APIs. */
export function statusClass(s: string | null | undefined): string {
  switch (s) {
    case 'ok':
    case 'healthy':
    case 'closed':
    case 'resolved':
    case 'up':
      return 'st-ok';
    case 'warning':
    case 'degraded':
    case 'half-open':
    case 'pending':
    case 'acknowledged':
    case 'medium':
      return 'st-warn';
    case 'critical':
    case 'unhealthy':
    case 'open':
    case 'firing':
    case 'regressed':
    case 'high':
    case 'error':
    case 'fatal':
      return 'st-crit';
    default:
      return 'st-unknown';
  }
}
