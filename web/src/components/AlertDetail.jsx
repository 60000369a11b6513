import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { fmtTime, SEVERITY } from '../format.js';
import { set } from '../store.js';
import { partyText } from '../devices.js';
import { canBlock } from '../blocks.js';
import { ask } from './Blocks.jsx';

function value(v) {
  if (Array.isArray(v)) return v.map(String).join(', ');
  if (v && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** "Block for 1 h" (respond mode suggest or block): the sensor applies its guard rails and
 * the answer is shown — blocked, or why not. */
function BlockButton({ a, id }) {
  const [respond, setRespond] = useState(null);
  const [said, setSaid] = useState('');
  useEffect(() => {
    api('/api/config')
      .then((c) => setRespond(c.respond))
      .catch(() => {});
  }, []);
  useEffect(() => setSaid(''), [id]);
  if (!canBlock(respond)) return null;
  const go = async () => {
    setSaid('Blocking…');
    const o = await ask(a.src, true, { for_s: 3600, alert_id: id }).catch((e) => ({ text: e.message }));
    setSaid(o.text);
  };
  return (
    <p class="block">
      <button type="button" onClick={go}>
        Block {a.src} for 1 h
      </button>
      {said && <span class="said">{said}</span>}
    </p>
  );
}

/** One alert: what happened, the evidence behind it, MITRE technique, Community ID. */
export function AlertDetail({ id, known }) {
  const [a, setA] = useState(null);
  const [err, setErr] = useState('');
  useEffect(() => {
    setErr('');
    // Alerts from the live feed carry their EVE record as first emitted: show it at once, then
    // the stored row, which the store keeps current while the episode goes on (a scan's ports
    // so far). REST pages carry no EVE record and wait for the row.
    const live = known && known.eve;
    setA(live ? known : null);
    if (id == null) return;
    let stop = false;
    // A live alert reaches the store within a second: ask again once if it is not there yet.
    const load = (again) =>
      api(`/api/alerts/${id}`)
        .then((x) => !stop && setA(x))
        .catch((e) => {
          if (stop) return;
          if (again && e.status === 404) setTimeout(() => load(false), 1500);
          else if (!live) setErr(e.message);
        });
    load(true);
    return () => {
      stop = true;
    };
  }, [id]);
  if (id == null) return null;
  const nw = (a && a.eve && a.eve.netwatch) || {};
  const ev = nw.evidence || {};
  // A language model's reply may arrive after the alert (a `/ws/alerts` update).
  const enrichment = (known && known.enrichment) || (a && a.enrichment) || '';
  return (
    <section class="panel detail" aria-label="alert detail">
      <header>
        <h2>Alert {id}</h2>
        <button aria-label="close" onClick={() => set({ selected: null })}>
          ✕
        </button>
      </header>
      {err && <p class="error">{err}</p>}
      {!a && !err && <p class="muted">Loading…</p>}
      {a && (
        <div>
          <p class="summary-text">{a.summary}</p>
          {a.explanation && <p class="explanation">{a.explanation}</p>}
          <BlockButton a={a} id={id} />
          {enrichment && (
            <div class="enrichment">
              <h3>A language model's view</h3>
              <p>{enrichment}</p>
              <p class="muted">Written by the language model configured in [enrich] from this alert's fields; it can be wrong.</p>
            </div>
          )}
          <dl class="facts">
            <dt>Rule</dt>
            <dd>{a.rule}</dd>
            <dt>Severity</dt>
            <dd>{SEVERITY[a.severity] || a.severity}</dd>
            <dt>From → to</dt>
            <dd>
              {a.src}
              {a.sport ? `:${a.sport}` : ''} → {a.dst}
              {a.dport ? `:${a.dport}` : ''} ({a.proto})
            </dd>
            {(a.src_device || a.dst_device) && (
              <>
                <dt>Devices</dt>
                <dd class="parties">
                  {partyText(a.src_device) || a.src} → {partyText(a.dst_device) || a.dst}
                </dd>
              </>
            )}
            <dt>First / last seen</dt>
            <dd>
              {fmtTime(a.first_seen)} / {fmtTime(a.last_seen)}
              {a.repeats ? ` (${a.repeats + 1} times)` : ''}
            </dd>
            <dt>MITRE ATT&amp;CK</dt>
            <dd class="mitre">{nw.mitre || '–'}</dd>
            <dt>Community ID</dt>
            <dd class="mono">{a.community_id || '–'}</dd>
          </dl>
          <h3>Evidence</h3>
          <table class="evidence">
            <tbody>
              {Object.entries(ev).map(([k, v]) => (
                <tr key={k}>
                  <th>{k}</th>
                  <td>{value(v)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
