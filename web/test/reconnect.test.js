import { describe, expect, test } from 'vitest';
import * as R from '../src/reconnect.js';

describe('reconnect state machine', () => {
  test('back-off doubles, is capped, and is jittered into [half, full)', () => {
    expect(R.backoff(0, 0)).toBe(R.BASE_MS / 2);
    expect(R.backoff(0, 0.999)).toBeLessThan(R.BASE_MS);
    expect(R.backoff(3, 0)).toBe((R.BASE_MS * 8) / 2);
    expect(R.backoff(30, 0.999)).toBeLessThanOrEqual(R.MAX_MS);
    expect(R.backoff(30, 0)).toBe(R.MAX_MS / 2);
  });
  test('live, then reconnecting, then offline after repeated failures; live again resumes', () => {
    let s = R.initial();
    expect(s.state).toBe(R.RECONNECTING);
    s = R.opened(s);
    expect(s.state).toBe(R.LIVE);
    expect(s.resumed).toBe(false);
    s = R.closed(s, 0.5);
    expect(s.state).toBe(R.RECONNECTING);
    expect(s.failures).toBe(0);
    const delays = [s.delay];
    for (let i = 1; i < R.OFFLINE_AFTER; i++) {
      s = R.closed(s, 0.5);
      delays.push(s.delay);
      expect(s.state).toBe(R.RECONNECTING);
    }
    s = R.closed(s, 0.5);
    expect(s.state).toBe(R.OFFLINE);
    delays.push(s.delay);
    for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThanOrEqual(delays[i - 1]);
    s = R.opened(s);
    expect(s.state).toBe(R.LIVE);
    expect(s.failures).toBe(0);
    expect(s.resumed).toBe(true);
  });
  test('a first connection that never opened is not a resume', () => {
    let s = R.closed(R.initial(), 0.1);
    s = R.opened(s);
    expect(s.resumed).toBe(false);
  });
});
