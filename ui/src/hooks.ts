import { useEffect, useRef, useState } from 'preact/hooks';
import { live, LiveEvent } from './live';

export interface Loaded<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/**
 * Loads `loader()` now, again when `deps` change, when a live event of one of `events`
 * arrives (debounced), after a resync, and every `intervalMs` if given. Previous data stays
 * on screen while a reload runs, so live updates never blank or shift the page.
 */
export function useData<T>(
  loader: () => Promise<T>,
  deps: unknown[],
  opts: { events?: string[]; intervalMs?: number } = {},
): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const seq = useRef(0);
  const loaderRef = useRef(loader);
  loaderRef.current = loader;

  const run = () => {
    const my = ++seq.current;
    setLoading(true);
    loaderRef.current().then(
      (d) => {
        if (my !== seq.current) return;
        setData(d);
        setError(null);
        setLoading(false);
      },
      (e) => {
        if (my !== seq.current) return;
        setError(e instanceof Error ? e.message : String(e));
        setLoading(false);
      },
    );
  };

  useEffect(run, deps);

  useEffect(() => {
    const types = new Set([...(opts.events ?? []), 'resync', 'auth']);
    let t: number | undefined;
    const off = live.subscribe((e: LiveEvent) => {
      if (!types.has(e.type)) return;
      window.clearTimeout(t);
      t = window.setTimeout(run, 250);
    });
    let iv: number | undefined;
    if (opts.intervalMs) iv = window.setInterval(run, opts.intervalMs);
    return () => {
      off();
      window.clearTimeout(t);
      window.clearInterval(iv);
    };
  }, [opts.intervalMs, (opts.events ?? []).join(',')]);

  return { data, error, loading, reload: run };
}

/** A value kept in localStorage under `key` (JSON). */
export function useStored<T>(key: string, initial: T): [T, (v: T) => void] {
  const [v, setV] = useState<T>(() => {
    try {
      const s = localStorage.getItem(key);
      return s === null ? initial : (JSON.parse(s) as T);
    } catch {
      return initial;
    }
  });
  const set = (nv: T) => {
    setV(nv);
    try {
      localStorage.setItem(key, JSON.stringify(nv));
    } catch {
      // storage full or disabled: the value still applies to this page
    }
  };
  return [v, set];
}
