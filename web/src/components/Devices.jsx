import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { KINDS, label, labelBody, view } from '../devices.js';
import { fmtBytes, fmtTime } from '../format.js';

/** One device's row; its name and kind can be changed in place (PATCH /api/devices/{mac}). */
function Row({ d, onSaved }) {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(d.name);
  const [error, setError] = useState('');
  async function save(patch) {
    const { body, error: e } = labelBody(patch.name, patch.kind);
    if (e) return setError(e);
    try {
      const saved = await api(`/api/devices/${d.mac}`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      setError('');
      setEditing(false);
      onSaved(saved);
    } catch (x) {
      setError(x.message);
    }
  }
  return (
    <tr data-mac={d.mac}>
      <td>
        {editing ? (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              save({ name });
            }}
          >
            <input value={name} maxLength={63} aria-label="Device name" onInput={(e) => setName(e.target.value)} />
            <button type="submit">Save</button>
          </form>
        ) : (
          <button class="link" title="Rename" onClick={() => setEditing(true)}>
            {label(d)}
          </button>
        )}
        {error && <div class="error">{error}</div>}
        <div class="sub mono">
          {d.mac}
          {d.randomized_mac ? ' (random)' : ''}
        </div>
      </td>
      <td>
        <select aria-label="Kind" value={d.kind} onChange={(e) => save({ kind: e.target.value })}>
          {KINDS.map((k) => (
            <option value={k}>{k}</option>
          ))}
        </select>
      </td>
      <td class="wide">{d.vendor || '–'}</td>
      <td class="mono">{(d.addresses || []).join(' ') || '–'}</td>
      <td class="num" title="Bytes sent and received today (UTC), by the minute">
        {d.bytes_today ? fmtBytes(d.bytes_today) : '–'}
      </td>
      <td class={d.alerts_today ? 'num alerted' : 'num'} title="Alerts today (UTC) naming this device">
        {d.alerts_today || '–'}
      </td>
      <td class="wide">{fmtTime(d.first_seen)}</td>
      <td>{fmtTime(d.last_seen)}</td>
    </tr>
  );
}

/** The LAN's devices (GET /api/devices, again every 5 s while shown). */
export function Devices() {
  const [list, setList] = useState([]);
  const [q, setQ] = useState('');
  const [by, setBy] = useState('seen');
  const [failed, setFailed] = useState('');
  useEffect(() => {
    let alive = true;
    const load = () =>
      api('/api/devices')
        .then((r) => alive && (setList(r.devices || []), setFailed('')))
        .catch((e) => alive && setFailed(e.message));
    load();
    const t = setInterval(load, 5000);
    return () => {
      alive = false;
      clearInterval(t);
    };
  }, []);
  const onSaved = (d) => setList((l) => l.map((x) => (x.mac === d.mac ? d : x)));
  const shown = view(list, q, by);
  return (
    <section class="panel devices">
      <header>
        <h2>Devices</h2>
        <input type="search" placeholder="Filter" aria-label="Filter devices" value={q} onInput={(e) => setQ(e.target.value)} />
        <select aria-label="Sort" value={by} onChange={(e) => setBy(e.target.value)}>
          <option value="seen">Last seen</option>
          <option value="name">Name</option>
          <option value="kind">Kind</option>
        </select>
      </header>
      {failed && <p class="error">{failed}</p>}
      <div class="scroll-x">
        <table>
          <thead>
            <tr>
              <th>Device</th>
              <th>Kind</th>
              <th class="wide">Maker</th>
              <th>Addresses</th>
              <th class="num">Today</th>
              <th class="num">Alerts</th>
              <th class="wide">First seen</th>
              <th>Last seen</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((d) => (
              <Row key={d.mac} d={d} onSaved={onSaved} />
            ))}
          </tbody>
        </table>
        {shown.length === 0 && <p class="empty">{list.length ? 'No device matches.' : 'No devices learnt yet.'}</p>}
      </div>
    </section>
  );
}
