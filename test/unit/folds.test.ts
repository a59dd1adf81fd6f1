/**
 * The pass's folds, each on rows made here: what each keeps and what it reports.
 */
import { describe, expect, it } from 'vitest';
import { isoMinute } from '../../src/lib/micros.js';
import { BinaryCopyParser } from '../../src/pass/copy-parser.js';
import { StatusDictionary } from '../../src/pass/dictionary.js';
import { ScriptTierFold } from '../../src/pass/folds/script-tiers.js';
import { StartHourFold } from '../../src/pass/folds/start-hours.js';
import { type ScriptClass, TimelineFold } from '../../src/pass/folds/timeline.js';
import { UserRunsFold } from '../../src/pass/folds/user-runs.js';
import { type ExecutionRow, StatusKinds, tierOf } from '../../src/pass/rows.js';
import { binaryCopy, pgMicros } from '../helpers/copy-binary.js';

const us = (iso: string) => Number(pgMicros(iso));
const NOW = us('2026-06-15T12:34:56Z');
const DAY = 86_400_000_000;
/** Start cuts newest first: last_day, last_week; tier 2 is everything older (and NULL). */
const CUTS = [NOW - DAY, NOW - 7 * DAY];

function setup() {
  const statuses = new StatusDictionary();
  const kinds = new StatusKinds(statuses);
  const status = (name: string | null) => (name === null ? 0 : statuses.indexOfText(name));
  const row = (fields: { start?: number; end?: number; status?: string | null; script?: number; user?: number }): ExecutionRow => {
    const start = fields.start ?? Number.NaN;
    return {
      start,
      end: fields.end ?? Number.NaN,
      startExact: null,
      endExact: null,
      status: status(fields.status ?? null),
      script: fields.script ?? -1,
      user: fields.user ?? -1,
      startTier: tierOf(CUTS, start),
    };
  };
  return { statuses, kinds, row };
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
    const { kinds, row } = setup();
    const fold = new ScriptTierFold(3, kinds, () => 3, true);
    const minute = 60_000_000;
    fold.add(row({ start: NOW - 3600e6, end: NOW - 3600e6 + minute, status: 'FINISHED', script: 0 }));
    fold.add(row({ start: NOW - 2 * DAY, end: NOW - 2 * DAY + 2 * minute, status: 'FAILED', script: 0 }));
    fold.add(row({ start: NOW - 90 * DAY, status: 'CANCELLED', script: 0 })); // no end: not timed
    fold.add(row({ status: 'FINISHED', script: 1 })); // NULL start: only the last tier
    fold.add(row({ start: NOW, status: null, script: -1 }));
    fold.add(row({ start: NOW, status: 'RUNNING', script: 2 })); // an id the script table lacks
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
    const { kinds, row } = setup();
    const fold = new ScriptTierFold(3, kinds, () => 1, true);
    expect(() => fold.add(row({ start: NOW, end: Number.POSITIVE_INFINITY, script: 0 }))).toThrow(/infinite/);
  });
});

