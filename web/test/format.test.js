import { describe, expect, test } from 'vitest';
import { fmtBits, fmtBytes, fmtDuration, fmtNum, fmtTime, ruleColor } from '../src/format.js';

describe('format', () => {
  test('numbers', () => {
    expect(fmtNum(0)).toBe('0');
    expect(fmtNum(999)).toBe('999');
    expect(fmtNum(1234)).toBe('1.2k');
    expect(fmtNum(15300)).toBe('15k');
    expect(fmtNum(2_500_000)).toBe('2.5M');
    expect(fmtNum(-1500)).toBe('-1.5k');
    expect(fmtNum(undefined)).toBe('–');
    expect(fmtNum(NaN)).toBe('–');
  });
  test('bits and bytes', () => {
    expect(fmtBits(1_500_000)).toBe('1.5 Mb/s');
    expect(fmtBits(800)).toBe('800 b/s');
    expect(fmtBits(null)).toBe('–');
    expect(fmtBytes(512)).toBe('512 B');
    expect(fmtBytes(1536)).toBe('1.5 KiB');
    expect(fmtBytes(8 * 1048576)).toBe('8.0 MiB');
  });
  test('durations keep the two largest units', () => {
    expect(fmtDuration(0)).toBe('0s');
    expect(fmtDuration(59)).toBe('59s');
    expect(fmtDuration(61)).toBe('1m 1s');
    expect(fmtDuration(93784)).toBe('1d 2h');
    expect(fmtDuration(-1)).toBe('–');
  });
  test('times: today as HH:MM:SS, other days with the date', () => {
    const now = new Date(2026, 10, 30, 15, 0, 0).getTime();
    expect(fmtTime(new Date(2026, 10, 30, 9, 5, 7).getTime() * 1000, now)).toBe('09:05:07');
    expect(fmtTime(new Date(2026, 8, 21, 14, 14, 40).getTime() * 1000, now)).toBe('2026-09-21 14:14:40');
    expect(fmtTime(NaN)).toBe('–');
  });
  test('every rule has its own colour', () => {
    const rules = ['portscan.vertical', 'synflood', 'bruteforce', 'dns.tunnel', 'c2.beacon'];
    expect(new Set(rules.map(ruleColor)).size).toBe(rules.length);
  });
});
