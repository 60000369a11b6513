import { useState } from 'preact/hooks';
import { ruleColor } from '../format.js';
import { set } from '../store.js';

const RANGES = [
  ['15 min', 900],
  ['1 h', 3600],
  ['24 h', 86400],
  ['all', Infinity],
];

/**
 * Attackers (sources) on the left, victims (destinations) on the right, one edge per
 * (attacker, victim, rule). Node size follows the alert count. `now_us` is the newest alert's
 * time, so a replayed capture shows as it happened.
 */
export function graphOf(alerts, spanS, nowUs) {
  const from = nowUs - spanS * 1e6;
  const src = new Map();
  const dst = new Map();
  const edges = new Map();
  const names = new Map();
  const name = (addr, d) => {
    const n = d && (d.name || (d.vendor && `${d.vendor} device`));
    if (n && !names.has(addr)) names.set(addr, n);
  };
  for (const a of alerts) {
    if (a.ts < from || a.rule === 'sensor.health') continue;
    src.set(a.src, (src.get(a.src) || 0) + 1);
    dst.set(a.dst, (dst.get(a.dst) || 0) + 1);
    name(a.src, a.src_device);
    name(a.dst, a.dst_device);
    const k = `${a.src}\u0000${a.dst}\u0000${a.rule}`;
    edges.set(k, (edges.get(k) || 0) + 1);
  }
  const order = (m) => [...m.entries()].sort((x, y) => y[1] - x[1]).slice(0, 12);
  return {
    attackers: order(src),
    victims: order(dst),
    // The device the sensor knows at an address (newest alert's), shown instead of it.
    names,
    edges: [...edges.entries()].map(([k, n]) => {
      const [s, d, rule] = k.split('\u0000');
      return { src: s, dst: d, rule, n };
    }),
  };
}

export function AttackerGraph({ alerts }) {
  const [range, setRange] = useState(1);
  const now = alerts.length ? alerts[0].ts : Date.now() * 1000;
  const g = graphOf(alerts, RANGES[range][1], now);
  const W = 520;
  const rows = Math.max(g.attackers.length, g.victims.length, 1);
  const H = Math.max(120, rows * 34 + 20);
  const yOf = (list, key) => {
    const i = list.findIndex(([k]) => k === key);
    return 20 + (i + 0.5) * ((H - 20) / Math.max(list.length, 1));
  };
  const r = (n) => 5 + Math.min(14, Math.sqrt(n) * 3);
  const xa = 130;
  const xv = W - 130;
  return (
    <section class="panel graph">
      <header>
        <h2>Attackers → victims</h2>
        <div class="seg" role="group" aria-label="graph range">
          {RANGES.map(([l], i) => (
            <button key={l} class={i === range ? 'on' : ''} onClick={() => setRange(i)}>
              {l}
            </button>
          ))}
        </div>
      </header>
      {g.attackers.length === 0 ? (
        <p class="empty">No attacks in this range.</p>
      ) : (
        <svg viewBox={`0 0 ${W} ${H}`} class="graph-svg" role="img" aria-label="attacker graph">
          {g.edges
            .filter((e) => g.attackers.some(([k]) => k === e.src) && g.victims.some(([k]) => k === e.dst))
            .map((e, i) => (
              <line
                key={i}
                x1={xa}
                y1={yOf(g.attackers, e.src)}
                x2={xv}
                y2={yOf(g.victims, e.dst)}
                stroke={ruleColor(e.rule)}
                stroke-width={1 + Math.min(4, Math.log2(e.n + 1))}
                opacity="0.8"
              >
                <title>{`${e.rule}: ${e.n}`}</title>
              </line>
            ))}
          {g.attackers.map(([k, n]) => (
            <g key={'a' + k} class="node attacker" data-host={k} onClick={() => set({ filter: { rule: '', severity: '', src: k, dst: '' } })}>
              <circle cx={xa} cy={yOf(g.attackers, k)} r={r(n)} />
              <title>{k}</title>
              <text x={xa - r(n) - 6} y={yOf(g.attackers, k) + 4} text-anchor="end">
                {g.names.get(k) || k}
              </text>
            </g>
          ))}
          {g.victims.map(([k, n]) => (
            <g key={'v' + k} class="node victim" data-host={k} onClick={() => set({ filter: { rule: '', severity: '', src: '', dst: k } })}>
              <circle cx={xv} cy={yOf(g.victims, k)} r={r(n)} />
              <title>{k}</title>
              <text x={xv + r(n) + 6} y={yOf(g.victims, k) + 4}>
                {g.names.get(k) || k}
              </text>
            </g>
          ))}
        </svg>
      )}
    </section>
  );
}
