import { describe, expect, it } from 'vitest';
import { canBlock, left, outcome } from '../src/blocks.js';

describe('blocks', () => {
  it('says the time left in words', () => {
    expect(left(1040, 1000)).toBe('40 s');
    expect(left(1000 + 59 * 60, 1000)).toBe('59 min');
    expect(left(1000 + 125 * 60, 1000)).toBe('2 h 5 min');
    expect(left(1000 + 7200, 1000)).toBe('2 h');
    expect(left(900, 1000)).toBe('0 s');
  });
  it('finds the answer to a request among the events, refusals with their reason', () => {
    const ev = [
      { ts: 105, action: 'refuse', addr: '192.168.1.1', reason: "192.168.1.1 is one of this router's own addresses" },
      { ts: 104, action: 'block', addr: '45.33.32.156', until: 3704, reason: 'scan' },
      { ts: 90, action: 'refuse', addr: '45.33.32.156', reason: 'old' },
    ];
    expect(outcome(ev, '192.168.1.1', 100)).toEqual({ ok: false, text: "Not blocked: 192.168.1.1 is one of this router's own addresses" });
    expect(outcome(ev, '45.33.32.156', 100).ok).toBe(true);
    expect(outcome(ev, '45.33.32.156', 106)).toBe(null);
    expect(outcome(ev, '10.0.0.1', 0)).toBe(null);
  });
  it('offers a block button only in suggest and block modes', () => {
    expect(canBlock({ mode: 'suggest' })).toBe(true);
    expect(canBlock({ mode: 'block' })).toBe(true);
    expect(canBlock({ mode: 'off' })).toBe(false);
    expect(canBlock(undefined)).toBe(false);
  });
});
