// The device list's logic, kept apart from the view so it can be tested.

export const KINDS = ['unknown', 'phone', 'laptop', 'tv', 'speaker', 'camera', 'printer', 'console', 'iot', 'router'];

/** What a device is called: its name, else its maker's device, else its MAC. */
export function label(d) {
  if (d.name) return d.name;
  if (d.vendor) return `${d.vendor} device`;
  return d.mac;
}

/** A device as an alert's party: its label, then what it is, its maker and MAC. */
export function partyText(d) {
  if (!d) return '';
  const name = label(d);
  const what = [d.kind && d.kind !== 'unknown' ? d.kind : '', d.vendor, name === d.mac ? '' : d.mac].filter(Boolean);
  return what.length ? `${name} (${what.join(', ')})` : name;
}

/**
 * Devices filtered by `q` (any part of name, maker, kind, MAC or address, any case) and
 * sorted by `by` ('seen': most recently seen first; 'name'; 'kind', then name).
 */
export function view(devices, q = '', by = 'seen') {
  const needle = q.trim().toLowerCase();
  const hit = (d) =>
    !needle ||
    [label(d), d.vendor, d.kind, d.mac, ...(d.addresses || [])].some((x) => (x || '').toLowerCase().includes(needle));
  const byName = (a, b) => label(a).localeCompare(label(b)) || a.mac.localeCompare(b.mac);
  const order = {
    seen: (a, b) => b.last_seen - a.last_seen || byName(a, b),
    name: byName,
    kind: (a, b) => a.kind.localeCompare(b.kind) || byName(a, b),
  }[by] || byName;
  return devices.filter(hit).sort(order);
}

/** The body of a PATCH that labels a device, or an error text for the user. */
export function labelBody(name, kind) {
  const body = {};
  if (name !== undefined) {
    const n = name.trim();
    if (new TextEncoder().encode(n).length > 63) return { error: 'A name is at most 63 bytes.' };
    if (/[\u0000-\u001f\u007f]/.test(n)) return { error: 'A name cannot hold control characters.' };
    body.name = n;
  }
  if (kind !== undefined) {
    if (!KINDS.includes(kind)) return { error: `A kind is one of ${KINDS.join(', ')}.` };
    body.kind = kind;
  }
  return { body };
}
