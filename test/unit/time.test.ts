import { describe, expect, it } from 'vitest';
import {
  byLookBack,
  HOURLY_WINDOW_MS,
  isPeriod,
  MONTHLY_WINDOW_MS,
  parseInstant,
  periodCutoff,
  PERIODS,
} from '../../src/lib/time.js';

// Note: every function here reads and writes instants through UTC only (toISOString,
// getUTCDay, explicit zones), so the process time zone cannot change the results. Setting
// process.env.TZ in-process is not reliable, so no test tries to switch zones.

const NOW = new Date('2026-06-15T12:34:56Z');
const DAY = 24 * 60 * 60 * 1000;

describe('PERIODS and isPeriod', () => {
  it('lists the periods from the shortest look-back to all', () => {
    expect([...PERIODS]).toEqual(['last_day', 'last_week', 'last_month', 'last_year', 'all']);
  });

  it('recognises exactly the periods', () => {
    for (const p of PERIODS) expect(isPeriod(p)).toBe(true);
    for (const p of ['', 'day', 'ALL', 'last_days', 'last_quarter']) expect(isPeriod(p), p).toBe(false);
  });
});

describe('parseInstant', () => {
  it('accepts a UTC instant', () => {
    expect(parseInstant('2026-06-15T12:34:56Z')?.toISOString()).toBe('2026-06-15T12:34:56.000Z');
  });

  it('accepts an offset and fractional seconds', () => {
    expect(parseInstant('2026-06-15T12:34:56.123+02:00')?.toISOString()).toBe('2026-06-15T10:34:56.123Z');
    expect(parseInstant('2026-06-15T12:34:56-05:30')?.toISOString()).toBe('2026-06-15T18:04:56.000Z');
  });

  it('accepts a space instead of T', () => {
    expect(parseInstant('2026-06-15 12:34:56Z')?.toISOString()).toBe('2026-06-15T12:34:56.000Z');
  });

  it('accepts surrounding whitespace and minutes-only times', () => {
    expect(parseInstant('  2026-06-15T12:34:56Z\n')?.toISOString()).toBe('2026-06-15T12:34:56.000Z');
    expect(parseInstant('2026-06-15T12:34Z')?.toISOString()).toBe('2026-06-15T12:34:00.000Z');
  });

  it('rejects a time without a zone', () => {
    expect(parseInstant('2026-06-15T12:34:56')).toBeNull();
    expect(parseInstant('2026-06-15 12:34:56')).toBeNull();
    expect(parseInstant('2026-06-15')).toBeNull();
  });

  it('rejects text that is not an instant', () => {
    expect(parseInstant('yesterday')).toBeNull();
    expect(parseInstant('')).toBeNull();
    expect(parseInstant('   ')).toBeNull();
    expect(parseInstant('now')).toBeNull();
    expect(parseInstant('1781526896000')).toBeNull();
    expect(parseInstant('Mon, 15 Jun 2026 12:34:56 GMT')).toBeNull();
  });

  it('rejects impossible fields', () => {
    expect(parseInstant('2026-13-01T00:00:00Z')).toBeNull();
    expect(parseInstant('2026-06-15T25:00:00Z')).toBeNull();
    expect(parseInstant('2026-06-15T12:60:00Z')).toBeNull();
  });

  // Regression: found by review of src/lib/time.ts.
  it('rejects a day that does not exist in its month', () => {
    expect(parseInstant('2026-02-30T00:00:00Z')).toBeNull();
    expect(parseInstant('2026-06-31T00:00:00Z')).toBeNull();
  });
});

describe('periodCutoff', () => {
  it('subtracts whole days from now', () => {
    expect(periodCutoff('last_day', NOW)?.toISOString()).toBe('2026-06-14T12:34:56.000Z');
    expect(periodCutoff('last_week', NOW)?.toISOString()).toBe('2026-06-08T12:34:56.000Z');
    expect(periodCutoff('last_month', NOW)?.toISOString()).toBe('2026-05-16T12:34:56.000Z');
    expect(periodCutoff('last_year', NOW)?.toISOString()).toBe('2025-06-15T12:34:56.000Z');
  });

  it('uses 1, 7, 30 and 365 days exactly', () => {
    expect(NOW.getTime() - periodCutoff('last_day', NOW)!.getTime()).toBe(1 * DAY);
    expect(NOW.getTime() - periodCutoff('last_week', NOW)!.getTime()).toBe(7 * DAY);
    expect(NOW.getTime() - periodCutoff('last_month', NOW)!.getTime()).toBe(30 * DAY);
    expect(NOW.getTime() - periodCutoff('last_year', NOW)!.getTime()).toBe(365 * DAY);
  });

  it('counts 365 days, not a calendar year, across a leap day', () => {
    expect(periodCutoff('last_year', new Date('2024-12-31T00:00:00Z'))?.toISOString()).toBe('2024-01-01T00:00:00.000Z');
  });

  it('has no cutoff for all', () => {
    expect(periodCutoff('all', NOW)).toBeNull();
  });

  it('does not modify now', () => {
    const now = new Date(NOW);
    periodCutoff('last_year', now);
    expect(now.toISOString()).toBe('2026-06-15T12:34:56.000Z');
  });
});

describe('windows', () => {
  it('are 72 hours and 365 days', () => {
    expect(HOURLY_WINDOW_MS).toBe(72 * 3600 * 1000);
    expect(MONTHLY_WINDOW_MS).toBe(365 * DAY);
  });
});

describe('byLookBack', () => {
  it('sorts periods from the shortest look-back to all', () => {
    const shuffled = ['all', 'last_month', 'last_day', 'last_year', 'last_week'] as const;
    expect([...shuffled].sort(byLookBack)).toEqual(['last_day', 'last_week', 'last_month', 'last_year', 'all']);
  });

  it('compares signs correctly', () => {
    expect(byLookBack('last_day', 'all')).toBeLessThan(0);
    expect(byLookBack('all', 'last_day')).toBeGreaterThan(0);
    expect(byLookBack('last_month', 'last_month')).toBe(0);
  });
});
