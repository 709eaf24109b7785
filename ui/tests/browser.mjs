// Browser test of the dashboard against a running Strix (started with data by
// tests/dashboard.rs): `node ui/tests/browser.mjs <base-url> [expectations.json]`.
//
// Drives Debian's chromium (CHROMIUM, default /usr/bin/chromium) with playwright-core and
// checks: every page renders real data with no console errors; acknowledging an alert in
// the UI changes it in the API; an alert fired during the test appears without a reload
// (live events); ingested strings with markup render as text and inject nothing; text
// contrast meets WCAG AA in both themes; no horizontal overflow at 360 px. Prints one line
// `STRIX_BROWSER_RESULT {json}` with first-contentful-paint and bundle sizes, and exits
// non-zero on the first failure.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';

const base = (process.argv[2] ?? '').replace(/\/$/, '');
if (!base) {
  console.error('usage: node ui/tests/browser.mjs <base-url> [expectations.json]');
  process.exit(2);
}
const expect = {
  kpi: 'queue_depth',
  check: 'upstream',
  rule: 'QueueBacklog',
  metric: 'demo_queue_depth',
  threshold: 100,
  xssLabel: '<script>alert(1)</script>',
  xssError: '<img src=x onerror=alert(1)>',
  ...(process.argv[3] ? JSON.parse(readFileSync(process.argv[3], 'utf8')) : {}),
};
const TIMEOUT = 15000;

const failures = [];
function check(cond, what) {
  if (!cond) throw new Error(`FAILED: ${what}`);
  console.log(`ok - ${what}`);
}

