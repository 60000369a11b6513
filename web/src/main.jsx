import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, stream } from './api.js';
import * as S from './store.js';
import { MetricCards } from './components/MetricCards.jsx';
import { TrafficChart } from './components/TrafficChart.jsx';
import { AlertFeed } from './components/AlertFeed.jsx';
import { AlertDetail } from './components/AlertDetail.jsx';
import { Flows } from './components/Flows.jsx';
import { AttackerGraph } from './components/AttackerGraph.jsx';
import { Settings } from './components/Settings.jsx';
import { Devices } from './components/Devices.jsx';
import { Blocks } from './components/Blocks.jsx';
import { TokenPrompt } from './components/TokenPrompt.jsx';
import './style.css';

/**
 * Alerts from REST, newest first, page by page: everything up to 10,000 at the start; after a
 * reconnect, until a page reaches alerts we already have (the gap). Ids keep duplicates out.
 */
async function fillGap(initial) {
  let cursor = '';
  for (let page = 0; page < 20; page++) {
    const r = await api(`/api/alerts?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
    const list = r.alerts || [];
    const reached = !initial && list.some((a) => S.get().byId.has(a.id));
    S.addAlerts(list);
    if (reached || !r.next) break;
    cursor = r.next;
  }
}

/** Incidents from REST, newest sighting first (the newest 1,000). */
async function loadIncidents() {
  let cursor = '';
  for (let page = 0; page < 2; page++) {
    const r = await api(`/api/incidents?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
    S.addIncidents(r.incidents || []);
    if (!r.next) break;
    cursor = r.next;
  }
}

function connState(c) {
  const all = [c.alerts, c.incidents, c.stats, c.flows];
  if (all.every((x) => x === 'live')) return 'live';
  if (all.some((x) => x === 'offline')) return 'offline';
  return 'reconnecting';
}

function start() {
  fillGap(true).catch(() => {});
  loadIncidents().catch(() => {});
  const on = (name) => (state, resumed) => {
    S.set({ conn: { ...S.get().conn, [name]: state } });
    if (name === 'alerts' && resumed) fillGap(false).catch(() => {});
    if (name === 'incidents' && resumed) loadIncidents().catch(() => {});
  };
  stream(
    '/ws/alerts',
    (m) => {
      if (m.type === 'alert') S.addAlerts([m.alert], { live: true });
      else if (m.type === 'update') S.updateAlert(m);
    },
    on('alerts'),
  );
  stream(
    '/ws/incidents',
    (m) => {
      if (m.type === 'incident') S.addIncidents([m.incident]);
    },
    on('incidents'),
  );
  stream('/ws/stats', (m) => S.addStats(m), on('stats'));
  stream('/ws/flows', (m) => S.set({ flows: m.flows || [] }), on('flows'));
}

function App() {
  const s = S.useStore();
  const [tab, setTab] = useState('overview');
  const conn = connState(s.conn);
  useEffect(start, []);
  return (
    <div class={conn === 'live' ? 'app' : 'app stale'}>
      <header class="top">
        <h1>NetWatch</h1>
        <span class={`conn ${conn}`} role="status" data-state={conn}>
          {conn}
        </span>
        <nav>
          <button class={tab === 'overview' ? 'on' : ''} onClick={() => setTab('overview')}>
            Overview
          </button>
          <button class={tab === 'devices' ? 'on' : ''} onClick={() => setTab('devices')}>
            Devices
          </button>
          <button class={tab === 'blocks' ? 'on' : ''} onClick={() => setTab('blocks')}>
            Blocks
          </button>
          <button class={tab === 'settings' ? 'on' : ''} onClick={() => setTab('settings')}>
            Settings
          </button>
        </nav>
      </header>
      {conn !== 'live' && (
        <div class="banner" role="alert">
          {conn === 'offline' ? 'Offline: the sensor does not answer.' : 'Reconnecting…'} The figures below are the last ones received.
        </div>
      )}
      {s.needToken && <TokenPrompt />}
      {tab === 'settings' ? (
        <Settings />
      ) : tab === 'blocks' ? (
        <main>
          <Blocks />
        </main>
      ) : tab === 'devices' ? (
        <main>
          <Devices />
        </main>
      ) : (
        <main>
          <MetricCards stats={s.stats} alertsPerMin={s.alertTimes.length} />
          <TrafficChart live={s.live} />
          <div class="split">
            <AlertFeed s={s} />
            <AlertDetail id={s.selected} known={s.byId.get(s.selected)} />
          </div>
          <div class="split">
            <AttackerGraph alerts={s.alerts} />
            <Flows flows={s.flows} />
          </div>
        </main>
      )}
    </div>
  );
}

render(<App />, document.getElementById('app'));
