// The live event stream: `GET /api/monitoring/events`.
//
// Server-sent events are read with `fetch` and a streamed body (so the API key can go in an
// `Authorization` header, which EventSource cannot send). Reconnects send `Last-Event-ID`;
// the server replays what was missed or answers one `resync` event, and every reconnect
// after a drop makes the pages refetch. After two failed stream attempts in a row the
// client polls `?since=<lastId>` instead and retries the stream now and then.

import { authHeaders } from './api';

export type LiveMode = 'connecting' | 'live' | 'reconnecting' | 'polling';

export interface LiveEvent {
  id: number;
  type: string;
  data: any;
}

type Listener = (e: LiveEvent) => void;

const EVENTS = '/api/monitoring/events';
/** Consecutive stream failures before falling back to polling. */
const FAILS_BEFORE_POLLING = 2;
const POLL_MS = 3000;
/** Polls between attempts to get back onto the stream. */
const POLLS_BEFORE_RETRY = 20;

export class LiveClient {
  mode: LiveMode = 'connecting';
  lastId: number | null = null;
  lastTick: any = null;
  private listeners = new Set<Listener>();
  private modeListeners = new Set<(m: LiveMode) => void>();
  private failures = 0;
  private abort: AbortController | null = null;
  private timer: number | undefined;
  private stopped = false;
  private everConnected = false;

  start(): void {
    this.stopped = false;
    void this.stream();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    window.clearTimeout(this.timer);
  }

  /** Every event, including the synthetic `resync` sent after a reconnect. */
  subscribe(f: Listener): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  onMode(f: (m: LiveMode) => void): () => void {
    this.modeListeners.add(f);
    return () => this.modeListeners.delete(f);
  }

  private setMode(m: LiveMode): void {
    if (m === this.mode) return;
    this.mode = m;
    this.modeListeners.forEach((f) => f(m));
  }

  private emit(e: LiveEvent): void {
    if (e.type === 'tick') this.lastTick = e.data;
    this.listeners.forEach((f) => {
      try {
        f(e);
      } catch (err) {
        console.warn('live listener failed', err);
      }
    });
  }

  private resync(): void {
    this.emit({ id: this.lastId ?? 0, type: 'resync', data: {} });
  }

  private async stream(): Promise<void> {
    if (this.stopped) return;
    const ctl = new AbortController();
    this.abort = ctl;
    const headers: Record<string, string> = { Accept: 'text/event-stream', ...authHeaders() };
    if (this.lastId !== null) headers['Last-Event-ID'] = String(this.lastId);
    let gotEvent = false;
    try {
      const res = await fetch(EVENTS, { headers, signal: ctl.signal, cache: 'no-store' });
      const type = res.headers.get('content-type') ?? '';
      if (!res.ok || !res.body || !type.startsWith('text/event-stream')) {
        throw new Error(`event stream refused: ${res.status}`);
      }
      const wasDown = this.everConnected;
      this.everConnected = true;
      this.setMode('live');
      if (wasDown) this.resync();
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      let id: number | null = null;
      let ev = 'message';
      let data: string[] = [];
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          let line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.endsWith('\r')) line = line.slice(0, -1);
          if (line === '') {
            if (data.length) {
              gotEvent = true;
              this.failures = 0;
              if (id !== null) this.lastId = id;
              let parsed: any = {};
              try {
                parsed = JSON.parse(data.join('\n'));
              } catch {
                parsed = {};
              }
              this.emit({ id: id ?? this.lastId ?? 0, type: ev, data: parsed });
            }
            id = null;
            ev = 'message';
            data = [];
            continue;
          }
          if (line.startsWith(':')) continue; // keep-alive comment
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let val = colon < 0 ? '' : line.slice(colon + 1);
          if (val.startsWith(' ')) val = val.slice(1);
          if (field === 'id') {
            const n = Number(val);
            if (Number.isFinite(n)) id = n;
          } else if (field === 'event') ev = val;
          else if (field === 'data') data.push(val);
        }
      }
      throw new Error('event stream closed');
    } catch (err) {
      if (this.stopped) return;
      if (!gotEvent) this.failures += 1;
      if (this.failures >= FAILS_BEFORE_POLLING) {
        this.setMode('polling');
        this.poll(0);
      } else {
        this.setMode('reconnecting');
        this.timer = window.setTimeout(() => void this.stream(), 1000);
      }
    }
  }

  private poll(n: number): void {
    if (this.stopped) return;
    if (n >= POLLS_BEFORE_RETRY) {
      this.failures = FAILS_BEFORE_POLLING - 1; // one more failure goes back to polling
      void this.stream();
      return;
    }
    this.timer = window.setTimeout(async () => {
      try {
        const since = this.lastId ?? 0;
        const res = await fetch(`${EVENTS}?since=${since}`, {
          headers: { Accept: 'application/json', ...authHeaders() },
          cache: 'no-store',
        });
        const body = await res.json();
        if (body && body.success) {
          const d = body.data;
          const first = this.lastId === null;
          if (d.gap && !first) this.resync();
          for (const e of d.events ?? []) {
            this.lastId = e.id;
            this.emit({ id: e.id, type: e.type, data: e.data ?? {} });
          }
          if (typeof d.lastId === 'number') this.lastId = d.lastId;
        }
      } catch {
        // keep polling; the mode already says we are not live
      }
      this.poll(n + 1);
    }, POLL_MS);
  }
}

export const live = new LiveClient();
