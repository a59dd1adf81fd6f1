import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lowerBound } from '../../src/lib/sorted.js';

describe('lowerBound', () => {
  it('is the count of values below the one sought, for any ascending array (seeded)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -50, max: 50 })), fc.integer({ min: -60, max: 60 }), (unsorted, value) => {
        const values = Float64Array.from(unsorted).sort();
        expect(lowerBound(values, value)).toBe(unsorted.filter((each) => each < value).length);
        expect(lowerBound([...values], value)).toBe(lowerBound(values, value));
      }),
      { seed: 20261207, numRuns: 500 },
    );
  });

  it('is 0 for an empty array and the length past the last value', () => {
    expect(lowerBound([], 3)).toBe(0);
    expect(lowerBound([1, 2, 2, 3], 2)).toBe(1);
    expect(lowerBound([1, 2, 2, 3], 4)).toBe(4);
  });
});
