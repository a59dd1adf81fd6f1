/**
 * The pass's folds, each on rows made here: what each keeps and what it reports.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoMinute } from '../../src/lib/micros.js';
import { TextDictionary, UuidDictionary, uuidWords } from '../../src/pass/dictionary.js';
import { ScriptTierFold } from '../../src/pass/folds/script-tiers.js';
import { StartHourFold } from '../../src/pass/folds/start-hours.js';
import { type ScriptClass, TimelineFold } from '../../src/pass/folds/timeline.js';
import { type UserRuns, UserRunsFold } from '../../src/pass/folds/user-runs.js';
import { UserScriptLog } from '../../src/pass/folds/user-scripts.js';
import { ExecutionBatch, type Fold, StatusKinds, tierOf } from '../../src/pass/rows.js';
import { pgMicros } from '../helpers/copy-binary.js';

const us = (iso: string) => Number(pgMicros(iso));
const NOW = us('2026-06-15T12:34:56Z');
const DAY = 86_400_000_000;
/** Start cuts newest first: last_day, last_week; tier 2 is everything older (and NULL). */
const CUTS = [NOW - DAY, NOW - 7 * DAY];

interface RowFields {
  start?: number;
  end?: number;
  status?: string | null;
  script?: number;
  user?: number;
}

function setup() {
  const statuses = new TextDictionary();
  const kinds = new StatusKinds(statuses);
  const status = (name: string | null) => (name === null ? 0 : statuses.indexOfText(name));
  /** Folds `rows` as the pass would, in batches of at most ExecutionBatch.SIZE. */
  const add = (fold: Fold<unknown> & { resolve?: (batch: ExecutionBatch) => void }, rows: readonly RowFields[]) => {
    for (let from = 0; from < rows.length; from += ExecutionBatch.SIZE) {
      const batch = new ExecutionBatch();
      rows.slice(from, from + ExecutionBatch.SIZE).forEach((fields, row) => {
        const start = fields.start ?? Number.NaN;
        batch.start[row] = start;
        batch.end[row] = fields.end ?? Number.NaN;
        batch.status[row] = status(fields.status ?? null);
        batch.kind[row] = kinds.kindOf(batch.status[row]!);
        batch.script[row] = fields.script ?? -1;
        batch.user[row] = fields.user ?? -1;
        batch.startTier[row] = tierOf(CUTS, start);
      });
      batch.size = Math.min(ExecutionBatch.SIZE, rows.length - from);
      fold.add(batch);
    }
  };
  return { statuses, kinds, add };
}
describe('tierOf', () => {
  it('puts a start in the first tier whose cut it is at or after; older and NULL last', () => {
    expect(tierOf(CUTS, NOW)).toBe(0);
    expect(tierOf(CUTS, NOW - DAY)).toBe(0);
    expect(tierOf(CUTS, NOW - DAY - 1)).toBe(1);
    expect(tierOf(CUTS, NOW - 30 * DAY)).toBe(2);
    expect(tierOf(CUTS, Number.NaN)).toBe(2);
  });
});

describe('ScriptTierFold', () => {
  it('counts per script and window, with NULL scripts and the exact average of timed executions', () => {
    const { add } = setup();
    const fold = new ScriptTierFold(3, () => 3, true);
    const minute = 60_000_000;
    add(fold, [
      { start: NOW - 3600e6, end: NOW - 3600e6 + minute, status: 'FINISHED', script: 0 },
      { start: NOW - 2 * DAY, end: NOW - 2 * DAY + 2 * minute, status: 'FAILED', script: 0 },
      { start: NOW - 90 * DAY, status: 'CANCELLED', script: 0 }, // no end: not timed
      { status: 'FINISHED', script: 1 }, // NULL start: only the last tier
      { start: NOW, status: null, script: -1 },
      { start: NOW, status: 'RUNNING', script: 2 }, // an id the script table lacks
    ]);
    const totals = fold.result();
    const through = (lastTier: number) => new Map(totals.through(lastTier).map(({ script, counts }) => [script, counts]));
    expect([...through(2).keys()]).toEqual([-1, 0, 1, 2]);
    expect(through(0).get(0)).toEqual({
      total: 1, finished: 1, failed: 0, cancelled: 0, timed: 1, timedFinished: 1, timedAvgMinutes: '1.00000000000000000000',
    });
    // 1 and 2 minutes: 60 s divides at scale 20, 120 s at 16; their mean divides at 20.
    expect(through(1).get(0)).toMatchObject({ total: 2, finished: 1, failed: 1, timed: 2, timedAvgMinutes: '1.50000000000000000000' });
    expect(through(2).get(0)).toMatchObject({ total: 3, cancelled: 1, timed: 2 });
    expect(through(1).has(1)).toBe(false);
    expect(through(2).get(1)).toMatchObject({ total: 1, finished: 1, timed: 0, timedAvgMinutes: null });
    expect(through(0).get(-1)).toMatchObject({ total: 1, finished: 0 });
  });

  it('refuses to subtract infinite timestamps, as PostgreSQL does', () => {
    const { add } = setup();
    const fold = new ScriptTierFold(3, () => 1, true);
    expect(() => add(fold, [{ start: NOW, end: Number.POSITIVE_INFINITY, script: 0 }])).toThrow(/infinite/);
  });
});

