// The one store of the dashboard: fed by the WebSockets and REST, read by every view.
// Alerts are kept by id (no duplicates, whatever order REST pages and the live feed bring
// them in), newest first, at most MAX_ALERTS.
import { useEffect, useState } from 'preact/hooks';

export const MAX_ALERTS = 10000;
/** Incidents kept, newest sighting first. */
export const MAX_INCIDENTS = 2000;
/** Seconds of per-second traffic kept for the live chart. */
export const LIVE_SECONDS = 300;

const state = {
  conn: { alerts: 'reconnecting', incidents: 'reconnecting', stats: 'reconnecting', flows: 'reconnecting' },
  stats: null,
  flows: [],
  alerts: [],
  byId: new Map(),
  incidents: [],
  incById: new Map(),
  // The feed shows incidents (expand one for its alerts) or every alert.
  feedView: savedView(),
  expanded: new Set(),
  selected: null,
  filter: { rule: '', severity: '', src: '', dst: '' },
  needToken: false,
  live: [], // newest 1 s windows from /ws/stats: {t, tcp, udp, icmp, other, bytes}
  alertTimes: [], // ts (µs) of alerts received live, for alerts/min
  early: new Map(), // language-model replies for alerts not loaded yet (id → text)
};
const subs = new Set();

function savedView() {
  try {
    return localStorage.getItem('netwatch.feed') === 'alerts' ? 'alerts' : 'incidents';
  } catch {
    return 'incidents';
  }
}

/** Show incidents or alerts in the feed (kept for the next visit). */
export function setView(v) {
  try {
    localStorage.setItem('netwatch.feed', v);
  } catch {
    /* private mode */
  }
  set({ feedView: v });
}

/** Expand or fold an incident's alerts in the feed. */
export function toggle(id) {
  const e = new Set(state.expanded);
  if (e.has(id)) e.delete(id);
  else e.add(id);
  set({ expanded: e });
}

/** Merge incidents (REST pages, the feed): the newer state of an id replaces the older. */
export function addIncidents(list) {
  for (const i of list) {
    if (!i || typeof i.id !== 'number') continue;
    const old = state.incById.get(i.id);
    if (old && old.events > i.events) continue;
    state.incById.set(i.id, i);
  }
  let all = [...state.incById.values()].sort((a, b) => b.last_seen - a.last_seen || b.id - a.id);
  if (all.length > MAX_INCIDENTS) {
    for (const i of all.slice(MAX_INCIDENTS)) state.incById.delete(i.id);
    all = all.slice(0, MAX_INCIDENTS);
  }
  set({ incidents: all });
}

/** Incidents that pass the feed's filters (a rule selects its family). */
export function filteredIncidents(list, f) {
  return list.filter(
    (i) =>
      (!f.rule || i.rule === f.rule || f.rule.startsWith(`${i.rule}.`)) &&
      (!f.severity || i.severity <= Number(f.severity)) &&
      (!f.src || i.src === f.src) &&
      (!f.dst || i.dst === f.dst),
  );
}

/** The feed's rows: incidents, each followed by its loaded alerts when expanded. */
export function feedRows(s) {
  if (s.feedView === 'alerts') return filtered(s.alerts, s.filter).map((a) => ({ a }));
  const rows = [];
  for (const inc of filteredIncidents(s.incidents, s.filter)) {
    rows.push({ inc });
    if (s.expanded.has(inc.id)) {
      for (const a of s.alerts) if (a.incident_id === inc.id) rows.push({ a, child: true });
    }
  }
  return rows;
}

export function get() {
  return state;
}

export function set(patch) {
  Object.assign(state, patch);
  for (const f of subs) f();
}

export function subscribe(f) {
  subs.add(f);
  return () => subs.delete(f);
}

/** Re-render when the store changes; returns the state. */
export function useStore() {
  const [, tick] = useState(0);
  useEffect(() => subscribe(() => tick((n) => n + 1)), []);
  return state;
}

function newer(a, b) {
  return a.ts !== b.ts ? b.ts - a.ts : b.id - a.id;
}

/** Merge alerts (from REST or the feed); duplicates by id are replaced, not repeated. */
export function addAlerts(list, { live = false } = {}) {
  let changed = false;
  for (let a of list) {
    if (!a || typeof a.id !== 'number') continue;
    if (!state.byId.has(a.id)) changed = true;
    const text = state.early.get(a.id) ?? state.byId.get(a.id)?.enrichment;
    if (text && !a.enrichment) a = { ...a, enrichment: text };
    state.early.delete(a.id);
    state.byId.set(a.id, a);
    if (live) state.alertTimes.push(Date.now());
  }
  if (!changed && list.length === 0) return;
  let all = [...state.byId.values()].sort(newer);
  if (all.length > MAX_ALERTS) {
    for (const a of all.slice(MAX_ALERTS)) state.byId.delete(a.id);
    all = all.slice(0, MAX_ALERTS);
  }
  const cutoff = Date.now() - 60000;
  state.alertTimes = state.alertTimes.filter((t) => t >= cutoff);
  set({ alerts: all });
}

/** A language model's reply for alert `id` (a `/ws/alerts` update): kept as text. */
export function updateAlert(m) {
  if (!m || typeof m.id !== 'number' || typeof m.enrichment !== 'string') return;
  const a = state.byId.get(m.id);
  if (!a) {
    state.early.set(m.id, m.enrichment);
    // Bounded: replies for alerts this page never loads are forgotten, oldest first.
    if (state.early.size > 200) state.early.delete(state.early.keys().next().value);
    return;
  }
  const b = { ...a, enrichment: m.enrichment };
  state.byId.set(m.id, b);
  set({ alerts: state.alerts.map((x) => (x.id === m.id ? b : x)) });
}

/** The newest alert's time (µs), for filling a gap after a reconnect. */
export function newestTs() {
  return state.alerts.length ? state.alerts[0].ts : null;
}

/** A stats message: keep it, and its newest second for the live chart. */
export function addStats(s) {
  let live = state.live;
  if (s && s.last && (!live.length || s.last.t > live[live.length - 1].t)) {
    live = live.concat([s.last]).slice(-LIVE_SECONDS);
  }
  set({ stats: s, live });
}

/** Alerts that pass the feed's filters. */
export function filtered(alerts, f) {
  return alerts.filter(
    (a) =>
      (!f.rule || a.rule === f.rule) &&
      (!f.severity || a.severity <= Number(f.severity)) &&
      (!f.src || a.src === f.src) &&
      (!f.dst || a.dst === f.dst),
  );
}

/** Tests only: back to the empty state. */
export function reset() {
  state.byId = new Map();
  state.incById = new Map();
  state.incidents = [];
  state.expanded = new Set();
  state.feedView = 'incidents';
  state.early = new Map();
  state.alerts = [];
  state.alertTimes = [];
  state.live = [];
  state.stats = null;
}
