// The connection state machine every WebSocket uses: live -> reconnecting -> offline, with
// exponential back-off and jitter. Pure: time and randomness come from the caller, so the
// unit tests drive it step by step.

export const LIVE = 'live';
export const RECONNECTING = 'reconnecting';
export const OFFLINE = 'offline';

export const BASE_MS = 500;
export const MAX_MS = 30000;
/** Failed attempts in a row before the state says offline (it keeps trying). */
export const OFFLINE_AFTER = 4;

/** Delay before attempt `n` (0-based): base·2ⁿ capped, times a jitter in [0.5, 1). */
export function backoff(n, random) {
  const exp = Math.min(MAX_MS, BASE_MS * 2 ** Math.min(n, 16));
  return Math.floor(exp * (0.5 + 0.5 * random));
}

export function initial() {
  return { state: RECONNECTING, failures: 0, everLive: false };
}

/** The socket opened. */
export function opened(s) {
  return { state: LIVE, failures: 0, everLive: true, resumed: s.everLive && s.state !== LIVE };
}

/** The socket closed or failed to open: the next state and how long to wait. */
export function closed(s, random) {
  const failures = s.state === LIVE ? 0 : s.failures + 1;
  return {
    state: failures >= OFFLINE_AFTER ? OFFLINE : RECONNECTING,
    failures,
    everLive: s.everLive,
    delay: backoff(failures, random),
  };
}
