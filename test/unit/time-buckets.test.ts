/**
 * src/state/time-buckets.ts: the rows whose time now lies in a range, found through buckets
 * that keep stale entries of rows whose time changed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TimeBuckets } from '../../src/state/time-buckets.js';

const HOUR = 3_600_000_000;
const finite = fc.integer({ min: -10 * HOUR, max: 10 * HOUR });
const time = fc.oneof(fc.integer({ min: -10 * HOUR, max: 10 * HOUR }), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, 2 ** 30));

describe('time buckets', () => {
  // Ranges are finite, as a window's edges are.
  it('finds exactly the rows whose time now lies in [from, to), across changes and long ranges', () => {
    fc.assert(
      fc.property(fc.array(time, { minLength: 1, maxLength: 100 }), fc.array(fc.tuple(fc.nat(), time), { maxLength: 50 }), finite, finite, (initial, changes, a, b) => {
        const times = [...initial];
        const buckets = new TimeBuckets();
        times.forEach((micros, row) => buckets.file(row, micros));
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
});