describe('StartHourFold', () => {
  it('counts starts per hour and reports each window from the tiers it spans', () => {
    const { add } = setup();
    const fold = new StartHourFold(3, NOW - 7 * DAY, NOW);
    add(fold, [
      { start: us('2026-06-15T11:59:59Z') },
      { start: us('2026-06-15T11:00:00Z') },
      { start: us('2026-06-10T08:30:00Z') },
      { start: us('2026-05-01T00:00:00Z') }, // before the window
      { start: us('2026-06-16T01:00:00Z') }, // after now (clock skew)
    ]);
    const hours = (lastTier: number) => fold.result().through(lastTier).map(({ hour, count }) => [isoMinute(hour), count]);
    expect(hours(0)).toEqual([
      ['2026-06-15T11:00:00', 2],
      ['2026-06-16T01:00:00', 1],
    ]);
    expect(hours(1)).toEqual([
      ['2026-06-10T08:00:00', 1],
      ['2026-06-15T11:00:00', 2],
      ['2026-06-16T01:00:00', 1],
    ]);
  });
});

describe('TimelineFold', () => {
  const classes: ScriptClass[] = [
    { task: 'alpha', matches: [true, true] },
    { task: 'beta', matches: [true, false] },
  ];
  /** Scripts 0 and 2 are alpha, 1 is beta; others are not in the script table. */
  const classOf = Int32Array.from([0, 1, 0]);
  /** The fold's counts as rows, sorted. */
  const rowsOf = (fold: TimelineFold) => {
    const timeline = fold.result();
    const rows: Array<{ tier: number; bucket: string | null; status: string | null; task: string; count: number }> = [];
    timeline.slotTier.forEach((tier, slot) => {
      const start = timeline.slotStart[slot]!;
      timeline.statuses.forEach((status, statusIndex) => {
        timeline.classes.forEach((scriptClass, classIndex) => {
          const count = timeline.counts[(slot * timeline.statusCapacity + statusIndex) * timeline.classes.length + classIndex]!;
          if (count > 0) rows.push({ tier, bucket: start === null ? null : isoMinute(start), status, task: scriptClass.task, count });
        });
      });
    });
    return rows.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  };

  it('buckets by event time: the end of finished, failed and cancelled runs, else the start', () => {
    const { add, statuses } = setup();
    const tiers = [
      { from: NOW - DAY, bucket: 'hour' as const },
      { from: null, bucket: 'month' as const },
    ];
    const fold = new TimelineFold(tiers, classOf, classes, () => statuses.names);
    add(fold, [
      { start: us('2026-06-01T10:00:00Z'), end: us('2026-06-15T10:20:00Z'), status: 'FINISHED', script: 0 },
      { start: us('2026-06-01T10:00:00Z'), end: us('2026-06-15T10:20:00Z'), status: 'RUNNING', script: 2 },
      { start: us('2026-06-15T10:40:00Z'), status: 'FAILED', script: 1 }, // no end: its start
      { status: null, script: 1 }, // no time at all: the unbounded tier's null bucket
      { start: NOW, status: 'FINISHED', script: -1 }, // no script: left out
      { start: NOW, status: 'FINISHED', script: 7 }, // not in the script table: left out
    ]);
    expect(rowsOf(fold)).toEqual([
      { tier: 0, bucket: '2026-06-15T10:00:00', status: 'FAILED', task: 'beta', count: 1 },
      { tier: 0, bucket: '2026-06-15T10:00:00', status: 'FINISHED', task: 'alpha', count: 1 },
      { tier: 1, bucket: '2026-06-01T00:00:00', status: 'RUNNING', task: 'alpha', count: 1 },
      { tier: 1, bucket: null, status: null, task: 'beta', count: 1 },
    ]);
  });

  it('keeps nothing older than a bounded last tier, and grows for statuses beyond its first capacity', () => {
    const { add, statuses } = setup();
    const fold = new TimelineFold([{ from: NOW - DAY, bucket: 'day' }], classOf, classes, () => statuses.names);
    add(fold, [{ start: NOW - 2 * DAY, status: 'RUNNING', script: 0 }, { status: 'RUNNING', script: 0 }]);
    add(fold, [{ start: NOW - 3 * 3600e6, status: 'S0', script: 0 }]); // a bucket made before the statuses grow
    add(fold, Array.from({ length: 20 }, (_, index) => ({ start: NOW, status: `S${index}`, script: 1 })));
    add(fold, [{ start: NOW - 3 * 3600e6, status: 'S19', script: 0 }]);
    const rows = rowsOf(fold);
    expect(rows.filter((row) => row.task === 'alpha')).toEqual([
      { tier: 0, bucket: '2026-06-15T00:00:00', status: 'S0', task: 'alpha', count: 1 },
      { tier: 0, bucket: '2026-06-15T00:00:00', status: 'S19', task: 'alpha', count: 1 },
    ]);
    expect(rows.filter((row) => row.task === 'beta')).toHaveLength(20);
    expect(new Set(rows.map((r) => r.status))).toEqual(new Set(Array.from({ length: 20 }, (_, index) => `S${index}`)));
  });
});

