/**
 * src/state/execution-rows.ts: what the change probe would see of the rows (probeView), read
 * from the newest time buckets and counts kept as rows change, equals a scan of every row,
 * after random inserts and rewrites (seeded).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BinaryCopyParser } from '../../src/pass/copy-parser.js';
import { ExecutionRows } from '../../src/state/execution-rows.js';
import { binaryCopy, type CopyValue } from '../helpers/copy-binary.js';

const HOUR = 3_600_000_000;
const STATUSES = [null, 'FINISHED', 'FAILED', 'RUNNING', 'PENDING', 'READY'] as const;
const SCRIPT = '10000000-0000-4000-8000-000000000000';
const USER = '20000000-0000-4000-8000-000000000000';
const idOf = (index: number) => `00000000-0000-4000-8000-${index.toString(16).padStart(12, '0')}`;

interface Row {
  readonly id: number;
  readonly start: number | null;
  readonly end: number | null;
  readonly status: (typeof STATUSES)[number];
}

/** Times a few buckets apart and on their edges (2^30 µs), and NULL. */
const time = fc.oneof(fc.constant(null), fc.integer({ min: -3 * HOUR, max: 3 * HOUR }), fc.constantFrom(0, 2 ** 30, 2 ** 30 - 1, -(2 ** 30)));
const row: fc.Arbitrary<Row> = fc.record({ id: fc.nat(40), start: time, end: time, status: fc.constantFrom(...STATUSES) });
const bound = fc.oneof(fc.constant(null), time.map((micros) => micros ?? 0));
const step = fc.oneof(
  fc.record({ kind: fc.constant('upsert' as const), rows: fc.array(row, { minLength: 1, maxLength: 30 }) }),
  fc.record({ kind: fc.constant('view' as const), started: bound, ended: bound, cap: fc.integer({ min: 1, max: 8 }) }),
);

function upsert(rows: ExecutionRows, batch: readonly Row[]): void {
  const micros = (value: number | null): CopyValue => (value === null ? null : { int8: BigInt(value) });
  const parser = new BinaryCopyParser(6, (tuples) => rows.upsert(tuples));
  parser.write(
    binaryCopy(batch.map((values) => [{ uuid: idOf(values.id) }, micros(values.start), micros(values.end), values.status === null ? null : { text: values.status }, { uuid: SCRIPT }, { uuid: USER }])),
  );
  parser.end();
}

/** The view by a scan of every row's values. */
function scanned(rows: ExecutionRows, startedSince: number | null, endedSince: number | null, cap: number) {
  const values = Array.from({ length: rows.count }, (_, at) => rows.valuesOf(at));
  const number = (micros: bigint | null) => (micros === null ? null : Number(micros));
  const starts = values.flatMap((value) => (value.start === null ? [] : [Number(value.start)]));
  const ends = values.flatMap((value) => (value.end === null ? [] : [Number(value.end)]));
  const inWindow = (micros: number | null, since: number | null) => micros !== null && (since === null || micros >= since);
  const after = (micros: number | null, since: number | null) => micros !== null && (since === null || micros > since);
  const byStatus = new Map<string | null, { started: number; ended: number }>();
  // Every status a row holds, NULL always; in the order the statuses were first met.
  for (const status of [null, ...rows.statuses.names.slice(1)]) {
    if (status !== null && !values.some((value) => value.status === status)) continue;
    const ofStatus = values.filter((value) => value.status === status);
    byStatus.set(status, {
      started: Math.min(cap, ofStatus.filter((value) => inWindow(number(value.start), startedSince)).length),
      ended: Math.min(cap, ofStatus.filter((value) => inWindow(number(value.end), endedSince)).length),
    });
  }
  return {
    newestStart: starts.length > 0 ? Math.max(...starts) : null,
    newestEnd: ends.length > 0 ? Math.max(...ends) : null,
    startedCount: values.filter((value) => inWindow(number(value.start), startedSince)).length,
    endedCount: values.filter((value) => inWindow(number(value.end), endedSince)).length,
    startedAfter: values.filter((value) => after(number(value.start), startedSince)).length,
    endedAfter: values.filter((value) => after(number(value.end), endedSince)).length,
    byStatus,
  };
}

describe('ExecutionRows.probeView', () => {
  it('equals a scan of every row after random inserts and rewrites, asked before and after the rows are filed by time', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 25 }), fc.boolean(), (steps, journal) => {
        const rows = new ExecutionRows(16);
        if (journal) rows.startJournal();
        for (const change of steps) {
          if (change.kind === 'upsert') upsert(rows, change.rows);
          else {
            const view = rows.probeView(change.started, change.ended, change.cap);
            const expected = scanned(rows, change.started, change.ended, change.cap);
            expect({ ...view, byStatus: [...view.byStatus] }).toEqual({ ...expected, byStatus: [...expected.byStatus] });
          }
        }
      }),
      { seed: 2_424, numRuns: 300 },
    );
  });
});
