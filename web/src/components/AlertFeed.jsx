import { useEffect, useRef, useState } from 'preact/hooks';
import { filtered, set } from '../store.js';
import { fmtTime, RULES, ruleColor, SEVERITY } from '../format.js';

export const ROW_HEIGHT = 30;
/** Rows rendered beyond the visible ones, above and below. */
const OVERSCAN = 8;

/** The rows a scroll position shows: [first, last) indices. */
export function visibleRange(scrollTop, viewHeight, count) {
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(count, Math.ceil((scrollTop + viewHeight) / ROW_HEIGHT) + OVERSCAN);
  return [first, last];
}

/** The live alert feed: only the visible rows are in the DOM. */
export function AlertFeed({ alerts, filter, selected }) {
  const box = useRef(null);
  const [view, setView] = useState({ top: 0, height: 400 });
  const list = filtered(alerts, filter);
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
  return (
    <section class="panel feed">
      <header>
        <h2>
          Alerts <span class="muted">{list.length}</span>
        </h2>
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
      <div class="rows" ref={box} data-count={list.length}>
        <div style={{ height: `${list.length * ROW_HEIGHT}px`, position: 'relative' }}>
          {list.slice(first, last).map((a, i) => (
            <div
              key={a.id}
              class={selected === a.id ? 'row sel' : 'row'}
              style={{ top: `${(first + i) * ROW_HEIGHT}px` }}
              data-id={a.id}
              onClick={() => set({ selected: a.id })}
            >
              <span class="time">{fmtTime(a.ts)}</span>
              <span class={`sev s${a.severity}`}>{SEVERITY[a.severity] || a.severity}</span>
              <span class="rule" style={{ color: ruleColor(a.rule) }}>
                {a.rule}
              </span>
              <span class="hosts">
                {a.src} → {a.dst}
                {a.dport ? `:${a.dport}` : ''}
              </span>
              <span class="summary">{a.summary}</span>
            </div>
          ))}
        </div>
        {list.length === 0 && <p class="empty">No alerts{filter.rule || filter.src ? ' match the filters' : ' yet'}.</p>}
      </div>
    </section>
  );
}
