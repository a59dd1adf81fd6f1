/**
 * src/lib/cron.ts: the longest gap between two runs of a schedule.
 */
import { describe, expect, it } from 'vitest';
import { longestGapMs } from '../../src/lib/cron.js';

const NOW = new Date('2026-06-15T12:34:56Z');
const MIN = 60_000;

describe('longestGapMs', () => {
  it('the longest gap covers irregular schedules and hour boundaries', () => {
    expect(longestGapMs('0 9,17 * * *', NOW)).toBe(16 * 60 * MIN);
    expect(longestGapMs('1-59/4 * * * *', NOW)).toBe(4 * MIN);
    expect(longestGapMs('50 * * * *', NOW)).toBe(60 * MIN);
  });
});
