// Small shared pieces: status badges, cards, dialogs, errors.
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