describe('UserRunsFold', () => {
  const ids = ['00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', 'f0000000-0000-4000-8000-000000000000'];
  /** The fold's numbers for `ids`, found as the pass finds them, a batch of uuid words at a time. */
  function usersOf(fold: UserRunsFold, uuids: readonly string[] = ids): number[] {
    const users: number[] = [];
    for (let from = 0; from < uuids.length; from += ExecutionBatch.SIZE) {
      const batch = new ExecutionBatch();
      uuids.slice(from, from + ExecutionBatch.SIZE).forEach((uuid, row) => {
        batch.userWords.set(uuidWords(uuid), 4 * row);
        batch.hasUser[row] = 1;
      });
      batch.size = Math.min(ExecutionBatch.SIZE, uuids.length - from);
      fold.resolve(batch);
      users.push(...batch.user.subarray(0, batch.size));
    }
    return users;
  }
  /** Filters by script: `of[s]` lists the filters script s matches. */
  const filtersBy = (of: number[][]) => {
    const first = new Int32Array(of.length + 1);
    of.forEach((filters, script) => (first[script + 1] = first[script]! + filters.length));
    return { first, list: Int32Array.from(of.flat()) };
  };
  // User tiers cut at last_week only: start tiers 0 (last_day) and 1 (last_week) are user tier 0, tier 2 (older, NULL) is 1.
  const TIER_OF_START_TIER = Int32Array.from([0, 0, 1]);

  it('ranks users per window and filter, ties by user id, with finished counts', () => {
    const { add } = setup();
    // Filter 0: none (scripts 0 and 1); filter 1: one matching script 1 only.
    const fold = new UserRunsFold(TIER_OF_START_TIER, 2, 2, filtersBy([[0], [0, 1]]));
    const user = usersOf(fold);
    add(fold, [
      { start: NOW, status: 'FINISHED', script: 0, user: user[0]! },
      { start: NOW, status: 'FAILED', script: 1, user: user[0]! },
      { start: NOW, status: 'FINISHED', script: 0, user: user[1]! },
      { start: NOW, status: 'FINISHED', script: 1, user: user[1]! },
      { start: NOW - 30 * DAY, status: 'FINISHED', script: 1, user: user[2]! }, // outside last_week
      { status: 'FINISHED', script: 1, user: user[2]! }, // NULL start: all time only
      { start: NOW, status: 'FINISHED', script: 5, user: user[3]! }, // a script no filter matches (not in the table)
      { start: NOW, script: 0, user: -1 }, // no user
    ]);
    const result = fold.result();
    // last_week, no filter: users 0 and 1 tie on 2 runs; user 1's id sorts first.
    expect(result.top(0, 0, 10)).toEqual([
      { user: 1, runs: 2, finished: 2 },
      { user: 0, runs: 2, finished: 1 },
    ]);
    // All time, filter 1.
    expect(result.top(1, 1, 10)).toEqual([
      { user: 2, runs: 2, finished: 2 },
      { user: 1, runs: 1, finished: 1 },
      { user: 0, runs: 1, finished: 0 },
    ]);
    expect(result.top(1, 1, 1)).toEqual([{ user: 2, runs: 2, finished: 2 }]);
    expect(result.top(1, 0, 10)).toEqual([
      { user: 1, runs: 1, finished: 1 },
      { user: 0, runs: 1, finished: 0 },
    ]);
  });

  it('tracks activity from the newest start, NULL starts counting for all time only', () => {
    const { add } = setup();
    // User tiers cut at last_day and last_week: start tiers map one to one.
    const fold = new UserRunsFold(Int32Array.from([0, 1, 2]), 3, 0, filtersBy([]));
    const user = usersOf(fold, ids.slice(0, 3));
    add(fold, [
      { start: NOW - 30 * DAY, user: user[0]! },
      { start: NOW, user: user[0]! },
      { user: user[1]! },
      { start: NOW - 3 * DAY, user: user[2]! },
    ]);
    const result = fold.result();
    const active = (lastTier: number) => [0, 1, 2].filter((number) => result.newestTier(number) <= lastTier);
    expect(active(0)).toEqual([0]);
    expect(active(1)).toEqual([0, 2]);
    expect(active(2)).toEqual([0, 1, 2]);
    expect(result.distinctUsers).toBe(3);
  });

  it('keeps every record whole when its table grows, and finds each user again', () => {
    const { add } = setup();
    const fold = new UserRunsFold(Int32Array.from([0, 0, 0]), 1, 1, filtersBy([[0]]), 16);
    const uuids = Array.from({ length: 5000 }, (_, index) => `${index.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`);
    const users = usersOf(fold, [...uuids, ...uuids]);
    expect(users.slice(5000)).toEqual(users.slice(0, 5000));
    add(fold, users.map((user) => ({ start: NOW - (user % 7) * DAY, status: 'FINISHED', script: 0, user })));
    const result = fold.result();
    expect(result.distinctUsers).toBe(5000);
    expect(uuids.every((uuid, user) => result.idOf(user) === uuid)).toBe(true);
    expect(result.top(0, 0, 3)).toEqual([0, 1, 2].map((user) => ({ user, runs: 2, finished: 2 })));
  });
  it('indexesIn: a kept fold joined with a growing dictionary equals a fresh look-up of every user, after random changes', () => {
    const uuid = (index: number) => `${index.toString(16).padStart(8, '0')}-0000-4000-8000-00000000000${index % 10}`;
    const step = fc.oneof(
      fc.record({ kind: fc.constant('number' as const), uuids: fc.array(fc.nat(300), { maxLength: 40 }) }),
      fc.record({ kind: fc.constant('register' as const), uuids: fc.array(fc.nat(300), { maxLength: 40 }) }),
      fc.record({ kind: fc.constant('ask' as const), frozen: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), (steps) => {
        const fold = new UserRunsFold(Int32Array.from([0, 0, 0]), 1, 1, filtersBy([[0]]), 16, true);
        const other = new UuidDictionary(16);
        const check = (result: UserRuns) => {
          const fresh = Array.from({ length: result.numbered }, (_, user) => other.indexOfText(result.idOf(user)));
          expect([...result.indexesIn(other)]).toEqual(fresh);
        };
        for (const change of [...steps, { kind: 'ask' as const, frozen: true }]) {
          if (change.kind === 'number') usersOf(fold, change.uuids.map(uuid));
          else if (change.kind === 'register') change.uuids.forEach((index) => other.indexOfText(uuid(index), true));
          else check(change.frozen ? fold.frozenResult([]) : fold.result());
        }
      }),
      { seed: 2_424, numRuns: 200 },
    );
  });
});

