// REST and WebSocket access with the token, kept for the next visit in localStorage.
import * as R from './reconnect.js';
import { set } from './store.js';

const KEY = 'netwatch.token';

export function token() {
  try {
    return localStorage.getItem(KEY) || '';
  } catch {
    return '';
  }
}

export function saveToken(t) {
  try {
    localStorage.setItem(KEY, t);
  } catch {
    /* private mode: kept for this page only */
  }
  set({ needToken: false });
}

/** fetch with the token; a 401 asks the user for it. Resolves to parsed JSON or throws. */
export async function api(path, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  const r = await fetch(path, { ...opts, headers });
  if (r.status === 401) {
    set({ needToken: true });
    throw new Error('unauthorized');
  }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const e = new Error(body.error || `HTTP ${r.status}`);
    e.status = r.status;
    e.body = body;
    throw e;
  }
  return body;
}

/**
 * A WebSocket that reconnects with back-off and jitter. `onMessage(obj)` for each JSON
 * message; `onState(state, resumed)` on every change (resumed: live again after a break).
 */
export function stream(path, onMessage, onState) {
  let st = R.initial();
  let ws = null;
  let timer = null;
  let stopped = false;
  const url = () => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
  function connect() {
    if (stopped) return;
    const t = token();
    ws = new WebSocket(url(), t ? ['netwatch', `netwatch.token.${t}`] : ['netwatch']);
    ws.onopen = () => {
      st = R.opened(st);
      onState(st.state, st.resumed);
    };
    ws.onmessage = (ev) => {
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch {
        return;
      }
      onMessage(m);
    };
    ws.onclose = () => {
      ws = null;
      st = R.closed(st, Math.random());
      onState(st.state, false);
      // A refused upgrade looks like a close: check whether the token is the reason.
      if (!token() || st.failures === 1) api('/api/stats').catch(() => {});
      timer = setTimeout(connect, st.delay);
    };
  }
  connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (ws) ws.close();
  };
}
