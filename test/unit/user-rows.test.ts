/**
 * src/state/user-rows.ts: the users by day of created_at, kept between runs per version of
 * the rows, equal the ones computed afresh from the rows after random inserts and rewrites;
 * the version moves only when a row changes (seeded).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BinaryCopyParser } from '../../src/pass/copy-parser.js';
import { usersByDay } from '../../src/pass/user-table.js';
import { UserRows } from '../../src/state/user-rows.js';
import { binaryCopy } from '../helpers/copy-binary.js';

const DAY = 86_400_000_000;
const idOf = (index: number) => `00000000-0000-4000-8000-${index.toString(16).padStart(12, '0')}`;

interface User {
  readonly id: number;
  readonly country: string | null;
  readonly created: number | null;
}

const user: fc.Arbitrary<User> = fc.record({
  id: fc.nat(60),
  country: fc.constantFrom(null, 'PT', 'KE', 'BR'),
  created: fc.oneof(fc.constant(null), fc.integer({ min: -3 * DAY, max: 3 * DAY }), fc.constantFrom(0, DAY - 1, DAY, -1)),
});
const step = fc.oneof(fc.array(user, { minLength: 1, maxLength: 20 }), fc.constant('ask' as const));

function upsert(rows: UserRows, users: readonly User[]): void {
  const parser = new BinaryCopyParser(3, (tuples) => rows.upsert(tuples));
  parser.write(
    binaryCopy(users.map((values) => [{ uuid: idOf(values.id) }, values.country === null ? null : { text: values.country }, values.created === null ? null : { int8: BigInt(values.created) }])),
  );
  parser.end();
}

describe('UserRows.byDay', () => {
  it('equals the users by day computed afresh, after random inserts and rewrites', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 20 }), (steps) => {
        const rows = new UserRows(16);
        for (const change of [...steps, 'ask' as const]) {
          if (change !== 'ask') upsert(rows, change);
          else expect(rows.byDay()).toEqual(usersByDay({ count: rows.count, createdAt: rows.createdAt.slice(0, rows.count) }));
        }
      }),
      { seed: 2_424, numRuns: 300 },
    );
  });

  it('moves the version only when a row is added or changes', () => {
    const rows = new UserRows(16);
    upsert(rows, [{ id: 1, country: 'PT', created: DAY }]);
    const first = rows.byDay();
    const version = rows.version;
    upsert(rows, [{ id: 1, country: 'PT', created: DAY }]);
    expect(rows.version).toBe(version);
    expect(rows.byDay()).toBe(first);
    upsert(rows, [{ id: 1, country: 'KE', created: DAY }]);
    expect(rows.version).toBeGreaterThan(version);
    upsert(rows, [{ id: 2, country: null, created: null }]);
    expect(rows.byDay().undated).toEqual([1]);
  });

  it('keep: a value kept between instants equals the one computed afresh, after random changes and instants', () => {
    const since = fc.oneof(fc.constant(null), fc.integer({ min: -4 * DAY, max: 4 * DAY }), fc.constantFrom(0, DAY, -1, DAY - 1));
    const keepStep = fc.oneof(fc.array(user, { minLength: 1, maxLength: 10 }), since.map((instant) => ({ instant })));
    fc.assert(
      fc.property(fc.array(keepStep, { minLength: 1, maxLength: 30 }), (steps) => {
        const rows = new UserRows(16);
        // The users created since an instant (every one for null), with their countries.
        const fresh = (instant: number | null) =>
          Array.from({ length: rows.count }, (_, row) => rows.valuesOf(row)).filter((values) => instant === null || values.createdAt >= instant);
        for (const change of steps) {
          if (Array.isArray(change)) upsert(rows, change);
          else expect(rows.keep('users', change.instant, () => fresh(change.instant))).toEqual(fresh(change.instant));
        }
      }),
      { seed: 2_424, numRuns: 300 },
    );
  });
});