describe('UserScriptLog', () => {
  it('counts the executions per script of the users asked for, over every row it was given', () => {
    const { add } = setup();
    const log = new UserScriptLog(8);
    const rows = [
      ...Array.from({ length: 700 }, (_, index) => ({ user: index % 7, script: index % 3 })),
      { user: -1, script: 1 }, // no user
      { user: 2, script: -1 }, // no script
    ];
    add(log, rows);
    const counts = log.result().countsOf([2, 5, 2, 99]);
    expect([...counts.keys()]).toEqual([2, 5]);
    const expected = (user: number) =>
      [0, 1, 2].flatMap((script) => {
        const count = rows.filter((row) => row.user === user && row.script === script).length;
        return count > 0 ? [{ script, count }] : [];
      });
    expect([...counts.get(2)!].sort((a, b) => a.script - b.script)).toEqual(expected(2));
    expect([...counts.get(5)!].sort((a, b) => a.script - b.script)).toEqual(expected(5));
  });

  it('keeps every pair exact when a user or script number outgrows 4 bytes a pair', () => {
    const { add } = setup();
    const log = new UserScriptLog(8);
    // 70,000 pairs (more than a chunk) fit; then a script past 8 bits and a user past 24 make the log wide.
    const packed = Array.from({ length: 70_000 }, (_, index) => ({ user: index % 1000, script: index % 200 }));
    add(log, packed);
    add(log, [{ user: 3, script: 300 }, { user: 2 ** 24 + 5, script: 7 }, { user: 3, script: 0 }]);
    const counts = log.result().countsOf([3, 2 ** 24 + 5]);
    const of = (user: number) => new Map(counts.get(user)!.map(({ script, count }) => [script, count]));
    expect(of(3).get(300)).toBe(1);
    expect(of(3).get(3)).toBe(packed.filter((row) => row.user === 3 && row.script === 3).length);
    expect(of(3).get(0)).toBe(1);
    expect([...of(2 ** 24 + 5)]).toEqual([[7, 1]]);
    expect([...of(3).values()].reduce((sum, count) => sum + count, 0)).toBe(packed.filter((row) => row.user === 3).length + 2);
  });
});
