// The dashboard in Debian's Chromium (playwright-core) against the real `netwatch` binary.
// Run by tests/e2e/dashboard.sh, which builds the binary, the captures and the databases and
// passes them in the environment:
//   NW (binary), CFG (config: web.listen and token), TOKEN, PORT, DEMO (a capture with scans,
//   a flood, brute force, a DNS tunnel and a beacon), LIVEDB, BIGDB (10,001 alerts, the newest
//   with markup in its texts), EMPTY (a one-packet capture), SHOTS (screenshot directory).
import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';
import { checker, sleep, stopChild, until, watchdog } from './lib.js';

const E = process.env;
const BASE = `http://127.0.0.1:${E.PORT}`;
const { check, summary } = checker('dashboard-e2e');

/** `netwatch replay FILE --serve`; resolves once it answers /healthz. */
async function server(capture, db, speed) {
  const p = spawn(E.NW, ['replay', capture, '-c', E.CFG, '--serve', '--speed', String(speed), '--db', db], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  p.log = '';
  p.stderr.on('data', (d) => (p.log += d));
  const up = await until(async () => (await fetch(`${BASE}/healthz`)).ok, 15000);
  await sleep(200);
  // (Another server on the port would answer too: ours must still be running.)
  if (!up || p.exitCode !== null) throw new Error(`server did not start: ${p.log}`);
  return p;
}

async function stop(p) {
  check('the server exits on SIGTERM within 15 s', await stopChild(p, 15000));
}

async function restTotal(page) {
  return page.evaluate(async (t) => {
    let n = 0;
    const ids = new Set();
    let cursor = '';
    for (;;) {
      const r = await (await fetch(`/api/alerts?limit=500${cursor ? `&cursor=${cursor}` : ''}`, { headers: { Authorization: `Bearer ${t}` } })).json();
      for (const a of r.alerts) ids.add(a.id);
      n += r.alerts.length;
      if (!r.next) break;
      cursor = r.next;
    }
    return { n, unique: ids.size };
  }, E.TOKEN);
}

const text = (page, sel) => page.locator(sel).first().textContent();

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const errors = [];
let phase = 'start';
// Every wait below has its own deadline; this bounds the run as a whole (normally ~1 min).
watchdog('dashboard-e2e', 300000, () => phase);
let expectErrors = true; // 401s before the token is given, refused connections while down
const dialogs = [];
function watch(page) {
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const t = m.text();
    // The browser logs every failed request: the 422 of the invalid setting entered on purpose
    // is expected; 401s and refused connections only while no token is set or the server is down.
    const expected =
      /status of 422/.test(t) || (expectErrors && /401|Unauthorized|ERR_CONNECTION_REFUSED|WebSocket connection/.test(t));
    if (!expected) errors.push(`${t} [${m.location().url}] phase=${phase}`);
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
}

let s1;
try {
  // ---- A live replay ----------------------------------------------------------------------
  s1 = await server(E.DEMO, E.LIVEDB, 8);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await ctx.newPage();
  watch(page);
  await page.goto(`${BASE}/`);
  check('token prompt when the API answers 401', await until(() => page.locator('[role=dialog] input').isVisible(), 10000));
  await page.fill('[role=dialog] input', E.TOKEN);
  await page.click('[role=dialog] button');
  check('live after the token is given (kept for the next visit)', await until(async () => (await page.getAttribute('[role=status]', 'data-state')) === 'live', 15000));
  expectErrors = false;
  const uptime0 = await text(page, '[data-metric="Uptime"]');
  const metricsMove = await until(async () => {
    const pps = await text(page, '[data-metric="Packets/s"]');
    return pps !== '–' && (await text(page, '[data-metric="Uptime"]')) !== uptime0;
  }, 15000);
  check('metric cards update', metricsMove);
  check('traffic chart draws data', await until(async () => Number(await page.getAttribute('canvas.plot', 'data-points')) > 3, 20000));
  // The feed shows incidents by default: one row per attack, which expands to its alerts.
  const families = ['portscan', 'synflood', 'bruteforce', 'dns.tunnel', 'c2.beacon'];
  const incOk = await until(async () => {
    const seen = await page.locator('.row.inc .rule').allTextContents();
    return families.every((f) => seen.some((t) => t.endsWith(` ${f}`)));
  }, 30000);
  check('feed shows incidents by default: the scan, flood, brute force, tunnel and beacon', incOk && (await page.getAttribute('.rows', 'data-view')) === 'incidents');
  const ids = await page.locator('.row.inc').evaluateAll((els) => els.map((e) => e.dataset.incident));
  check('one row per incident', ids.length > 0 && new Set(ids).size === ids.length, ids.join(','));
  await page.locator('.row.inc', { hasText: 'portscan' }).first().click();
  const kids = await until(async () => (await page.locator('.row.child .rule').allTextContents()).some((t) => t.startsWith('portscan.')), 10000);
  check('an incident expands to its alerts', kids);
  await page.click('.views >> text=Alerts');
  const rules = ['portscan.vertical', 'portscan.horizontal', 'synflood', 'bruteforce', 'dns.tunnel', 'c2.beacon'];
  const allRules = await until(async () => {
    const seen = await page.locator('.row .rule').allTextContents();
    return rules.every((r) => seen.includes(r));
  }, 30000);
  check('feed shows the scan, flood, brute force, tunnel and beacon alerts', allRules);
  await page.locator('.row', { hasText: 'c2.beacon' }).first().click();
  const evidence = await until(async () => (await page.locator('.evidence th').allTextContents()).includes('chance_if_random'), 10000);
  check('detail pane shows the evidence, MITRE technique and Community ID', evidence && (await text(page, '.detail .mitre')) === 'T1071.001' && (await text(page, '.detail .mono')).startsWith('1:'));
  check('detail pane explains the alert in plain words', /contacts .* machine-like regularity.*Malware that waits for commands/.test(await text(page, '.detail .explanation')));
  check('detail pane names the devices beside the addresses', (await text(page, '.detail .parties')) === 'LAPTOP-7Q2M4 (laptop, HP, 04:0e:3c:9f:80:77) → 198.51.100.9', await text(page, '.detail .parties'));
  const attacker = page.locator('.node.attacker[data-host="192.168.1.66"]');
  check('attacker graph has the scanning host', await until(() => attacker.count(), 10000));
  await attacker.click();
  const filteredOk = await until(async () => {
    const hosts = await page.locator('.row .hosts').allTextContents();
    return hosts.length > 0 && hosts.every((h) => h.startsWith('192.168.1.66 '));
  }, 5000);
  check('clicking the attacker filters the feed to it', filteredOk);
  await page.click('text=clear host');
  await page.screenshot({ path: `${E.SHOTS}/overview.png`, fullPage: true });

  // Devices: the inventory the replay learnt (the demo capture's ARP senders), renamed in place.
  await page.click('nav >> text=Devices');
  const devRow = page.locator('.devices tbody tr').first();
  check('devices view lists the learnt devices', await until(() => devRow.isVisible(), 15000));
  // The demo household: thirteen devices, named by DHCP, mDNS and UPnP, with makers and kinds.
  const household = await until(async () => (await page.locator('.devices tbody tr').count()) === 13, 10000);
  const names = await page.locator('.devices tbody tr button.link').allTextContents();
  check('the demo household is listed by name (13 devices)', household && ['kitchen-pi', 'Chromecast', 'HPOJ9010', 'Galaxy-S23', 'TP-Link device'].every((n) => names.includes(n)), names.join(', '));
  const piAlerts = Number(await page.locator('tr[data-mac="dc:a6:32:12:34:56"] td.alerted').textContent().catch(() => '0'));
  const traffic = (await page.locator('.devices tbody td[title^="Bytes"]').allTextContents()).filter((t) => t !== '–');
  check("each device's day: the scanning Pi's alerts and the household's traffic", piAlerts >= 3 && traffic.length >= 3, `${piAlerts} alerts; traffic ${traffic.join(', ')}`);
  await page.screenshot({ path: `${E.SHOTS}/devices-view.png` });
  const mac = await devRow.getAttribute('data-mac');
  await devRow.locator('button.link').click();
  await devRow.locator('input').fill('Lab <b>router</b>');
  await devRow.locator('button[type=submit]').click();
  const renamed = await until(async () => {
    const r = await page.evaluate(async ([t, m]) => (await fetch(`/api/devices/${m}`, { headers: { Authorization: `Bearer ${t}` } })).json(), [E.TOKEN, mac]);
    return r.name === 'Lab <b>router</b>' && r.name_source === 'user';
  }, 10000);
  check('a device renamed in the view is labelled by the sensor (shown as text)', renamed && (await page.locator(`tr[data-mac="${mac}"] button.link`).textContent()) === 'Lab <b>router</b>' && (await page.locator('.devices b').count()) === 0);
  await page.screenshot({ path: `${E.SHOTS}/devices.png`, fullPage: true });
  await page.click('nav >> text=Overview');

  // Settings: a valid threshold is applied; an invalid one shows the server's error by its field.
  await page.click('nav >> text=Settings');
  const field = page.locator('input[name="rules.portscan.vertical_ports"]');
  await until(() => field.isVisible(), 10000);
  check('notifications: with no target the settings say how to add one, the test button is off', (await text(page, '.notify p')).startsWith('No target') && (await page.locator('.notify button').isDisabled()));
  expectErrors = true; // the browser logs the 422 it is about to get
  await field.fill('0');
  await page.locator('.field', { has: field }).locator('button').click();
  const err = await until(() => page.locator('[data-field="rules.portscan.vertical_ports"]').textContent(), 5000);
  check('invalid threshold: the server refuses it, the error stands by the field', err && err.includes('vertical_ports'), err);
  await field.fill('20');
  await page.locator('.field', { has: field }).locator('button').click();
  const applied = await until(async () => {
    const c = await page.evaluate(async (t) => (await fetch('/api/config', { headers: { Authorization: `Bearer ${t}` } })).json(), E.TOKEN);
    return c.rules.portscan.vertical_ports === 20 && s1.log.includes('reloaded thresholds');
  }, 10000);
  check('a threshold edited in settings takes effect (saved, reloaded by the sensor)', applied);
  await sleep(500);
  expectErrors = false;
  await page.screenshot({ path: `${E.SHOTS}/settings.png`, fullPage: true });
  await page.click('nav >> text=Overview');
  await until(() => s1.log.includes('replay finished'), 30000);
  await sleep(1500);
  const before = Number(await page.getAttribute('.rows', 'data-count'));

  phase = 'reconnect';
  // The server goes away: banner, last data dimmed; back: no duplicate rows, the gap filled.
  expectErrors = true;
  await stop(s1);
  s1 = null;
  check('server killed: the banner shows, the last data stays', await until(() => page.locator('.banner').isVisible(), 15000) && Number(await page.getAttribute('.rows', 'data-count')) === before);
  await page.screenshot({ path: `${E.SHOTS}/reconnecting.png` });
  s1 = await server(E.DEMO, E.LIVEDB, 1000);
  const back = await until(async () => (await page.getAttribute('[role=status]', 'data-state')) === 'live' && !(await page.locator('.banner').isVisible()), 40000);
  check('server back: live again, banner gone', back);
  await until(() => s1.log.includes('replay finished'), 30000);
  await sleep(2500);
  expectErrors = false;
  const after = Number(await page.getAttribute('.rows', 'data-count'));
  const rest = await restTotal(page);
  check('after reconnecting the feed holds every stored alert once (no duplicates, gap filled)', after === rest.n && rest.n === rest.unique && after > before, `feed ${after}, stored ${rest.n}, before ${before}`);
  await stop(s1);
  s1 = null;

  // ---- 10,001 stored alerts, the newest with markup in its texts ---------------------------
  expectErrors = true;
  s1 = await server(E.EMPTY, E.BIGDB, 1);
  const big = await ctx.newPage();
  watch(big);
  await big.goto(`${BASE}/`);
  const loaded = await until(async () => Number(await big.getAttribute('.rows', 'data-count')) >= 10000, 30000);
  expectErrors = false;
  const domRows = await big.locator('.row').count();
  check('10,000 alerts: the feed keeps only the visible rows in the DOM', loaded && domRows < 60, `${domRows} rows`);
  await big.locator('.rows').evaluate((el) => (el.scrollTop = el.scrollHeight / 2));
  await sleep(300);
  const midRows = await big.locator('.row').count();
  check('scrolled to the middle: still only the visible rows', midRows < 60 && midRows > 5, `${midRows} rows`);
  await big.locator('.rows').evaluate((el) => (el.scrollTop = 0));
  await sleep(200);
  await big.locator('.row').first().click();
  const shown = await until(() => big.locator('.summary-text').textContent(), 10000);
  const imgs = await big.locator('img').count();
  check('markup from the wire is shown as text and runs nothing', shown && shown.includes('<img src=x onerror=alert(1)>') && imgs === 0 && dialogs.length === 0, `${imgs} img, dialogs ${dialogs}`);
  check('evidence with markup shown as text', (await big.locator('.evidence td').allTextContents()).some((t) => t.includes('<img src=x onerror=alert(1)>')));
  const expl = await text(big, '.detail .explanation');
  const llm = await text(big, '.detail .enrichment p');
  const parties = await text(big, '.detail .parties');
  const feedHosts = await big.locator('.row .hosts').first().textContent();
  check("a device's name with markup shown as text in the feed and the detail", parties.startsWith('<img src=x onerror=alert(1)> (iot, Raspberry Pi') && feedHosts.includes('(<img src=x onerror=alert(1)>)') && (await big.locator('img').count()) === 0, `${parties} / ${feedHosts}`);
  check('explanation and language-model reply with markup shown as text', expl.includes('<img src=x onerror=alert(1)>') && llm.includes('<script>alert(2)</script>') && (await big.locator('img, .detail script').count()) === 0 && dialogs.length === 0, `${expl} / ${llm}`);

  phase = 'phone';
  // ---- a phone ---------------------------------------------------------------------------
  const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, deviceScaleFactor: 2 });
  await phone.addInitScript((t) => localStorage.setItem('netwatch.token', t), E.TOKEN);
  const pp = await phone.newPage();
  watch(pp);
  await pp.goto(`${BASE}/`);
  await until(async () => Number(await pp.getAttribute('.rows', 'data-count')) > 0, 20000);
  const width = await pp.evaluate(() => document.documentElement.scrollWidth);
  check('phone width (360 px): no horizontal scroll', width <= 360, `scrollWidth ${width}`);
  await pp.screenshot({ path: `${E.SHOTS}/phone.png`, fullPage: true });
  check('no console errors', errors.length === 0, errors.join(' | '));
} catch (e) {
  check('run', false, e.stack || String(e));
} finally {
  if (s1) await stop(s1);
  await browser.close();
}
process.exit(summary() ? 1 : 0);
