import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { left, outcome } from '../blocks.js';
import { fmtTime } from '../format.js';

const now = () => Date.now() / 1000;

/** Ask the sensor to block (`for_s`) or unblock `addr`; the answer (block or refusal with its
 * reason) is read from the events a moment later. */
export async function ask(addr, block, extra = {}) {
  const since = Math.floor(now());
  if (block) {
    await api('/api/blocks', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ addr, ...extra }),
    });
  } else {
    await api(`/api/blocks/${encodeURIComponent(addr)}`, { method: 'DELETE' });
  }
  for (let i = 0; i < 8; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const b = await api('/api/blocks');
    const o = outcome(b.events, addr, since);
    if (o) return o;
  }
  return { ok: false, text: 'No answer from the sensor yet' };
}

/** The blocks in force (with Unblock) and the latest events, every 5 s. */
export function Blocks() {
  const [b, setB] = useState(null);
  const [err, setErr] = useState('');
  const [said, setSaid] = useState({});
  const load = () =>
    api('/api/blocks')
      .then((x) => {
        setB(x);
        setErr('');
      })
      .catch((e) => setErr(e.message));
  useEffect(() => {
    load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, []);
  const unblock = async (addr) => {
    setSaid({ ...said, [addr]: 'Unblocking…' });
    const o = await ask(addr, false).catch((e) => ({ text: e.message }));
    setSaid({ ...said, [addr]: o.text });
    load();
  };
  if (!b) return <section class="panel blocks">{err ? <p class="error">{err}</p> : <p class="muted">Loading…</p>}</section>;
  const t = now();
  return (
    <section class="panel blocks" aria-label="blocks">
      <header>
        <h2>Blocks</h2>
        <span class="muted">
          Mode {b.mode}
          {b.mode === 'off' ? ' (set [respond] mode = "suggest" or "block")' : ''}
        </span>
      </header>
      {b.mode !== 'off' && !b.nft_ok && <p class="error">nftables is not working: {b.last_error}</p>}
      {b.blocks.length === 0 ? (
        <p class="muted">Nothing is blocked.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Address</th>
              <th>Left</th>
              <th>Why</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {b.blocks.map((x) => (
              <tr key={x.addr} data-addr={x.addr}>
                <td class="mono">{x.addr}</td>
                <td class="num">{left(x.until, t)}</td>
                <td class="wide">
                  {x.reason}
                  <div class="sub">{x.manual ? 'by hand' : `on alert ${x.alert_id} (${x.rule})`}</div>
                </td>
                <td>
                  <button type="button" onClick={() => unblock(x.addr)}>
                    Unblock
                  </button>
                  {said[x.addr] && <div class="said">{said[x.addr]}</div>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Latest</h3>
      <ul class="events">
        {b.events.slice(0, 20).map((e, i) => (
          <li key={i} data-action={e.action}>
            <span class="muted">{fmtTime(e.ts * 1e6)}</span> {e.action} <span class="mono">{e.addr}</span>: {e.reason}
          </li>
        ))}
      </ul>
    </section>
  );
}