describe('StartHourFold', () => {
  it('counts starts per hour and reports each window from the tiers it spans', () => {
    const { row } = setup();
    const fold = new StartHourFold(3, NOW - 7 * DAY, NOW);
    fold.add(row({ start: us('2026-06-15T11:59:59Z') }));
    fold.add(row({ start: us('2026-06-15T11:00:00Z') }));
    fold.add(row({ start: us('2026-06-10T08:30:00Z') }));
    fold.add(row({ start: us('2026-05-01T00:00:00Z') })); // before the window
    fold.add(row({ start: us('2026-06-16T01:00:00Z') })); // after now (clock skew)
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
  const classOf = (script: number) => [0, 1, 0][script] ?? -1;

  it('buckets by event time: the end of finished, failed and cancelled runs, else the start', () => {
    const { kinds, row, statuses } = setup();
    const tiers = [
      { from: NOW - DAY, bucket: 'hour' as const },
      { from: null, bucket: 'month' as const },
    ];
    const fold = new TimelineFold(tiers, kinds, classOf, classes, (status) => statuses.names[status] ?? null);
    fold.add(row({ start: us('2026-06-01T10:00:00Z'), end: us('2026-06-15T10:20:00Z'), status: 'FINISHED', script: 0 }));
    fold.add(row({ start: us('2026-06-01T10:00:00Z'), end: us('2026-06-15T10:20:00Z'), status: 'RUNNING', script: 2 }));
    fold.add(row({ start: us('2026-06-15T10:40:00Z'), status: 'FAILED', script: 1 })); // no end: its start
    fold.add(row({ status: null, script: 1 })); // no time at all: the unbounded tier's null bucket
    fold.add(row({ start: NOW, status: 'FINISHED', script: -1 })); // no script: left out
    fold.add(row({ start: NOW, status: 'FINISHED', script: 7 })); // not in the script table: left out
    const rows = fold
      .result()
      .map((r) => ({ tier: r.tier, bucket: r.bucket === null ? null : isoMinute(r.bucket), status: r.status, task: r.scriptClass.task, count: r.count }))
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    expect(rows).toEqual([
      { tier: 0, bucket: '2026-06-15T10:00:00', status: 'FAILED', task: 'beta', count: 1 },
      { tier: 0, bucket: '2026-06-15T10:00:00', status: 'FINISHED', task: 'alpha', count: 1 },
      { tier: 1, bucket: '2026-06-01T00:00:00', status: 'RUNNING', task: 'alpha', count: 1 },
      { tier: 1, bucket: null, status: null, task: 'beta', count: 1 },
    ]);
  });

  it('keeps nothing older than a bounded last tier, and grows for statuses beyond its first capacity', () => {
    const { kinds, row, statuses } = setup();
    const fold = new TimelineFold([{ from: NOW - DAY, bucket: 'day' }], kinds, classOf, classes, (status) => statuses.names[status] ?? null);
    fold.add(row({ start: NOW - 2 * DAY, status: 'RUNNING', script: 0 }));
    fold.add(row({ status: 'RUNNING', script: 0 }));
    for (let index = 0; index < 20; index++) fold.add(row({ start: NOW, status: `S${index}`, script: 1 }));
    const rows = fold.result();
    expect(rows).toHaveLength(20);
    expect(new Set(rows.map((r) => r.status))).toEqual(new Set(Array.from({ length: 20 }, (_, index) => `S${index}`)));
  });
});

describe('UserRunsFold', () => {
  const ids = ['00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', 'f0000000-0000-4000-8000-000000000000'];
  /** The fold's records of `ids`, found as the pass finds them: from a COPY stream of the uuids. */
  function recordsOf(fold: UserRunsFold): number[] {
    const records: number[] = [];
    const parser = new BinaryCopyParser(1, (tuple) => records.push(fold.recordOf(tuple, 0)));
    parser.write(binaryCopy(ids.map((uuid) => [{ uuid }])));
    parser.end();
    return records;
  }

  it('ranks users per need (period and filter), ties by user id, with finished counts', () => {
    const { kinds, row } = setup();
    // Need 0: last_week, no filter (scripts 0 and 1); need 1: all time, a filter matching script 1 only.
    const needsOfScript = (script: number) => Int32Array.from(script === 0 ? [0] : script === 1 ? [0, 1] : []);
    const fold = new UserRunsFold([{ cutoff: NOW - 7 * DAY }, { cutoff: null }], needsOfScript, kinds);
    const record = recordsOf(fold);
    fold.add(row({ start: NOW, status: 'FINISHED', script: 0, user: record[0]! }));
    fold.add(row({ start: NOW, status: 'FAILED', script: 1, user: record[0]! }));
    fold.add(row({ start: NOW, status: 'FINISHED', script: 0, user: record[1]! }));
    fold.add(row({ start: NOW, status: 'FINISHED', script: 1, user: record[1]! }));
    fold.add(row({ start: NOW - 30 * DAY, status: 'FINISHED', script: 1, user: record[2]! })); // outside last_week
    fold.add(row({ status: 'FINISHED', script: 1, user: record[2]! })); // NULL start: all time only
    fold.add(row({ start: NOW, status: 'FINISHED', script: 5, user: record[3]! })); // a script no need matches
    fold.add(row({ start: NOW, script: 0, user: -1 })); // no user
    const result = fold.result();
    // Users 0 and 1 tie on 2 runs: user 1's id sorts first.
    expect(result.top(0, 10)).toEqual([
      { user: 1, runs: 2, finished: 2 },
      { user: 0, runs: 2, finished: 1 },
    ]);
    expect(result.top(1, 10)).toEqual([
      { user: 2, runs: 2, finished: 2 },
      { user: 1, runs: 1, finished: 1 },
      { user: 0, runs: 1, finished: 0 },
    ]);
    expect(result.top(1, 1)).toEqual([{ user: 2, runs: 2, finished: 2 }]);
  });

  it('tracks activity from the latest start, NULL starts counting for all time only', () => {
    const { kinds, row } = setup();
    const fold = new UserRunsFold([], () => new Int32Array(0), kinds);
    const record = recordsOf(fold);
    fold.add(row({ start: NOW - 30 * DAY, user: record[0]! }));
    fold.add(row({ start: NOW, user: record[0]! }));
    fold.add(row({ user: record[1]! }));
    fold.add(row({ start: NOW - 3 * DAY, user: record[2]! }));
    const result = fold.result();
    expect(result.activeUsers(NOW - DAY)).toEqual([0]);
    expect(result.activeUsers(NOW - 7 * DAY)).toEqual([0, 2]);
    expect(result.activeUsers(null)).toEqual([0, 1, 2]);
    expect(result.distinctUsers).toBe(3);
  });

  it('keeps every record whole when its table grows, and finds each user again', () => {
    const { kinds, row } = setup();
    const fold = new UserRunsFold([{ cutoff: null }], () => Int32Array.from([0]), kinds, 16);
    const uuids = Array.from({ length: 5000 }, (_, index) => `${index.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`);
    const parser = new BinaryCopyParser(1, (tuple) => {
      const record = fold.recordOf(tuple, 0);
      fold.add(row({ start: NOW - (record % 7) * DAY, status: 'FINISHED', script: 0, user: record }));
    });
    parser.write(binaryCopy([...uuids, ...uuids].map((uuid) => [{ uuid }])));
    parser.end();
    const result = fold.result();
    expect(result.distinctUsers).toBe(5000);
    expect(uuids.every((uuid, user) => result.idOf(user) === uuid)).toBe(true);
    expect(result.top(0, 3)).toEqual([0, 1, 2].map((user) => ({ user, runs: 2, finished: 2 })));
  });
});
