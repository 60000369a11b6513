import { fmtBits, fmtBytes, fmtDuration, fmtNum } from '../format.js';

function sum(obj, f) {
  return Object.values(obj || {}).reduce((a, v) => a + (f ? f(v) : v), 0);
}

/** The figures a router owner looks at first. */
export function MetricCards({ stats, alertsPerMin }) {
  const s = stats || {};
  const drops = sum(s.capture, (c) => c.dropped_kernel + c.dropped_interface);
  const evictions = (s.flows ? s.flows.evicted : 0) + sum(s.tables, (t) => t.evictions);
  const cards = [
    ['Packets/s', fmtNum(s.pps)],
    ['Traffic', fmtBits(s.bps)],
    ['Capture drops', fmtNum(drops), drops > 0],
    ['Decode errors', fmtNum(sum(s.decode_errors))],
    ['Active flows', s.flows ? `${fmtNum(s.flows.active)} / ${fmtNum(s.flows.capacity)}` : '–'],
    ['Evictions', fmtNum(evictions)],
    ['Alerts/min', fmtNum(alertsPerMin), alertsPerMin > 0],
    ['Uptime', fmtDuration(s.uptime_s)],
    ['Memory', s.rss_bytes ? fmtBytes(s.rss_bytes) : '–'],
  ];
  return (
    <section class="cards" aria-label="metrics">
      {cards.map(([label, value, warn]) => (
        <div class={warn ? 'card warn' : 'card'} key={label}>
          <div class="label">{label}</div>
          <div class="value" data-metric={label}>
            {value}
          </div>
        </div>
      ))}
    </section>
  );
}
