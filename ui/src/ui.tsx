// Small shared pieces: status badges, cards, dialogs, errors, tables, drop-downs, toggles.
import { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { statusClass } from './format';

export function Badge(props: { status: string | null | undefined; label?: string }) {
  const s = props.status ?? 'unknown';
  return <span class={`badge ${statusClass(s)}`}>{props.label ?? s}</span>;
}

export function Card(props: { title?: string; children: ComponentChildren; class?: string; actions?: ComponentChildren }) {
  return (
    <section class={`card ${props.class ?? ''}`}>
      {(props.title || props.actions) && (
        <header class="card-head">
          {props.title && <h2>{props.title}</h2>}
          {props.actions && <div class="card-actions">{props.actions}</div>}
        </header>
      )}
      {props.children}
    </section>
  );
}

export function ErrorNote(props: { error: string | null }) {
  if (!props.error) return null;
  return (
    <p class="error-note" role="alert">
      {props.error}
    </p>
  );
}

/** A modal dialog on the native <dialog> element (focus trap and Escape for free). */
export function Dialog(props: { title: string; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    const close = () => props.onClose();
    d?.addEventListener('close', close);
    return () => d?.removeEventListener('close', close);
  }, []);
  return (
    <dialog ref={ref} class="dialog" aria-label={props.title}>
      <h2>{props.title}</h2>
      {props.children}
    </dialog>
  );
}

export function Empty(props: { children: ComponentChildren }) {
  return <p class="muted empty">{props.children}</p>;
}

/** A table with one header row of `columns`; `children` are its body rows. Wrapped so a wide
 * table scrolls sideways on a narrow screen, unless `wrap` is false. */
export function Table(props: { columns: string[]; testid?: string; wrap?: boolean; children: ComponentChildren }) {
  const table = (
    <table class="table" data-testid={props.testid}>
      <thead>
        <tr>
          {props.columns.map((c) => (
            <th key={c} scope="col">
              {c}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>{props.children}</tbody>
    </table>
  );
  return props.wrap === false ? table : <div class="table-wrap">{table}</div>;
}

/** A labelled drop-down; each option is a value shown as itself, or `[value, label]`. */
export function Select(props: { label: string; value: string; onChange: (value: string) => void; options: Array<string | [string, string]> }) {
  return (
    <label>
      {props.label}
      <select value={props.value} onChange={(e) => props.onChange((e.target as HTMLSelectElement).value)}>
        {props.options.map((o) => {
          const [value, label] = typeof o === 'string' ? [o, o] : o;
          return (
            <option key={value} value={value}>
              {label}
            </option>
          );
        })}
      </select>
    </label>
  );
}

/** A group of toggle buttons, one pressed: `options` are `[label, value]`. */
export function Segmented<T>(props: { label: string; value: T; onChange: (value: T) => void; options: Array<[string, T]> }) {
  return (
    <div class="seg" role="group" aria-label={props.label}>
      {props.options.map(([l, v]) => (
        <button type="button" key={l} aria-pressed={props.value === v} onClick={() => props.onChange(v)}>
          {l}
        </button>
      ))}
    </div>
  );
}
