// Blocks ([respond]): what the dashboard says about them, as pure functions (unit-tested).

/** "59 min", "2 h 5 min", "40 s": time left until `until` (epoch seconds) at `now`. */
export function left(until, now) {
  const s = Math.max(0, Math.round(until - now));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

/** The answer to a block or unblock asked for `addr` at `since` (epoch s), from the events. */
export function outcome(events, addr, since) {
  const e = (events || []).find((x) => x.addr === addr && x.ts >= since && x.action !== 'expire');
  if (!e) return null;
  if (e.action === 'refuse') return { ok: false, text: `Not blocked: ${e.reason}` };
  if (e.action === 'block') return { ok: true, text: `Blocked until ${new Date(e.until * 1000).toLocaleTimeString()}` };
  return { ok: true, text: 'Unblocked' };
}

/** Whether the dashboard offers "Block for 1 h" (suggest or block mode). */
export function canBlock(respond) {
  return !!respond && (respond.mode === 'suggest' || respond.mode === 'block');
}
