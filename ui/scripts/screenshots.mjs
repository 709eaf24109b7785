// Screenshots of the dashboard's pages for the README:
// `node ui/scripts/screenshots.mjs <base-url> <out-dir>` (scripts/screenshots.sh starts a
// Strix with demo data and runs this). Uses Debian's chromium (CHROMIUM to override).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const base = (process.argv[2] ?? '').replace(/\/$/, '');
const out = process.argv[3] ?? 'docs/screenshots';
if (!base) {
  console.error('usage: node ui/scripts/screenshots.mjs <base-url> <out-dir>');
  process.exit(2);
}
mkdirSync(out, { recursive: true });

const SHOTS = [
  { name: 'overview-dark', path: '#/overview', theme: 'dark', wait: '[data-testid=kpi]' },
  { name: 'overview-light', path: '#/overview', theme: 'light', wait: '[data-testid=kpi]' },
  { name: 'performance', path: '#/performance', theme: 'dark', wait: '.chart-grid .card:nth-child(5) canvas' },
  { name: 'alerts', path: '#/alerts', theme: 'dark', wait: '[data-testid=alerts-table] tbody tr' },
  { name: 'errors', path: '#/errors', theme: 'dark', wait: '[data-testid=issues-table] tbody tr' },
  { name: 'checks', path: '#/checks', theme: 'dark', wait: '[data-testid=checks-table] tbody tr' },
  { name: 'explore', path: '#/explore', theme: 'dark', wait: '.chart canvas' },
  { name: 'system', path: '#/system', theme: 'dark', wait: '[data-testid=components] li' },
];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  page.setDefaultTimeout(20000);
  await page.goto(`${base}/`);
  await page.evaluate(() => {
    localStorage.setItem('strix.perf.range', '900');
    localStorage.setItem('strix.explore.expr', JSON.stringify('demo_queue_depth'));
    localStorage.setItem('strix.explore.range', '3600');
  });
  for (const s of SHOTS) {
    await page.evaluate((t) => localStorage.setItem('strix.theme', t), s.theme);
    await page.goto(`${base}/${s.path}`);
    await page.reload();
    await page.waitForSelector(s.wait);
    await page.waitForLoadState('networkidle').catch(() => {});
    await page.waitForTimeout(800);
    const file = join(out, `${s.name}.png`);
    await page.screenshot({ path: file, fullPage: false });
    console.log(file);
  }
} finally {
  await browser.close();
}
