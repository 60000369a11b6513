// The dashboard's blocking in Debian's Chromium against a real daemon with real nftables: run by
// tests/e2e/block.sh inside the router's namespace while an address is blocked. Environment:
// BASE (the daemon's web address), TOKEN, BLOCKED (an address blocked now), ALERT_SRC (the
// source of a stored alert whose block the guard rails refuse: the LAN, block_lan off), SHOT.
import { chromium } from 'playwright-core';
import { checker, until, watchdog } from './lib.js';

const E = process.env;
const { check, summary } = checker('blocks-e2e');
let phase = 'start';
watchdog('blocks-e2e', 120000, () => phase);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on('console', (m) => m.type() === 'error' && !/status of 40[49]/.test(m.text()) && errors.push(m.text()));
  await page.addInitScript((t) => localStorage.setItem('netwatch.token', t), E.TOKEN);
  await page.goto(E.BASE);
  phase = 'blocks view';
  await page.getByRole('button', { name: 'Blocks' }).click();
  const row = page.locator(`.blocks tr[data-addr="${E.BLOCKED}"]`);
  check('the Blocks view lists the blocked address with its reason and time left', await until(() => row.isVisible(), 15000) && /\d+ (s|min)/.test(await row.locator('td.num').textContent()));
  if (E.SHOT) await page.screenshot({ path: E.SHOT, fullPage: true });
  phase = 'unblock';
  await row.getByRole('button', { name: 'Unblock' }).click();
  check('Unblock lifts it: the sensor answers and the row goes', await until(async () => (await row.count()) === 0, 15000));
  const gone = await until(() => page.locator('.blocks li[data-action="unblock"]').count(), 10000);
  check('the unblock is in the latest events', gone > 0);
  phase = 'block from an alert';
  await page.getByRole('button', { name: 'Overview' }).click();
  await page.getByRole('group', { name: 'feed' }).getByRole('button', { name: 'Alerts' }).click();
  const alert = page.locator('.rows .row[data-id]', { hasText: E.ALERT_SRC }).first();
  await until(() => alert.isVisible(), 15000);
  await alert.click();
  const detailBtn = page.locator('.detail .block button');
  const shown = await until(() => detailBtn.isVisible(), 10000);
  check('an alert\'s detail offers "Block for 1 h" (suggest/block mode)', shown && /Block .* for 1 h/.test(await detailBtn.textContent()));
  if (shown) {
    await detailBtn.click();
    const said = await until(async () => {
      const t = await page.locator('.detail .block .said').textContent();
      return t && t !== 'Blocking…' && t;
    }, 15000);
    check('the guard rails\' answer is shown: a LAN host is not blocked, with the reason', /Not blocked: .*block_lan/.test(said || ''), said);
  }
  check('no console errors', errors.length === 0, errors.join(' | '));
} catch (e) {
  check(`run (phase ${phase})`, false, e.stack || String(e));
} finally {
  await browser.close();
}
process.exit(summary() ? 1 : 0);
