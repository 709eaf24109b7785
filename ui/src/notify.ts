// Browser notifications and a short WebAudio beep for new critical alerts, both off unless
// the operator turns them on in Settings.

const NOTIFY_KEY = 'strix.notify';
const SOUND_KEY = 'strix.sound';

export function notifyEnabled(): boolean {
  return localStorage.getItem(NOTIFY_KEY) === '1';
}
export function soundEnabled(): boolean {
  return localStorage.getItem(SOUND_KEY) === '1';
}

export async function setNotify(on: boolean): Promise<string> {
  if (!on) {
    localStorage.setItem(NOTIFY_KEY, '0');
    return 'off';
  }
  if (!('Notification' in window)) return 'unsupported';
  const p = Notification.permission === 'granted' ? 'granted' : await Notification.requestPermission();
  localStorage.setItem(NOTIFY_KEY, p === 'granted' ? '1' : '0');
  return p;
}

export function setSound(on: boolean): void {
  localStorage.setItem(SOUND_KEY, on ? '1' : '0');
  if (on) beep();
}

let ctx: AudioContext | null = null;
export function beep(): void {
  try {
    ctx = ctx ?? new AudioContext();
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'sine';
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.4);
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.4);
  } catch {
    // no audio device: silence is the fallback
  }
}

const seen = new Set<string>();
/** Called for every `alert` event: notifies once per alert id when it turns critical and firing. */
export function alertEvent(a: any): void {
  if (!a || a.state !== 'firing' || a.severity !== 'critical') return;
  const id = String(a.id ?? '');
  if (seen.has(id)) return;
  seen.add(id);
  const name = String(a.labels?.alertname ?? a.rule ?? 'alert');
  const summary = String(a.annotations?.summary ?? a.annotations?.description ?? '');
  if (notifyEnabled() && 'Notification' in window && Notification.permission === 'granted') {
    // Notification bodies are plain text.
    new Notification(`Critical: ${name}`, { body: summary, tag: id });
  }
  if (soundEnabled()) beep();
}
