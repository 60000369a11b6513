// Formatting of figures for people: short, with units, never NaN.

const UNITS = ['', 'k', 'M', 'G', 'T'];

/** 1234 -> "1.2k", 5 -> "5". */
export function fmtNum(n) {
  if (!Number.isFinite(n)) return '–';
  let i = 0;
  let v = Math.abs(n);
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  const s = i === 0 ? String(Math.round(v)) : v.toFixed(v < 10 ? 1 : 0);
  return (n < 0 ? '-' : '') + s + UNITS[i];
}

/** Bits per second: 1500000 -> "1.5 Mb/s". */
export function fmtBits(bps) {
  return Number.isFinite(bps) ? `${fmtNum(bps)}b/s`.replace(/^(\d[\d.]*)([kMGT]?)b/, '$1 $2b') : '–';
}

/** Bytes in binary units: 1536 -> "1.5 KiB". */
export function fmtBytes(b) {
  if (!Number.isFinite(b)) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = b;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${u[i]}`;
}

/** Seconds as the two largest units: 93784 -> "1d 2h". */
export function fmtDuration(s) {
  if (!Number.isFinite(s) || s < 0) return '–';
  s = Math.floor(s);
  const parts = [
    [86400, 'd'],
    [3600, 'h'],
    [60, 'm'],
    [1, 's'],
  ];
  const out = [];
  for (const [n, u] of parts) {
    if (s >= n || (u === 's' && out.length === 0)) {
      out.push(`${Math.floor(s / n)}${u}`);
      s %= n;
    }
    if (out.length === 2) break;
  }
  return out.join(' ');
}

/** Microseconds since the epoch as local "HH:MM:SS" (with the date when not today). */
export function fmtTime(us, now = Date.now()) {
  const d = new Date(us / 1000);
  if (Number.isNaN(d.getTime())) return '–';
  const p = (x) => String(x).padStart(2, '0');
  const hms = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  const today = new Date(now);
  if (d.toDateString() === today.toDateString()) return hms;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${hms}`;
}

export const SEVERITY = { 1: 'high', 2: 'medium', 3: 'low' };

export const RULES = [
  'portscan.vertical',
  'portscan.horizontal',
  'synflood',
  'bruteforce',
  'dns.tunnel',
  'c2.beacon',
  'sensor.health',
];

/** A stable colour per rule (edges of the attacker graph, feed badges). */
export function ruleColor(rule) {
  // An incident's family (`portscan`) has its first rule's colour.
  const i = RULES.findIndex((r) => r === rule || r.startsWith(`${rule}.`));
  const palette = ['#f97316', '#fb923c', '#ef4444', '#eab308', '#a855f7', '#ec4899', '#64748b'];
  return palette[i >= 0 ? i : palette.length - 1];
}
