/**
 * src/state/time-buckets.ts: the rows whose time now lies in a range, found through buckets
 * that keep stale entries of rows whose time changed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TimeBuckets } from '../../src/state/time-buckets.js';

const HOUR = 3_600_000_000;
const finite = fc.integer({ min: -10 * HOUR, max: 10 * HOUR });
// Mostly within hours of each other (the keys' span fits an array); now and then centuries away (it does not).
const time = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: -10 * HOUR, max: 10 * HOUR }) },
  { weight: 1, arbitrary: fc.integer({ min: -1_000_000 * HOUR, max: 1_000_000 * HOUR }) },
  { weight: 2, arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, 2 ** 30) },
);

describe('time buckets', () => {
  // Ranges are finite, as a window's edges are.
  it('finds exactly the rows whose time now lies in [from, to), filed one by one or a table at once, across changes and long ranges', () => {
    fc.assert(
      fc.property(fc.array(time, { minLength: 1, maxLength: 100 }), fc.array(fc.tuple(fc.nat(), time), { maxLength: 50 }), finite, finite, fc.boolean(), (initial, changes, a, b, whole) => {
        const times = [...initial];
        const buckets = new TimeBuckets();
        if (whole) buckets.fileEvery(times.length, (row) => times[row]!);
        else times.forEach((micros, row) => buckets.file(row, micros));
        for (const [pick, micros] of changes) {
          const row = pick % times.length;
          times[row] = micros;
          buckets.file(row, micros);
        }
        const [from, to] = [Math.min(a, b), Math.max(a, b)];
        const found = new Set<number>();
        buckets.rowsIn(from, to, (row) => times[row]!, found);
        const expected = times.flatMap((micros, row) => (micros >= from && micros < to ? [row] : []));
        expect([...found].sort((x, y) => x - y)).toEqual(expected);
      }),
      { seed: 2_424, numRuns: 300 },
    );
  });

  it('finds the newest time and every row at or after a bound, whether filed one by one or a table at once', () => {
    fc.assert(
      fc.property(fc.array(time, { minLength: 1, maxLength: 100 }), fc.array(fc.tuple(fc.nat(), time), { maxLength: 50 }), finite, fc.boolean(), (initial, changes, from, whole) => {
        const times = [...initial];
        const timeOf = (row: number) => times[row]!;
        const buckets = new TimeBuckets();
        if (whole) buckets.fileEvery(times.length, timeOf);
        else times.forEach((micros, row) => buckets.file(row, micros));
        for (const [pick, micros] of changes) {
          const row = pick % times.length;
          times[row] = micros;
          buckets.file(row, micros);
        }
        const finiteTimes = times.filter((micros) => Number.isFinite(micros));
        expect(buckets.newest(timeOf)).toBe(finiteTimes.length > 0 ? Math.max(...finiteTimes) : Number.NEGATIVE_INFINITY);
        const found = new Set<number>();
        buckets.rowsFrom(from, timeOf, found);
        const expected = times.flatMap((micros, row) => (Number.isFinite(micros) && micros >= from ? [row] : []));
        expect([...found].sort((x, y) => x - y)).toEqual(expected);
      }),
      { seed: 2_424, numRuns: 300 },
    );
  });
});
