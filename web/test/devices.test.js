import { describe, expect, test } from 'vitest';
import { label, labelBody, partyText, view } from '../src/devices.js';

const tv = { mac: '54:60:09:11:22:33', name: 'Living-room TV', vendor: 'Google', kind: 'tv', addresses: ['192.168.1.50'], last_seen: 30 };
const pi = { mac: 'b8:27:eb:44:55:66', name: '', vendor: 'Raspberry Pi', kind: 'unknown', addresses: ['192.168.1.66'], last_seen: 20 };
const odd = { mac: 'da:a1:19:10:20:30', name: '', vendor: '', kind: 'phone', addresses: [], last_seen: 10 };

describe('devices', () => {
  test('a device is called by its name, else its maker, else its MAC', () => {
    expect(label(tv)).toBe('Living-room TV');
    expect(label(pi)).toBe('Raspberry Pi device');
    expect(label(odd)).toBe('da:a1:19:10:20:30');
  });
  test("an alert's party: label, kind, maker and MAC (unknown kinds left out)", () => {
    expect(partyText(tv)).toBe('Living-room TV (tv, Google, 54:60:09:11:22:33)');
    expect(partyText(pi)).toBe('Raspberry Pi device (Raspberry Pi, b8:27:eb:44:55:66)');
    expect(partyText(odd)).toBe('da:a1:19:10:20:30 (phone)');
    expect(partyText({ mac: 'da:a1:19:10:20:30', name: '', vendor: '', kind: 'unknown' })).toBe('da:a1:19:10:20:30');
    expect(partyText(null)).toBe('');
  });
  test('filter on any part and sort three ways', () => {
    expect(view([pi, odd, tv]).map((d) => d.mac)).toEqual([tv.mac, pi.mac, odd.mac]);
    expect(view([pi, odd, tv], '', 'name').map(label)).toEqual(['da:a1:19:10:20:30', 'Living-room TV', 'Raspberry Pi device']);
    expect(view([pi, odd, tv], '', 'kind').map((d) => d.kind)).toEqual(['phone', 'tv', 'unknown']);
    expect(view([pi, odd, tv], '192.168.1.6').map((d) => d.mac)).toEqual([pi.mac]);
    expect(view([pi, odd, tv], 'GOOGLE').map((d) => d.mac)).toEqual([tv.mac]);
    expect(view([pi, odd, tv], 'nothing')).toEqual([]);
  });
  test('labels are checked before they are sent', () => {
    expect(labelBody(' Kitchen Pi ', undefined)).toEqual({ body: { name: 'Kitchen Pi' } });
    expect(labelBody(undefined, 'tv')).toEqual({ body: { kind: 'tv' } });
    expect(labelBody('x'.repeat(64)).error).toMatch(/63 bytes/);
    expect(labelBody('é'.repeat(32)).error).toMatch(/63 bytes/);
    expect(labelBody('a\u0007b').error).toMatch(/control/);
    expect(labelBody(undefined, 'toaster').error).toMatch(/one of/);
  });
});
