import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { addAlerts, feedRows, set, setView as setFeed, toggle } from '../store.js';
import { fmtTime, RULES, ruleColor, SEVERITY } from '../format.js';

/** " (kitchen-pi)": the device the sensor knows at an address, as text; nothing if none. */
function party(d) {
  const name = d && (d.name || (d.vendor && `${d.vendor} device`));
  return name ? ` (${name})` : '';
}

export const ROW_HEIGHT = 30;
/** Rows rendered beyond the visible ones, above and below. */
const OVERSCAN = 8;

/** The rows a scroll position shows: [first, last) indices. */
export function visibleRange(scrollTop, viewHeight, count) {
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(count, Math.ceil((scrollTop + viewHeight) / ROW_HEIGHT) + OVERSCAN);
  return [first, last];
}

/** An incident's alerts, from the store (the feed has only the newest). */
function loadIncident(id) {
  api(`/api/incidents/${id}`)
    .then((r) => addAlerts(r.alerts || []))
    .catch(() => {});
}

function IncidentRow({ inc, top, open }) {
  const others = inc.victims > 1 ? ` +${inc.victims - 1}` : '';
  return (
    <div
      class={`row inc ${inc.state}`}
      style={{ top: `${top}px` }}
      data-incident={inc.id}
      aria-expanded={open}
      onClick={() => {
        if (!open) loadIncident(inc.id);
        toggle(inc.id);
      }}
    >
      <span class="time">{fmtTime(inc.last_seen)}</span>
      <span class={`sev s${inc.severity}`}>{SEVERITY[inc.severity] || inc.severity}</span>
      <span class="rule" style={{ color: ruleColor(inc.rule) }}>
        {open ? '▾ ' : '▸ '}
        {inc.rule}
      </span>
      <span class="hosts">
        {inc.src} → {inc.dst}
        {others}
      </span>
      <span class="summary">
        <span class={`state ${inc.state}`}>{inc.state}</span> {inc.alerts} alert{inc.alerts === 1 ? '' : 's'}
        {inc.events > inc.alerts ? `, ${inc.events} sightings` : ''} · {inc.summary}
      </span>
    </div>
  );
}

/** The live feed, incidents (expandable) or alerts: only the visible rows are in the DOM. */
export function AlertFeed({ s }) {
  const { filter, selected } = s;
  const box = useRef(null);
  const [view, setView] = useState({ top: 0, height: 400 });
  const list = feedRows(s);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const update = () => setView({ top: el.scrollTop, height: el.clientHeight });
    update();
    el.addEventListener('scroll', update, { passive: true });
    window.addEventListener('resize', update);
    return () => {
      el.removeEventListener('scroll', update);
      window.removeEventListener('resize', update);
    };
  }, []);
  const [first, last] = visibleRange(view.top, view.height, list.length);
  const setFilter = (k) => (e) => set({ filter: { ...filter, [k]: e.currentTarget.value.trim() } });
  const incidents = s.feedView !== 'alerts';
  const shown = incidents ? list.filter((r) => r.inc).length : list.length;
  return (
    <section class="panel feed">
      <header>
        <h2>
          {incidents ? 'Incidents' : 'Alerts'} <span class="muted">{shown}</span>
        </h2>
        <div class="views" role="group" aria-label="feed">
          <button class={incidents ? 'on' : ''} onClick={() => setFeed('incidents')}>
            Incidents
          </button>
          <button class={incidents ? '' : 'on'} onClick={() => setFeed('alerts')}>
            Alerts
          </button>
        </div>
        <div class="filters">
          <select aria-label="rule" value={filter.rule} onChange={setFilter('rule')}>
            <option value="">all rules</option>
            {RULES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
          <select aria-label="severity" value={filter.severity} onChange={setFilter('severity')}>
            <option value="">any severity</option>
            <option value="1">high</option>
            <option value="2">medium or high</option>
          </select>
          <input aria-label="source" placeholder="source IP" value={filter.src} onChange={setFilter('src')} />
          {(filter.src || filter.dst) && (
            <button onClick={() => set({ filter: { ...filter, src: '', dst: '' } })}>
              clear host
            </button>
          )}
        </div>
      </header>
      <div class="rows" ref={box} data-count={shown} data-view={incidents ? 'incidents' : 'alerts'}>
        <div style={{ height: `${list.length * ROW_HEIGHT}px`, position: 'relative' }}>
          {list.slice(first, last).map((r, i) => {
            const top = (first + i) * ROW_HEIGHT;
            if (r.inc) return <IncidentRow key={`i${r.inc.id}`} inc={r.inc} top={top} open={s.expanded.has(r.inc.id)} />;
            const a = r.a;
            return (
              <div
                key={a.id}
                class={`row${r.child ? ' child' : ''}${selected === a.id ? ' sel' : ''}`}
                style={{ top: `${top}px` }}
                data-id={a.id}
                onClick={() => set({ selected: a.id })}
              >
                <span class="time">{fmtTime(a.ts)}</span>
                <span class={`sev s${a.severity}`}>{SEVERITY[a.severity] || a.severity}</span>
                <span class="rule" style={{ color: ruleColor(a.rule) }}>
                  {a.rule}
                </span>
                <span class="hosts">
                  {a.src}
                  {party(a.src_device)} → {a.dst}
                  {a.dport ? `:${a.dport}` : ''}
                  {party(a.dst_device)}
                </span>
                <span class="summary">{a.summary}</span>
              </div>
            );
          })}
        </div>
        {shown === 0 && (
          <p class="empty">
            No {incidents ? 'incidents' : 'alerts'}
            {filter.rule || filter.src ? ' match the filters' : ' yet'}.
          </p>
        )}
      </div>
    </section>
  );
}
