/**
 * src/lib/cron.ts: the longest gap between two runs of a schedule, and its firings an hour.
 */
import { describe, expect, it } from 'vitest';
import { firingsPerHour, longestGapMs } from '../../src/lib/cron.js';

const NOW = new Date('2026-06-15T12:34:56Z');
const MIN = 60_000;

describe('longestGapMs', () => {
  it('the longest gap covers irregular schedules and hour boundaries', () => {
    expect(longestGapMs('0 9,17 * * *', NOW)).toBe(16 * 60 * MIN);
    expect(longestGapMs('1-59/4 * * * *', NOW)).toBe(4 * MIN);
    expect(longestGapMs('50 * * * *', NOW)).toBe(60 * MIN);
  });
});

describe('firingsPerHour', () => {
  it('the default budget counts 15 + 12 + 10 family runs an hour; an irregular schedule on average', () => {
    expect(['1-59/4 * * * *', '2-59/5 * * * *', '4-59/6 * * * *'].map((expression) => firingsPerHour(expression, NOW))).toEqual([15, 12, 10]);
    expect(firingsPerHour('0 9,17 * * *', NOW)).toBeCloseTo(2 / 24, 10);
  });
});
