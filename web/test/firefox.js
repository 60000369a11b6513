// The dashboard in Debian's Firefox ESR (puppeteer-core over WebDriver BiDi; nothing is
// downloaded) against a running `netwatch replay --serve`: it connects with the token, shows
// alerts and metrics, draws the chart, logs no errors, and fits a 360 px screen.
// Env: PORT, TOKEN (set by tests/e2e/dashboard.sh, which runs this after e2e.js).
import puppeteer from 'puppeteer-core';
import { checker, sleep, until, watchdog } from './lib.js';

const E = process.env;
const BASE = `http://127.0.0.1:${E.PORT}`;
const { check, summary } = checker('dashboard-firefox');
let phase = 'launch';
// Every wait below has its own deadline; this bounds the run as a whole (normally ~20 s).
watchdog('dashboard-firefox', 180000, () => phase);

const browser = await puppeteer.launch({
  browser: 'firefox',
  executablePath: '/usr/bin/firefox-esr',
  headless: true,
  args: ['--headless'],
});
try {
  phase = 'page';
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.setViewport({ width: 1280, height: 900 });
  await page.goto(`${BASE}/healthz`);
  await page.evaluate((t) => localStorage.setItem('netwatch.token', t), E.TOKEN);
  await page.goto(`${BASE}/`);
  const live = await until(async () => (await page.$eval('[role=status]', (e) => e.dataset.state)) === 'live');
  check('Firefox: live with the token', live);
  check(
    'Firefox: the feed shows alerts',
    await until(async () => Number(await page.$eval('.rows', (e) => e.dataset.count)) > 0),
  );
  check(
    'Firefox: metrics and chart',
    await until(
      async () =>
        (await page.$eval('[data-metric="Memory"]', (e) => e.textContent)) !== '–' &&
        Number(await page.$eval('canvas.plot', (e) => e.dataset.points || 0)) > 0,
    ),
  );
  await page.setViewport({ width: 360, height: 740 });
  await sleep(500);
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  check('Firefox: 360 px without horizontal scroll', w <= 360, `scrollWidth ${w}`);
  check('Firefox: no errors', errors.length === 0, errors.join(' | '));
} catch (e) {
  check('run', false, e.stack || String(e));
} finally {
  await browser.close();
}
process.exit(summary() ? 1 : 0);
