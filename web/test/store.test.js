import { beforeEach, describe, expect, test } from 'vitest';
import * as S from '../src/store.js';
import { graphOf } from '../src/components/AttackerGraph.jsx';
import { visibleRange, ROW_HEIGHT } from '../src/components/AlertFeed.jsx';
import { mergeRows, rowsOf } from '../src/components/TrafficChart.jsx';
import { patchFor } from '../src/components/Settings.jsx';

const alert = (id, ts, rule = 'synflood', src = '10.0.0.1', dst = '10.0.0.2', severity = 1) => ({
  id, ts, rule, src, dst, severity, summary: '',
});

describe('store', () => {
  beforeEach(() => S.reset());
  test('alerts merge by id, newest first, whatever order they arrive in', () => {
    S.addAlerts([alert(2, 200), alert(1, 100)]);
    S.addAlerts([alert(3, 300)], { live: true });
    S.addAlerts([alert(2, 200), alert(3, 300), alert(4, 300)]);
    expect(S.get().alerts.map((a) => a.id)).toEqual([4, 3, 2, 1]);
    expect(S.newestTs()).toBe(300);
    expect(S.get().alertTimes.length).toBe(1);
  });
  test('bounded: at most MAX_ALERTS, the oldest go', () => {
    const many = [];
    for (let i = 1; i <= S.MAX_ALERTS + 50; i++) many.push(alert(i, i));
    S.addAlerts(many);
    expect(S.get().alerts.length).toBe(S.MAX_ALERTS);
    expect(S.get().alerts.at(-1).id).toBe(51);
    expect(S.get().byId.has(50)).toBe(false);
  });
  test('filters', () => {
    const list = [alert(1, 1, 'synflood'), alert(2, 2, 'bruteforce', '10.9.9.9'), alert(3, 3, 'c2.beacon', '10.0.0.1', '8.8.8.8', 3)];
    expect(S.filtered(list, { rule: 'bruteforce' }).map((a) => a.id)).toEqual([2]);
    expect(S.filtered(list, { src: '10.0.0.1' }).map((a) => a.id)).toEqual([1, 3]);
    expect(S.filtered(list, { dst: '8.8.8.8' }).map((a) => a.id)).toEqual([3]);
    expect(S.filtered(list, { severity: '1' }).map((a) => a.id)).toEqual([1, 2]);
  });
  test('stats keep a live tail of seconds, in order, without repeats', () => {
    S.addStats({ last: { t: 10, tcp: 1 } });
    S.addStats({ last: { t: 10, tcp: 1 } });
    S.addStats({ last: { t: 11, tcp: 2 } });
    S.addStats({ pps: 3 });
    expect(S.get().live.map((r) => r.t)).toEqual([10, 11]);
    expect(S.get().stats.pps).toBe(3);
  });
});

describe('views', () => {
  test('virtualized feed renders only the visible rows', () => {
    const [a, b] = visibleRange(0, 360, 10000);
    expect(a).toBe(0);
    expect(b).toBeLessThan(40);
    const [c, d] = visibleRange(5000 * ROW_HEIGHT, 360, 10000);
    expect(c).toBeGreaterThan(4980);
    expect(d - c).toBeLessThan(40);
    expect(visibleRange(0, 360, 3)).toEqual([0, 3]);
  });
  test('attacker graph: nodes by alert count, edges per rule, time range', () => {
    const list = [
      alert(3, 3e6, 'synflood', 'a', 'v'),
      alert(2, 2e6, 'bruteforce', 'a', 'v'),
      alert(1, 1e6, 'synflood', 'b', 'w'),
      alert(0, 1e6, 'sensor.health', '0.0.0.0', '0.0.0.0'),
    ];
    const g = graphOf(list, 10, 3e6);
    expect(g.attackers).toEqual([['a', 2], ['b', 1]]);
    expect(g.victims).toEqual([['v', 2], ['w', 1]]);
    expect(g.edges.length).toBe(3);
    expect(graphOf(list, 1.5, 3e6).attackers).toEqual([['a', 2]]);
  });
  test('attacker graph: a node is called by the device the sensor knows there', () => {
    const named = { ...alert(3, 3e6, 'synflood', 'a', 'v'), src_device: { name: 'kitchen-pi', vendor: 'Raspberry Pi' }, dst_device: { name: '', vendor: 'Synology' } };
    const g = graphOf([named, alert(2, 2e6, 'synflood', 'b', 'v')], 10, 3e6);
    expect(g.names.get('a')).toBe('kitchen-pi');
    expect(g.names.get('v')).toBe('Synology device');
    expect(g.names.has('b')).toBe(false);
  });
  test('chart rows from history columns, merged with the live tail by time', () => {
    const h = { t: [1, 2], tcp: [5, 6], udp: [0, 1], icmp: [0, 0], other: [0, 0] };
    const rows = rowsOf(h);
    expect(rows[1]).toEqual({ t: 2, tcp: 6, udp: 1, icmp: 0, other: 0 });
    const m = mergeRows(rows, [{ t: 2, tcp: 7, udp: 1, icmp: 0, other: 0 }, { t: 3, tcp: 1, udp: 0, icmp: 0, other: 0 }]);
    expect(m.map((r) => r.t)).toEqual([1, 2, 3]);
    expect(m[1].tcp).toBe(7);
    expect(rowsOf(null)).toEqual([]);
  });
  test('settings build a typed PATCH body', () => {
    expect(patchFor('rules.portscan.vertical_ports', ' 30 ', 12)).toEqual({ rules: { portscan: { vertical_ports: 30 } } });
    expect(patchFor('rules.portscan.vertical_ports', 'x', 12)).toBe(null);
    expect(patchFor('rules.portscan.allow_src', '10.0.0.1/32, 10.0.0.2/32', [])).toEqual({
      rules: { portscan: { allow_src: ['10.0.0.1/32', '10.0.0.2/32'] } },
    });
    expect(patchFor('alerts.suppress_s', '120', 60)).toEqual({ alerts: { suppress_s: 120 } });
  });
});

