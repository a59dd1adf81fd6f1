/**
 * src/state/table-reads.ts: which watermarks may be inlined in a COPY, and the earlier of two.
 */
import { describe, expect, it } from 'vitest';
import { earlierWatermark, isWatermark } from '../../src/state/table-reads.js';

describe('watermarks', () => {
  it("only the probe's own shape is inlined; anything else reads the whole table", () => {
    expect(isWatermark('2026-06-15T12:34:56.000001')).toBe(true);
    for (const text of [null, '', '2026-06-15 12:34:56', '2026-06-15T12:34:56', "2026-06-15T12:34:56.000001' OR true --", '12026-06-15T12:34:56.000001']) {
      expect(isWatermark(text)).toBe(false);
    }
  });

  it('the earlier of two, null when either cannot be inlined', () => {
    expect(earlierWatermark('2026-06-15T12:34:56.000001', '2026-06-15T12:34:56.000000')).toBe('2026-06-15T12:34:56.000000');
    expect(earlierWatermark('2025-12-31T23:59:59.999999', '2026-01-01T00:00:00.000000')).toBe('2025-12-31T23:59:59.999999');
    expect(earlierWatermark(null, '2026-01-01T00:00:00.000000')).toBeNull();
    expect(earlierWatermark('2026-01-01T00:00:00.000000', 'junk')).toBeNull();
  });
});