async function api(path, init) {
  const res = await fetch(base + path, init);
  const body = await res.json();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** Lowest text contrast ratio on the page (WCAG relative luminance), with the offender. */
async function minContrast(page) {
  return page.evaluate(() => {
    const parse = (c) => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
      return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
    };
    const lum = ({ r, g, b }) => {
      const f = (v) => {
        v /= 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const bgOf = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = parse(getComputedStyle(e).backgroundColor);
        if (c && c.a > 0.9) return c;
      }
      return parse(getComputedStyle(document.body).backgroundColor);
    };
    let worst = { ratio: 99, text: '', fg: '', bg: '' };
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || !n.textContent.trim()) continue;
      if (el.closest('[disabled], noscript, .skip, dialog:not([open])')) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      const st = getComputedStyle(el);
      if (st.visibility === 'hidden' || Number(st.opacity) < 0.1) continue;
      const fg = parse(st.color);
      const bg = bgOf(el);
      if (!fg || !bg) continue;
      const a = lum(fg);
      const b = lum(bg);
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (ratio < worst.ratio) worst = { ratio, text: n.textContent.trim().slice(0, 40), fg: st.color, bg: `rgb(${bg.r},${bg.g},${bg.b})` };
    }
    return worst;
  });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const result = {};
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'dark' });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const consoleErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  const dialogs = [];
  page.on('dialog', async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });

  // ---- Overview: first paint, bundle size, real data -----------------------------------
  const overviewRequests = [];
  const onRequest = (r) => overviewRequests.push(new URL(r.url()));
  page.on('request', onRequest);
  await page.goto(`${base}/#/overview`, { waitUntil: 'load' });
  await page.waitForSelector(`[data-testid=kpi]:has-text("${expect.kpi}")`);
  const perf = await page.evaluate(() => {
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource').filter((r) => new URL(r.name).pathname.startsWith('/ui/'));
    return {
      fcpMs: fcp ? fcp.startTime : null,
      documentBytes: nav ? nav.encodedBodySize : 0,
      documentTransferBytes: nav ? nav.transferSize : 0,
      assets: res.map((r) => ({ path: new URL(r.name).pathname, encoded: r.encodedBodySize, decoded: r.decodedBodySize, transfer: r.transferSize })),
    };
  });
  check(typeof perf.fcpMs === 'number' && perf.fcpMs > 0, `first contentful paint measured (${perf.fcpMs?.toFixed(0)} ms)`);
  check(perf.assets.length >= 2, 'the bundle (JS and CSS) loaded from /ui/');
  result.fcpMs = Math.round(perf.fcpMs);
  result.bundleEncodedBytes = perf.documentBytes + perf.assets.reduce((a, r) => a + r.encoded, 0);
  result.bundleDecodedBytes = perf.assets.reduce((a, r) => a + r.decoded, 0);
  result.bundleTransferBytes = perf.documentTransferBytes + perf.assets.reduce((a, r) => a + r.transfer, 0);
  const kpiText = await page.textContent(`[data-testid=kpi]:has-text("${expect.kpi}")`);
  check(/critical/.test(kpiText), `overview: KPI ${expect.kpi} shows its critical status`);
  await page.waitForSelector(`[data-testid=kpi]:has-text("${expect.kpi}") .sparkline`);
  page.off('request', onRequest);
  const kpiExpr = (await api('/api/monitoring/kpis')).data.find((k) => k.name === expect.kpi)?.expr;
  check(typeof kpiExpr === 'string' && kpiExpr !== '', `overview: the KPI API gives ${expect.kpi}'s expr (${kpiExpr})`);
  const sparkQueries = overviewRequests.filter((u) => u.pathname === '/api/v1/query_range' && u.searchParams.get('query') === kpiExpr);
  const timeCalls = overviewRequests.filter((u) => u.pathname === '/api/monitoring/kpis' && u.searchParams.has('time'));
  check(sparkQueries.length === 1 && timeCalls.length === 0, `overview: the KPI sparkline is one query_range of its expr (${sparkQueries.length} query_range, ${timeCalls.length} kpis?time= calls)`);
  await page.waitForSelector(`.status-list a:has-text("${expect.check}")`);
  check(/\d/.test(await page.textContent('[data-testid=score]')), 'overview: health score is a number');
  await page.waitForSelector('[data-testid=live-mode]:has-text("live")');
  check(true, 'header shows the live stream as live');

  // ---- Performance -----------------------------------------------------------------------
  await page.goto(`${base}/#/performance`);
  await page.waitForSelector('.chart-grid .card:nth-child(5) canvas');
  await page.waitForSelector('.chart-grid .legend-label:has-text("p95")');
  await page.waitForSelector('.chart-grid .legend-label:has-text("strix RSS")');
  check((await page.locator('.chart-grid canvas').count()) >= 5, 'performance: five charts with data (latency, throughput, errors, memory, CPU)');
  await page.click('.seg button:has-text("6h")');
  check((await page.getAttribute('.seg button:has-text("6h")', 'aria-pressed')) === 'true', 'performance: time range picker switches to 6h');

  // ---- Alerts: the markup label renders as text; acknowledge through the dialog ----------
  await page.goto(`${base}/#/alerts`);
  const row = page.locator(`tr:has(button:has-text("${expect.rule}"))`).filter({ hasText: expect.xssLabel });
  await row.first().waitFor();
  check(await row.first().isVisible(), `alerts: label value ${expect.xssLabel} is visible as text`);
  const alertId = await row.first().getAttribute('data-alert-id');
  await row.first().locator('button.link').click();
  const escalation = `tr[data-alert-id="${alertId}"] + tr [data-testid=escalation]`;
  await page.waitForSelector(`${escalation}:has-text("active")`);
  const escText = await page.textContent(escalation);
  check(/policy critical, level \d of 3/.test(escText) && /next page/.test(escText), `alerts: the detail shows the running escalation (${escText.trim()})`);
  await row.first().locator('button:has-text("Acknowledge")').click();
  await page.fill('dialog input[name=operator]', 'browser-test');
  await page.fill('dialog textarea[name=notes]', 'looking into it');
  await page.click('dialog button[type=submit]');
  await page.waitForSelector('dialog', { state: 'detached' });
  const acked = await api(`/api/monitoring/alerts/${encodeURIComponent(alertId)}`);
  check(acked.data.state === 'acknowledged' && acked.data.acknowledgedBy === 'browser-test', 'alerts: acknowledging in the UI changed the alert in the API');
  await page.waitForSelector(`tr[data-alert-id="${alertId}"] .badge:has-text("acknowledged")`);
  check(true, 'alerts: the row shows the acknowledged state');
  await page.waitForSelector(`${escalation}:has-text("acknowledged")`);
  check(!/next page/.test(await page.textContent(escalation)), 'alerts: acknowledging stopped the escalation in the detail');

  // ---- Live: an alert fired now appears without a reload ---------------------------------
  await page.evaluate(() => {
    window.__noReload = true;
  });
  const queue = `live-${Date.now()}`;
  await api('/api/monitoring/metrics', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify([{ name: expect.metric, labels: { queue }, value: expect.threshold * 5 }]),
  });
  await page.waitForSelector(`tr:has(.label:has-text("queue=${queue}"))`, { timeout: 30000 });
  check(await page.evaluate(() => window.__noReload === true), 'live: the alert fired during the test appeared without a reload');

  // ---- Keyboard: g then a goes to Alerts; Tab reaches links with a visible focus ring -------
  await page.goto(`${base}/#/overview`);
  await page.waitForSelector('[data-testid=kpi]');
  await page.keyboard.press('g');
  await page.keyboard.press('a');
  await page.waitForSelector('h1:has-text("Alerts")');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  const focus = await page.evaluate(() => {
    const el = document.activeElement;
    const st = el ? getComputedStyle(el) : null;
    return { tag: el?.tagName, text: el?.textContent, outline: st ? `${st.outlineStyle} ${st.outlineWidth}` : '' };
  });
  check(focus.tag === 'A' && /solid/.test(focus.outline), `keyboard: g a opens Alerts; Tab focuses "${focus.text}" with a visible focus ring (${focus.outline})`);

  // ---- No layout shift on live updates: overview while an alert fires and ticks arrive --------
  await page.goto(`${base}/#/overview`);
  await page.waitForSelector('[data-testid=kpi] .sparkline');
  await page.waitForTimeout(1000);
  await page.evaluate(() => {
    window.__cls = 0;
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) if (!e.hadRecentInput) window.__cls += e.value;
    }).observe({ type: 'layout-shift', buffered: false });
  });
  const q3 = `cls-${Date.now()}`;
  await api('/api/monitoring/metrics', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify([{ name: expect.metric, labels: { queue: q3 }, value: expect.threshold * 2 }]),
  });
  await page.waitForTimeout(6000);
  result.liveLayoutShift = Number((await page.evaluate(() => window.__cls)).toFixed(4));
  check(result.liveLayoutShift < 0.1, `overview: cumulative layout shift during live updates ${result.liveLayoutShift} (< 0.1)`);

  // ---- Polling fallback: with the event stream blocked, the page polls and still updates ---
  {
    const ctx2 = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await ctx2.route('**/api/monitoring/events*', (route) =>
      (route.request().headers()['accept'] ?? '').includes('text/event-stream') ? route.abort() : route.continue(),
    );
    const p2 = await ctx2.newPage();
    p2.setDefaultTimeout(TIMEOUT);
    await p2.goto(`${base}/#/alerts`);
    await p2.waitForSelector('[data-testid=live-mode]:has-text("polling")');
    check(true, 'fallback: with the event stream blocked the header shows polling');
    // Let the first poll establish its position in the event sequence.
    await p2.waitForResponse((r) => r.url().includes('/api/monitoring/events?since='));
    const q2 = `poll-${Date.now()}`;
    await api('/api/monitoring/metrics', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify([{ name: expect.metric, labels: { queue: q2 }, value: expect.threshold * 3 }]),
    });
    await p2.waitForSelector(`tr:has(.label:has-text("queue=${q2}"))`, { timeout: 30000 });
    check(true, 'fallback: an alert fired while polling appeared without a reload');
    await ctx2.close();
  }

  // ---- Errors: the message renders as text, in the list and the detail --------------------
  await page.goto(`${base}/#/errors`);
  const issueLink = page.locator('[data-testid=issues-table] a', { hasText: expect.xssError });
  await issueLink.first().waitFor();
  check(await issueLink.first().isVisible(), 'errors: the message with markup is listed as text');
  await issueLink.first().click();
  await page.waitForSelector('[data-testid=issue-title]');
  check((await page.textContent('[data-testid=issue-title]')).includes(expect.xssError), 'errors: issue detail shows the message as text');
  await page.waitForSelector('.frames li');
  check(true, 'errors: issue detail shows the stack trace');
  const issueId = decodeURIComponent(new URL(page.url()).hash.split('/')[2]);
  await page.selectOption('[data-testid=ticket-timeline] + form select', 'investigating');
  await page.fill('[data-testid=ticket-timeline] + form input', 'checking the deploy');
  await page.click('[data-testid=ticket-timeline] + form button[type=submit]');
  await page.waitForSelector('[data-testid=ticket-timeline] li:has-text("checking the deploy")');
  const ticket = await api(`/api/monitoring/errors/issues/${issueId}/ticket`);
  check(ticket.data.status === 'investigating', 'errors: a ticket opened in the UI is in the API with its timeline');

  // ---- Checks ------------------------------------------------------------------------------
  await page.goto(`${base}/#/checks`);
  await page.waitForSelector(`[data-testid=checks-table] tr:has-text("${expect.check}") .badge:has-text("healthy")`);
  await page.waitForSelector(`[data-testid=checks-table] tr:has-text("${expect.check}") .bar-up`);
  check(true, `checks: ${expect.check} is healthy with uptime bars`);

  // ---- Explore: autocomplete, graph, table --------------------------------------------------
  await page.goto(`${base}/#/explore`);
  await page.fill('#promql', '');
  await page.type('#promql', expect.metric.slice(0, 6));
  await page.waitForSelector(`.suggestions li:has-text("${expect.metric}")`);
  await page.keyboard.press('Escape');
  await page.fill('#promql', expect.metric);
  await page.click('.seg button:has-text("Table")');
  await page.click('button:has-text("Run")');
  const cell = page.locator('[data-testid=explore-table] code', { hasText: expect.xssLabel });
  await cell.first().waitFor();
  check(await cell.first().isVisible(), 'explore: autocomplete offers the metric; the table shows the markup label as text');
  await page.click('.seg button:has-text("Graph")');
  await page.waitForSelector('.chart canvas');
  await page.waitForSelector(`.legend-label:has-text("${expect.xssLabel}")`);
  check(true, 'explore: graph legend shows the markup label as text');

  // ---- A chart with 10,000 points per series -------------------------------------------------
  await page.selectOption('.toolbar select', '10000');
  await page.click('.seg[aria-label="Time range"] button:has-text("24h")');
  await page.fill('#promql', 'sin(vector(time()) / 600)');
  await page.keyboard.press('Escape');
  const t0 = Date.now();
  await page.click('button:has-text("Run")');
  await page.waitForSelector('.legend-label:has-text("{}")');
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  result.chart10kRenderMs = Date.now() - t0;
  const box = await page.locator('.chart-canvas').first().boundingBox();
  const h0 = Date.now();
  for (let i = 0; i < 40; i++) await page.mouse.move(box.x + 5 + (i * (box.width - 10)) / 40, box.y + box.height / 2);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(r)));
  result.chart10kHoverMsPerMove = Number(((Date.now() - h0) / 40).toFixed(1));
  check(result.chart10kRenderMs < 5000, `explore: 10,000-point series fetched and drawn in ${result.chart10kRenderMs} ms; ${result.chart10kHoverMsPerMove} ms per cursor move`);
  await page.selectOption('.toolbar select', '500');

  // ---- System --------------------------------------------------------------------------------
  await page.goto(`${base}/#/system`);
  await page.waitForFunction(() => /\d+\.\d+/.test(document.querySelector('[data-testid=version]')?.textContent ?? ''));
  await page.waitForSelector('[data-testid=components] li');
  check(true, 'system: version and components shown');

  // ---- Nothing was injected -------------------------------------------------------------------
  const injected = await page.evaluate(async () => {
    const scripts = [...document.scripts].filter((s) => !s.src.includes('/ui/')).length;
    return { scripts, imgs: document.querySelectorAll('img[src="x"]').length };
  });
  for (const path of ['#/alerts', '#/errors', '#/explore']) {
    await page.goto(`${base}/${path}`);
    await page.waitForTimeout(500);
    const n = await page.evaluate(() => document.querySelectorAll('img[src="x"], script:not([src])').length);
    check(n === 0, `${path}: no element injected from ingested data`);
  }
  check(injected.scripts === 0 && injected.imgs === 0, 'no injected script or img element');
  check(dialogs.length === 0, `no alert()/dialog fired (${dialogs.join(', ')})`);

  // ---- Contrast in both themes ---------------------------------------------------------------
  let worst = 99;
  for (const theme of ['dark', 'light']) {
    await page.evaluate((t) => localStorage.setItem('strix.theme', t), theme);
    for (const path of ['#/overview', '#/alerts', '#/checks', '#/system']) {
      await page.goto(`${base}/${path}`);
      await page.reload();
      await page.waitForSelector('main h1');
      await page.waitForTimeout(400);
      const c = await minContrast(page);
      worst = Math.min(worst, c.ratio);
      check(c.ratio >= 4.5, `contrast ${theme} ${path}: lowest ${c.ratio.toFixed(2)}:1 ("${c.text}" ${c.fg} on ${c.bg})`);
    }
  }
  result.minContrast = Number(worst.toFixed(2));

  // ---- Phone width -------------------------------------------------------------------------------
  await page.setViewportSize({ width: 360, height: 740 });
  for (const path of ['#/overview', '#/alerts', '#/errors', '#/checks', '#/explore', '#/system', '#/performance']) {
    await page.goto(`${base}/${path}`);
    await page.waitForSelector('main h1');
    await page.waitForTimeout(300);
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    check(w <= 360, `${path} fits 360 px (scrollWidth ${w})`);
  }

  // ---- API keys: a server that answers 401 gets a key from the operator ---------------------
  if (process.env.STRIX_AUTH_BASE && process.env.STRIX_AUTH_KEY) {
    const authBase = process.env.STRIX_AUTH_BASE.replace(/\/$/, '');
    const ctx3 = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const p3 = await ctx3.newPage();
    p3.setDefaultTimeout(TIMEOUT);
    const pageErrors = [];
    p3.on('pageerror', (e) => pageErrors.push(e.message));
    await p3.goto(`${authBase}/#/system`);
    await p3.waitForSelector('dialog[open] input[type=password]');
    check(true, 'auth: a 401 asks for an API key');
    await p3.fill('dialog input[type=password]', process.env.STRIX_AUTH_KEY);
    await p3.click('dialog button[type=submit]');
    await p3.waitForFunction(() => /\d+\.\d+/.test(document.querySelector('[data-testid=version]')?.textContent ?? ''));
    await p3.waitForSelector('[data-testid=live-mode]:has-text("live")');
    check(pageErrors.length === 0, 'auth: with the key the pages load and the event stream is live');
    await ctx3.close();
  }

  check(consoleErrors.length === 0, `no console errors (${consoleErrors.join(' | ')})`);
  result.pages = 7;
  console.log(`STRIX_BROWSER_RESULT ${JSON.stringify(result)}`);
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