describe('language-model updates', () => {
  beforeEach(() => S.reset());
  test('an update adds the reply to the alert it names, as text', () => {
    S.addAlerts([alert(1, 100), alert(2, 200)]);
    S.updateAlert({ type: 'update', id: 1, enrichment: '<img src=x onerror=alert(1)> hi' });
    expect(S.get().byId.get(1).enrichment).toBe('<img src=x onerror=alert(1)> hi');
    expect(S.get().alerts.find((a) => a.id === 1).enrichment).toBe('<img src=x onerror=alert(1)> hi');
    expect(S.get().byId.get(2).enrichment).toBeUndefined();
  });
  test('a reply that comes before its alert waits for it; a reload keeps it', () => {
    S.updateAlert({ type: 'update', id: 7, enrichment: 'early' });
    expect(S.get().byId.has(7)).toBe(false);
    S.addAlerts([alert(7, 700)]);
    expect(S.get().byId.get(7).enrichment).toBe('early');
    // The same alert again from REST (without the field yet): the reply stays.
    S.addAlerts([alert(7, 700)]);
    expect(S.get().byId.get(7).enrichment).toBe('early');
  });
  test('malformed updates are ignored; waiting replies are bounded', () => {
    S.updateAlert({ type: 'update', id: '1', enrichment: 'x' });
    S.updateAlert({ type: 'update', id: 1, enrichment: 5 });
    S.updateAlert(null);
    for (let i = 0; i < 500; i++) S.updateAlert({ type: 'update', id: 1000 + i, enrichment: 'x' });
    expect(S.get().early.size).toBe(200);
  });
});

describe('incidents', () => {
  beforeEach(() => S.reset());
  const inc = (id, last_seen, events, rule = 'portscan', src = '10.0.0.9') => ({
    id, last_seen, events, alerts: 1, rule, src, dst: '10.0.0.5', severity: 2, state: 'active', summary: '', victims: 1,
  });
  test('merge by id, newest sighting first; an older state never replaces a newer one', () => {
    S.addIncidents([inc(1, 100, 5), inc(2, 50, 1)]);
    S.addIncidents([inc(1, 90, 3)]);
    expect(S.get().incidents.map((i) => [i.id, i.events])).toEqual([[1, 5], [2, 1]]);
    S.addIncidents([inc(2, 200, 2)]);
    expect(S.get().incidents.map((i) => i.id)).toEqual([2, 1]);
  });
  test('the feed shows incidents, an expanded one followed by its alerts; or every alert', () => {
    S.addIncidents([inc(1, 100, 5), inc(2, 50, 1, 'bruteforce', '10.0.0.8')]);
    S.addAlerts([
      { ...alert(10, 90, 'portscan.vertical', '10.0.0.9'), incident_id: 1 },
      { ...alert(11, 95, 'portscan.horizontal', '10.0.0.9'), incident_id: 1 },
      { ...alert(12, 50, 'bruteforce', '10.0.0.8'), incident_id: 2 },
    ]);
    const s = S.get();
    s.filter = { rule: '', severity: '', src: '', dst: '' };
    expect(S.feedRows(s).map((r) => (r.inc ? `i${r.inc.id}` : r.a.id))).toEqual(['i1', 'i2']);
    S.toggle(1);
    expect(S.feedRows(S.get()).map((r) => (r.inc ? `i${r.inc.id}` : r.a.id))).toEqual(['i1', 11, 10, 'i2']);
    S.toggle(1);
    expect(S.feedRows(S.get()).length).toBe(2);
    // A rule name selects its family's incidents.
    S.get().filter = { rule: 'portscan.horizontal', severity: '', src: '', dst: '' };
    expect(S.feedRows(S.get()).map((r) => r.inc.id)).toEqual([1]);
    S.get().filter = { rule: '', severity: '', src: '10.0.0.8', dst: '' };
    expect(S.feedRows(S.get()).map((r) => r.inc.id)).toEqual([2]);
    S.get().feedView = 'alerts';
    S.get().filter = { rule: '', severity: '', src: '', dst: '' };
    expect(S.feedRows(S.get()).map((r) => r.a.id)).toEqual([11, 10, 12]);
  });
});
