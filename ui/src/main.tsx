// The Strix dashboard: hash-routed pages, a header with the live indicator and theme toggle.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './styles.css';
import { apiKey, onAuthNeeded, setApiKey } from './api';
import { live, LiveMode } from './live';
import { alertEvent, notifyEnabled, setNotify, setSound, soundEnabled } from './notify';
import { Dialog } from './ui';
import { Overview } from './pages/overview';
import { Performance } from './pages/performance';
import { Alerts } from './pages/alerts';
import { Errors } from './pages/errors';
import { Checks } from './pages/checks';
import { Explore } from './pages/explore';
import { System } from './pages/system';

const PAGES: Array<{ path: string; title: string; key: string }> = [
  { path: 'overview', title: 'Overview', key: 'o' },
  { path: 'performance', title: 'Performance', key: 'p' },
  { path: 'alerts', title: 'Alerts', key: 'a' },
  { path: 'errors', title: 'Errors', key: 'e' },
  { path: 'checks', title: 'Checks', key: 'c' },
  { path: 'explore', title: 'Explore', key: 'x' },
  { path: 'system', title: 'System', key: 's' },
];

function parseHash(): string[] {
  const h = location.hash.replace(/^#\/?/, '');
  const parts = h.split('/').filter(Boolean).map(decodeURIComponent);
  return parts.length ? parts : ['overview'];
}

const THEME_KEY = 'strix.theme';
function initialTheme(): string {
  const s = localStorage.getItem(THEME_KEY);
  if (s === 'dark' || s === 'light') return s;
  return window.matchMedia && window.matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

const MODE_TEXT: Record<LiveMode, string> = {
  connecting: 'connecting',
  live: 'live',
  reconnecting: 'reconnecting',
  polling: 'polling',
};

function App() {
  const [route, setRoute] = useState(parseHash());
  const [theme, setTheme] = useState(initialTheme());
  const [mode, setMode] = useState<LiveMode>(live.mode);
  const [askKey, setAskKey] = useState(false);
  const [settings, setSettings] = useState(false);

  useEffect(() => {
    const f = () => setRoute(parseHash());
    window.addEventListener('hashchange', f);
    return () => window.removeEventListener('hashchange', f);
  }, []);

  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);

  useEffect(() => {
    const offMode = live.onMode(setMode);
    const offEv = live.subscribe((e) => {
      if (e.type === 'alert') alertEvent(e.data);
    });
    const offAuth = onAuthNeeded(() => setAskKey(true));
    live.start();
    return () => {
      offMode();
      offEv();
      offAuth();
      live.stop();
    };
  }, []);

  // g then a letter jumps to a page (g a: Alerts, g o: Overview, …).
  useEffect(() => {
    let g = 0;
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return;
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === 'g') {
        g = Date.now();
        return;
      }
      if (Date.now() - g < 1500) {
        const p = PAGES.find((x) => x.key === e.key);
        if (p) location.hash = `#/${p.path}`;
        g = 0;
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const toggleTheme = () => {
    const t = theme === 'dark' ? 'light' : 'dark';
    localStorage.setItem(THEME_KEY, t);
    setTheme(t);
  };

  const page = route[0];
  let body;
  switch (page) {
    case 'performance':
      body = <Performance theme={theme} />;
      break;
    case 'alerts':
      body = <Alerts />;
      break;
    case 'errors':
      body = <Errors id={route[1]} theme={theme} />;
      break;
    case 'checks':
      body = <Checks name={route[1]} />;
      break;
    case 'explore':
      body = <Explore theme={theme} />;
      break;
    case 'system':
      body = <System />;
      break;
    default:
      body = <Overview theme={theme} />;
  }

  return (
    <div class="app">
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/overview">
          Strix
        </a>
        <nav aria-label="Pages">
          <ul>
            {PAGES.map((p) => (
              <li key={p.path}>
                <a href={`#/${p.path}`} aria-current={page === p.path ? 'page' : undefined} title={`g ${p.key}`}>
                  {p.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="top-right">
          <span class={`live live-${mode}`} role="status" aria-live="polite" data-testid="live-mode">
            <span class="dot" aria-hidden="true" />
            {MODE_TEXT[mode]}
          </span>
          <button type="button" class="icon" onClick={toggleTheme} aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}>
            {theme === 'dark' ? '☀' : '☾'}
          </button>
          <button type="button" class="icon" onClick={() => setSettings(true)} aria-label="Settings">
            ⚙
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {body}
      </main>
      {askKey && <KeyDialog onClose={() => setAskKey(false)} />}
      {settings && <SettingsDialog onClose={() => setSettings(false)} />}
    </div>
  );
}

function KeyDialog(props: { onClose: () => void }) {
  const [key, setKey] = useState(apiKey() ?? '');
  return (
    <Dialog title="API key required" onClose={props.onClose}>
      <form
        method="dialog"
        onSubmit={() => {
          setApiKey(key.trim() || null);
          live.stop();
          live.start();
          props.onClose();
          location.reload();
        }}
      >
        <p>This Strix server needs an API key with the read scope (admin to acknowledge, resolve and silence).</p>
        <label>
          API key
          <input type="password" value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)} autoFocus />
        </label>
        <div class="row end">
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" class="primary">
            Save
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function SettingsDialog(props: { onClose: () => void }) {
  const [notify, setN] = useState(notifyEnabled());
  const [sound, setS] = useState(soundEnabled());
  const [msg, setMsg] = useState('');
  return (
    <Dialog title="Settings" onClose={props.onClose}>
      <form method="dialog">
        <label class="check">
          <input
            type="checkbox"
            checked={notify}
            onChange={async (e) => {
              const r = await setNotify((e.target as HTMLInputElement).checked);
              setN(r === 'granted');
              setMsg(r === 'granted' || r === 'off' ? '' : `Notifications: ${r}`);
            }}
          />
          Browser notification for new critical alerts
        </label>
        <label class="check">
          <input
            type="checkbox"
            checked={sound}
            onChange={(e) => {
              const on = (e.target as HTMLInputElement).checked;
              setSound(on);
              setS(on);
            }}
          />
          Sound for new critical alerts
        </label>
        <p class="muted">{msg}</p>
        <p class="muted">API key: {apiKey() ? 'set' : 'none'} </p>
        <div class="row end">
          {apiKey() && (
            <button type="button" onClick={() => { setApiKey(null); location.reload(); }}>
              Forget API key
            </button>
          )}
          <button type="submit" class="primary">
            Close
          </button>
        </div>
      </form>
    </Dialog>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
