import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';

/** The settings a user tunes: [key path, label]. Lists are comma-separated. */
export const FIELDS = [
  ['alerts.suppress_s', 'Repeat suppression (s)'],
  ['rules.portscan.vertical_ports', 'Port scan: ports per host'],
  ['rules.portscan.horizontal_hosts', 'Port scan: hosts per port'],
  ['rules.portscan.window_s', 'Port scan: window (s)'],
  ['rules.portscan.allow_src', 'Port scan: allowed sources'],
  ['rules.synflood.syn_rate', 'SYN flood: SYN/s'],
  ['rules.bruteforce.attempts', 'Brute force: attempts'],
  ['rules.bruteforce.window_s', 'Brute force: window (s)'],
  ['rules.dns_tunnel.min_queries', 'DNS tunnel: queries'],
  ['rules.dns_tunnel.allow_domains', 'DNS tunnel: allowed domains'],
  ['rules.beacon.max_chance', 'Beacon: chance if random'],
  ['rules.beacon.allow_dst', 'Beacon: allowed destinations'],
];

function lookup(cfg, path) {
  const parts = path.split('.');
  if (parts[0] === 'alerts') return cfg.suppress_s;
  return parts.reduce((o, k) => (o == null ? o : o[k]), cfg);
}

/** The PATCH body for one field, typed as the config wants it. */
export function patchFor(path, raw, current) {
  const text = String(raw).trim();
  let v;
  if (Array.isArray(current)) v = text ? text.split(',').map((x) => x.trim()).filter(Boolean) : [];
  else if (typeof current === 'number') {
    v = Number(text);
    if (text === '' || !Number.isFinite(v)) return null;
  } else v = text;
  const body = {};
  let o = body;
  const parts = path.split('.');
  parts.forEach((k, i) => {
    o[k] = i === parts.length - 1 ? v : {};
    o = o[k];
  });
  return body;
}

/** Notification targets (kinds only: their URLs and tokens stay on the sensor) and a test. */
function Notify({ notify }) {
  const [said, setSaid] = useState('');
  const kinds = (notify && notify.targets) || [];
  const test = async () => {
    setSaid('Sending…');
    try {
      await api('/api/notify/test', { method: 'POST' });
      setSaid('Test message queued: check your phone (or notify_delivered in the stats).');
    } catch (e) {
      setSaid(e.message);
    }
  };
  return (
    <div class="notify">
      <h3>Notifications</h3>
      <p class="muted">
        {kinds.length
          ? `To ${kinds.join(', ')}; at most ${notify.max_per_hour} messages an hour, the rest in a digest.`
          : 'No target: add [[notify.targets]] (ntfy, Gotify, Slack, Discord or a webhook) to the configuration.'}
      </p>
      <button type="button" disabled={!kinds.length} onClick={test}>
        Send a test message
      </button>
      {said && <span class="said">{said}</span>}
    </div>
  );
}

/** MQTT: where the sensor publishes (Home Assistant discovery) and whether it is connected. */
function Mqtt({ mqtt }) {
  const [st, setSt] = useState(null);
  useEffect(() => {
    api('/api/stats')
      .then((s) => setSt(s.sinks || {}))
      .catch(() => {});
  }, []);
  const on = mqtt && mqtt.broker;
  return (
    <div class="mqtt">
      <h3>MQTT and Home Assistant</h3>
      <p class="muted">
        {on
          ? `Publishing to ${mqtt.broker} as sensor ${mqtt.sensor}${mqtt.discovery ? ', with Home Assistant discovery' : ''}: ${
              st == null ? '…' : st.mqtt_connected ? 'connected' : `not connected${st.mqtt_last_error ? ` (${st.mqtt_last_error})` : ''}`
            }.`
          : 'Off: set [mqtt] broker = "mqtt://HOST:1883" to publish alerts and stats (Home Assistant finds the sensor by itself).'}
      </p>
    </div>
  );
}

export function Settings() {
  const [cfg, setCfg] = useState(null);
  const [edit, setEdit] = useState({});
  const [errors, setErrors] = useState({});
  const [saved, setSaved] = useState('');
  useEffect(() => {
    api('/api/config').then(setCfg).catch(() => {});
  }, []);
  if (!cfg) return <section class="panel settings"><p class="muted">Loading settings…</p></section>;
  const save = async (path) => {
    const current = lookup(cfg, path);
    const body = patchFor(path, edit[path] ?? '', current);
    setSaved('');
    if (!body) {
      setErrors({ ...errors, [path]: 'needs a number' });
      return;
    }
    try {
      const next = await api('/api/config', {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      setCfg(next);
      setErrors({ ...errors, [path]: '' });
      setEdit({ ...edit, [path]: undefined });
      setSaved(path);
    } catch (e) {
      setErrors({ ...errors, [path]: e.message });
    }
  };
  return (
    <section class="panel settings">
      <header>
        <h2>Settings</h2>
        <span class="muted">Saved on the sensor; applied within a second.</span>
      </header>
      <form onSubmit={(e) => e.preventDefault()}>
        {FIELDS.map(([path, label]) => {
          const cur = lookup(cfg, path);
          const shown = edit[path] ?? (Array.isArray(cur) ? cur.join(', ') : String(cur ?? ''));
          return (
            <div class="field" key={path}>
              <label for={path}>{label}</label>
              <input
                id={path}
                name={path}
                value={shown}
                onInput={(e) => setEdit({ ...edit, [path]: e.currentTarget.value })}
                onKeyDown={(e) => e.key === 'Enter' && save(path)}
              />
              <button type="button" onClick={() => save(path)}>
                Save
              </button>
              {errors[path] && (
                <span class="error" role="alert" data-field={path}>
                  {errors[path]}
                </span>
              )}
              {saved === path && <span class="ok">saved</span>}
            </div>
          );
        })}
      </form>
      <Notify notify={cfg.notify} />
      <Mqtt mqtt={cfg.mqtt} />
    </section>
  );
}
