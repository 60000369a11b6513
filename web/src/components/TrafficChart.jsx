import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { fmtNum } from '../format.js';

const SERIES = [
  ['tcp', '#38bdf8'],
  ['udp', '#a78bfa'],
  ['icmp', '#f472b6'],
  ['other', '#94a3b8'],
];
const RANGES = [
  { label: '5 min', res: '1s', span: 300 },
  { label: '1 h', res: '10s', span: 3600 },
  { label: '24 h', res: '60s', span: 86400 },
];

/** Columns of /api/history as rows {t, tcp, udp, icmp, other}. */
export function rowsOf(h) {
  if (!h || !Array.isArray(h.t)) return [];
  return h.t.map((t, i) => ({ t, tcp: h.tcp[i], udp: h.udp[i], icmp: h.icmp[i], other: h.other[i] }));
}

/** Merge two series of rows by time, later rows replacing earlier ones of the same second. */
export function mergeRows(a, b) {
  const m = new Map();
  for (const r of a) m.set(r.t, r);
  for (const r of b) m.set(r.t, r);
  return [...m.values()].sort((x, y) => x.t - y.t);
}

function draw(canvas, rows, span, now) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  canvas.width = w * dpr;
  canvas.height = h * dpr;
  const g = canvas.getContext('2d');
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, h);
  const t0 = now - span;
  const pts = rows.filter((r) => r.t >= t0);
  const top = Math.max(1, ...pts.map((r) => r.tcp + r.udp + r.icmp + r.other));
  const x = (t) => ((t - t0) / span) * w;
  const y = (v) => h - 16 - (v / top) * (h - 24);
  g.strokeStyle = '#334155';
  g.fillStyle = '#94a3b8';
  g.font = '11px system-ui, sans-serif';
  g.beginPath();
  g.moveTo(0, y(top));
  g.lineTo(w, y(top));
  g.stroke();
  g.fillText(fmtNum(top), 4, y(top) + 12);
  // Stacked areas, bottom series first.
  let base = pts.map(() => 0);
  for (const [k, colour] of SERIES) {
    const upper = pts.map((r, i) => base[i] + (r[k] || 0));
    if (pts.length > 0) {
      g.beginPath();
      pts.forEach((r, i) => (i ? g.lineTo(x(r.t), y(upper[i])) : g.moveTo(x(r.t), y(upper[i]))));
      for (let i = pts.length - 1; i >= 0; i--) g.lineTo(x(pts[i].t), y(base[i]));
      g.closePath();
      g.fillStyle = colour + 'cc';
      g.fill();
    }
    base = upper;
  }
  canvas.dataset.points = String(pts.length);
}

/** Packets per interval by protocol, stacked; history from REST, live tail from /ws/stats. */
export function TrafficChart({ live }) {
  const ref = useRef(null);
  const [range, setRange] = useState(0);
  const [hist, setHist] = useState([]);
  const r = RANGES[range];
  useEffect(() => {
    let stop = false;
    // No `since`: the server keeps what fits the range, and a replayed capture's time is
    // not the wall clock's.
    const load = () =>
      api(`/api/history?res=${r.res}`)
        .then((h) => !stop && setHist(rowsOf(h)))
        .catch(() => {});
    load();
    const every = r.res === '1s' ? 60000 : r.res === '10s' ? 10000 : 60000;
    const id = setInterval(load, every);
    return () => {
      stop = true;
      clearInterval(id);
    };
  }, [range]);
  const rows = r.res === '1s' ? mergeRows(hist, live) : hist;
  useEffect(() => {
    const c = ref.current;
    if (!c) return;
    const newest = rows.length ? rows[rows.length - 1].t : Math.floor(Date.now() / 1000);
    draw(c, rows, r.span, newest);
  });
  return (
    <section class="panel chart">
      <header>
        <h2>Traffic by protocol (packets)</h2>
        <div class="seg" role="group" aria-label="range">
          {RANGES.map((x, i) => (
            <button key={x.label} class={i === range ? 'on' : ''} onClick={() => setRange(i)}>
              {x.label}
            </button>
          ))}
        </div>
      </header>
      <canvas ref={ref} class="plot" aria-label="traffic chart" />
      <div class="legend">
        {SERIES.map(([k, c]) => (
          <span key={k}>
            <i style={{ background: c }} />
            {k.toUpperCase()}
          </span>
        ))}
      </div>
    </section>
  );
}
